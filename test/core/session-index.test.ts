import { expect, test } from '@jest/globals';
import { expiryBucket, sessionRowRef, newSessionToken } from '../../shared/core/keys';
import {
  displayUserAgent,
  endUserSessions,
  indexableSid,
  indexSession,
  listUserSessions,
  isWellFormedHandle,
  isWellFormedSid,
  sessionHandle,
  sessionIndexLinks,
  sidIndexPartition,
  userIndexPartition,
  userKeyOf,
} from '../../shared/core/session-index';
import type { RowStore, StoredRow } from '../../shared/ports';
import { secureRandom } from '../../shared/services';
import { MemoryRowStore } from '../_support/fakes/memory-row-store';

const USER = {
  id: '4d3b0a8e-2a6f-4f55-9c1e-6a1f0d2b7c31',
  tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  issuer: 'https://login.example/t/v2.0',
};
const SID = '007e3899-e104-731f-b675-0617c1f2dd72';

test('index partitions are hashes that sort after every expiry partition, so the purge never reads them', () => {
  const user = userIndexPartition(userKeyOf(USER));
  const sid = sidIndexPartition(SID);
  expect(user).toMatch(/^u\.[0-9a-f]{64}$/);
  expect(sid).toMatch(/^s\.[0-9a-f]{64}$/);
  for (const partition of [user, sid]) {
    expect(partition > '9999999999').toBe(true);
    expect(partition > 'p-9999999999').toBe(true); // the last shard's partitions
    expect(partition).not.toContain(USER.id);
    expect(partition).not.toContain(SID);
  }
  expect(userKeyOf(USER)).toBe(`${USER.tenantId}/${USER.id}`);
  expect(userKeyOf({ id: 'subject' })).toBe('/subject');
  expect(userIndexPartition(userKeyOf({ ...USER, tenantId: '00000000-0000-0000-0000-000000000000' }))).not.toBe(user);
});

test('a session’s links: its user entry, and its sid entry when it has a sid; both keyed by expiry bucket and handle', () => {
  const ref = sessionRowRef(newSessionToken(secureRandom, Date.UTC(2026, 10, 29, 12)))!;
  const bucket = expiryBucket(Date.UTC(2026, 10, 29, 12));
  expect(ref.partitionKey).toMatch(new RegExp(`^[a-p]-${bucket}$`));
  const record = { user: USER, createdAt: 0, lastSeenAt: 0, idleExpiresAt: 1, absoluteExpiresAt: 2 };
  const handle = sessionHandle(ref.rowKey);
  expect(isWellFormedHandle(handle)).toBe(true);
  expect(ref.rowKey).not.toContain(handle);
  expect(sessionIndexLinks(ref, record)).toEqual([
    { partitionKey: userIndexPartition(userKeyOf(USER)), rowKey: `${bucket}.${handle}` },
  ]);
  expect(sessionIndexLinks(ref, { ...record, sid: SID })).toEqual([
    { partitionKey: userIndexPartition(userKeyOf(USER)), rowKey: `${bucket}.${handle}` },
    { partitionKey: sidIndexPartition(SID), rowKey: `${bucket}.${handle}` },
  ]);
});

test.each([
  [SID, true, SID],
  ['a'.repeat(16), true, 'a'.repeat(16)],
  ['a'.repeat(15), true, undefined], // well-formed, too short to index: a guess would be cheap
  ['a'.repeat(255), true, 'a'.repeat(255)],
  ['a'.repeat(256), false, undefined],
  ['', false, undefined],
  ['with\nnewline-0123456789', false, undefined],
  ['café-0123456789abcdef', false, undefined],
])('sid %j: well-formed %s, indexed as %j', (sid, wellFormed, indexed) => {
  expect(isWellFormedSid(sid)).toBe(wellFormed);
  expect(indexableSid(sid)).toBe(indexed);
});

test('a non-string sid claim is never indexed', () => {
  for (const claim of [undefined, null, 42, ['x'.repeat(20)], { sid: SID }])
    expect(indexableSid(claim)).toBeUndefined();
});

test.each([
  ['Mozilla/5.0 (X11; Linux x86_64)', 'Mozilla/5.0 (X11; Linux x86_64)'],
  ['  padded  ', 'padded'],
  ['ctrl\u0000\u001f\u007fchars é', 'ctrlchars'],
  ['x'.repeat(300), 'x'.repeat(256)],
  ['', undefined],
  ['\u0001', undefined],
  [undefined, undefined],
])('User-Agent %j is shown as %j', (header, shown) => {
  expect(displayUserAgent(header)).toBe(shown);
});

test.each([
  ['0123456789abcdef0123456789abcdef', true],
  ['0123456789ABCDEF0123456789ABCDEF', false],
  ['0123456789abcdef0123456789abcde', false],
  ['0123456789abcdef0123456789abcdef0', false],
  ['..', false],
])('handle %j well-formed: %s', (handle, ok) => {
  expect(isWellFormedHandle(handle)).toBe(ok);
});

test('a user listing reads from the first live bucket on: sharded sessions and those from before the shards; expired entries are not even read', async () => {
  const now = Date.UTC(2026, 10, 29, 12, 30);
  const store = new MemoryRowStore();
  let read = 0;
  const sessions: RowStore = {
    insert: (row) => store.insert(row),
    get: (pk, rk) => store.get(pk, rk),
    replace: (row, etag) => store.replace(row, etag),
    consume: (pk, rk, etag) => store.consume(pk, rk, etag),
    delete: (pk, rk) => store.delete(pk, rk),
    purgePartitions: (ranges, budgetMs) => store.purgePartitions(ranges, budgetMs),
    listPartition: async (pk, from) => {
      const rows = await store.listPartition(pk, from);
      read += rows.length;
      return rows;
    },
  };
  const deps = { sessions, clock: { now: () => now } };
  const session = (partitionKey: string, rowKey: string, expiresAt: number) => ({
    ref: { partitionKey, rowKey },
    record: {
      user: USER,
      sid: SID,
      createdAt: 0,
      lastSeenAt: 0,
      idleExpiresAt: expiresAt,
      absoluteExpiresAt: expiresAt,
    },
  });
  const hour = 3_600_000;
  const live = [
    session(`c-${expiryBucket(now + 2 * hour)}`, 'live-sharded', now + 2 * hour),
    session(expiryBucket(now + 3 * hour), 'live-from-before-the-shards', now + 3 * hour),
    session(`p-${expiryBucket(now + 1)}`, 'live-this-hour', now + 1),
  ];
  const expired = [
    session(`a-${expiryBucket(now - 2 * hour)}`, 'expired-sharded', now - 2 * hour),
    session(expiryBucket(now - hour), 'expired-from-before-the-shards', now - hour),
  ];
  for (const { ref, record } of [...live, ...expired]) await indexSession(ref, record, deps);

  const listed = await listUserSessions(userKeyOf(USER), deps);
  expect(listed.map((s) => s.session).sort((a, b) => (a.rowKey < b.rowKey ? -1 : 1))).toEqual(
    live.map((s) => s.ref).sort((a, b) => (a.rowKey < b.rowKey ? -1 : 1)),
  );
  expect(read).toBe(live.length);
  expect(listed.map((s) => s.handle).sort()).toEqual(live.map((s) => sessionHandle(s.ref.rowKey)).sort());

  // "Everywhere" also finds the expired entries, and removes every entry of both indexes.
  expect(await listUserSessions(userKeyOf(USER), deps, true)).toHaveLength(live.length + expired.length);
  expect(await endUserSessions(userKeyOf(USER), deps)).toBe(live.length);
  expect(store.snapshot()).toEqual([]);
});

test('a session is filed in both indexes side by side; when one entry fails, the call ends after the other and reports the failure', async () => {
  const store = new MemoryRowStore();
  let inFlight = 0;
  let mostInFlight = 0;
  let finished = 0;
  // The memory store, with a slow insert that refuses the user index entry.
  const sessions: RowStore = Object.assign(Object.create(store) as RowStore, {
    insert: async (row: StoredRow) => {
      inFlight++;
      mostInFlight = Math.max(mostInFlight, inFlight);
      await new Promise((r) => setTimeout(r, row.partitionKey.startsWith('u.') ? 5 : 30));
      inFlight--;
      finished++;
      if (row.partitionKey.startsWith('u.')) throw new Error('user index entry refused');
      await store.insert(row);
    },
  });
  const ref = { partitionKey: 'a-0000490000', rowKey: 'f'.repeat(64) };
  const record = { user: USER, sid: SID, createdAt: 0, lastSeenAt: 0, idleExpiresAt: 1, absoluteExpiresAt: 1 };
  await expect(indexSession(ref, record, { sessions, clock: { now: () => 0 } })).rejects.toThrow(
    'user index entry refused',
  );
  expect(mostInFlight).toBe(2);
  // The user entry failed first; the call still waited for the sid entry, so the caller's clean-up comes after it.
  expect(finished).toBe(2);
  expect(await store.get(sidIndexPartition(SID), sessionIndexLinks(ref, record)[1]!.rowKey)).toBeDefined();
});
