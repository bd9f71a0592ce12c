import { expect, test } from '@jest/globals';
import { expectPresent } from '../_support/expect-present';
import {
  expiryPartition,
  firstLivePartition,
  newSessionToken,
  newStateToken,
  sameDigest,
  sessionRowRef,
  stateRowRef,
  stateExpiryPartition,
} from '../../shared/core/keys';
import { isAuthError } from '../../shared/errors';
import { secureRandom } from '../../shared/services';

test('state tokens carry their expiry partition and 256 random bits; row keys are hashes', () => {
  const expiresAt = Date.UTC(2026, 10, 21, 10, 30);
  const state = newStateToken(secureRandom, expiresAt);
  expect(state).toMatch(/^\d{10}\.[A-Za-z0-9_-]{43}$/);
  const ref = stateRowRef(state);
  expect(ref.partitionKey).toBe(stateExpiryPartition(expiresAt));
  expect(ref.rowKey).toMatch(/^[0-9a-f]{64}$/);
  expect(!ref.rowKey.includes(state.split('.')[1]!)).toBeTruthy();
});

test('malformed states are refused before storage, including Table key-forbidden characters and OData', () => {
  for (const bad of [
    '',
    'x',
    '0000000001.short',
    `0000000001.${'a'.repeat(42)}/`,
    `0000000001.${'a'.repeat(42)}#`,
    `0000000001.${'a'.repeat(42)}?`,
    `0000000001.${'a'.repeat(42)}\\`,
    `' or PartitionKey ne '`,
    `0000000001.${'a'.repeat(43)}.x`,
    `00000000x1.${'a'.repeat(43)}`,
  ]) {
    expect(() => stateRowRef(bad)).toThrowSatisfying((e) => isAuthError(e, 'state_malformed'));
  }
});

test('session tokens parse; anything else is no session', () => {
  const token = newSessionToken(secureRandom, Date.now() + 3600_000);
  const ref = sessionRowRef(token);
  expectPresent(ref);
  expect(ref.secret).toBe(token.split('.')[2]);
  for (const bad of ['', 'a.b.c', `${token}.x`, token.slice(0, -1), token.replace('.', '/')])
    expect(sessionRowRef(bad)).toBe(undefined);
});

test('expired partitions sort before the live one', () => {
  const now = Date.now();
  expect(expiryPartition(now - 3600_000) < firstLivePartition(now)).toBeTruthy();
  expect(expiryPartition(now + 600_000) >= firstLivePartition(now)).toBeTruthy();
});

test('digest comparison', () => {
  expect(sameDigest('ab'.repeat(32), 'ab'.repeat(32))).toBe(true);
  expect(sameDigest('ab'.repeat(32), 'ac'.repeat(32))).toBe(false);
  expect(sameDigest('', '')).toBe(false);
  expect(sameDigest('abcd', 'ab')).toBe(false);
});
