/**
 * The web sign-in flow end to end through the real handlers, Azurite and the Entra stand-in:
 * login → provider → callback → me → refresh → logout, and the bad inputs around each step.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { SESSION_COOKIE } from '../../shared/core/flow';
import { transactionCookieName, stateRowRef } from '../../shared/core/keys';
import { APP_ORIGIN, Harness, PUBLIC_ORIGIN } from '../_support/harness';
import { tableRows } from '../_support/tables';

let azurite: AzuriteInstance;
let h: Harness;

before(async () => {
  azurite = await startAzurite();
  h = await Harness.start({ azurite, overrides: { providerTimeoutMs: 3000 } });
});

after(async () => {
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
    assert.equal(response.status, 302);
    const url = new URL(authorizeUrl);
    assert.equal(`${url.origin}${url.pathname}`, `${h.standIn.frontChannelUrl}/${h.standIn.tenantId}/oauth2/v2.0/authorize`);
    const p = url.searchParams;
    assert.equal(p.get('response_type'), 'code');
    assert.equal(p.get('code_challenge_method'), 'S256');
    assert.match(p.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal(p.get('response_mode'), 'query');
    assert.match(p.get('nonce') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal(p.get('scope'), 'openid profile offline_access User.Read');
    assert.equal(p.get('redirect_uri'), h.config.redirectUri);
    const [cookie] = response.setCookies;
    assert.equal(cookie?.name, transactionCookieName(stateRowRef(state).rowKey));
    assert.match(cookie!.name, /^__Host-/);
    assert.deepEqual(
      { path: cookie!.attributes.path, secure: cookie!.attributes.secure, httpOnly: cookie!.attributes.httpOnly, sameSite: cookie!.attributes.sameSite },
      { path: '/', secure: true, httpOnly: true, sameSite: 'Lax' },
    );
    const rows = await states();
    assert.equal(rows.length, before + 1);
    const stored = JSON.stringify(rows);
    for (const secret of [state, p.get('nonce')!, cookie!.value]) assert.ok(!stored.includes(secret), 'raw secrets never stored');
  });

  test('the whole sign-in: session cookie, state consumed, session sealed; me, refresh, logout', async () => {
    const browser = h.newBrowser();
    const sessionsBefore = (await sessions()).length;
    const { authorizeUrl, state } = await browser.startSignIn('returnTo=%2Fapp%3Fx%3D1');
    const callback = await browser.callback(await browser.signInAtProvider(authorizeUrl));
    assert.equal(callback.status, 302);
    assert.equal(callback.headers.location, '/app?x=1');
    const session = callback.setCookies.find((c) => c.name === SESSION_COOKIE);
    assert.ok(session);
    assert.equal(session.attributes.httpOnly, true);
    assert.equal(session.attributes.secure, true);
    assert.equal(session.attributes.sameSite, 'Lax');
    assert.ok(!browser.jar.has(transactionCookieName(stateRowRef(state).rowKey)), 'transaction cookie cleared');
    assert.ok(!(await states()).some((r) => r.rowKey === stateRowRef(state).rowKey), 'state row consumed');

    const rows = await sessions();
    assert.equal(rows.length, sessionsBefore + 1);
    const user = h.standIn.users[0]!;
    const stored = JSON.stringify(rows);
    for (const plain of [user.username, user.name, 'refresh_token', 'RefreshToken', session.value]) {
      assert.ok(!stored.includes(plain), `session row must not hold ${plain} in clear`);
    }

    const me = await browser.call('me', { url: '/auth/me' });
    assert.equal(me.status, 200);
    assert.equal(me.json().user.id, user.oid);
    assert.equal(me.json().user.tenantId, h.standIn.tenantId);
    assert.equal(me.json().user.username, user.username);
    assert.ok(Date.parse(me.json().expiresAt) > Date.now());
    assert.ok(!/eyJ/.test(me.body), 'no token in /auth/me');

    const refreshed = await browser.call('refresh', { method: 'POST', url: '/auth/refresh', headers: { 'x-csrf': '1' } });
    assert.equal(refreshed.status, 200);
    const token = refreshed.json();
    assert.deepEqual(Object.keys(token).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
    assert.equal(token.token_type, 'Bearer');
    assert.ok(token.expires_in > 0);
    const claims = await h.standIn.verifyAccessToken(token.access_token);
    assert.equal(claims.oid, user.oid);
    h.seenSecrets.add(token.access_token);

    const logout = await browser.call('logout', { method: 'POST', url: '/auth/logout', headers: { 'x-csrf': '1' } });
    assert.equal(logout.status, 200);
    const logoutUrl = new URL(logout.json().logoutUrl);
    assert.equal(`${logoutUrl.origin}${logoutUrl.pathname}`, `${h.standIn.frontChannelUrl}/${h.standIn.tenantId}/oauth2/v2.0/logout`);
    assert.equal(logoutUrl.searchParams.get('post_logout_redirect_uri'), `${PUBLIC_ORIGIN}/`);
    assert.equal((await sessions()).length, sessionsBefore);
    assert.equal(browser.jar.has(SESSION_COOKIE), false, 'session cookie cleared');

    const replayed = await h.call('me', { url: '/auth/me', headers: { cookie: `${SESSION_COOKIE}=${session.value}` } });
    assert.equal(replayed.status, 401);
    assert.equal(replayed.json().code, 'session_required');
  });

  test('refresh after the access token expired uses the refresh token from the session cache', async () => {
    h.standIn.setAccessTokenLifetime(60); // inside MSAL's 5-minute refresh margin: treated as expired at once
    try {
      const browser = h.newBrowser();
      await browser.signIn();
      const refreshesBefore = h.standIn.counters.refreshRedemptions;
      const first = await browser.call('refresh', { method: 'POST', url: '/auth/refresh', headers: { 'x-csrf': '1' } });
      assert.equal(first.status, 200);
      assert.equal(h.standIn.counters.refreshRedemptions, refreshesBefore + 1);
      h.seenSecrets.add(first.json().access_token);
    } finally {
      h.standIn.setAccessTokenLifetime(3600);
    }
  });

  test('a valid access token is served from the session cache without a provider call', async () => {
    const browser = h.newBrowser();
    await browser.signIn();
    const calls = tokenCalls();
    const response = await browser.call('refresh', { method: 'POST', url: '/auth/refresh', headers: { 'x-csrf': '1', 'content-type': 'application/json' }, body: '{"scopes":["User.Read"]}' });
    assert.equal(response.status, 200);
    assert.equal(tokenCalls(), calls);
  });

  test('an absolute returnTo on an allowed origin is honoured; a second tab signs in alongside', async () => {
    const browser = h.newBrowser();
    const tabA = await browser.startSignIn(`returnTo=${encodeURIComponent(`${APP_ORIGIN}/a`)}`);
    const tabB = await browser.startSignIn('returnTo=%2Fb');
    const doneB = await browser.callback(await browser.signInAtProvider(tabB.authorizeUrl));
    const doneA = await browser.callback(await browser.signInAtProvider(tabA.authorizeUrl));
    assert.equal(doneB.headers.location, '/b');
    assert.equal(doneA.headers.location, `${APP_ORIGIN}/a`);
  });

  test('health answers 200 with no secret in the body', async () => {
    const response = await h.call('health', { url: '/auth/health' });
    assert.equal(response.status, 200);
    assert.equal(response.json().status, 'ok');
    assert.ok(!response.body.includes(h.config.credential.kind === 'secret' && 'clientSecret' in h.config.credential ? h.config.credential.clientSecret : '\u0000'));
  });
});

describe('bad state never reaches the provider and writes nothing', () => {
  async function expectRejected(callbackPath: string, code: string, browser = h.newBrowser()) {
    const calls = tokenCalls();
    const response = await browser.call('callback', { url: callbackPath });
    assert.equal(response.status, 400, response.body);
    assert.match(response.headers['content-type'] ?? '', /text\/html/);
    assert.ok(response.body.includes(code), `${code} in page`);
    assert.equal(tokenCalls(), calls, 'no token call');
    assert.ok(!response.setCookies.some((c) => c.name === SESSION_COOKIE));
  }

  test('missing state', () => expectRejected('/auth/callback?code=abc', 'state_missing'));
  test('malformed state', () => expectRejected('/auth/callback?code=abc&state=not-a-state', 'state_malformed'));
  test('state with Table-forbidden characters or OData', () => expectRejected(`/auth/callback?code=abc&state=${encodeURIComponent("' or RowKey ne '")}`, 'state_malformed'));
  test('unknown but well-formed state', () => expectRejected(`/auth/callback?code=abc&state=${'0'.repeat(10)}.${'A'.repeat(43)}`, 'state_unknown'));
  test('duplicated state parameter', () => expectRejected('/auth/callback?code=abc&state=a&state=b', 'invalid_request'));

  test('callback from a browser without the transaction cookie: refused, and the real user can still finish', async () => {
    const browser = h.newBrowser();
    const { authorizeUrl } = await browser.startSignIn();
    const callbackUrl = await browser.signInAtProvider(authorizeUrl);
    const path = `/auth/callback${new URL(callbackUrl).search}`;
    await expectRejected(path, 'state_mismatch', h.newBrowser());
    const other = h.newBrowser();
    await other.startSignIn();
    // Another browser's own transaction cookie does not fit this state either.
    for (const [name, value] of other.jar) browser.jar.has(name) || other.jar.set(name, value);
    await expectRejected(path, 'state_mismatch', other);
    const finished = await browser.callback(callbackUrl);
    assert.equal(finished.status, 302);
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
    assert.ok(!(await states()).some((r) => r.rowKey === stateRowRef(state).rowKey), 'expired row removed');
  });

  test('replayed state after a completed sign-in', async () => {
    const browser = h.newBrowser();
    const { authorizeUrl } = await browser.startSignIn();
    const callbackUrl = await browser.signInAtProvider(authorizeUrl);
    const cookies = new Map(browser.jar);
    assert.equal((await browser.callback(callbackUrl)).status, 302);
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
      Array.from({ length: 10 }, () => h.call('callback', { url: `/auth/callback${new URL(callbackUrl).search}`, headers: { cookie } })),
    );
    const statuses = results.map((r) => r.status).sort();
    assert.deepEqual(statuses, [302, ...Array(9).fill(400)]);
    assert.ok(results.filter((r) => r.status === 400).every((r) => r.body.includes('state_unknown')));
    assert.equal(codeRedemptions(), redemptions + 1);
    assert.equal((await sessions()).length, sessionsBefore + 1);
    for (const r of results) for (const c of r.setCookies) h.seenSecrets.add(c.value);
  });
});

describe('returnTo attacks are refused at login, with nothing stored', () => {
  const attacks = ['//evil.example', '/\\evil.example', 'https:evil.example', '/%2F%2Fevil.example', '%2F%2Fevil.example', '/%5Cevil.example',
    ' /evil', '/\t/evil.example', '\n//evil.example', 'javascript:alert(1)', 'https://evil.example/', 'https://app.contoso.example.evil.example/',
    'https://app.contoso.example@evil.example/', '/%252F%252Fevil.example'];
  for (const attack of attacks) {
    test(JSON.stringify(attack), async () => {
      const rows = (await states()).length;
      const response = await h.call('login', { url: `/auth/login?returnTo=${encodeURIComponent(attack)}` });
      assert.equal(response.status, 400);
      assert.ok(response.body.includes('invalid_return_url'));
      assert.ok(!response.body.includes('evil'), 'the attack is not reflected');
      assert.equal(response.headers.location, undefined);
      assert.equal(response.setCookies.length, 0);
      assert.equal((await states()).length, rows);
    });
  }
});

describe('provider errors', () => {
  test('error=access_denied returns the user to returnTo with auth_error; markup in error_description is not reflected', async () => {
    const browser = h.newBrowser();
    const { authorizeUrl } = await browser.startSignIn('returnTo=%2Fhome');
    const cancelled = new URL(await browser.signInAtProvider(authorizeUrl, undefined, { cancel: true }));
    assert.equal(cancelled.searchParams.get('error'), 'access_denied');
    cancelled.searchParams.set('error_description', '<script>alert(1)</script><img src=x onerror=alert(2)>');
    const response = await browser.callback(cancelled.href);
    assert.equal(response.status, 302);
    assert.equal(response.headers.location, '/home?auth_error=access_denied');
    assert.ok(!response.body.includes('<script>'));
    assert.ok(!h.logs.join('\n').includes('<script>'));
  });

  test('a provider error with no valid state is a plain page, nothing reflected', async () => {
    const response = await h.call('callback', { url: `/auth/callback?error=${encodeURIComponent('<b>x</b>')}&error_description=${encodeURIComponent('<script>alert(1)</script>')}` });
    assert.equal(response.status, 400);
    assert.ok(response.body.includes('provider_error'));
    assert.ok(!response.body.includes('<script>') && !response.body.includes('<b>x'));
    assert.match(response.headers['content-security-policy'] ?? '', /default-src 'none'/);
  });

  test('invalid_grant from the token endpoint → 400 invalid_grant, no session', async () => {
    const browser = h.newBrowser();
    const { authorizeUrl } = await browser.startSignIn();
    const callbackUrl = await browser.signInAtProvider(authorizeUrl);
    const sessionsBefore = (await sessions()).length;
    h.standIn.injectFault('token', { aadsts: 70008, error: 'invalid_grant', description: 'The provided authorization code or refresh token has expired.' });
    const response = await browser.callback(callbackUrl);
    assert.equal(response.status, 400);
    assert.ok(response.body.includes('invalid_grant'));
    assert.equal((await sessions()).length, sessionsBefore);
  });

  test('token endpoint unreachable (socket dropped) → 502; hanging → 504; never a 500', async () => {
    for (const [fault, status] of [[{ destroySocket: true }, 502], [{ hang: true }, 504], [{ status: 503, body: '<html>down</html>', contentType: 'text/html' }, 502], [{ status: 200, body: '{"access_tok' }, 502]] as const) {
      const browser = h.newBrowser();
      const { authorizeUrl } = await browser.startSignIn();
      const callbackUrl = await browser.signInAtProvider(authorizeUrl);
      const redemptions = h.standIn.counters.token.authorization_code ?? 0;
      h.standIn.injectFault('token', fault);
      const response = await browser.callback(callbackUrl);
      assert.equal(response.status, status, JSON.stringify(fault));
      assert.ok(!response.setCookies.some((c) => c.name === SESSION_COOKIE));
      assert.ok((h.standIn.counters.token.authorization_code ?? 0) <= redemptions + 1, 'the code is sent at most once');
      h.standIn.clearFaults();
    }
  });
});

describe('ID tokens that fail validation → 502 id_token_invalid, no session', () => {
  const cases: [string, (claims: Record<string, unknown>, sign: import('../../dev/entra-standin').SignFn) => string][] = [
    ['bad signature', (c, sign) => sign(c, { key: 'foreign' })],
    ['alg none', (c, sign) => sign(c, { alg: 'none' })],
    ['alg HS256', (c, sign) => sign(c, { alg: 'HS256' })],
    ['wrong aud', (c, sign) => sign({ ...c, aud: 'another-client' })],
    ['wrong iss', (c, sign) => sign({ ...c, iss: 'https://evil.example/v2.0' })],
    ['expired', (c, sign) => sign({ ...c, exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 })],
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
      assert.equal(response.status, 502, response.body);
      assert.ok(response.body.includes('id_token_invalid'));
      assert.ok(!response.setCookies.some((c) => c.name === SESSION_COOKIE));
      assert.equal((await sessions()).length, sessionsBefore);
    });
  }
});

describe('sessions, CSRF and methods', () => {
  test('refresh without X-CSRF → 403 csrf_required', async () => {
    const browser = h.newBrowser();
    await browser.signIn();
    const response = await browser.call('refresh', { method: 'POST', url: '/auth/refresh' });
    assert.equal(response.status, 403);
    assert.equal(response.json().code, 'csrf_required');
    assert.match(response.headers['content-type'] ?? '', /application\/problem\+json/);
  });

  test('refresh with an idle-expired session → 401 session_expired, and the row is gone', async () => {
    const browser = h.newBrowser();
    await browser.signIn();
    const sessionsBefore = (await sessions()).length;
    h.clockOffsetMs = h.config.session.idleSeconds * 1000 + 1000;
    try {
      const response = await browser.call('refresh', { method: 'POST', url: '/auth/refresh', headers: { 'x-csrf': '1' } });
      assert.equal(response.status, 401);
      assert.equal(response.json().code, 'session_expired');
    } finally {
      h.clockOffsetMs = 0;
    }
    assert.equal((await sessions()).length, sessionsBefore - 1);
  });

  test('refresh asking for a scope outside the allowed list → 400 scope_not_allowed', async () => {
    const browser = h.newBrowser();
    await browser.signIn();
    const response = await browser.call('refresh', { method: 'POST', url: '/auth/refresh', headers: { 'x-csrf': '1', 'content-type': 'application/json' }, body: '{"scopes":["Mail.Send"]}' });
    assert.equal(response.status, 400);
    assert.equal(response.json().code, 'scope_not_allowed');
  });

  test('a forged or tampered session cookie is just "no session"', async () => {
    const browser = h.newBrowser();
    await browser.signIn();
    const real = browser.jar.get(SESSION_COOKIE)!;
    const tampered = `${real.slice(0, -2)}${real.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const value of [tampered, 'x', `${'0'.repeat(10)}.${'A'.repeat(22)}.${'A'.repeat(43)}`]) {
      const response = await h.call('me', { url: '/auth/me', headers: { cookie: `${SESSION_COOKIE}=${value}` } });
      assert.equal(response.status, 401);
    }
  });

  test('logout: cross-site form post refused; same-origin form post redirects to end-session', async () => {
    const browser = h.newBrowser();
    await browser.signIn();
    const crossSite = await browser.call('logout', { method: 'POST', url: '/auth/logout', headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    assert.equal(crossSite.status, 403);
    assert.equal((await browser.call('me', { url: '/auth/me' })).status, 200, 'session survives a refused logout');
    const form = await browser.call('logout', {
      method: 'POST',
      url: '/auth/logout',
      headers: { origin: PUBLIC_ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
      body: `post_logout_redirect_uri=${encodeURIComponent(`${APP_ORIGIN}/bye`)}`,
    });
    assert.equal(form.status, 302);
    assert.equal(new URL(form.headers.location!).searchParams.get('post_logout_redirect_uri'), `${APP_ORIGIN}/bye`);
    assert.equal((await browser.call('me', { url: '/auth/me' })).status, 401);
  });

  test('logout with a post_logout_redirect_uri on another origin → 400 invalid_return_url', async () => {
    const response = await h.call('logout', { method: 'POST', url: `/auth/logout?post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`, headers: { 'x-csrf': '1' } });
    assert.equal(response.status, 400);
    assert.equal(response.json().code, 'invalid_return_url');
  });

  test('wrong methods → 405 with Allow; wrong content type → 415; oversized input → 413', async () => {
    const refreshGet = await h.call('refresh', { url: '/auth/refresh' });
    assert.equal(refreshGet.status, 405);
    assert.equal(refreshGet.headers.allow, 'POST');
    assert.equal((await h.call('login', { method: 'POST', url: '/auth/login' })).status, 405);
    const wrongType = await h.call('refresh', { method: 'POST', url: '/auth/refresh', headers: { 'x-csrf': '1', 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(wrongType.status, 415);
    assert.equal((await h.call('login', { url: `/auth/login?returnTo=/${'a'.repeat(5000)}` })).status, 413);
    assert.equal((await h.call('me', { url: '/auth/me', headers: { cookie: `a=${'b'.repeat(9000)}` } })).status, 413);
    assert.equal((await h.call('refresh', { method: 'POST', url: '/auth/refresh', headers: { 'x-csrf': '1', 'content-type': 'application/json' }, body: `{"scopes":["${'a'.repeat(20000)}"]}` })).status, 413);
  });
});

describe('logs', () => {
  test('nothing the functions logged contains a code, state, verifier, token, secret or cookie value', () => {
    assert.ok(h.logs.length > 20, 'the suite logged something to scan');
    assert.ok(h.seenSecrets.size > 20);
    assert.deepEqual(h.leakedSecrets(), []);
  });
});
