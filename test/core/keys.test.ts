import { expect, test } from '@jest/globals';
import { expectPresent } from '../_support/expect-present';
import {
  bucketOf,
  expiredPartitionRanges,
  expiredSessionRanges,
  expiredStateRanges,
  expiryBucket,
  firstLiveBucket,
  firstLiveStateBucket,
  handoffRowRef,
  newHandoffCode,
  newSessionToken,
  newStateToken,
  rotateSessionToken,
  sameDigest,
  sessionRowRef,
  shardedPartition,
  shardOf,
  SHARDS,
  STATE_BUCKET_MS,
  stateRowRef,
  stateExpiryBucket,
} from '../../shared/core/keys';
import type { PartitionRange } from '../../shared/ports';
import { isAuthError } from '../../shared/errors';
import { secureRandom } from '../../shared/services';

test('state tokens carry their shard and expiry bucket and 256 random bits; row keys are hashes', () => {
  const expiresAt = Date.UTC(2026, 10, 21, 10, 30);
  const state = newStateToken(secureRandom, expiresAt);
  expect(state).toMatch(/^[a-p]-\d{10}\.[A-Za-z0-9_-]{43}$/);
  const ref = stateRowRef(state);
  expect(ref.partitionKey).toBe(state.split('.')[0]);
  expect(bucketOf(ref.partitionKey)).toBe(stateExpiryBucket(expiresAt));
  expect(ref.rowKey).toMatch(/^[0-9a-f]{64}$/);
  expect(!ref.rowKey.includes(state.split('.')[1]!)).toBeTruthy();
});

test('the shard is the low 4 bits of a random byte the token draws beside its secret: every shard, evenly', () => {
  expect(SHARDS).toEqual([...'abcdefghijklmnop']);
  expect(Array.from({ length: 256 }, (_, byte) => shardOf(byte)).filter((shard) => shard === 'a')).toHaveLength(16);
  expect(new Set(Array.from({ length: 256 }, (_, byte) => shardOf(byte)))).toEqual(new Set(SHARDS));
  // A draw whose extra byte is 0x0b (and whose secret bytes are 0xff) lands in shard 'l', the secret untouched.
  const fixed = (size: number) => {
    const bytes = new Uint8Array(size).fill(0xff);
    bytes[size - 1] = 0x0b;
    return bytes;
  };
  const state = newStateToken(fixed, Date.UTC(2026, 10, 21, 10, 30));
  expect(state.split('.')[0]).toBe(`l-${stateExpiryBucket(Date.UTC(2026, 10, 21, 10, 30))}`);
  expect(state.split('.')[1]).toBe(Buffer.alloc(32, 0xff).toString('base64url'));
  const session = newSessionToken(fixed, Date.UTC(2026, 10, 21, 10, 30));
  expect(session.split('.')[0]).toBe(`l-${expiryBucket(Date.UTC(2026, 10, 21, 10, 30))}`);
  expect(session.split('.')[1]).toBe(Buffer.alloc(16, 0xff).toString('base64url'));
  // Over many real draws, every shard is used.
  const seen = new Set(Array.from({ length: 400 }, () => newStateToken(secureRandom, Date.now()).slice(0, 1)));
  expect(seen).toEqual(new Set(SHARDS));
});

test('tokens from before the shards (a bare 10-digit partition) are still accepted, in their own partition', () => {
  const secret = 'A'.repeat(43);
  expect(stateRowRef(`0005912345.${secret}`).partitionKey).toBe('0005912345');
  expect(handoffRowRef(`0005912345.${secret}`)?.partitionKey).toBe('0005912345');
  const legacySession = `0000491234.${'B'.repeat(22)}.${secret}`;
  expect(sessionRowRef(legacySession)).toMatchObject({ partitionKey: '0000491234', secret });
  // The same secret under a shard is another row: the kind and the whole value are hashed.
  expect(stateRowRef(`a-0005912345.${secret}`).rowKey).not.toBe(stateRowRef(`0005912345.${secret}`).rowKey);
});

test('a handoff code has the shape of a state, with its own row key', () => {
  const code = newHandoffCode(secureRandom, Date.now() + 60_000);
  expect(code).toMatch(/^[a-p]-\d{10}\.[A-Za-z0-9_-]{43}$/);
  expect(handoffRowRef(code)?.partitionKey).toBe(code.split('.')[0]);
  expect(handoffRowRef(code)?.rowKey).not.toBe(stateRowRef(code).rowKey);
  for (const bad of ['', `q-0005912345.${'a'.repeat(43)}`, `${code}.x`]) expect(handoffRowRef(bad)).toBeUndefined();
});

test('rotating a session token keeps its partition (shard and bucket) and id, and replaces the secret', () => {
  for (const token of [
    newSessionToken(secureRandom, Date.now() + 3600_000),
    `0000491234.${'B'.repeat(22)}.${'C'.repeat(43)}`,
  ]) {
    const rotated = rotateSessionToken(token, secureRandom);
    const [before, after] = [sessionRowRef(token)!, sessionRowRef(rotated)!];
    expect(after.partitionKey).toBe(before.partitionKey);
    expect(after.rowKey).toBe(before.rowKey);
    expect(after.secret).not.toBe(before.secret);
  }
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
    // A shard outside a..p, upper case, two letters, no dash, a dash alone, a short or long bucket.
    `q-0000000001.${'a'.repeat(43)}`,
    `A-0000000001.${'a'.repeat(43)}`,
    `ab-0000000001.${'a'.repeat(43)}`,
    `a0000000001.${'a'.repeat(43)}`,
    `a_0000000001.${'a'.repeat(43)}`,
    `-0000000001.${'a'.repeat(43)}`,
    `a-000000001.${'a'.repeat(43)}`,
    `a-00000000001.${'a'.repeat(43)}`,
    `a-.${'a'.repeat(43)}`,
    `u.0000000001.${'a'.repeat(43)}`,
  ]) {
    expect(() => stateRowRef(bad)).toThrowSatisfying((e) => isAuthError(e, 'state_malformed'));
  }
});

test('session tokens parse; anything else is no session', () => {
  const token = newSessionToken(secureRandom, Date.now() + 3600_000);
  const ref = sessionRowRef(token);
  expectPresent(ref);
  expect(ref.secret).toBe(token.split('.')[2]);
  expect(token).toMatch(/^[a-p]-\d{10}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
  expect(ref.partitionKey).toBe(token.split('.')[0]);
  const [, id, secret] = token.split('.');
  for (const bad of [
    '',
    'a.b.c',
    `${token}.x`,
    token.slice(0, -1),
    token.replace('.', '/'),
    `q-0000491234.${id}.${secret}`,
    `ab-0000491234.${id}.${secret}`,
    `a-000049123.${id}.${secret}`,
    `a0000491234.${id}.${secret}`,
    `u.0000491234.${id}.${secret}`,
  ])
    expect(sessionRowRef(bad)).toBe(undefined);
});

/** Whether `key` falls in one of `ranges` (JavaScript compares strings by UTF-16 code unit: ASCII order here). */
const inRanges = (key: string, ranges: readonly PartitionRange[]) =>
  ranges.some((range) => range.from <= key && key < range.to);

test('expired buckets sort before the live one', () => {
  const now = Date.now();
  expect(expiryBucket(now - 3600_000) < firstLiveBucket(now)).toBeTruthy();
  expect(expiryBucket(now + 600_000) >= firstLiveBucket(now)).toBeTruthy();
  expect(stateExpiryBucket(now - STATE_BUCKET_MS) < firstLiveStateBucket(now)).toBeTruthy();
  expect(stateExpiryBucket(now + 600_000) >= firstLiveStateBucket(now)).toBeTruthy();
  // The hour numbers of the scheme before the 5-minute buckets are smaller: such a row is always expired.
  expect(expiryBucket(now + 3600_000) < firstLiveStateBucket(now)).toBeTruthy();
});

test('the order the purge ranges rely on: digits < shard letters < the session index partitions', () => {
  const live = firstLiveBucket(Date.now());
  const legacy = expiryBucket(Date.now() + 3600_000);
  for (const shard of SHARDS) {
    expect(legacy < `${shard}-`).toBe(true);
    expect(`${shard}-` < shardedPartition(shard, '0000000000')).toBe(true);
    expect(shardedPartition(shard, '9999999999') < 's.').toBe(true);
    expect(shardedPartition(shard, live) < `u.${'0'.repeat(64)}`).toBe(true);
  }
  // Each shard's partitions sort among themselves by bucket, and before the next shard's.
  expect(shardedPartition('a', '9999999999') < shardedPartition('b', '0000000000')).toBe(true);
  expect(shardedPartition('c', '0000480000') < shardedPartition('c', '0000480001')).toBe(true);
});

test('the expired ranges: one per shard and one for the partitions from before the shards; none reaches a live or index partition', () => {
  const live = '0000480000';
  const ranges = expiredPartitionRanges(live);
  expect(ranges).toHaveLength(SHARDS.length + 1);
  expect(ranges[0]).toEqual({ from: '', to: live });
  expect(ranges.slice(1)).toEqual(SHARDS.map((shard) => ({ from: `${shard}-`, to: `${shard}-${live}` })));
  for (const shard of SHARDS) {
    expect(inRanges(shardedPartition(shard, '0000479999'), ranges)).toBe(true);
    expect(inRanges(shardedPartition(shard, '0000000000'), ranges)).toBe(true);
    expect(inRanges(shardedPartition(shard, live), ranges)).toBe(false);
    expect(inRanges(shardedPartition(shard, '0000480001'), ranges)).toBe(false);
  }
  expect(inRanges('0000479999', ranges)).toBe(true);
  expect(inRanges(live, ranges)).toBe(false);
  expect(inRanges('0000480001', ranges)).toBe(false);
  for (const index of ['s.', 'u.', `s.${'f'.repeat(64)}`, `u.${'0'.repeat(64)}`])
    expect(inRanges(index, ranges)).toBe(false);
  // The ranges do not overlap: a row is counted once.
  const sorted = [...ranges].sort((a, b) => (a.from < b.from ? -1 : 1));
  for (let i = 1; i < sorted.length; i++) expect(sorted[i - 1]!.to <= sorted[i]!.from).toBe(true);
});

test('each table purges to its own first live bucket: a state token of now is live, of 6 minutes ago expired', () => {
  const now = Date.UTC(2026, 10, 21, 10, 32);
  const state = (expiresAt: number) => stateRowRef(newStateToken(secureRandom, expiresAt)).partitionKey;
  const session = (expiresAt: number) => sessionRowRef(newSessionToken(secureRandom, expiresAt))!.partitionKey;
  expect(inRanges(state(now + 10 * 60_000), expiredStateRanges(now))).toBe(false);
  expect(inRanges(state(now), expiredStateRanges(now))).toBe(false);
  expect(inRanges(state(now - 6 * 60_000), expiredStateRanges(now))).toBe(true);
  expect(inRanges(session(now + 3600_000), expiredSessionRanges(now))).toBe(false);
  expect(inRanges(session(now - 3600_000), expiredSessionRanges(now))).toBe(true);
});

test('digest comparison', () => {
  expect(sameDigest('ab'.repeat(32), 'ab'.repeat(32))).toBe(true);
  expect(sameDigest('ab'.repeat(32), 'ac'.repeat(32))).toBe(false);
  expect(sameDigest('', '')).toBe(false);
  expect(sameDigest('abcd', 'ab')).toBe(false);
});
