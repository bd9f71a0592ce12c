/**
 * Rows in flight at the deploy that brought the shards (`shared/core/keys.ts`): a state or session token whose
 * partition is a bare 10-digit bucket, with its row stored there as the previous version stored it, still works,
 * and the purge's range for partitions from before the shards removes it once it expires.
 */
import { describe, expect, test } from '@jest/globals';
import { completeSignIn, readSession, SIGN_IN_TTL_MS } from '../../../shared/core/flow';
import {
  bucketOf,
  expiredSessionRanges,
  expiredStateRanges,
  sessionRowRef,
  stateRowRef,
  transactionCookieName,
} from '../../../shared/core/keys';
import { open, seal } from '../../../shared/core/seal';
import { coreWorld, rejection, sessionRows, startSignIn, webSession } from '../../_support/core-world';

/** `<shard>-<bucket>.…` → `<bucket>.…`: the token as the version before the shards made it. */
const withoutShard = (token: string) => {
  expect(token).toMatch(/^[a-p]-\d{10}\./);
  return token.slice(2);
};

describe('tokens from before the shards', () => {
  test('a pending sign-in stored under a bare-bucket state completes, and its row is consumed', async () => {
    const world = await coreWorld();
    const started = await startSignIn(world);
    // Store the same pending sign-in as the previous version did: its partition, row key and seal from that state.
    const sharded = stateRowRef(started.state);
    const legacyState = withoutShard(started.state);
    const legacy = stateRowRef(legacyState);
    expect(legacy.partitionKey).toBe(bucketOf(sharded.partitionKey));
    const row = (await world.states.get(sharded.partitionKey, sharded.rowKey))!;
    const pending = await open<unknown>(row.data, started.state, 'state', sharded.rowKey);
    expect(pending).toBeDefined();
    await world.states.insert({
      partitionKey: legacy.partitionKey,
      rowKey: legacy.rowKey,
      expiresAt: row.expiresAt,
      data: await seal(pending, legacyState, 'state', legacy.rowKey),
    });
    await world.states.delete(sharded.partitionKey, sharded.rowKey);

    const query = started.callback();
    const result = await completeSignIn(
      {
        code: query.code,
        state: legacyState,
        cookies: { [transactionCookieName(legacy.rowKey)]: started.transactionCookie.value },
      },
      world.deps,
    );
    expect(result.kind).toBe('signed-in');
    expect(world.states.snapshot()).toEqual([]);
  });

  test('an abandoned pending sign-in in a bare-bucket partition is purged once its bucket has expired', async () => {
    const world = await coreWorld();
    const started = await startSignIn(world);
    const sharded = stateRowRef(started.state);
    const row = (await world.states.get(sharded.partitionKey, sharded.rowKey))!;
    await world.states.insert({ ...row, partitionKey: bucketOf(sharded.partitionKey) });
    expect(await world.states.purgePartitions(expiredStateRanges(world.now()))).toEqual({ deleted: 0, complete: true });
    world.advance(SIGN_IN_TTL_MS + 5 * 60_000);
    expect(await world.states.purgePartitions(expiredStateRanges(world.now()))).toEqual({ deleted: 2, complete: true });
    expect(world.states.snapshot()).toEqual([]);
  });

  test('a session token with a bare-bucket partition reads its row there; the purge removes it with its index entries once expired', async () => {
    const world = await coreWorld();
    const token = await webSession(world);
    const ref = sessionRowRef(token)!;
    // The row as the previous version stored it: same row key and seal (neither involves the partition).
    const [row] = sessionRows(world);
    await world.sessions.insert({ ...row!, partitionKey: bucketOf(ref.partitionKey) });
    await world.sessions.delete(ref.partitionKey, ref.rowKey);

    const legacyToken = withoutShard(token);
    expect((await readSession(legacyToken, 'web', world.deps)).user.id).toBeDefined();
    // The sharded token names another partition: nothing there now.
    expect(await rejection(readSession(token, 'web', world.deps))).not.toBe('resolved');

    expect(world.sessions.snapshot().length).toBeGreaterThan(1); // the row and its index entries
    world.advance(400 * 24 * 3_600_000); // past any absolute lifetime
    const purged = await world.sessions.purgePartitions(expiredSessionRanges(world.now()));
    expect(purged).toEqual({ deleted: 1, complete: true });
    expect(world.sessions.snapshot()).toEqual([]);
  });
});
