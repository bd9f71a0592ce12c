import { app, type InvocationContext, type Timer } from '@azure/functions';
import type { CoreDeps } from '../shared/core/deps';
import { expiredSessionRanges, expiredStateRanges } from '../shared/core/keys';
import type { PurgeResult } from '../shared/ports';
import { failFastOnBadConfiguration } from '../shared/http/registration';
import { getServices } from '../shared/services';

/**
 * Timer, every 5 minutes: deletes expired sign-in states and sessions. Rows are partitioned by when they expire
 * (5-minute buckets for states, hours for sessions, each bucket in 16 shards), so this reads only partitions that
 * have fully expired, one key-range query per shard and one for the rows from before the shards: its cost grows
 * with the expired rows, not the table. A pending sign-in is gone within 10 minutes of its expiry.
 *
 * The two tables are purged independently (a failure in one never skips the other), each in entity group
 * transactions under a time budget; a run that reaches its budget leaves the rest to the next run.
 * Sessions that idled out earlier are already refused on use and deleted then, or here once their absolute
 * expiry passes.
 */
export function createPurgeHandler(services: () => CoreDeps) {
  return async (_timer: Timer, context: InvocationContext): Promise<void> => {
    const deps = services();
    const now = deps.clock.now();
    const [states, sessions] = await Promise.allSettled([
      deps.states.purgePartitions(expiredStateRanges(now)),
      deps.sessions.purgePartitions(expiredSessionRanges(now)),
    ]);
    context.log(
      `purge removed ${describe(states, 'expired sign-in states')} and ${describe(sessions, 'expired sessions')}`,
    );
    const failed = [states, sessions].find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failed) throw failed.reason; // the run is reported failed, after both tables had their turn
  };
}

function describe(result: PromiseSettledResult<PurgeResult>, what: string): string {
  if (result.status === 'rejected')
    return `no ${what} (failed: ${result.reason instanceof Error ? result.reason.message : 'error'})`;
  return `${result.value.deleted} ${what}${result.value.complete ? '' : ' (time budget reached: the next run continues)'}`;
}

failFastOnBadConfiguration();
app.timer('purge', { schedule: '0 */5 * * * *', runOnStartup: false, handler: createPurgeHandler(getServices) });
