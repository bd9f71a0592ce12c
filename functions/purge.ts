import { app, type InvocationContext, type Timer } from '@azure/functions';
import type { FlowDeps } from '../shared/core/flow';
import { firstLivePartition } from '../shared/core/keys';
import { failFastOnBadConfiguration } from '../shared/http/registration';
import { getServices } from '../shared/services';

/**
 * Timer: deletes expired sign-in states and sessions. Rows are partitioned by the hour they expire, so this
 * reads only the partitions that have fully expired: its cost grows with the expired rows, not the table.
 * Sessions that idled out earlier are already refused on use and deleted then, or here once their absolute
 * expiry passes.
 */
export function createPurgeHandler(services: () => FlowDeps) {
  return async (_timer: Timer, context: InvocationContext): Promise<void> => {
    const deps = services();
    const before = firstLivePartition(deps.clock.now());
    const states = await deps.states.purgePartitionsBefore(before);
    const sessions = await deps.sessions.purgePartitionsBefore(before);
    context.log(`purge removed ${states} expired sign-in states and ${sessions} expired sessions`);
  };
}

failFastOnBadConfiguration();
app.timer('purge', { schedule: '0 */15 * * * *', runOnStartup: false, handler: createPurgeHandler(getServices) });
