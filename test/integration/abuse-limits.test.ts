/**
 * What an anonymous caller can make the service store, and how fast: a per-instance bound on pending sign-ins,
 * a per-browser cap on transaction cookies, and the size of one pending sign-in.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { MAX_SIGN_INS_PER_BROWSER } from '../../functions/login';
import { TokenBucket } from '../../shared/core/rate-limit';
import { TRANSACTION_COOKIE_PREFIX } from '../../shared/core/keys';
import { APP_ORIGIN, Harness } from '../_support/harness';
import { NativeApp } from '../_support/native-app';
import { tableRows } from '../_support/tables';

let h: Harness;
let now = Date.now();

beforeAll(async () => {
  // A tiny bucket on a clock of its own: 3 at once, then 1 per second.
  h = await Harness.start({ overrides: { signInRate: new TokenBucket(1, 3, { now: () => now }) } });
});

afterAll(async () => {
  await h?.stop();
});

const stateRows = async () => tableRows(h.azurite.connectionString, 'AuthState');

describe('pending sign-ins per instance', () => {
  test('beyond the rate: 429 rate_limited with Retry-After, nothing stored; allowed again after the wait', async () => {
    now += 60_000; // a full bucket
    const browser = h.newBrowser();
    for (let i = 0; i < 3; i++) expect((await browser.startSignIn()).response.status).toBe(302);
    const before = (await stateRows()).length;
    const refused = await h.call('login', { url: '/auth/login?returnTo=%2F' });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatch(/rate_limited/);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.setCookies.length).toBe(0);
    expect((await stateRows()).length).toBe(before);

    // A native app hears it the OAuth way.
    const app = new NativeApp(h);
    const native = await app.browser.call('login', { url: `/auth/login?${app.authorizeQuery()}` });
    expect(new URL(native.headers.location!).searchParams.get('error')).toBe('temporarily_unavailable');

    now += 1000;
    expect((await browser.startSignIn()).response.status).toBe(302);
  });
});

describe('transaction cookies per browser', () => {
  test(`starting sign-in number ${MAX_SIGN_INS_PER_BROWSER + 1} forgets the others: the cookie header stays small`, async () => {
    now += 60_000;
    const browser = h.newBrowser();
    const started = [];
    for (let i = 0; i < MAX_SIGN_INS_PER_BROWSER; i++) {
      started.push(await browser.startSignIn());
      now += 1000;
    }
    const pending = () => [...browser.jar.keys()].filter((name) => name.startsWith(TRANSACTION_COOKIE_PREFIX)).length;
    expect(pending()).toBe(MAX_SIGN_INS_PER_BROWSER);
    const latest = await browser.startSignIn();
    expect(pending()).toBe(1);

    const oldest = await browser.callback(await browser.signInAtProvider(started[0]!.authorizeUrl));
    expect(oldest.status).toBe(400);
    expect(oldest.body).toMatch(/state_mismatch/);
    const newest = await browser.callback(await browser.signInAtProvider(latest.authorizeUrl));
    expect(newest.status).toBe(302);
  });
});

describe('the size of one pending sign-in', () => {
  test('the largest accepted returnTo (2 KB) stores a row under 4 KB; a longer one or a query over 4 KB stores nothing', async () => {
    now += 60_000;
    const before = await stateRows();
    const returnTo = `${APP_ORIGIN}/${'a'.repeat(2048 - APP_ORIGIN.length - 1)}`;
    const response = await h.newBrowser().startSignIn(`returnTo=${encodeURIComponent(returnTo)}`);
    expect(response.response.status).toBe(302);
    const added = (await stateRows()).filter((row) => !before.some((b) => b.rowKey === row.rowKey));
    expect(added.length).toBe(1);
    expect(JSON.stringify(added[0]).length < 4096).toBeTruthy();

    const count = (await stateRows()).length;
    const longer = await h.call('login', { url: `/auth/login?returnTo=${encodeURIComponent(`${returnTo}a`)}` });
    expect(longer.status).toBe(400);
    const tooLarge = await h.call('login', {
      url: `/auth/login?returnTo=${encodeURIComponent(`${APP_ORIGIN}/${'a'.repeat(4100)}`)}`,
    });
    expect(tooLarge.status).toBe(413);
    expect((await stateRows()).length).toBe(count);
  });

  test('no secret reached a log', () => {
    expect(h.leakedSecrets()).toStrictEqual([]);
  });
});
