/**
 * What an anonymous caller can make the service store, and how fast: a per-instance bound on pending sign-ins,
 * a per-browser cap on transaction cookies, and the size of one pending sign-in.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_SIGN_INS_PER_BROWSER } from '../../functions/login';
import { TokenBucket } from '../../shared/core/rate-limit';
import { TRANSACTION_COOKIE_PREFIX } from '../../shared/core/keys';
import { APP_ORIGIN, Harness } from '../_support/harness';
import { NativeApp } from '../_support/native-app';
import { tableRows } from '../_support/tables';

let h: Harness;
let now = Date.now();

before(async () => {
  // A tiny bucket on a clock of its own: 3 at once, then 1 per second.
  h = await Harness.start({ overrides: { signInRate: new TokenBucket(1, 3, { now: () => now }) } });
});

after(async () => {
  await h?.stop();
});

const stateRows = async () => tableRows(h.azurite.connectionString, 'AuthState');

describe('pending sign-ins per instance', () => {
  test('beyond the rate: 429 rate_limited with Retry-After, nothing stored; allowed again after the wait', async () => {
    now += 60_000; // a full bucket
    const browser = h.newBrowser();
    for (let i = 0; i < 3; i++) assert.equal((await browser.startSignIn()).response.status, 302);
    const before = (await stateRows()).length;
    const refused = await h.call('login', { url: '/auth/login?returnTo=%2F' });
    assert.equal(refused.status, 429);
    assert.match(refused.body, /rate_limited/);
    assert.equal(refused.headers['retry-after'], '1');
    assert.equal(refused.setCookies.length, 0);
    assert.equal((await stateRows()).length, before);

    // A native app hears it the OAuth way.
    const app = new NativeApp(h);
    const native = await app.browser.call('login', { url: `/auth/login?${app.authorizeQuery()}` });
    assert.equal(new URL(native.headers.location!).searchParams.get('error'), 'temporarily_unavailable');

    now += 1000;
    assert.equal((await browser.startSignIn()).response.status, 302);
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
    assert.equal(pending(), MAX_SIGN_INS_PER_BROWSER);
    const latest = await browser.startSignIn();
    assert.equal(pending(), 1, 'the older ones were cleared');

    const oldest = await browser.callback(await browser.signInAtProvider(started[0]!.authorizeUrl));
    assert.equal(oldest.status, 400);
    assert.match(oldest.body, /state_mismatch/);
    const newest = await browser.callback(await browser.signInAtProvider(latest.authorizeUrl));
    assert.equal(newest.status, 302);
  });
});

describe('the size of one pending sign-in', () => {
  test('the largest accepted returnTo (2 KB) stores a row under 4 KB; a longer one or a query over 4 KB stores nothing', async () => {
    now += 60_000;
    const before = await stateRows();
    const returnTo = `${APP_ORIGIN}/${'a'.repeat(2048 - APP_ORIGIN.length - 1)}`;
    const response = await h.newBrowser().startSignIn(`returnTo=${encodeURIComponent(returnTo)}`);
    assert.equal(response.response.status, 302);
    const added = (await stateRows()).filter((row) => !before.some((b) => b.rowKey === row.rowKey));
    assert.equal(added.length, 1);
    assert.ok(JSON.stringify(added[0]).length < 4096, 'one pending sign-in is bounded');

    const count = (await stateRows()).length;
    const longer = await h.call('login', { url: `/auth/login?returnTo=${encodeURIComponent(`${returnTo}a`)}` });
    assert.equal(longer.status, 400);
    const tooLarge = await h.call('login', { url: `/auth/login?returnTo=${encodeURIComponent(`${APP_ORIGIN}/${'a'.repeat(4100)}`)}` });
    assert.equal(tooLarge.status, 413);
    assert.equal((await stateRows()).length, count);
  });

  test('no secret reached a log', () => {
    assert.deepEqual(h.leakedSecrets(), []);
  });
});
