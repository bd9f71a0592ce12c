/**
 * The web sign-in flow end to end through the real handlers, Azurite and the Entra stand-in:
 * login → provider → callback → me → refresh → logout, and the bad inputs around each step.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { expectPresent } from '../_support/expect-present';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { SESSION_COOKIE } from '../../shared/core/session';
import { transactionCookieName, stateRowRef } from '../../shared/core/keys';
import { APP_ORIGIN, Harness, PUBLIC_ORIGIN } from '../_support/harness';
import { tableRows } from '../_support/tables';

let azurite: AzuriteInstance;
let h: Harness;

beforeAll(async () => {
  azurite = await startAzurite();
  h = await Harness.start({ azurite, overrides: { providerTimeoutMs: 3000 } });
});

afterAll(async () => {
  await h?.stop();
  await azurite?.stop();
});

const states = () => tableRows(azurite.connectionString, 'AuthState');
const sessions = () => tableRows(azurite.connectionString, 'AuthSessions');
const codeRedemptions = () => h.standIn.counters.codeRedemptions;
const tokenCalls = () => Object.values(h.standIn.counters.token).reduce((a, b) => a + b, 0);

describe('happy path', () => {
  test('login redirects to the authorize endpoint with PKCE S256, state, nonce and a __Host- transaction cookie', async () => {
    const browser = h.newBrowser();
    const before = (await states()).length;
    const { response, authorizeUrl, state } = await browser.startSignIn('returnTo=%2Fapp%3Fx%3D1');
    expect(response.status).toBe(302);
    const url = new URL(authorizeUrl);
    expect(`${url.origin}${url.pathname}`).toBe(
      `${h.standIn.frontChannelUrl}/${h.standIn.tenantId}/oauth2/v2.0/authorize`,
    );
    const p = url.searchParams;
    expect(p.get('response_type')).toBe('code');
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('code_challenge') ?? '').toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('response_mode')).toBe('query');
    expect(p.get('nonce') ?? '').toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(p.get('scope')).toBe('openid profile offline_access User.Read');
    expect(p.get('redirect_uri')).toBe(h.config.redirectUri);
    const [cookie] = response.setCookies;
    expect(cookie?.name).toBe(transactionCookieName(stateRowRef(state).rowKey));
    expect(cookie!.name).toMatch(/^__Host-/);
    expect({
      path: cookie!.attributes.path,
      secure: cookie!.attributes.secure,
      httpOnly: cookie!.attributes.httpOnly,
      sameSite: cookie!.attributes.sameSite,
    }).toStrictEqual({ path: '/', secure: true, httpOnly: true, sameSite: 'Lax' });
    const rows = await states();
    expect(rows.length).toBe(before + 1);
    const stored = JSON.stringify(rows);
    for (const secret of [state, p.get('nonce')!, cookie!.value]) expect(!stored.includes(secret)).toBeTruthy();
  });

  test('the whole sign-in: session cookie, state consumed, session sealed; me, refresh, logout', async () => {
    const browser = h.newBrowser();
    const sessionsBefore = (await sessions()).length;
    const { authorizeUrl, state } = await browser.startSignIn('returnTo=%2Fapp%3Fx%3D1');
    const callback = await browser.callback(await browser.signInAtProvider(authorizeUrl));
    expect(callback.status).toBe(302);
    expect(callback.headers.location).toBe('/app?x=1');
    const session = callback.setCookies.find((c) => c.name === SESSION_COOKIE);
    expectPresent(session);
    expect(session.attributes.httpOnly).toBe(true);
    expect(session.attributes.secure).toBe(true);
    expect(session.attributes.sameSite).toBe('Lax');
    expect(!browser.jar.has(transactionCookieName(stateRowRef(state).rowKey))).toBeTruthy();
    expect(!(await states()).some((r) => r.rowKey === stateRowRef(state).rowKey)).toBeTruthy();

    const rows = await sessions();
    expect(rows.length).toBe(sessionsBefore + 1);
    const user = h.standIn.users[0]!;
    const stored = JSON.stringify(rows);
    for (const plain of [user.username, user.name, 'refresh_token', 'RefreshToken', session.value]) {
      expect(!stored.includes(plain)).toBeTruthy();
    }

    const me = await browser.call('me', { url: '/auth/me' });
    expect(me.status).toBe(200);
    expect(me.json().user.id).toBe(user.oid);
    expect(me.json().user.tenantId).toBe(h.standIn.tenantId);
    expect(me.json().user.username).toBe(user.username);
    expect(Date.parse(me.json().expiresAt) > Date.now()).toBeTruthy();
    expect(!/eyJ/.test(me.body)).toBeTruthy();

    const refreshed = await browser.call('refresh', {
      method: 'POST',
      url: '/auth/refresh',
      headers: { 'x-csrf': '1' },
    });
    expect(refreshed.status).toBe(200);
    const token = refreshed.json();
    expect(Object.keys(token).sort()).toStrictEqual(['access_token', 'expires_in', 'scope', 'token_type']);
    expect(token.token_type).toBe('Bearer');
    expect(token.expires_in > 0).toBeTruthy();
    const claims = await h.standIn.verifyAccessToken(token.access_token);
    expect(claims.oid).toBe(user.oid);
    h.seenSecrets.add(token.access_token);

    const logout = await browser.call('logout', { method: 'POST', url: '/auth/logout', headers: { 'x-csrf': '1' } });
    expect(logout.status).toBe(200);
    const logoutUrl = new URL(logout.json().logoutUrl);
    expect(`${logoutUrl.origin}${logoutUrl.pathname}`).toBe(
      `${h.standIn.frontChannelUrl}/${h.standIn.tenantId}/oauth2/v2.0/logout`,
    );
    expect(logoutUrl.searchParams.get('post_logout_redirect_uri')).toBe(`${PUBLIC_ORIGIN}/`);
    expect((await sessions()).length).toBe(sessionsBefore);
    expect(browser.jar.has(SESSION_COOKIE)).toBe(false);

    const replayed = await h.call('me', { url: '/auth/me', headers: { cookie: `${SESSION_COOKIE}=${session.value}` } });
    expect(replayed.status).toBe(401);
    expect(replayed.json().code).toBe('session_required');
  });

  test('refresh after the access token expired uses the refresh token from the session cache', async () => {
    h.standIn.setAccessTokenLifetime(60); // inside MSAL's 5-minute refresh margin: treated as expired at once
    try {
      const browser = h.newBrowser();
      await browser.signIn();
      const refreshesBefore = h.standIn.counters.refreshRedemptions;
      const first = await browser.call('refresh', { method: 'POST', url: '/auth/refresh', headers: { 'x-csrf': '1' } });
      expect(first.status).toBe(200);
      expect(h.standIn.counters.refreshRedemptions).toBe(refreshesBefore + 1);
      h.seenSecrets.add(first.json().access_token);
    } finally {
      h.standIn.setAccessTokenLifetime(3600);
    }
  });

  test('a valid access token is served from the session cache without a provider call', async () => {
    const browser = h.newBrowser();
    await browser.signIn();
    const calls = tokenCalls();
    const response = await browser.call('refresh', {
      method: 'POST',
      url: '/auth/refresh',
      headers: { 'x-csrf': '1', 'content-type': 'application/json' },
      body: '{"scopes":["User.Read"]}',
    });
    expect(response.status).toBe(200);
    expect(tokenCalls()).toBe(calls);
  });

  test('an absolute returnTo on an allowed origin is honoured; a second tab signs in alongside', async () => {
    const browser = h.newBrowser();
    const tabA = await browser.startSignIn(`returnTo=${encodeURIComponent(`${APP_ORIGIN}/a`)}`);
    const tabB = await browser.startSignIn('returnTo=%2Fb');
    const doneB = await browser.callback(await browser.signInAtProvider(tabB.authorizeUrl));
    const doneA = await browser.callback(await browser.signInAtProvider(tabA.authorizeUrl));
    expect(doneB.headers.location).toBe('/b');
    expect(doneA.headers.location).toBe(`${APP_ORIGIN}/a`);
  });

  test('health answers 200 with no secret in the body', async () => {
    const response = await h.call('health', { url: '/auth/health' });
    expect(response.status).toBe(200);
    expect(response.json().status).toBe('ok');
    expect(
      !response.body.includes(
        h.config.credential.kind === 'secret' && 'clientSecret' in h.config.credential
          ? h.config.credential.clientSecret
          : '\u0000',
      ),
    ).toBeTruthy();
  });
});

describe('bad state never reaches the provider and writes nothing', () => {
  async function expectRejected(callbackPath: string, code: string, browser = h.newBrowser()) {
    const calls = tokenCalls();
    const response = await browser.call('callback', { url: callbackPath });
    expect(response.status).toBe(400);
    expect(response.headers['content-type'] ?? '').toMatch(/text\/html/);
    expect(response.body.includes(code)).toBeTruthy();
    expect(tokenCalls()).toBe(calls);
    expect(!response.setCookies.some((c) => c.name === SESSION_COOKIE)).toBeTruthy();
  }

  test('missing state', () => expectRejected('/auth/callback?code=abc', 'state_missing'));
  test('malformed state', () => expectRejected('/auth/callback?code=abc&state=not-a-state', 'state_malformed'));
  test('state with Table-forbidden characters or OData', () =>
    expectRejected(`/auth/callback?code=abc&state=${encodeURIComponent("' or RowKey ne '")}`, 'state_malformed'));
  test('unknown but well-formed state', () =>
    expectRejected(`/auth/callback?code=abc&state=${'0'.repeat(10)}.${'A'.repeat(43)}`, 'state_unknown'));
  test('duplicated state parameter', () =>
    expectRejected('/auth/callback?code=abc&state=a&state=b', 'invalid_request'));

  test('callback from a browser without the transaction cookie: refused, and the real user can still finish', async () => {
    const browser = h.newBrowser();
    const { authorizeUrl } = await browser.startSignIn();
    const callbackUrl = await browser.signInAtProvider(authorizeUrl);
    const path = `/auth/callback${new URL(callbackUrl).search}`;
    await expectRejected(path, 'state_mismatch', h.newBrowser());
    const other = h.newBrowser();
    await other.startSignIn();
    // Another browser's own transaction cookie does not fit this state either.
    await expectRejected(path, 'state_mismatch', other);
    const finished = await browser.callback(callbackUrl);
    expect(finished.status).toBe(302);
  });

  test('expired state', async () => {
    const browser = h.newBrowser();
    const { authorizeUrl, state } = await browser.startSignIn();
    const callbackUrl = await browser.signInAtProvider(authorizeUrl);
    h.clockOffsetMs = 11 * 60_000;
    try {
      await expectRejected(`/auth/callback${new URL(callbackUrl).search}`, 'state_expired', browser);
    } finally {
      h.clockOffsetMs = 0;
    }
    expect(!(await states()).some((r) => r.rowKey === stateRowRef(state).rowKey)).toBeTruthy();
  });

  test('replayed state after a completed sign-in', async () => {
    const browser = h.newBrowser();
    const { authorizeUrl } = await browser.startSignIn();
    const callbackUrl = await browser.signInAtProvider(authorizeUrl);
    const cookies = new Map(browser.jar);
    expect((await browser.callback(callbackUrl)).status).toBe(302);
    for (const [name, value] of cookies) browser.jar.set(name, value); // an attacker replaying the whole request
    await expectRejected(`/auth/callback${new URL(callbackUrl).search}`, 'state_unknown', browser);
  });

  test('ten parallel callbacks with one state: exactly one code redemption and one session', async () => {
    const browser = h.newBrowser();
    const { authorizeUrl } = await browser.startSignIn();
    const callbackUrl = await browser.signInAtProvider(authorizeUrl);
    const redemptions = codeRedemptions();
    const sessionsBefore = (await sessions()).length;
    const cookie = browser.cookieHeader();
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        h.call('callback', { url: `/auth/callback${new URL(callbackUrl).search}`, headers: { cookie } }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toStrictEqual([302, ...Array(9).fill(400)]);
    expect(results.filter((r) => r.status === 400).every((r) => r.body.includes('state_unknown'))).toBeTruthy();
    expect(codeRedemptions()).toBe(redemptions + 1);
    expect((await sessions()).length).toBe(sessionsBefore + 1);
    for (const r of results) for (const c of r.setCookies) h.seenSecrets.add(c.value);
  });
});

describe('returnTo attacks are refused at login, with nothing stored', () => {
  const attacks = [
    '//evil.example',
    '/\\evil.example',
    'https:evil.example',
    '/%2F%2Fevil.example',
    '%2F%2Fevil.example',
    '/%5Cevil.example',
    ' /evil',
    '/\t/evil.example',
    '\n//evil.example',
    'javascript:alert(1)',
    'https://evil.example/',
    'https://app.contoso.example.evil.example/',
    'https://app.contoso.example@evil.example/',
    '/%252F%252Fevil.example',
  ];
  for (const attack of attacks) {
    test(JSON.stringify(attack), async () => {
      const rows = (await states()).length;
      const response = await h.call('login', { url: `/auth/login?returnTo=${encodeURIComponent(attack)}` });
      expect(response.status).toBe(400);
      expect(response.body.includes('invalid_return_url')).toBeTruthy();
      expect(!response.body.includes('evil')).toBeTruthy();
      expect(response.headers.location).toBe(undefined);
      expect(response.setCookies.length).toBe(0);
      expect((await states()).length).toBe(rows);
    });
  }
});

describe('provider errors', () => {
  test('error=access_denied returns the user to returnTo with auth_error; markup in error_description is not reflected', async () => {
    const browser = h.newBrowser();
    const { authorizeUrl } = await browser.startSignIn('returnTo=%2Fhome');
    const cancelled = new URL(await browser.signInAtProvider(authorizeUrl, undefined, { cancel: true }));
    expect(cancelled.searchParams.get('error')).toBe('access_denied');
    cancelled.searchParams.set('error_description', '<script>alert(1)</script><img src=x onerror=alert(2)>');
    const response = await browser.callback(cancelled.href);
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe('/home?auth_error=access_denied');
    expect(!response.body.includes('<script>')).toBeTruthy();
    expect(!h.logs.join('\n').includes('<script>')).toBeTruthy();
  });

  test('a provider error with no valid state is a plain page, nothing reflected', async () => {
    const response = await h.call('callback', {
      url: `/auth/callback?error=${encodeURIComponent('<b>x</b>')}&error_description=${encodeURIComponent('<script>alert(1)</script>')}`,
    });
    expect(response.status).toBe(400);
    expect(response.body.includes('provider_error')).toBeTruthy();
    expect(!response.body.includes('<script>') && !response.body.includes('<b>x')).toBeTruthy();
    expect(response.headers['content-security-policy'] ?? '').toMatch(/default-src 'none'/);
  });

  test('invalid_grant from the token endpoint → 400 invalid_grant, no session', async () => {
    const browser = h.newBrowser();
    const { authorizeUrl } = await browser.startSignIn();
    const callbackUrl = await browser.signInAtProvider(authorizeUrl);
    const sessionsBefore = (await sessions()).length;
    h.standIn.injectFault('token', {
      aadsts: 70008,
      error: 'invalid_grant',
      description: 'The provided authorization code or refresh token has expired.',
    });
    const response = await browser.callback(callbackUrl);
    expect(response.status).toBe(400);
    expect(response.body.includes('invalid_grant')).toBeTruthy();
    expect((await sessions()).length).toBe(sessionsBefore);
  });

  test('token endpoint unreachable (socket dropped) → 502; hanging → 504; never a 500', async () => {
    for (const [fault, status] of [
      [{ destroySocket: true }, 502],
      [{ hang: true }, 504],
      [{ status: 503, body: '<html>down</html>', contentType: 'text/html' }, 502],
      [{ status: 200, body: '{"access_tok' }, 502],
    ] as const) {
      const browser = h.newBrowser();
      const { authorizeUrl } = await browser.startSignIn();
      const callbackUrl = await browser.signInAtProvider(authorizeUrl);
      const redemptions = h.standIn.counters.token.authorization_code ?? 0;
      h.standIn.injectFault('token', fault);
      const response = await browser.callback(callbackUrl);
      expect(response.status).toBe(status);
      expect(!response.setCookies.some((c) => c.name === SESSION_COOKIE)).toBeTruthy();
      expect((h.standIn.counters.token.authorization_code ?? 0) <= redemptions + 1).toBeTruthy();
      h.standIn.clearFaults();
    }
  });
});

describe('ID tokens that fail validation → 502 id_token_invalid, no session', () => {
  const cases: [string, (claims: Record<string, unknown>, sign: import('../../dev/entra-standin').SignFn) => string][] =
    [
      ['bad signature', (c, sign) => sign(c, { key: 'foreign' })],
      ['alg none', (c, sign) => sign(c, { alg: 'none' })],
      ['alg HS256', (c, sign) => sign(c, { alg: 'HS256' })],
      ['wrong aud', (c, sign) => sign({ ...c, aud: 'another-client' })],
      ['wrong iss', (c, sign) => sign({ ...c, iss: 'https://evil.example/v2.0' })],
      [
        'expired',
        (c, sign) =>
          sign({ ...c, exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 }),
      ],
      ['wrong nonce', (c, sign) => sign({ ...c, nonce: 'another-nonce' })],
      // A tenant outside AUTH_ALLOWED_TENANTS is 403 tenant_not_allowed: test/integration/entra-fidelity.test.ts.
    ];
  for (const [name, mutate] of cases) {
    test(name, async () => {
      const browser = h.newBrowser();
      const { authorizeUrl } = await browser.startSignIn();
      const callbackUrl = await browser.signInAtProvider(authorizeUrl);
      const sessionsBefore = (await sessions()).length;
      h.standIn.nextIdToken(mutate);
      const response = await browser.callback(callbackUrl);
      expect(response.status).toBe(502);
      expect(response.body.includes('id_token_invalid')).toBeTruthy();
      expect(!response.setCookies.some((c) => c.name === SESSION_COOKIE)).toBeTruthy();
      expect((await sessions()).length).toBe(sessionsBefore);
    });
  }
});

describe('sessions, CSRF and methods', () => {
  test('refresh without X-CSRF → 403 csrf_required', async () => {
    const browser = h.newBrowser();
    await browser.signIn();
    const response = await browser.call('refresh', { method: 'POST', url: '/auth/refresh' });
    expect(response.status).toBe(403);
    expect(response.json().code).toBe('csrf_required');
    expect(response.headers['content-type'] ?? '').toMatch(/application\/problem\+json/);
  });

  test('refresh with an idle-expired session → 401 session_expired, and the row is gone', async () => {
    const browser = h.newBrowser();
    await browser.signIn();
    const sessionsBefore = (await sessions()).length;
    h.clockOffsetMs = h.config.session.idleSeconds * 1000 + 1000;
    try {
      const response = await browser.call('refresh', {
        method: 'POST',
        url: '/auth/refresh',
        headers: { 'x-csrf': '1' },
      });
      expect(response.status).toBe(401);
      expect(response.json().code).toBe('session_expired');
    } finally {
      h.clockOffsetMs = 0;
    }
    expect((await sessions()).length).toBe(sessionsBefore - 1);
  });

  test('refresh asking for a scope outside the allowed list → 400 scope_not_allowed', async () => {
    const browser = h.newBrowser();
    await browser.signIn();
    const response = await browser.call('refresh', {
      method: 'POST',
      url: '/auth/refresh',
      headers: { 'x-csrf': '1', 'content-type': 'application/json' },
      body: '{"scopes":["Mail.Send"]}',
    });
    expect(response.status).toBe(400);
    expect(response.json().code).toBe('scope_not_allowed');
  });

  test('a forged or tampered session cookie is just "no session"', async () => {
    const browser = h.newBrowser();
    await browser.signIn();
    const real = browser.jar.get(SESSION_COOKIE)!;
    const tampered = `${real.slice(0, -2)}${real.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const value of [tampered, 'x', `${'0'.repeat(10)}.${'A'.repeat(22)}.${'A'.repeat(43)}`]) {
      const response = await h.call('me', { url: '/auth/me', headers: { cookie: `${SESSION_COOKIE}=${value}` } });
      expect(response.status).toBe(401);
    }
  });

  test('logout: cross-site form post refused; same-origin form post redirects to end-session', async () => {
    const browser = h.newBrowser();
    await browser.signIn();
    const crossSite = await browser.call('logout', {
      method: 'POST',
      url: '/auth/logout',
      headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    expect(crossSite.status).toBe(403);
    expect((await browser.call('me', { url: '/auth/me' })).status).toBe(200);
    const form = await browser.call('logout', {
      method: 'POST',
      url: '/auth/logout',
      headers: { origin: PUBLIC_ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
      body: `post_logout_redirect_uri=${encodeURIComponent(`${APP_ORIGIN}/bye`)}`,
    });
    expect(form.status).toBe(302);
    expect(new URL(form.headers.location!).searchParams.get('post_logout_redirect_uri')).toBe(`${APP_ORIGIN}/bye`);
    expect((await browser.call('me', { url: '/auth/me' })).status).toBe(401);
  });

  test('logout with a post_logout_redirect_uri on another origin → 400 invalid_return_url', async () => {
    const response = await h.call('logout', {
      method: 'POST',
      url: `/auth/logout?post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`,
      headers: { 'x-csrf': '1' },
    });
    expect(response.status).toBe(400);
    expect(response.json().code).toBe('invalid_return_url');
  });

  test('wrong methods → 405 with Allow; wrong content type → 415; oversized input → 413', async () => {
    const refreshGet = await h.call('refresh', { url: '/auth/refresh' });
    expect(refreshGet.status).toBe(405);
    expect(refreshGet.headers.allow).toBe('POST');
    expect((await h.call('login', { method: 'POST', url: '/auth/login' })).status).toBe(405);
    const wrongType = await h.call('refresh', {
      method: 'POST',
      url: '/auth/refresh',
      headers: { 'x-csrf': '1', 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(wrongType.status).toBe(415);
    expect((await h.call('login', { url: `/auth/login?returnTo=/${'a'.repeat(5000)}` })).status).toBe(413);
    // Foreign cookies are ignored up to the platform's own header bound (Kestrel's 32 KB), then 413.
    expect((await h.call('me', { url: '/auth/me', headers: { cookie: `a=${'b'.repeat(9000)}` } })).status).toBe(401);
    expect((await h.call('me', { url: '/auth/me', headers: { cookie: `a=${'b'.repeat(33 * 1024)}` } })).status).toBe(
      413,
    );
    expect(
      (
        await h.call('refresh', {
          method: 'POST',
          url: '/auth/refresh',
          headers: { 'x-csrf': '1', 'content-type': 'application/json' },
          body: `{"scopes":["${'a'.repeat(20000)}"]}`,
        })
      ).status,
    ).toBe(413);
  });
});

describe('logs', () => {
  test('nothing the functions logged contains a code, state, verifier, token, secret or cookie value', () => {
    expect(h.logs.length > 20).toBeTruthy();
    expect(h.seenSecrets.size > 20).toBeTruthy();
    expect(h.leakedSecrets()).toStrictEqual([]);
  });
});
