/**
 * The RowStore contract (`shared/ports.ts`), written once and run against every implementation: the in-memory
 * store in the unit tier (test/unit/contracts/row-store.test.ts) and the Table Storage adapter on Azurite in the
 * integration tier (test/adapters/table-store.contract.test.ts). The shape follows oauth2-proxy's
 * `RunSessionStoreTests(newStore, …)`: one function, one `describe`, the caller supplies the store.
 *
 * Each test asks for a fresh, empty store, so the cases do not see each other's rows.
 */
import { describe, expect, test } from '@jest/globals';
import { isAuthError } from '../../../shared/errors';
import { expiredPartitionRanges, SHARDS } from '../../../shared/core/keys';
import type { RowStore, StoredRow } from '../../../shared/ports';

export interface RowStoreContractOptions {
  /** A store whose backing storage cannot be reached (refused, down): every call must fail as storage_unavailable. */
  makeUnreachableStore: () => RowStore | Promise<RowStore>;
  /** How many concurrent single-use attempts race for one row (default 8). */
  racers?: number;
}

let counter = 0;
/** A row with a unique key in `partitionKey` (a shard and an expiry-hour bucket, as `core/keys.ts` makes them). */
function row(partitionKey = 'a-0000480000', data = 'sealed-data'): StoredRow {
  counter += 1;
  return {
    partitionKey,
    rowKey: `row-${process.pid}-${counter}-${Math.random().toString(36).slice(2)}`,
    expiresAt: 1_728_000_000_000,
    data,
  };
}

export function describeRowStoreContract(
  name: string,
  makeStore: () => RowStore | Promise<RowStore>,
  options: RowStoreContractOptions,
): void {
  const racers = options.racers ?? 8;

  describe(`RowStore contract: ${name}`, () => {
    test('an inserted row reads back with its fields and an etag', async () => {
      const store = await makeStore();
      const inserted = row();
      await store.insert(inserted);
      const read = await store.get(inserted.partitionKey, inserted.rowKey);
      expect(read).toMatchObject(inserted);
      expect(typeof read?.etag).toBe('string');
      expect(read?.etag).not.toBe('');
    });

    test('data round-trips exactly, also past one Table property (64 KiB) and with non-ASCII text', async () => {
      const store = await makeStore();
      const large = row(undefined, `${'x'.repeat(70_000)}~é€😀${'y'.repeat(30_001)}`);
      await store.insert(large);
      expect((await store.get(large.partitionKey, large.rowKey))?.data).toBe(large.data);
    });

    test('a missing row reads as undefined (not an error)', async () => {
      const store = await makeStore();
      const missing = row();
      expect(await store.get(missing.partitionKey, missing.rowKey)).toBeUndefined();
    });

    test('a duplicate insert fails and leaves the first row as it was', async () => {
      const store = await makeStore();
      const first = row();
      await store.insert(first);
      const before = await store.get(first.partitionKey, first.rowKey);
      await expect(store.insert({ ...first, data: 'second writer' })).rejects.toBeDefined();
      await expect(store.insert({ ...first, expiresAt: first.expiresAt + 1 })).rejects.toBeDefined();
      await expect(store.insert({ ...first, links: [{ partitionKey: 'p', rowKey: 'r' }] })).rejects.toBeDefined();
      expect(await store.get(first.partitionKey, first.rowKey)).toEqual(before);
    });

    test('the same row inserted again (a retry whose first attempt landed) succeeds and changes nothing', async () => {
      const store = await makeStore();
      const first = { ...row(), links: [{ partitionKey: 'u.x', rowKey: 'y' }] };
      await store.insert(first);
      const before = await store.get(first.partitionKey, first.rowKey);
      await store.insert({ ...first, links: [...first.links] });
      expect(await store.get(first.partitionKey, first.rowKey)).toEqual(before);
    });

    test('replace with the current etag writes and returns a new etag; a stale etag returns false and writes nothing', async () => {
      const store = await makeStore();
      const original = row();
      await store.insert(original);
      const { etag } = (await store.get(original.partitionKey, original.rowKey))!;
      const next = await store.replace({ ...original, data: 'v2', expiresAt: original.expiresAt + 1 }, etag);
      expect(typeof next).toBe('string');
      expect(next).not.toBe(etag);
      const afterFirst = await store.get(original.partitionKey, original.rowKey);
      expect(afterFirst).toMatchObject({ data: 'v2', expiresAt: original.expiresAt + 1, etag: next });

      expect(await store.replace({ ...original, data: 'lost update' }, etag)).toBe(false);
      expect(await store.get(original.partitionKey, original.rowKey)).toEqual(afterFirst);
    });

    test('replace of a missing row returns false and creates nothing', async () => {
      const store = await makeStore();
      const inserted = row();
      await store.insert(inserted);
      const { etag } = (await store.get(inserted.partitionKey, inserted.rowKey))!;
      await store.delete(inserted.partitionKey, inserted.rowKey);
      expect(await store.replace(inserted, etag)).toBe(false);
      expect(await store.get(inserted.partitionKey, inserted.rowKey)).toBeUndefined();
    });

    test(`consume succeeds for exactly one of ${racers} concurrent callers, and the row is gone`, async () => {
      const store = await makeStore();
      const single = row();
      await store.insert(single);
      const { etag } = (await store.get(single.partitionKey, single.rowKey))!;
      // Azure answers the losers 412, Azurite 404: both are "already used" (false), never an error.
      const results = await Promise.all(
        Array.from({ length: racers }, () => store.consume(single.partitionKey, single.rowKey, etag)),
      );
      expect(results.filter((won) => won)).toHaveLength(1);
      expect(await store.get(single.partitionKey, single.rowKey)).toBeUndefined();
      expect(await store.consume(single.partitionKey, single.rowKey, etag)).toBe(false);
    });

    test('consume with a stale etag returns false and keeps the row', async () => {
      const store = await makeStore();
      const original = row();
      await store.insert(original);
      const { etag } = (await store.get(original.partitionKey, original.rowKey))!;
      const next = (await store.replace({ ...original, data: 'v2' }, etag)) as string;
      expect(await store.consume(original.partitionKey, original.rowKey, etag)).toBe(false);
      expect((await store.get(original.partitionKey, original.rowKey))?.data).toBe('v2');
      expect(await store.consume(original.partitionKey, original.rowKey, next)).toBe(true);
    });

    test('consume of a missing row returns false', async () => {
      const store = await makeStore();
      const missing = row();
      expect(
        await store.consume(missing.partitionKey, missing.rowKey, 'W/"datetime\'2024-01-01T00%3A00%3A00Z\'"'),
      ).toBe(false);
    });

    test('delete removes the row whatever its etag, and is idempotent', async () => {
      const store = await makeStore();
      const inserted = row();
      await store.insert(inserted);
      await store.replace({ ...inserted, data: 'v2' }, (await store.get(inserted.partitionKey, inserted.rowKey))!.etag);
      await store.delete(inserted.partitionKey, inserted.rowKey);
      expect(await store.get(inserted.partitionKey, inserted.rowKey)).toBeUndefined();
      await expect(store.delete(inserted.partitionKey, inserted.rowKey)).resolves.toBeUndefined();
      const never = row();
      await expect(store.delete(never.partitionKey, never.rowKey)).resolves.toBeUndefined();
    });

    test('purgePartitions deletes the partitions inside its ranges (from inclusive, to exclusive), counts them, and keeps the rest', async () => {
      const store = await makeStore();
      const ranges = [
        { from: 'a-', to: 'a-0000480000' },
        { from: 'p-', to: 'p-0000480000' },
      ];
      const old = [row('a-0000479998'), row('a-0000479998'), row('a-0000479999'), row('p-0000479999'), row('p-')];
      const kept = [row('a-0000480000'), row('a-0000480001'), row('a'), row('b-0000479999'), row('p-0000480000')];
      for (const r of [...old, ...kept]) await store.insert(r);
      expect(await store.purgePartitions(ranges)).toEqual({ deleted: old.length, complete: true });
      for (const r of old) expect(await store.get(r.partitionKey, r.rowKey)).toBeUndefined();
      for (const r of kept) expect((await store.get(r.partitionKey, r.rowKey))?.data).toBe(r.data);
      // Nothing left in the ranges: a second run deletes nothing.
      expect(await store.purgePartitions(ranges)).toEqual({ deleted: 0, complete: true });
    });

    test('a range with an empty from has no lower bound', async () => {
      const store = await makeStore();
      const old = [row('0000479998'), row('0000479999'), row('0')];
      const kept = [row('0000480000'), row('a-0000479999'), row('u.index')];
      for (const r of [...old, ...kept]) await store.insert(r);
      expect(await store.purgePartitions([{ from: '', to: '0000480000' }])).toEqual({ deleted: 3, complete: true });
      for (const r of old) expect(await store.get(r.partitionKey, r.rowKey)).toBeUndefined();
      for (const r of kept) expect((await store.get(r.partitionKey, r.rowKey))?.data).toBe(r.data);
    });

    test("the core's expired ranges, in this store's key order: every expired shard and the rows from before the shards go; live shards, live legacy rows and the session index stay", async () => {
      const store = await makeStore();
      const live = '0000480000';
      const old = [
        ...SHARDS.map((shard) => row(`${shard}-0000479999`)),
        row('a-0000000001'),
        row('0000479999'), // from before the shards
        row('0000000123'), // the hour scheme of AuthState before the 5-minute buckets: smaller numbers
      ];
      const kept = [
        ...SHARDS.map((shard) => row(`${shard}-${live}`)),
        row('p-0000480001'),
        row(live),
        row('0000480001'),
        row('u.0123abc'),
        row('s.0123abc'),
      ];
      for (const r of [...old, ...kept]) await store.insert(r);
      expect(await store.purgePartitions(expiredPartitionRanges(live))).toEqual({
        deleted: old.length,
        complete: true,
      });
      for (const r of old) expect(await store.get(r.partitionKey, r.rowKey)).toBeUndefined();
      for (const r of kept) expect((await store.get(r.partitionKey, r.rowKey))?.data).toBe(r.data);
    });

    test("a purged row takes its links with it (wherever they live), uncounted; a live row's links stay", async () => {
      const store = await makeStore();
      const entries = [row('u.index-a'), row('s.index-b'), row('u.index-c')];
      for (const entry of entries) await store.insert(entry);
      const key = (r: StoredRow) => ({ partitionKey: r.partitionKey, rowKey: r.rowKey });
      const expired = { ...row('c-0000479999'), links: [key(entries[0]!), key(entries[1]!)] };
      const live = { ...row('c-0000480001'), links: [key(entries[2]!)] };
      await store.insert(expired);
      await store.insert(live);
      expect((await store.get(expired.partitionKey, expired.rowKey))?.links).toEqual(expired.links);
      expect(await store.purgePartitions(expiredPartitionRanges('0000480000'))).toEqual({ deleted: 1, complete: true });
      expect(await store.get(entries[0]!.partitionKey, entries[0]!.rowKey)).toBeUndefined();
      expect(await store.get(entries[1]!.partitionKey, entries[1]!.rowKey)).toBeUndefined();
      expect(await store.get(entries[2]!.partitionKey, entries[2]!.rowKey)).toBeDefined();
      expect(await store.get(live.partitionKey, live.rowKey)).toBeDefined();
    });

    test('purgePartitions on an empty store, or with no ranges, deletes nothing', async () => {
      const store = await makeStore();
      expect(await store.purgePartitions(expiredPartitionRanges('9999999999'))).toEqual({ deleted: 0, complete: true });
      await store.insert(row('0000479999'));
      expect(await store.purgePartitions([])).toEqual({ deleted: 0, complete: true });
    });

    test('a purge with its time budget already spent stops at once, incomplete; the next run finishes', async () => {
      const store = await makeStore();
      const expired = [row('0000479999'), row('a-0000479999'), row('k-0000479999')];
      for (const r of expired) await store.insert(r);
      const ranges = expiredPartitionRanges('0000480000');
      expect(await store.purgePartitions(ranges, 0)).toEqual({ deleted: 0, complete: false });
      for (const r of expired) expect(await store.get(r.partitionKey, r.rowKey)).toBeDefined();
      expect(await store.purgePartitions(ranges)).toEqual({ deleted: 3, complete: true });
    });

    test('listPartition answers the rows of one partition from a row key on, in row key order, with etags', async () => {
      const store = await makeStore();
      const partition = 'u.list-contract';
      const rows = ['0000480001.c', '0000480000.a', '0000480001.b', '0000479999.z'].map((rowKey) => ({
        ...row(partition),
        rowKey,
      }));
      for (const r of [...rows, row('u.other-partition'), row('0000480001')]) await store.insert(r);
      const listed = await store.listPartition(partition, '0000480000');
      expect(listed.map((r) => r.rowKey)).toEqual(['0000480000.a', '0000480001.b', '0000480001.c']);
      for (const r of listed) expect(r.etag).toBe((await store.get(partition, r.rowKey))?.etag);
      expect((await store.listPartition(partition, '')).map((r) => r.rowKey)).toHaveLength(4);
      expect(await store.listPartition('u.nothing-here', '')).toEqual([]);
    });

    test.each(['insert', 'get', 'replace', 'consume', 'delete', 'purgePartitions', 'listPartition'] as const)(
      'a storage fault during %s is AuthError storage_unavailable (503, Retry-After)',
      async (operation) => {
        const store = await options.makeUnreachableStore();
        const r = row();
        const calls: Record<typeof operation, () => Promise<unknown>> = {
          insert: () => store.insert(r),
          get: () => store.get(r.partitionKey, r.rowKey),
          replace: () => store.replace(r, 'W/"x"'),
          consume: () => store.consume(r.partitionKey, r.rowKey, 'W/"x"'),
          delete: () => store.delete(r.partitionKey, r.rowKey),
          purgePartitions: () => store.purgePartitions(expiredPartitionRanges('0000480000')),
          listPartition: () => store.listPartition(r.partitionKey, ''),
        };
        const error = await calls[operation]().then(
          () => undefined,
          (caught: unknown) => caught,
        );
        expect(isAuthError(error, 'storage_unavailable')).toBe(true);
        expect(error).toMatchObject({ status: 503 });
        expect((error as { retryAfterSeconds?: number }).retryAfterSeconds).toBeGreaterThan(0);
      },
    );
  });
}
