import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expiryPartition, firstLivePartition, newSessionToken, stateExpiryPartition, newStateToken, sameDigest, sessionRowRef, stateRowRef } from '../../shared/core/keys';
import { isAuthError } from '../../shared/errors';
import { secureRandom } from '../../shared/services';

test('state tokens carry their expiry partition and 256 random bits; row keys are hashes', () => {
  const expiresAt = Date.UTC(2026, 10, 21, 10, 30);
  const state = newStateToken(secureRandom, expiresAt);
  assert.match(state, /^\d{10}\.[A-Za-z0-9_-]{43}$/);
  const ref = stateRowRef(state);
  assert.equal(ref.partitionKey, stateExpiryPartition(expiresAt));
  assert.match(ref.rowKey, /^[0-9a-f]{64}$/);
  assert.ok(!ref.rowKey.includes(state.split('.')[1]!));
});

test('malformed states are refused before storage, including Table key-forbidden characters and OData', () => {
  for (const bad of ['', 'x', '0000000001.short', `0000000001.${'a'.repeat(42)}/`, `0000000001.${'a'.repeat(42)}#`, `0000000001.${'a'.repeat(42)}?`,
    `0000000001.${'a'.repeat(42)}\\`, `' or PartitionKey ne '`, `0000000001.${'a'.repeat(43)}.x`, `00000000x1.${'a'.repeat(43)}`]) {
    assert.throws(() => stateRowRef(bad), (e) => isAuthError(e, 'state_malformed'), bad);
  }
});

test('session tokens parse; anything else is no session', () => {
  const token = newSessionToken(secureRandom, Date.now() + 3600_000);
  const ref = sessionRowRef(token);
  assert.ok(ref);
  assert.equal(ref.secret, token.split('.')[2]);
  for (const bad of ['', 'a.b.c', `${token}.x`, token.slice(0, -1), token.replace('.', '/')]) assert.equal(sessionRowRef(bad), undefined);
});

test('expired partitions sort before the live one', () => {
  const now = Date.now();
  assert.ok(expiryPartition(now - 3600_000) < firstLivePartition(now));
  assert.ok(expiryPartition(now + 600_000) >= firstLivePartition(now));
});

test('digest comparison', () => {
  assert.equal(sameDigest('ab'.repeat(32), 'ab'.repeat(32)), true);
  assert.equal(sameDigest('ab'.repeat(32), 'ac'.repeat(32)), false);
  assert.equal(sameDigest('', ''), false);
  assert.equal(sameDigest('abcd', 'ab'), false);
});
