/**
 * The bench's counting Table proxy (bench/table-proxy.ts) finds each request's partition as the real SDK sends it
 * (point operations in the URL, inserts in the body, single-partition queries in `$filter`, batches in the
 * multipart body), and the scale-out step's arithmetic (bench/scale-out.ts) says what Azure's targets give.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { TableClient } from '@azure/data-tables';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { accountCeiling, fairShareBound, partitionLoad } from '../../bench/scale-out';
import { RANGE_QUERY, startTableProxy, type TableProxy } from '../../bench/table-proxy';
import { createTableClient, createTableRowStore } from '../../shared/adapters/table-store';
import { expiredPartitionRanges } from '../../shared/core/keys';

let azurite: AzuriteInstance;
let proxy: TableProxy;

beforeAll(async () => {
  azurite = await startAzurite();
  proxy = await startTableProxy(azurite);
});
afterAll(async () => {
  proxy?.server.close();
  await azurite?.stop();
});

const total = (table: string, partition: string) =>
  [...(proxy.byPartition.get(table)?.get(partition)?.values() ?? [])].reduce((a, b) => a + b, 0);

describe('startTableProxy', () => {
  test('counts each SDK operation under its table and partition, quotes and all; a range query is a range query', async () => {
    const connectionString = azurite.connectionString.replace(`:${azurite.port}/`, `:${proxy.port}/`);
    const client = TableClient.fromConnectionString(connectionString, 'ProxyCount', { allowInsecureConnection: true });
    await client.createTable();
    proxy.resetPartitions();
    const before = proxy.count();
    const odd = "c-0005912345'x";
    await client.createEntity({ partitionKey: 'a-0005912345', rowKey: 'r1', v: 1 });
    await client.createEntity({ partitionKey: odd, rowKey: "r'2", v: 1 });
    await client.getEntity('a-0005912345', 'r1');
    await client.updateEntity({ partitionKey: 'a-0005912345', rowKey: 'r1', v: 2 }, 'Replace');
    await client.updateEntity({ partitionKey: odd, rowKey: "r'2", v: 3 }, 'Merge');
    await client.submitTransaction([
      ['create', { partitionKey: 'b-0005912345', rowKey: 'x1' }],
      ['create', { partitionKey: 'b-0005912345', rowKey: 'x2' }],
    ]);
    await client.submitTransaction([
      ['delete', { partitionKey: 'b-0005912345', rowKey: 'x1' }],
      ['delete', { partitionKey: 'b-0005912345', rowKey: 'x2' }],
    ]);
    for await (const _ of client.listEntities({ queryOptions: { filter: "PartitionKey eq 'u.abc'" } }));
    // The purge's ranges, through the real adapter.
    await createTableRowStore(createTableClient({ connectionString }, 'ProxyCount')).purgePartitions(
      expiredPartitionRanges('0005912345'),
    );
    await client.deleteEntity('a-0005912345', 'r1');

    expect(total('ProxyCount', 'a-0005912345')).toBe(4); // insert, read, replace, delete
    expect(total('ProxyCount', odd)).toBe(2); // insert, merge
    expect(total('ProxyCount', 'b-0005912345')).toBe(2); // two transactions of two operations
    expect(total('ProxyCount', 'u.abc')).toBe(1);
    expect(total('ProxyCount', RANGE_QUERY)).toBe(expiredPartitionRanges('0005912345').length);
    expect(proxy.count() - before).toBe(4 + 2 + 2 + 1 + 17);
  });
});

describe('the scale-out arithmetic', () => {
  test('partitionLoad: operations, distinct partitions, the busiest one with its peak second and share', () => {
    const seconds = (...counts: number[]) => new Map(counts.map((count, second) => [second, count]));
    const load = partitionLoad(
      new Map([
        ['a-1', seconds(3, 1)],
        ['b-1', seconds(1, 1)],
        ['u.x', seconds(9)],
        [RANGE_QUERY, seconds(5)],
      ]),
      (partition) => !partition.startsWith('u.'),
    );
    expect(load).toEqual({
      operations: 6,
      partitions: 2,
      busiest: { partition: 'a-1', operations: 4, peakPerSecond: 3, share: 4 / 6 },
    });
  });

  test('accountCeiling: 6 transactions a sign-in, 3 of them on one AuthState partition (before the shards) vs spread over 16', () => {
    expect(accountCeiling({ transactionsPerSignIn: 6, busiestPartitionOpsPerSignIn: 3 })).toEqual({
      signInsPerSecond: 2000 / 3,
      bindsAt: 'partition',
    });
    expect(accountCeiling({ transactionsPerSignIn: 6, busiestPartitionOpsPerSignIn: 3 / 16 })).toEqual({
      signInsPerSecond: 20_000 / 6,
      bindsAt: 'account',
    });
  });

  test('fairShareBound: above the even share, closing in on it as the run grows', () => {
    expect(fairShareBound(100)).toBeGreaterThan(1 / 16);
    expect(fairShareBound(100_000)).toBeLessThan(fairShareBound(100));
    expect(fairShareBound(100_000)).toBeCloseTo(1 / 16, 2);
  });
});
