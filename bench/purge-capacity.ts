/**
 * Purge capacity against the admitted rate (issue 16, red-team F2): does the backlog of expired AuthState rows stay
 * bounded for an hour at the default rate limit, with Azure-like storage latency?
 *
 *   npx tsx bench/purge-capacity.ts            (INTERVALS=12 RATE=100 DELAY_MS=4 FILL_BYTES=512 to change)
 *
 * One simulated hour is 12 purge periods of 5 minutes (the timer's schedule). In each period the limiter admits
 * RATE × 300 pending sign-ins per instance; they are written straight to Azurite (as expired rows in the buckets
 * the purge may take, the way they would be by the time it runs), then one purge run goes through the real
 * adapter (`createTableRowStore`) and the real handler (`createPurgeHandler`), with storage behind the red team's
 * latency proxy (test/_support/slow-proxy.ts: DELAY_MS per chunk each way, ~2 × DELAY_MS per table call, about an
 * in-region Azure Table round trip). Printed: per period the rows admitted, deleted, left over, the run's time, and
 * the rows/s; at the end, the capacity of one run's budget as a multiple of one period's admissions.
 *
 * Time is compressed (a period's admissions are written at once), not the purge: its runs take real time. No
 * pass/fail: the figures go to BENCHMARKS.md.
 */
import { TableClient, type TransactionAction } from '@azure/data-tables';
import { InvocationContext, type Timer } from '@azure/functions';
import { startAzurite } from '../dev/azurite';
import { createPurgeHandler } from '../functions/purge';
import { createTableClient, createTableRowStore, PURGE_BUDGET_MS } from '../shared/adapters/table-store';
import type { CoreDeps } from '../shared/core/deps';
import { expiryBucket, shardedPartition, SHARDS, STATE_BUCKET_MS, stateExpiryBucket } from '../shared/core/keys';
import { startSlowProxy } from '../test/_support/slow-proxy';

const INTERVALS = Number(process.env['INTERVALS'] ?? 12);
const RATE = Number(process.env['RATE'] ?? 100);
const DELAY_MS = Number(process.env['DELAY_MS'] ?? 4);
const FILL_BYTES = Number(process.env['FILL_BYTES'] ?? 512);
const PERIOD_S = 300;
/** Sessions that reach their absolute expiry in one period (a busy site: 10,000 sign-ins a day). */
const SESSIONS_PER_PERIOD = 35;

async function insertExpired(client: TableClient, count: number, partitionOf: (i: number) => string): Promise<void> {
  const byPartition = new Map<string, string[]>();
  for (let i = 0; i < count; i++) {
    const pk = partitionOf(i);
    const rowKey = `${Date.now().toString(36)}-${i}-${Math.random().toString(36).slice(2)}`;
    const keys = byPartition.get(pk);
    if (keys) keys.push(rowKey);
    else byPartition.set(pk, [rowKey]);
  }
  const batches: TransactionAction[][] = [];
  for (const [partitionKey, rowKeys] of byPartition) {
    for (let i = 0; i < rowKeys.length; i += 100) {
      batches.push(
        rowKeys
          .slice(i, i + 100)
          .map((rowKey) => ['create', { partitionKey, rowKey, expiresAt: 0, chunks: 1, d0: 'x'.repeat(FILL_BYTES) }]),
      );
    }
  }
  // Setting up is not what is measured: a few at a time, each retried (Azurite drops a connection now and then).
  const submit = async (batch: TransactionAction[]) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await client.submitTransaction(batch);
      } catch (error) {
        if (attempt >= 3 || (error as { statusCode?: number }).statusCode === 409) throw error;
      }
    }
  };
  for (let i = 0; i < batches.length; i += 4) await Promise.all(batches.slice(i, i + 4).map(submit));
}

async function count(client: TableClient): Promise<number> {
  let n = 0;
  for await (const page of client.listEntities({ queryOptions: { select: ['RowKey'] } }).byPage({ maxPageSize: 1000 }))
    n += page.length;
  return n;
}

async function main(): Promise<void> {
  const azurite = await startAzurite();
  const proxy = await startSlowProxy(azurite.port, { kind: 'delay', ms: DELAY_MS });
  try {
    const direct = (table: string) =>
      TableClient.fromConnectionString(azurite.connectionString, table, { allowInsecureConnection: true });
    const states = direct('AuthState');
    const sessions = direct('AuthSessions');
    await states.createTable();
    await sessions.createTable();
    const slow = { connectionString: azurite.connectionString.replace(`127.0.0.1:${azurite.port}`, proxy.hostPort) };
    let now = Date.now();
    const deps = {
      clock: { now: () => now },
      states: createTableRowStore(createTableClient(slow, 'AuthState')),
      sessions: createTableRowStore(createTableClient(slow, 'AuthSessions')),
    } as unknown as CoreDeps;
    const purge = createPurgeHandler(() => deps);
    const logs: string[] = [];
    const context = new InvocationContext({
      functionName: 'purge',
      logHandler: (_level, ...args) => logs.push(args.map(String).join(' ')),
    });

    const admittedPerPeriod = RATE * PERIOD_S;
    console.log(
      `purge capacity: ${INTERVALS} periods of ${PERIOD_S} s, ${admittedPerPeriod} rows admitted per period (${RATE}/s), ~${2 * DELAY_MS} ms per table call, budget ${PURGE_BUDGET_MS / 1000} s per run`,
    );
    console.log('period | admitted | deleted | left | run s | rows/s');
    let slowestRate = Infinity;
    let left = 0;
    for (let period = 1; period <= INTERVALS; period++) {
      now += PERIOD_S * 1000;
      // Expired by now, in the two buckets before the live one (where a 10-minute state admitted last period is),
      // spread over the 16 shards of each bucket as the service spreads them.
      const shard = (i: number) => SHARDS[Math.floor(i / 2) % SHARDS.length]!;
      await insertExpired(states, admittedPerPeriod, (i) =>
        shardedPartition(shard(i), stateExpiryBucket(now - STATE_BUCKET_MS * (1 + (i % 2)))),
      );
      await insertExpired(sessions, SESSIONS_PER_PERIOD, (i) =>
        shardedPartition(shard(i), expiryBucket(now - 3_600_000)),
      );
      const before = left + admittedPerPeriod;
      const started = performance.now();
      await purge({} as Timer, context);
      const seconds = (performance.now() - started) / 1000;
      // The handler's own log line says what it deleted (counting 30,000 rows twice a period would cost as much).
      const deleted = Number(/purge removed (\d+) expired sign-in states/.exec(logs.at(-1) ?? '')?.[1] ?? NaN);
      left = before - deleted;
      const rate = deleted / seconds;
      slowestRate = Math.min(slowestRate, rate);
      console.log(
        `${String(period).padStart(6)} | ${String(admittedPerPeriod).padStart(8)} | ${String(deleted).padStart(7)} | ${String(left).padStart(4)} | ${seconds.toFixed(1).padStart(5)} | ${Math.round(rate)}`,
      );
    }
    const statesLeft = await count(states);
    const sessionsLeft = await count(sessions);
    const capacity = (slowestRate * PURGE_BUDGET_MS) / 1000;
    console.log(
      `backlog after ${INTERVALS} periods: ${statesLeft} AuthState rows (counted), ${sessionsLeft} AuthSessions rows`,
    );
    console.log(
      `slowest run: ${Math.round(slowestRate)} rows/s → one run's budget deletes ~${Math.round(capacity)} rows = ${(capacity / admittedPerPeriod).toFixed(1)} × one period's admissions per instance`,
    );
    console.log(`last run's log: ${logs.at(-1)}`);
  } finally {
    await proxy.stop();
    await azurite.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error('purge-capacity: broken run', error);
    process.exit(1);
  },
);
