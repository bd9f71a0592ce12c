/**
 * (s) Scale-out: four function hosts (the same bundle, each its own process) share one Azurite through the counting
 * proxy (bench/table-proxy.ts), and the bench drives, round-robin over them and as fast as the machine allows,
 * first whole sign-ins (login → the stand-in's sign-in page → callback) for BENCH_SCALE_SECONDS, then logins only
 * (one AuthState insert each, far cheaper, so many more rows) for BENCH_SCALE_LOGIN_SECONDS. Reported: sign-ins/s,
 * Table operations/s and per sign-in, and per table the busiest partition's operations/s and share of the table's
 * operations, with the number of distinct partitions used.
 *
 * The machine here is far below Azure's limits, so the figures that matter are the shares: from them and Azure's
 * published targets the step derives the sign-ins/s one storage account can take and which limit binds first —
 * 20,000 transactions/s per account, 2,000 entities/s per partition
 * (https://learn.microsoft.com/azure/storage/tables/scalability-targets). With every pending sign-in of a bucket in
 * one partition (the key scheme before the shards) the partition binds near 2,000 / 3 ≈ 670 sign-ins/s; with 16
 * shards the account binds first.
 *
 * BENCH_SCALE_DIST runs the step against another build's bundle (e.g. an older commit's, for the "before" figure).
 */
import type { EntraStandIn, StandInUser } from '../dev/entra-standin';
import { SHARDS } from '../shared/core/keys';
import { appEnv, Browser, startApp, type AppProcess } from './support';
import { RANGE_QUERY, startTableProxy, UNKNOWN_PARTITION } from './table-proxy';
import { DIST, fmt, LAUNCHER, log, num, type Row, type StepWorld } from './measure';

const SECONDS = num('BENCH_SCALE_SECONDS', 10);
const CONCURRENCY = num('BENCH_SCALE_CONCURRENCY', 16);
const LOGIN_SECONDS = num('BENCH_SCALE_LOGIN_SECONDS', SECONDS);
const LOGIN_CONCURRENCY = num('BENCH_SCALE_LOGIN_CONCURRENCY', 32);
const HOSTS = 4;
const SCALE_DIST = process.env['BENCH_SCALE_DIST'] ?? DIST;

/** Azure Table Storage scalability targets (1 KiB entities). */
export const ACCOUNT_TRANSACTIONS_PER_SECOND = 20_000;
export const PARTITION_ENTITIES_PER_SECOND = 2_000;

/** Session index partitions (`u.<hash>`, `s.<hash>`): one per user / provider session, never shared by a bucket. */
const INDEX_PARTITION = /^[us]\./;

export interface PartitionLoad {
  /** Operations on the table over the run (point operations, inserts, single-partition queries, batches). */
  operations: number;
  /** Distinct partitions the operations touched. */
  partitions: number;
  busiest: { partition: string; operations: number; peakPerSecond: number; share: number };
}

/** The load of one table's partitions (`seconds` maps a partition to its operations per whole second). */
export function partitionLoad(
  partitions: ReadonlyMap<string, ReadonlyMap<number, number>>,
  include: (partition: string) => boolean = () => true,
): PartitionLoad {
  let operations = 0;
  let count = 0;
  let busiest = { partition: '', operations: 0, peakPerSecond: 0, share: 0 };
  for (const [partition, seconds] of partitions) {
    if (partition === RANGE_QUERY || partition === UNKNOWN_PARTITION || !include(partition)) continue;
    const total = [...seconds.values()].reduce((a, b) => a + b, 0);
    operations += total;
    count++;
    if (total > busiest.operations)
      busiest = { partition, operations: total, peakPerSecond: Math.max(...seconds.values()), share: 0 };
  }
  busiest.share = operations > 0 ? busiest.operations / operations : 0;
  return { operations, partitions: count, busiest };
}

/**
 * Sign-ins/s one storage account takes: the lower of the account's transaction target over the transactions per
 * sign-in, and the partition target over the busiest partition's operations per sign-in.
 */
export function accountCeiling(input: { transactionsPerSignIn: number; busiestPartitionOpsPerSignIn: number }): {
  signInsPerSecond: number;
  bindsAt: 'account' | 'partition';
} {
  const byAccount = ACCOUNT_TRANSACTIONS_PER_SECOND / input.transactionsPerSignIn;
  const byPartition = PARTITION_ENTITIES_PER_SECOND / input.busiestPartitionOpsPerSignIn;
  return byAccount <= byPartition
    ? { signInsPerSecond: byAccount, bindsAt: 'account' }
    : { signInsPerSecond: byPartition, bindsAt: 'partition' };
}

/**
 * The highest share of one partition that a uniform random spread over `shards` still gives, with `placements`
 * independent placements (a sign-in puts all its AuthState operations in one partition: one placement), at
 * 3.5 standard deviations: a fair spread stays under it in all but ~0.4% of runs (16 × the one-sided 3.5σ tail).
 */
export function fairShareBound(placements: number, shards = SHARDS.length): number {
  const p = 1 / shards;
  return p + 3.5 * Math.sqrt((p * (1 - p)) / Math.max(placements, 1));
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

async function signInOnce(standIn: EntraStandIn, appUrl: string, user: StandInUser): Promise<void> {
  const browser = new Browser(appUrl);
  const authorizeUrl = await browser.login();
  await browser.callback(await standIn.signIn(authorizeUrl, user.username));
}

async function loginOnce(appUrl: string): Promise<void> {
  const res = await fetch(`${appUrl}/auth/login?returnTo=%2Fapp`, { redirect: 'manual' });
  await res.arrayBuffer();
  if (res.status !== 302) throw new Error(`login answered ${res.status}`);
}

/** Runs `once` round-robin over the hosts, `concurrency` at a time, for `seconds`; fails the step past 1% errors. */
async function drive(
  what: string,
  hosts: readonly AppProcess[],
  concurrency: number,
  seconds: number,
  once: (appUrl: string) => Promise<void>,
): Promise<{ done: number; seconds: number }> {
  let done = 0;
  let failures = 0;
  let lastFailure = '';
  let nextHost = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        try {
          await once(hosts[nextHost++ % hosts.length]!.url);
          done++;
        } catch (error) {
          failures++;
          lastFailure = error instanceof Error ? error.message : String(error);
        }
      }
    }),
  );
  if (done === 0 || failures > done * 0.01)
    throw new Error(`scale-out ${what}: ${done} done, ${failures} failed (last: ${lastFailure.slice(0, 300)})`);
  return { done, seconds: (performance.now() - t0) / 1000 };
}

export async function scaleOut(world: StepWorld, rows: Row[], notes: string[]): Promise<void> {
  const proxy = await startTableProxy(world.azurite);
  const storage = world.azurite.connectionString.replace(`:${world.azurite.port}/`, `:${proxy.port}/`);
  const env = appEnv(world.azurite, world.standIn, { AUTH_STORAGE_CONNECTION_STRING: storage });
  const hosts: AppProcess[] = [];
  const none = new Map<string, Map<number, number>>();
  try {
    hosts.push(...(await Promise.all(Array.from({ length: HOSTS }, () => startApp(LAUNCHER, SCALE_DIST, env)))));
    let nextUser = 0;
    const user = () => world.users[nextUser++ % world.users.length]!;
    // Warm-up: each host signs one user in (JIT, connection pools, the tables exist).
    for (const host of hosts) await signInOnce(world.standIn, host.url, user());

    // 1. Whole sign-ins: Table transactions per sign-in, and how the session rows spread.
    proxy.resetPartitions();
    const ops0 = proxy.count();
    const signIns = await drive('sign-ins', hosts, CONCURRENCY, SECONDS, (url) =>
      signInOnce(world.standIn, url, user()),
    );
    const operations = proxy.count() - ops0;
    const signInStates = partitionLoad(proxy.byPartition.get('AuthState') ?? none);
    const sessionRows = partitionLoad(proxy.byPartition.get('AuthSessions') ?? none, (p) => !INDEX_PARTITION.test(p));
    const indexes = partitionLoad(proxy.byPartition.get('AuthSessions') ?? none, (p) => INDEX_PARTITION.test(p));
    log(
      `scale-out: ${signIns.done} sign-ins in ${signIns.seconds.toFixed(1)} s over ${HOSTS} hosts, ${operations} Table requests`,
    );

    // 2. Logins only (one AuthState insert each), many more per second: how the pending sign-ins spread.
    proxy.resetPartitions();
    const logins = await drive('logins', hosts, LOGIN_CONCURRENCY, LOGIN_SECONDS, loginOnce);
    const states = partitionLoad(proxy.byPartition.get('AuthState') ?? none);
    log(`scale-out: ${logins.done} logins in ${logins.seconds.toFixed(1)} s over ${HOSTS} hosts`);

    const perSignIn = operations / signIns.done;
    const statePerSignIn = signInStates.operations / signIns.done;
    const sessionRowPerSignIn = sessionRows.operations / signIns.done;
    rows.push({
      figure: `(s) sign-ins/s, ${HOSTS} hosts on one Azurite`,
      runs: `1×${fmt(signIns.seconds)}s, ${CONCURRENCY} in flight`,
      measured: `${fmt(signIns.done / signIns.seconds)} sign-ins/s (${signIns.done}); ${fmt(operations / signIns.seconds)} Table ops/s`,
      baseline: `${fmt(perSignIn, 2)} Table transactions per sign-in (AuthState ${fmt(statePerSignIn, 2)})`,
      ratio: perSignIn,
      ratioText: fmt(perSignIn, 2),
      goal: 'info',
      met: true,
    });
    const spread = (what: string, load: PartitionLoad, placements: number, seconds: number, runs: string) => {
      const bound = fairShareBound(placements);
      rows.push({
        figure: `(s) ${what}: busiest partition`,
        runs: `${runs}: ${load.operations} ops, ${load.partitions} partitions`,
        measured: `${fmt(load.busiest.operations / seconds)} ops/s (peak ${load.busiest.peakPerSecond} in 1 s), ${pct(load.busiest.share)} of the table's`,
        baseline: `even over ${SHARDS.length} shards: ${pct(1 / SHARDS.length)}`,
        ratio: load.busiest.share * SHARDS.length,
        ratioText: `${(load.busiest.share * SHARDS.length).toFixed(2)}× even`,
        goal: `≤ ${pct(bound)} (fair at n=${placements})`,
        met: load.busiest.share <= bound,
      });
    };
    spread('AuthState (logins)', states, logins.done, logins.seconds, `${logins.done} logins`);
    spread('AuthSessions session rows', sessionRows, signIns.done, signIns.seconds, `${signIns.done} sign-ins`);

    // The ceiling from Azure's targets: the measured transactions per sign-in and the busiest partitions' shares.
    const busiestState = statePerSignIn * states.busiest.share;
    const busiestSessionRow = sessionRowPerSignIn * sessionRows.busiest.share;
    const ceiling = accountCeiling({
      transactionsPerSignIn: perSignIn,
      busiestPartitionOpsPerSignIn: Math.max(busiestState, busiestSessionRow),
    });
    const atCeiling = (perSignInOps: number) => fmt(ceiling.signInsPerSecond * perSignInOps);
    rows.push({
      figure: '(s) sign-ins/s per storage account (Azure targets)',
      runs: 'from the counts above',
      measured: `${fmt(ceiling.signInsPerSecond)} sign-ins/s, bound by the ${ceiling.bindsAt}`,
      baseline: `there: busiest AuthState partition ${atCeiling(busiestState)} ops/s, session rows ${atCeiling(busiestSessionRow)} (target ${PARTITION_ENTITIES_PER_SECOND})`,
      ratio: ceiling.signInsPerSecond,
      ratioText: fmt(ceiling.signInsPerSecond),
      goal: 'account binds',
      met: ceiling.bindsAt === 'account',
    });
    notes.push(
      `(s) ${HOSTS} hosts (${SCALE_DIST === DIST ? 'this build' : SCALE_DIST}) on one Azurite. Sign-ins, ${CONCURRENCY} in flight for ${SECONDS} s: ` +
        `${signIns.done} sign-ins, ${operations} Table requests; AuthState ${signInStates.operations} ops over ${signInStates.partitions} partitions ` +
        `(busiest ${signInStates.busiest.partition}, ${pct(signInStates.busiest.share)}); session rows ${sessionRows.operations} ops over ` +
        `${sessionRows.partitions} partitions (busiest ${sessionRows.busiest.partition}, ${pct(sessionRows.busiest.share)}); session index ` +
        `${indexes.operations} ops over ${indexes.partitions} partitions (one per user / sid). Logins, ${LOGIN_CONCURRENCY} in flight for ` +
        `${LOGIN_SECONDS} s: ${logins.done} (${fmt(logins.done / logins.seconds)}/s), AuthState ${states.operations} ops over ${states.partitions} ` +
        `partitions (busiest ${states.busiest.partition}, ${pct(states.busiest.share)}, peak ${states.busiest.peakPerSecond} in 1 s). ` +
        `Azure: ${ACCOUNT_TRANSACTIONS_PER_SECOND} transactions/s per account ÷ ${fmt(perSignIn, 2)} per sign-in = ` +
        `${fmt(ACCOUNT_TRANSACTIONS_PER_SECOND / perSignIn)} sign-ins/s; ${PARTITION_ENTITIES_PER_SECOND} ops/s per partition ÷ ` +
        `${fmt(busiestState, 3)} busiest-AuthState-partition ops per sign-in = ${fmt(PARTITION_ENTITIES_PER_SECOND / busiestState)} sign-ins/s ` +
        `(shares measured over a short run carry sampling noise: the even share is 1/${SHARDS.length}).`,
    );
  } finally {
    await Promise.allSettled(hosts.map((host) => host.stop()));
    proxy.server.close();
  }
}
