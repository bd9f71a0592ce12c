/**
 * Storage faults: Table Storage stopped and restarted mid-flow, a store that is slow, silent, resetting or
 * answering errors (a TCP proxy in front of Azurite), and a session write that fails after the code was redeemed.
 *
 * Every case: the status and stable code (503 `storage_unavailable` with Retry-After, never a 500), what the
 * tables hold afterwards (read directly, never through the fault), what reached the Entra stand-in, and that
 * nothing secret reached the logs.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { SESSION_COOKIE } from '../../shared/core/flow';
import { SESSION_TOUCH_INTERVAL_MS } from '../../shared/core/session';
import { SESSION_TABLE, STATE_TABLE } from '../../shared/services';
import {
  assertCodedError,
  faultCases,
  newSessionCookie,
  pendingCallback,
  proxiedConnectionString,
  REFRESH,
  signedIn,
  switchableStores,
  tableStore,
  tableView,
  tokenPosts,
  type SwitchRowStore,
} from '../_support/fault-kit';
import { Harness, type Response } from '../_support/harness';
import { NativeApp } from '../_support/native-app';
import { startSlowProxy, type ProxyMode, type SlowProxy } from '../_support/slow-proxy';

/** Deadline of the stores behind the proxy: short, so a hanging store costs a second per case, not five. */
const FAULTY_STORE_TIMEOUT_MS = 1000;

function assertNoLeaks(h: Harness): void {
  assert.deepEqual(h.leakedSecrets(), [], 'no code, state, token, secret or cookie value in the logs');
}

// ---------------------------------------------------------------------------------------------------------

describe('Azurite stopped mid-flow and restarted on the same port (tables on disk: the restart keeps them)', () => {
  let location: string;
  let azurite: AzuriteInstance;
  let h: Harness;
  const view = tableView(() => azurite.connectionString);

  before(async () => {
    location = mkdtempSync(join(tmpdir(), 'faults-azurite-'));
    azurite = await startAzurite({ location });
    h = await Harness.start({ azurite });
  });
  after(async () => {
    await h?.stop();
    await azurite?.stop();
    if (location) rmSync(location, { recursive: true, force: true });
  });

  /** Stops Azurite, runs `during`, and starts it again on the same port and directory whatever happened. */
  async function outage(during: () => Promise<void>): Promise<void> {
    const port = azurite.port;
    await azurite.stop();
    try {
      await during();
    } finally {
      azurite = await startAzurite({ location, port });
    }
  }

  test('login while storage is down → 503 storage_unavailable, no cookie, no redirect, nothing written', async () => {
    assert.equal((await h.newBrowser().startSignIn()).response.status, 302, 'warm: discovery cached, tables exist');
    const statesBefore = (await view.states()).length;
    await outage(async () => {
      const { response } = await h.newBrowser().startSignIn();
      assertCodedError(response, 503, 'storage_unavailable', 'login');
      assert.equal(response.headers.location, undefined);
      assert.equal(response.setCookies.length, 0, 'no transaction cookie for a sign-in that was not stored');
    });
    assert.equal((await view.states()).length, statesBefore, 'no AuthState row written');
    assert.equal((await h.newBrowser().startSignIn()).response.status, 302, 'login works again once storage is back');
    assertNoLeaks(h);
  });

  test('callback while storage is down → 503, no code sent to Entra, state kept; after the restart the same callback signs in', async () => {
    const { browser, state, callbackUrl } = await pendingCallback(h);
    const codePosts = tokenPosts(h.standIn, 'authorization_code');
    const sessionsBefore = (await view.sessions()).length;
    await outage(async () => {
      const response = await browser.callback(callbackUrl);
      assertCodedError(response, 503, 'storage_unavailable', 'callback');
      assert.equal(tokenPosts(h.standIn, 'authorization_code'), codePosts, 'the code was not sent to the token endpoint');
    });
    assert.ok(await view.hasState(state), 'the state row is still there: nothing was consumed');
    assert.equal((await view.sessions()).length, sessionsBefore, 'no session row');

    const retried = await browser.callback(callbackUrl);
    assert.equal(retried.status, 302, retried.body);
    const cookie = newSessionCookie(retried);
    assert.ok(cookie, 'session cookie set on the retry');
    assert.equal(tokenPosts(h.standIn, 'authorization_code'), codePosts + 1, 'the code was sent exactly once, by the retry');
    assert.equal(await view.hasState(state), false, 'state consumed by the retry');
    assert.ok(await view.hasSession(cookie), 'session row written');
    assert.equal((await browser.call('me', { url: '/auth/me' })).status, 200);
    assertNoLeaks(h);
  });

  test('me, refresh and logout while storage is down → 503 each, no Entra call; the session survives the outage', async () => {
    const { browser, cookie } = await signedIn(h);
    const etag = await view.sessionEtag(cookie);
    const tokenCalls = Object.values(h.standIn.counters.token).reduce((a, b) => a + b, 0);
    await outage(async () => {
      assertCodedError(await browser.call('me', { url: '/auth/me' }), 503, 'storage_unavailable', 'me');
      assertCodedError(await browser.call('refresh', REFRESH), 503, 'storage_unavailable', 'refresh');
      const logout = await browser.call('logout', { method: 'POST', url: '/auth/logout', headers: { 'x-csrf': '1' } });
      assertCodedError(logout, 503, 'storage_unavailable', 'logout');
      assert.ok(browser.jar.has(SESSION_COOKIE), 'a logout that could not delete the session does not pretend it did');
    });
    assert.equal(Object.values(h.standIn.counters.token).reduce((a, b) => a + b, 0), tokenCalls, 'no token call while storage was down');
    assert.equal(await view.sessionEtag(cookie), etag, 'the session row is unchanged');

    assert.equal((await browser.call('me', { url: '/auth/me' })).status, 200);
    const refreshed = await browser.call('refresh', REFRESH);
    assert.equal(refreshed.status, 200, refreshed.body);
    h.seenSecrets.add(refreshed.json().access_token);
    assert.equal((await browser.call('logout', { method: 'POST', url: '/auth/logout', headers: { 'x-csrf': '1' } })).status, 200);
    assert.equal(await view.hasSession(cookie), false);
    assertNoLeaks(h);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('a slow, silent, resetting or failing store (TCP proxy in front of Azurite)', () => {
  let azurite: AzuriteInstance;
  let proxy: SlowProxy;
  const view = tableView(() => azurite.connectionString);

  before(async () => {
    azurite = await startAzurite();
    proxy = await startSlowProxy(azurite.port);
  });
  after(async () => {
    await proxy?.stop();
    await azurite?.stop();
  });

  describe('production wiring (the adapter’s own deadline)', () => {
    let h: Harness;
    before(async () => {
      h = await Harness.start({ azurite, env: { AUTH_STORAGE_CONNECTION_STRING: proxiedConnectionString(azurite, proxy) } });
    });
    after(() => h?.stop());

    test('a store that is slow but within the deadline: the whole sign-in works', async () => {
      proxy.mode = { kind: 'delay', ms: 100 };
      try {
        const { browser, cookie } = await signedIn(h);
        assert.equal((await browser.call('me', { url: '/auth/me' })).status, 200);
        assert.ok(await view.hasSession(cookie));
      } finally {
        proxy.mode = { kind: 'forward' };
      }
      assertNoLeaks(h);
    });

    test('a store that accepts connections and never answers: login → 503 storage_unavailable within the adapter’s bound, nothing written', async () => {
      assert.equal((await h.newBrowser().startSignIn()).response.status, 302, 'warm');
      const statesBefore = (await view.states()).length;
      const forwarded = proxy.forwardedBytes;
      proxy.mode = { kind: 'blackhole' };
      try {
        const { response } = await h.newBrowser().startSignIn();
        assertCodedError(response, 503, 'storage_unavailable', 'login');
        assert.equal(response.setCookies.length, 0);
        assert.equal(proxy.forwardedBytes, forwarded, 'nothing reached the store');
      } finally {
        proxy.mode = { kind: 'forward' };
      }
      assert.equal((await view.states()).length, statesBefore, 'no AuthState row');
      assertNoLeaks(h);
    });
  });

  describe('each endpoint × each store fault (stores with a 1 s deadline) → 503, nothing written, and the retry works', () => {
    let h: Harness;
    before(async () => {
      const viaProxy = proxiedConnectionString(azurite, proxy);
      h = await Harness.start({
        azurite,
        overrides: {
          states: tableStore(viaProxy, STATE_TABLE, FAULTY_STORE_TIMEOUT_MS),
          sessions: tableStore(viaProxy, SESSION_TABLE, FAULTY_STORE_TIMEOUT_MS),
        },
      });
    });
    after(() => h?.stop());

    const modes: [string, ProxyMode][] = [
      ['never answers', { kind: 'blackhole' }],
      ['slower than the deadline', { kind: 'delay', ms: 4000 }],
      ['resets connections', { kind: 'reset' }],
      ['503 ServerBusy', { kind: 'status', status: 503, code: 'ServerBusy' }],
      ['500 InternalError', { kind: 'status', status: 500, code: 'InternalError' }],
      ['403 AuthenticationFailed', { kind: 'status', status: 403, code: 'AuthenticationFailed' }],
    ];

    /** One endpoint: get ready (storage healthy), call it (storage faulty), check the tables and retry (healthy). */
    interface EndpointCase {
      /** The stable code the endpoint answers for a storage outage (RFC 6749 names on /auth/token). */
      code?: string;
      prepare(): Promise<{ call(): Promise<Response>; check(): Promise<void> }>;
    }

    const endpoints: Record<string, EndpointCase> = {
      login: {
        async prepare() {
          const statesBefore = (await view.states()).length;
          const browser = h.newBrowser();
          return {
            call: async () => (await browser.startSignIn()).response,
            check: async () => {
              assert.equal((await view.states()).length, statesBefore, 'no AuthState row');
              assert.equal(browser.jar.size, 0, 'no transaction cookie');
              assert.equal((await browser.startSignIn()).response.status, 302, 'retry');
            },
          };
        },
      },
      callback: {
        async prepare() {
          const { browser, state, callbackUrl } = await pendingCallback(h);
          const codePosts = tokenPosts(h.standIn, 'authorization_code');
          return {
            call: () => browser.callback(callbackUrl),
            check: async () => {
              assert.equal(tokenPosts(h.standIn, 'authorization_code'), codePosts, 'no code sent to Entra');
              assert.ok(await view.hasState(state), 'state row kept');
              const retried = await browser.callback(callbackUrl);
              assert.equal(retried.status, 302, `retry: ${retried.body}`);
              assert.ok(newSessionCookie(retried));
              assert.equal(tokenPosts(h.standIn, 'authorization_code'), codePosts + 1, 'the code was sent once, by the retry');
            },
          };
        },
      },
      me: {
        async prepare() {
          const { browser, cookie } = await signedIn(h);
          const etag = await view.sessionEtag(cookie);
          return {
            call: () => browser.call('me', { url: '/auth/me' }),
            check: async () => {
              assert.equal(await view.sessionEtag(cookie), etag, 'session row unchanged');
              assert.equal((await browser.call('me', { url: '/auth/me' })).status, 200, 'retry');
            },
          };
        },
      },
      refresh: {
        async prepare() {
          const { browser, cookie } = await signedIn(h);
          const etag = await view.sessionEtag(cookie);
          const refreshPosts = tokenPosts(h.standIn, 'refresh_token');
          return {
            call: () => browser.call('refresh', REFRESH),
            check: async () => {
              assert.equal(tokenPosts(h.standIn, 'refresh_token'), refreshPosts, 'no Entra call');
              assert.equal(await view.sessionEtag(cookie), etag, 'session row unchanged');
              const retried = await browser.call('refresh', REFRESH);
              assert.equal(retried.status, 200, `retry: ${retried.body}`);
              h.seenSecrets.add(retried.json().access_token);
            },
          };
        },
      },
      'token (native refresh grant)': {
        code: 'temporarily_unavailable',
        async prepare() {
          const app = new NativeApp(h);
          const tokens = await app.signInForTokens();
          const etag = await view.sessionEtag(tokens.refresh_token);
          return {
            call: () => app.refresh(tokens.refresh_token),
            check: async () => {
              assert.equal(await view.sessionEtag(tokens.refresh_token), etag, 'session row unchanged: nothing rotated');
              const retried = await app.refresh(tokens.refresh_token);
              assert.equal(retried.status, 200, `retry with the same refresh token: ${retried.body}`);
            },
          };
        },
      },
      logout: {
        async prepare() {
          const { browser, cookie } = await signedIn(h);
          return {
            call: () => browser.call('logout', { method: 'POST', url: '/auth/logout', headers: { 'x-csrf': '1' } }),
            check: async () => {
              assert.ok(await view.hasSession(cookie), 'session kept: the logout did not happen');
              assert.ok(browser.jar.has(SESSION_COOKIE), 'and the cookie was not cleared');
              assert.equal((await browser.call('logout', { method: 'POST', url: '/auth/logout', headers: { 'x-csrf': '1' } })).status, 200, 'retry');
              assert.equal(await view.hasSession(cookie), false);
            },
          };
        },
      },
    };

    for (const [endpointName, endpointCase] of Object.entries(endpoints)) {
      for (const [modeName, mode] of modes) {
        test(`${endpointName}: store ${modeName}`, async () => {
          const run = await endpointCase.prepare();
          proxy.mode = mode;
          let response: Response;
          try {
            response = await run.call();
          } finally {
            proxy.mode = { kind: 'forward' };
          }
          assertCodedError(response, 503, endpointCase.code ?? 'storage_unavailable', `${endpointName} / ${modeName}`);
          await run.check();
          assertNoLeaks(h);
        });
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('one storage step fails mid-flow while the rest works (the real adapter behind the proxy for that step only)', () => {
  let azurite: AzuriteInstance;
  let proxy: SlowProxy;
  let h: Harness;
  let stores: { states: SwitchRowStore; sessions: SwitchRowStore };
  const view = tableView(() => azurite.connectionString);

  before(async () => {
    azurite = await startAzurite();
    proxy = await startSlowProxy(azurite.port);
    stores = switchableStores(azurite, proxy, FAULTY_STORE_TIMEOUT_MS);
    h = await Harness.start({ azurite, overrides: { states: stores.states, sessions: stores.sessions } });
    // Both tables exist before the first case: a write to a missing table is refused, not applied.
    await signedIn(h);
  });
  after(async () => {
    await h?.stop();
    await proxy?.stop();
    await azurite?.stop();
  });

  const cases: { name: string; mode: ProxyMode; skip?: string }[] = [
    { name: 'the insert never gets an answer (timeout)', mode: { kind: 'blackhole' } },
    { name: 'the connection is reset', mode: { kind: 'reset' } },
    { name: 'storage answers 500', mode: { kind: 'status', status: 500, code: 'InternalError' } },
    {
      name: 'the insert is applied but its answer is lost (timeout)',
      mode: { kind: 'drop-responses' },
      skip: 'product gap: a session insert whose answer is lost leaves its sealed row (with the Entra refresh token) behind until purge; expected a best-effort delete of that row key',
    },
  ];

  describe('the session insert fails after Entra redeemed the code → 503, no session cookie, no session row, state consumed, code sent once', () => {
    faultCases(cases, async (c, strict) => {
      const { browser, state, callbackUrl } = await pendingCallback(h);
      const codePosts = tokenPosts(h.standIn, 'authorization_code');
      const redemptions = h.standIn.counters.codeRedemptions;
      const sessionsBefore = (await view.sessions()).length;
      const inserts = stores.sessions.calls.insert;
      proxy.mode = c.mode;
      stores.sessions.failNext('insert');
      let response: Response;
      try {
        response = await browser.callback(callbackUrl);
      } finally {
        stores.sessions.reset();
        proxy.mode = { kind: 'forward' };
      }
      assertCodedError(response, 503, 'storage_unavailable', c.name);
      assert.equal(stores.sessions.calls.insert, inserts + 1, 'the failing step was the session insert');
      assert.equal(h.standIn.counters.codeRedemptions, redemptions + 1, 'Entra redeemed the code');
      assert.equal(tokenPosts(h.standIn, 'authorization_code'), codePosts + 1, 'the code was sent once');
      assert.equal(await view.hasState(state), false, 'the state row is consumed: the user starts again');
      if (strict) assert.equal((await view.sessions()).length, sessionsBefore, 'no session row: no tokens orphaned in storage');
      const stored = JSON.stringify([...(await view.states()), ...(await view.sessions())]);
      for (const secret of h.standIn.issuedSecrets()) assert.ok(!stored.includes(secret), 'no issued token in clear in any row');

      const replay = await browser.callback(callbackUrl);
      assertCodedError(replay, 400, 'state_unknown', 'the same callback again');
      assert.equal(tokenPosts(h.standIn, 'authorization_code'), codePosts + 1, 'the code is never sent twice');

      const again = await signedIn(h);
      assert.equal((await again.browser.call('me', { url: '/auth/me' })).status, 200, 'starting again works');
      assertNoLeaks(h);
    });
  });

  describe('other single steps failing while the rest of storage works', () => {
    test('the state cannot be consumed → 503, the code is not sent, the state is kept, and the same callback then signs in', async () => {
      const { browser, state, callbackUrl } = await pendingCallback(h);
      const codePosts = tokenPosts(h.standIn, 'authorization_code');
      proxy.mode = { kind: 'blackhole' };
      stores.states.failNext('consume');
      let response: Response;
      try {
        response = await browser.callback(callbackUrl);
      } finally {
        stores.states.reset();
        proxy.mode = { kind: 'forward' };
      }
      assertCodedError(response, 503, 'storage_unavailable', 'callback');
      assert.equal(tokenPosts(h.standIn, 'authorization_code'), codePosts, 'the code was not sent');
      assert.ok(await view.hasState(state), 'the state row is kept');
      const retried = await browser.callback(callbackUrl);
      assert.equal(retried.status, 302, retried.body);
      assert.ok(newSessionCookie(retried));
      assert.equal(tokenPosts(h.standIn, 'authorization_code'), codePosts + 1);
      assertNoLeaks(h);
    });

    test('the session cannot be saved after Entra refreshed the token → 200 or 503, never a 500; the session still works', async () => {
      h.standIn.setAccessTokenLifetime(60); // inside MSAL's refresh margin: the refresh needs Entra and rewrites the cache
      try {
        const { browser, cookie } = await signedIn(h);
        const etag = await view.sessionEtag(cookie);
        const refreshPosts = tokenPosts(h.standIn, 'refresh_token');
        proxy.mode = { kind: 'status', status: 500 };
        stores.sessions.failNext('replace');
        let response: Response;
        try {
          response = await browser.call('refresh', REFRESH);
        } finally {
          stores.sessions.reset();
          proxy.mode = { kind: 'forward' };
        }
        assert.equal(stores.sessions.calls.replace > 0, true, 'the session save was attempted');
        if (response.status === 200) h.seenSecrets.add(response.json().access_token);
        else assertCodedError(response, 503, 'storage_unavailable', 'refresh');
        assert.equal(tokenPosts(h.standIn, 'refresh_token'), refreshPosts + 1, 'one Entra call');
        assert.equal(await view.sessionEtag(cookie), etag, 'the session row is unchanged (Entra keeps the old refresh token valid)');
        const retried = await browser.call('refresh', REFRESH);
        assert.equal(retried.status, 200, retried.body);
        h.seenSecrets.add(retried.json().access_token);
      } finally {
        h.standIn.setAccessTokenLifetime(3600);
      }
      assertNoLeaks(h);
    });

    test('a native rotation is written but its answer lost → 503; the app’s retry with its old token gets the successor, which works', async () => {
      const app = new NativeApp(h);
      const tokens = await app.signInForTokens();
      proxy.mode = { kind: 'drop-responses' };
      stores.sessions.failNext('replace');
      let response: Response;
      try {
        response = await app.refresh(tokens.refresh_token);
      } finally {
        stores.sessions.reset();
        proxy.mode = { kind: 'forward' };
      }
      assertCodedError(response, 503, 'temporarily_unavailable', 'token');
      assert.ok(await view.hasSession(tokens.refresh_token), 'the session is there (rotated, the app never heard)');

      const retried = await app.refresh(tokens.refresh_token);
      assert.equal(retried.status, 200, `the retry with the old token: ${retried.body}`);
      const successor = retried.json().refresh_token as string;
      assert.notEqual(successor, tokens.refresh_token);
      const next = await app.refresh(successor);
      assert.equal(next.status, 200, `the successor works: ${next.body}`);
      assertNoLeaks(h);
    });

    test('the idle-expiry touch of /auth/me cannot be written → 200 or 503, never a 500; the session still works', async () => {
      const { browser, cookie } = await signedIn(h);
      const etag = await view.sessionEtag(cookie);
      h.clockOffsetMs = SESSION_TOUCH_INTERVAL_MS + 60_000;
      proxy.mode = { kind: 'reset' };
      stores.sessions.failNext('replace');
      let response: Response;
      try {
        response = await browser.call('me', { url: '/auth/me' });
      } finally {
        stores.sessions.reset();
        proxy.mode = { kind: 'forward' };
        h.clockOffsetMs = 0;
      }
      if (response.status !== 200) assertCodedError(response, 503, 'storage_unavailable', 'me');
      assert.equal(await view.sessionEtag(cookie), etag, 'the session row is unchanged');
      assert.equal((await browser.call('me', { url: '/auth/me' })).status, 200);
      assertNoLeaks(h);
    });
  });
});
