/**
 * Security telemetry: the events a sign-in produces, each with a correlation id, and no personal data in any log
 * line beyond the hashed user id.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { userHash } from '../../shared/telemetry';
import { Harness } from '../_support/harness';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
});

afterAll(async () => {
  await h?.stop();
});

/** The events logged since `from`, parsed from their `event <name> {json}` lines. */
function eventsSince(from: number): Record<string, unknown>[] {
  return h.logs
    .slice(from)
    .map((line) => /\bevent (\w+) (\{.*\})$/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => JSON.parse(match[2]!) as Record<string, unknown>);
}

describe('security events', () => {
  test('a web sign-in: signin_started and signin_completed with flow, hashed user id, duration and correlation id', async () => {
    const from = h.logs.length;
    const response = await h.newBrowser().signIn();
    expect(response.status).toBe(302);
    const events = eventsSince(from);
    expect(events.map((e) => e.event)).toStrictEqual(['signin_started', 'signin_completed']);
    const [started, completed] = events as [Record<string, unknown>, Record<string, unknown>];
    expect(started.flow).toBe('web');
    expect(String(started.correlationId)).toMatch(/^[\w-]+$/);
    const user = h.standIn.users[0]!;
    expect(completed.userHash).toBe(userHash(`${h.standIn.tenantId}/${user.oid}`));
    expect(typeof completed.durationMs).toBe('number');
    expect(completed.correlationId).not.toBe(started.correlationId);
  });

  test('a refused callback is signin_failed with its code; a replayed state is replay_detected', async () => {
    const browser = h.newBrowser();
    const { authorizeUrl } = await browser.startSignIn();
    const callbackUrl = await browser.signInAtProvider(authorizeUrl);
    const from = h.logs.length;
    const stranger = await h.newBrowser().callback(callbackUrl);
    expect(stranger.status).toBe(400);
    expect(eventsSince(from).map((e) => [e.event, e.code])).toStrictEqual([['signin_failed', 'state_mismatch']]);

    // Two callbacks of the same browser at once, both past the state check before either consumes it: one
    // completes, the other loses the single-use race — the replay the event is about.
    const real = h.deps.states;
    let reads = 0;
    let bothRead!: () => void;
    const barrier = new Promise<void>((resolve) => (bothRead = resolve));
    h.deps.states = {
      insert: (row) => real.insert(row),
      get: async (pk, rk) => {
        const row = await real.get(pk, rk);
        if (++reads === 2) bothRead();
        return row;
      },
      replace: (row, etag) => real.replace(row, etag),
      consume: async (pk, rk, etag) => {
        await barrier;
        return real.consume(pk, rk, etag);
      },
      delete: (pk, rk) => real.delete(pk, rk),
      purgePartitions: (ranges, budgetMs) => real.purgePartitions(ranges, budgetMs),
      listPartition: (pk, from) => real.listPartition(pk, from),
    };
    try {
      const afterStranger = h.logs.length;
      const results = await Promise.all([browser.callback(callbackUrl), browser.callback(callbackUrl)]);
      expect(results.map((r) => r.status).sort()).toStrictEqual([302, 400]);
      const names = eventsSince(afterStranger)
        .map((e) => e.event)
        .sort();
      expect(names).toStrictEqual(['replay_detected', 'signin_completed', 'signin_failed']);
    } finally {
      h.deps.states = real;
    }
  });

  test('the user cancels: signin_failed with the provider error', async () => {
    const browser = h.newBrowser();
    const { authorizeUrl } = await browser.startSignIn();
    const callbackUrl = await browser.signInAtProvider(authorizeUrl, undefined, { cancel: true });
    const from = h.logs.length;
    await browser.callback(callbackUrl);
    const [failed] = eventsSince(from);
    expect(failed?.event).toBe('signin_failed');
    expect(failed?.providerError).toBe('access_denied');
  });

  test('no log line holds a name, username, e-mail or object id of any user', () => {
    const text = h.logs.join('\n');
    for (const user of h.standIn.users) {
      for (const value of [user.name, user.username, user.oid]) expect(!text.includes(value)).toBeTruthy();
    }
    expect(h.leakedSecrets()).toStrictEqual([]);
  });
});
