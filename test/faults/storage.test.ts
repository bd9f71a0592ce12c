/**
 * Storage faults: Table Storage stopped and restarted mid-flow, a store that is slow, silent, resetting or
 * answering errors (a TCP proxy in front of Azurite), and a session write that fails after the code was redeemed.
 *
 * Every case: the status and stable code (503 `storage_unavailable` with Retry-After, never a 500), what the
 * tables hold afterwards (read directly, never through the fault), what reached the Entra stand-in, and that
 * nothing secret reached the logs.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { expectPresent } from '../_support/expect-present';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { SESSION_COOKIE } from '../../shared/core/session';
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
  type RowOperation,
  type SwitchRowStore,
} from '../_support/fault-kit';
import { Harness, type Response } from '../_support/harness';
import { NativeApp } from '../_support/native-app';
import { startSlowProxy, type ProxyMode, type SlowProxy } from '../_support/slow-proxy';
import { tableRows } from '../_support/tables';

/** Deadline of the stores behind the proxy: short, so a hanging store costs a second per case, not five. */
const FAULTY_STORE_TIMEOUT_MS = 1000;

function assertNoLeaks(h: Harness): void {
  expect(h.leakedSecrets()).toStrictEqual([]);
}

// ---------------------------------------------------------------------------------------------------------

describe('Azurite stopped mid-flow and restarted on the same port (tables on disk: the restart keeps them)', () => {
  let location: string;
  let azurite: AzuriteInstance;
  let h: Harness;
  const view = tableView(() => azurite.connectionString);

  beforeAll(async () => {
    location = mkdtempSync(join(tmpdir(), 'faults-azurite-'));
    azurite = await startAzurite({ location });
    h = await Harness.start({ azurite });
  });
  afterAll(async () => {
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
    expect((await h.newBrowser().startSignIn()).response.status).toBe(302);
    const statesBefore = (await view.states()).length;
    await outage(async () => {
      const { response } = await h.newBrowser().startSignIn();
      assertCodedError(response, 503, 'storage_unavailable', 'login');
      expect(response.headers.location).toBe(undefined);
      expect(response.setCookies.length).toBe(0);
    });
    expect((await view.states()).length).toBe(statesBefore);
    expect((await h.newBrowser().startSignIn()).response.status).toBe(302);
    assertNoLeaks(h);
  });

  test('callback while storage is down → 503, no code sent to Entra, state kept; after the restart the same callback signs in', async () => {
    const { browser, state, callbackUrl } = await pendingCallback(h);
    const codePosts = tokenPosts(h.standIn, 'authorization_code');
    const sessionsBefore = (await view.sessions()).length;
    await outage(async () => {
      const response = await browser.callback(callbackUrl);
      assertCodedError(response, 503, 'storage_unavailable', 'callback');
      expect(tokenPosts(h.standIn, 'authorization_code')).toBe(codePosts);
    });
    expect(await view.hasState(state)).toBeTruthy();
    expect((await view.sessions()).length).toBe(sessionsBefore);

    const retried = await browser.callback(callbackUrl);
    expect(retried.status).toBe(302);
    const cookie = newSessionCookie(retried);
    expectPresent(cookie);
    expect(tokenPosts(h.standIn, 'authorization_code')).toBe(codePosts + 1);
    expect(await view.hasState(state)).toBe(false);
    expect(await view.hasSession(cookie)).toBeTruthy();
    expect((await browser.call('me', { url: '/auth/me' })).status).toBe(200);
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
      expect(browser.jar.has(SESSION_COOKIE)).toBeTruthy();
    });
    expect(Object.values(h.standIn.counters.token).reduce((a, b) => a + b, 0)).toBe(tokenCalls);
    expect(await view.sessionEtag(cookie)).toBe(etag);

    expect((await browser.call('me', { url: '/auth/me' })).status).toBe(200);
    const refreshed = await browser.call('refresh', REFRESH);
    expect(refreshed.status).toBe(200);
    h.seenSecrets.add(refreshed.json().access_token);
    expect(
      (await browser.call('logout', { method: 'POST', url: '/auth/logout', headers: { 'x-csrf': '1' } })).status,
    ).toBe(200);
    expect(await view.hasSession(cookie)).toBe(false);
    assertNoLeaks(h);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('a slow, silent, resetting or failing store (TCP proxy in front of Azurite)', () => {
  let azurite: AzuriteInstance;
  let proxy: SlowProxy;
  const view = tableView(() => azurite.connectionString);

  beforeAll(async () => {
    azurite = await startAzurite();
    proxy = await startSlowProxy(azurite.port);
  });
  afterAll(async () => {
    await proxy?.stop();
    await azurite?.stop();
  });

  describe('production wiring (the adapter’s own deadline)', () => {
    let h: Harness;
    beforeAll(async () => {
      h = await Harness.start({
        azurite,
        env: { AUTH_STORAGE_CONNECTION_STRING: proxiedConnectionString(azurite, proxy) },
      });
    });
    afterAll(() => h?.stop());

    test('a store that is slow but within the deadline: the whole sign-in works', async () => {
      proxy.mode = { kind: 'delay', ms: 100 };
      try {
        const { browser, cookie } = await signedIn(h);
        expect((await browser.call('me', { url: '/auth/me' })).status).toBe(200);
        expect(await view.hasSession(cookie)).toBeTruthy();
      } finally {
        proxy.mode = { kind: 'forward' };
      }
      assertNoLeaks(h);
    });

    test('a store that accepts connections and never answers: login → 503 storage_unavailable within the adapter’s bound, nothing written', async () => {
      expect((await h.newBrowser().startSignIn()).response.status).toBe(302);
      const statesBefore = (await view.states()).length;
      const forwarded = proxy.forwardedBytes;
      proxy.mode = { kind: 'blackhole' };
      try {
        const { response } = await h.newBrowser().startSignIn();
        assertCodedError(response, 503, 'storage_unavailable', 'login');
        expect(response.setCookies.length).toBe(0);
        expect(proxy.forwardedBytes).toBe(forwarded);
      } finally {
        proxy.mode = { kind: 'forward' };
      }
      expect((await view.states()).length).toBe(statesBefore);
      assertNoLeaks(h);
    });
  });

  describe('each endpoint × each store fault (stores with a 1 s deadline) → 503, nothing written, and the retry works', () => {
    let h: Harness;
    beforeAll(async () => {
      const viaProxy = proxiedConnectionString(azurite, proxy);
      h = await Harness.start({
        azurite,
        overrides: {
          states: tableStore(viaProxy, STATE_TABLE, FAULTY_STORE_TIMEOUT_MS),
          sessions: tableStore(viaProxy, SESSION_TABLE, FAULTY_STORE_TIMEOUT_MS),
        },
      });
    });
    afterAll(() => h?.stop());

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
              expect((await view.states()).length).toBe(statesBefore);
              expect(browser.jar.size).toBe(0);
              expect((await browser.startSignIn()).response.status).toBe(302);
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
              expect(tokenPosts(h.standIn, 'authorization_code')).toBe(codePosts);
              expect(await view.hasState(state)).toBeTruthy();
              const retried = await browser.callback(callbackUrl);
              expect(retried.status).toBe(302);
              expect(newSessionCookie(retried)).toBeTruthy();
              expect(tokenPosts(h.standIn, 'authorization_code')).toBe(codePosts + 1);
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
              expect(await view.sessionEtag(cookie)).toBe(etag);
              expect((await browser.call('me', { url: '/auth/me' })).status).toBe(200);
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
              expect(tokenPosts(h.standIn, 'refresh_token')).toBe(refreshPosts);
              expect(await view.sessionEtag(cookie)).toBe(etag);
              const retried = await browser.call('refresh', REFRESH);
              expect(retried.status).toBe(200);
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
              expect(await view.sessionEtag(tokens.refresh_token)).toBe(etag);
              const retried = await app.refresh(tokens.refresh_token);
              expect(retried.status).toBe(200);
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
              expect(await view.hasSession(cookie)).toBeTruthy();
              expect(browser.jar.has(SESSION_COOKIE)).toBeTruthy();
              expect(
                (await browser.call('logout', { method: 'POST', url: '/auth/logout', headers: { 'x-csrf': '1' } }))
                  .status,
              ).toBe(200);
              expect(await view.hasSession(cookie)).toBe(false);
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

  beforeAll(async () => {
    azurite = await startAzurite();
    proxy = await startSlowProxy(azurite.port);
    stores = switchableStores(azurite, proxy, FAULTY_STORE_TIMEOUT_MS);
    h = await Harness.start({ azurite, overrides: { states: stores.states, sessions: stores.sessions } });
    // Both tables exist before the first case: a write to a missing table is refused, not applied.
    await signedIn(h);
  });
  afterAll(async () => {
    await h?.stop();
    await proxy?.stop();
    await azurite?.stop();
  });

  /** `request`, with one `operation` of `store` going through the proxy in `mode`; everything else goes as usual. */
  async function withOneStepFailing<T>(
    store: SwitchRowStore,
    operation: RowOperation,
    mode: ProxyMode,
    request: () => Promise<T>,
    after = 0,
  ): Promise<T> {
    proxy.mode = mode;
    store.failNext(operation, 1, after);
    try {
      return await request();
    } finally {
      store.reset();
      proxy.mode = { kind: 'forward' };
    }
  }

  const cases: { name: string; mode: ProxyMode; skip?: string }[] = [
    { name: 'the insert never gets an answer (timeout)', mode: { kind: 'blackhole' } },
    { name: 'the connection is reset', mode: { kind: 'reset' } },
    { name: 'storage answers 500', mode: { kind: 'status', status: 500, code: 'InternalError' } },
    {
      name: 'the insert is applied but its answer is lost (timeout)',
      mode: { kind: 'drop-responses' },
    },
  ];

  // The callback's AuthSessions inserts: the user and sid index entries side by side, then the session row.
  const inserts = [
    { what: 'the user index entry', after: 0, calls: 2 },
    { what: 'the session row (after its index entries)', after: 2, calls: 3 },
  ];
  describe.each(inserts)(
    '$what cannot be written after Entra redeemed the code → 503, no session cookie, nothing left in AuthSessions, state consumed, code sent once',
    ({ after, calls }) => {
      faultCases(cases, async (c, strict) => {
        const { browser, state, callbackUrl } = await pendingCallback(h);
        const codePosts = tokenPosts(h.standIn, 'authorization_code');
        const redemptions = h.standIn.counters.codeRedemptions;
        const sessionsBefore = (await view.sessions()).length;
        const insertsBefore = stores.sessions.calls.insert;
        const response = await withOneStepFailing(
          stores.sessions,
          'insert',
          c.mode,
          () => browser.callback(callbackUrl),
          after,
        );
        assertCodedError(response, 503, 'storage_unavailable', c.name);
        // Nothing is written after the failing insert (the index entries go side by side, the row after them).
        expect(stores.sessions.calls.insert).toBe(insertsBefore + calls);
        expect(h.standIn.counters.codeRedemptions).toBe(redemptions + 1);
        expect(tokenPosts(h.standIn, 'authorization_code')).toBe(codePosts + 1);
        expect(await view.hasState(state)).toBe(false);
        if (strict) expect((await view.sessions()).length).toBe(sessionsBefore);
        const stored = JSON.stringify([...(await view.states()), ...(await view.sessions())]);
        for (const secret of h.standIn.issuedSecrets()) expect(!stored.includes(secret)).toBeTruthy();

        const replay = await browser.callback(callbackUrl);
        assertCodedError(replay, 400, 'state_unknown', 'the same callback again');
        expect(tokenPosts(h.standIn, 'authorization_code')).toBe(codePosts + 1);

        const again = await signedIn(h);
        expect((await again.browser.call('me', { url: '/auth/me' })).status).toBe(200);
        assertNoLeaks(h);
      });
    },
  );

  const indexEntries = () => tableRows(azurite.connectionString, SESSION_TABLE, { index: true });
  // Table Storage may apply a write and lose its answer (a reset, a 5xx): the SDK sends the write again, and finds
  // its own first attempt (409). The Table adapter reads the row back: it is ours, so the step goes on.
  const resentInserts = [
    { what: 'the state row (login)', store: 'states' as const, after: 0 },
    { what: 'the user index entry (callback)', store: 'sessions' as const, after: 0 },
    { what: 'the session row (callback)', store: 'sessions' as const, after: 2 },
  ];
  test.each(resentInserts)(
    '$what is applied, its answer lost to a reset; the SDK sends it again and finds it → the sign-in completes, code sent once',
    async ({ store, after }) => {
      const codePosts = tokenPosts(h.standIn, 'authorization_code');
      const sessionsBefore = (await view.sessions()).length;
      const indexBefore = (await indexEntries()).length;
      const resetsBefore = proxy.resetAnswers;
      const browser = h.newBrowser();
      /** `request`, with this case's insert (of `table`'s store) losing its first answer to a reset. */
      const losing = <T>(table: typeof store, request: () => Promise<T>, skip = 0) =>
        store === table
          ? withOneStepFailing(stores[table], 'insert', { kind: 'reset-answers', times: 1 }, request, skip)
          : request();
      const started = await losing('states', () => browser.startSignIn());
      expect(started.response.status).toBe(302);
      const callbackUrl = await browser.signInAtProvider(started.authorizeUrl);
      const response = await losing('sessions', () => browser.callback(callbackUrl), after);
      expect(proxy.resetAnswers).toBe(resetsBefore + 1);
      expect(response.status).toBe(302);
      expect(newSessionCookie(response)).toBeTruthy();
      expect((await browser.call('me', { url: '/auth/me' })).status).toBe(200);
      expect(tokenPosts(h.standIn, 'authorization_code')).toBe(codePosts + 1);
      expect(await view.hasState(started.state)).toBe(false);
      // The session row and its user and sid index entries (the stand-in's ID tokens carry a sid), each once.
      expect((await view.sessions()).length).toBe(sessionsBefore + 1);
      expect((await indexEntries()).length).toBe(indexBefore + 2);
      assertNoLeaks(h);
    },
  );

  describe('other single steps failing while the rest of storage works', () => {
    test('the state cannot be consumed → 503, the code is not sent, the state is kept, and the same callback then signs in', async () => {
      const { browser, state, callbackUrl } = await pendingCallback(h);
      const codePosts = tokenPosts(h.standIn, 'authorization_code');
      const response = await withOneStepFailing(stores.states, 'consume', { kind: 'blackhole' }, () =>
        browser.callback(callbackUrl),
      );
      assertCodedError(response, 503, 'storage_unavailable', 'callback');
      expect(tokenPosts(h.standIn, 'authorization_code')).toBe(codePosts);
      expect(await view.hasState(state)).toBeTruthy();
      const retried = await browser.callback(callbackUrl);
      expect(retried.status).toBe(302);
      expect(newSessionCookie(retried)).toBeTruthy();
      expect(tokenPosts(h.standIn, 'authorization_code')).toBe(codePosts + 1);
      assertNoLeaks(h);
    });

    test('the session cannot be saved after Entra refreshed the token → 200 or 503, never a 500; the session still works', async () => {
      h.standIn.setAccessTokenLifetime(60); // inside MSAL's refresh margin: the refresh needs Entra and rewrites the cache
      try {
        const { browser, cookie } = await signedIn(h);
        const etag = await view.sessionEtag(cookie);
        const refreshPosts = tokenPosts(h.standIn, 'refresh_token');
        const response = await withOneStepFailing(stores.sessions, 'replace', { kind: 'status', status: 500 }, () =>
          browser.call('refresh', REFRESH),
        );
        expect(stores.sessions.calls.replace > 0).toBe(true);
        if (response.status === 200) h.seenSecrets.add(response.json().access_token);
        else assertCodedError(response, 503, 'storage_unavailable', 'refresh');
        expect(tokenPosts(h.standIn, 'refresh_token')).toBe(refreshPosts + 1);
        expect(await view.sessionEtag(cookie)).toBe(etag);
        const retried = await browser.call('refresh', REFRESH);
        expect(retried.status).toBe(200);
        h.seenSecrets.add(retried.json().access_token);
      } finally {
        h.standIn.setAccessTokenLifetime(3600);
      }
      assertNoLeaks(h);
    });

    test('a native rotation is written but its answer lost → 503; the app’s retry with its old token gets the successor, which works', async () => {
      const app = new NativeApp(h);
      const tokens = await app.signInForTokens();
      const response = await withOneStepFailing(stores.sessions, 'replace', { kind: 'drop-responses' }, () =>
        app.refresh(tokens.refresh_token),
      );
      assertCodedError(response, 503, 'temporarily_unavailable', 'token');
      expect(await view.hasSession(tokens.refresh_token)).toBeTruthy();

      const retried = await app.refresh(tokens.refresh_token);
      expect(retried.status).toBe(200);
      const successor = retried.json().refresh_token as string;
      expect(successor).not.toBe(tokens.refresh_token);
      const next = await app.refresh(successor);
      expect(next.status).toBe(200);
      assertNoLeaks(h);
    });

    test('the idle-expiry touch of /auth/me cannot be written → 200 or 503, never a 500; the session still works', async () => {
      const { browser, cookie } = await signedIn(h);
      const etag = await view.sessionEtag(cookie);
      h.clockOffsetMs = SESSION_TOUCH_INTERVAL_MS + 60_000;
      let response: Response;
      try {
        response = await withOneStepFailing(stores.sessions, 'replace', { kind: 'reset' }, () =>
          browser.call('me', { url: '/auth/me' }),
        );
      } finally {
        h.clockOffsetMs = 0;
      }
      if (response.status !== 200) assertCodedError(response, 503, 'storage_unavailable', 'me');
      expect(await view.sessionEtag(cookie)).toBe(etag);
      expect((await browser.call('me', { url: '/auth/me' })).status).toBe(200);
      assertNoLeaks(h);
    });
  });
});
