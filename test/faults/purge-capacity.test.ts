/**
 * The purge keeps up (issue 16, red-team F2): expired rows are deleted in entity group transactions (≤ 100 per
 * partition), page by page under a run budget that ends a run without failing it, and the two tables are purged
 * independently: a failed state purge never leaves expired sessions (holding sealed Entra refresh tokens) behind.
 *
 * Throughput against the admitted rate, with the red team's 8 ms latency proxy, is a benchmark, not a test (no
 * timed assertions here): `npx tsx bench/purge-capacity.ts`, figures in BENCHMARKS.md.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, jest, test } from '@jest/globals';
import { TableClient, type TransactionAction } from '@azure/data-tables';
import { InvocationContext, type Timer } from '@azure/functions';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { createPurgeHandler } from '../../functions/purge';
import { createTableClient, createTableRowStore } from '../../shared/adapters/table-store';
import type { CoreDeps } from '../../shared/core/deps';
import {
  bucketOf,
  expiredStateRanges,
  expiryBucket,
  firstLiveBucket,
  shardedPartition,
  STATE_BUCKET_MS,
  stateExpiryBucket,
} from '../../shared/core/keys';
import type { RowStore } from '../../shared/ports';
import { SESSION_TABLE, STATE_TABLE } from '../../shared/services';
import { proxiedConnectionString, SwitchRowStore, tableStore } from '../_support/fault-kit';
import { startSlowProxy, type SlowProxy } from '../_support/slow-proxy';
import { tableRows } from '../_support/tables';

jest.setTimeout(120_000);

let azurite: AzuriteInstance;
let proxy: SlowProxy;
const direct = (table: string) =>
  TableClient.fromConnectionString(azurite.connectionString, table, { allowInsecureConnection: true });

beforeAll(async () => {
  azurite = await startAzurite();
  proxy = await startSlowProxy(azurite.port, { kind: 'forward' });
});
afterAll(async () => {
  await proxy?.stop();
  await azurite?.stop();
});

/** Writes `count` rows per partition straight to Azurite (in transactions, so setting up is quick). */
async function seed(table: string, partitions: readonly string[], count: number): Promise<void> {
  const client = direct(table);
  await client.createTable().catch(() => undefined);
  for (const partitionKey of partitions) {
    for (let i = 0; i < count; i += 100) {
      const actions: TransactionAction[] = [];
      for (let j = i; j < Math.min(count, i + 100); j++)
        actions.push([
          'create',
          { partitionKey, rowKey: `row-${String(j).padStart(6, '0')}`, expiresAt: 0, chunks: 1, d0: 'sealed' },
        ]);
      await client.submitTransaction(actions);
    }
  }
}

async function emptyTables(): Promise<void> {
  for (const table of [STATE_TABLE, SESSION_TABLE])
    await direct(table)
      .deleteTable()
      .catch(() => undefined);
}

const rowsOf = async (table: string) =>
  (await tableRows(azurite.connectionString, table)).map((r) => String(r.partitionKey));

/** A TableClient whose calls are counted: how the purge talks to storage, not how fast. */
function countingClient(table: string) {
  const client = createTableClient({ connectionString: azurite.connectionString }, table);
  const calls = { deleteEntity: 0, submitTransaction: 0, operationsPerTransaction: [] as number[] };
  const submit = client.submitTransaction.bind(client);
  const remove = client.deleteEntity.bind(client);
  client.submitTransaction = (actions, options) => {
    calls.submitTransaction++;
    calls.operationsPerTransaction.push(actions.length);
    return submit(actions, options);
  };
  client.deleteEntity = (pk, rk, options) => {
    calls.deleteEntity++;
    return remove(pk, rk, options);
  };
  return { client, calls };
}

const now = Date.now();
/** Three expired 5-minute state partitions (two shards, and one from before the shards) and a live one. */
const expiredStates = [
  shardedPartition('a', stateExpiryBucket(now - STATE_BUCKET_MS)),
  shardedPartition('p', stateExpiryBucket(now - 2 * STATE_BUCKET_MS)),
  stateExpiryBucket(now - 7 * STATE_BUCKET_MS),
];
const liveState = shardedPartition('c', stateExpiryBucket(now + 10 * 60_000));
const expiredSessions = [shardedPartition('b', expiryBucket(now - 3 * 3_600_000)), expiryBucket(now - 3_600_000)];
const liveSession = shardedPartition('b', expiryBucket(now + 24 * 3_600_000));

describe('purge: entity group transactions, page by page', () => {
  beforeEach(emptyTables);

  test('2,550 expired rows in three partitions: all gone in one run, in transactions of ≤ 100, none deleted one by one; live rows kept', async () => {
    await seed(STATE_TABLE, expiredStates, 850);
    await seed(STATE_TABLE, [liveState], 30);
    const { client, calls } = countingClient(STATE_TABLE);
    const result = await createTableRowStore(client).purgePartitions(expiredStateRanges(now));
    expect(result).toEqual({ deleted: 2550, complete: true });
    expect(await rowsOf(STATE_TABLE)).toEqual(Array(30).fill(liveState));
    expect(calls.deleteEntity).toBe(0);
    expect(calls.submitTransaction).toBeGreaterThanOrEqual(27); // ⌈850 / 100⌉ per partition, and pages may split one
    expect(calls.submitTransaction).toBeLessThanOrEqual(33);
    expect(Math.max(...calls.operationsPerTransaction)).toBeLessThanOrEqual(100);
  });

  test('a row consumed between the listing and its transaction: the batch falls back to single deletes, the rest still goes', async () => {
    await seed(STATE_TABLE, [expiredStates[0]!], 250);
    const { client } = countingClient(STATE_TABLE);
    const submit = client.submitTransaction.bind(client);
    let raced = false;
    client.submitTransaction = async (actions, options) => {
      if (!raced) {
        raced = true; // a callback consumed one of these rows a moment ago
        const [, entity] = actions[0] as ['delete', { partitionKey: string; rowKey: string }];
        await direct(STATE_TABLE).deleteEntity(entity.partitionKey, entity.rowKey);
      }
      return submit(actions, options);
    };
    const result = await createTableRowStore(client).purgePartitions(expiredStateRanges(now));
    expect(result).toEqual({ deleted: 249, complete: true });
    expect(await rowsOf(STATE_TABLE)).toEqual([]);
  });

  test('a run that reaches its time budget stops without failing; the next run goes on with what is left', async () => {
    await seed(STATE_TABLE, expiredStates, 400);
    const store = createTableRowStore(createTableClient({ connectionString: azurite.connectionString }, STATE_TABLE));
    expect(await store.purgePartitions(expiredStateRanges(now), 0)).toEqual({ deleted: 0, complete: false });
    expect((await rowsOf(STATE_TABLE)).length).toBe(1200);
    expect(await store.purgePartitions(expiredStateRanges(now))).toEqual({ deleted: 1200, complete: true });
  });

  test('through the latency proxy (Azure-like round trips) a run still finishes its backlog', async () => {
    proxy.mode = { kind: 'delay', ms: 4 };
    try {
      await seed(STATE_TABLE, expiredStates, 700);
      const store = tableStore(proxiedConnectionString(azurite, proxy), STATE_TABLE);
      expect(await store.purgePartitions(expiredStateRanges(now))).toEqual({
        deleted: 2100,
        complete: true,
      });
    } finally {
      proxy.mode = { kind: 'forward' };
    }
  });
});

describe('purge timer: the two tables independently', () => {
  beforeEach(emptyTables);

  function run(states: RowStore, sessions: RowStore) {
    const logs: string[] = [];
    const context = new InvocationContext({
      functionName: 'purge',
      logHandler: (_level, ...args) => logs.push(args.map(String).join(' ')),
    });
    const deps = { clock: { now: () => now }, states, sessions } as unknown as CoreDeps;
    return { logs, done: createPurgeHandler(() => deps)({} as Timer, context) };
  }

  test('states partitioned by 5-minute bucket and sessions by hour (sharded, and from before the shards): each table is purged to its own first live bucket', async () => {
    await seed(STATE_TABLE, [...expiredStates, liveState], 10);
    await seed(SESSION_TABLE, [...expiredSessions, liveSession], 10);
    const { logs, done } = run(
      tableStore(azurite.connectionString, STATE_TABLE),
      tableStore(azurite.connectionString, SESSION_TABLE),
    );
    await done;
    expect(await rowsOf(STATE_TABLE)).toEqual(Array(10).fill(liveState));
    expect(await rowsOf(SESSION_TABLE)).toEqual(Array(10).fill(liveSession));
    expect(bucketOf(liveSession) >= firstLiveBucket(now)).toBe(true);
    expect(logs.join('\n')).toContain('purge removed 30 expired sign-in states and 20 expired sessions');
  });

  test('the state purge fails (storage answers 503): expired sessions are purged all the same, and the run is reported failed', async () => {
    await seed(STATE_TABLE, expiredStates, 10);
    await seed(SESSION_TABLE, expiredSessions, 10);
    proxy.mode = { kind: 'status', status: 503, code: 'ServerBusy' };
    try {
      const states = new SwitchRowStore(
        tableStore(azurite.connectionString, STATE_TABLE),
        tableStore(proxiedConnectionString(azurite, proxy), STATE_TABLE, 1000),
      );
      states.failNext('purgePartitions');
      const { logs, done } = run(states, tableStore(azurite.connectionString, SESSION_TABLE));
      await expect(done).rejects.toMatchObject({ code: 'storage_unavailable' });
      expect(await rowsOf(SESSION_TABLE)).toEqual([]);
      expect((await rowsOf(STATE_TABLE)).length).toBe(30);
      expect(logs.join('\n')).toContain('20 expired sessions');
    } finally {
      proxy.mode = { kind: 'forward' };
    }
  });
});
