/**
 * The native app flow (RFC 8252) end to end through the real handlers, Azurite and the Entra stand-in: a
 * simulated app with its own PKCE signs in through the browser, catches the redirect with a handoff code,
 * redeems it at /auth/token, uses its session token as Bearer, and rotates it; and the bad inputs around it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { SESSION_COOKIE } from '../../shared/core/flow';
import { HANDOFF_TTL_MS } from '../../shared/core/native';
import { ROTATION_GRACE_MS } from '../../shared/core/session';
import { Harness, NATIVE_REDIRECT_URIS, PUBLIC_ORIGIN, type Response } from '../_support/harness';
import { NativeApp } from '../_support/native-app';
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

const states = async () => (await tableRows(azurite.connectionString, 'AuthState')).length;
const sessions = async () => (await tableRows(azurite.connectionString, 'AuthSessions')).length;

function assertOAuthError(response: Response, status: number, error: string): void {
  assert.equal(response.status, status, response.body);
  assert.equal(response.json().error, error);
  assert.equal(typeof response.json().error_description, 'string');
  assert.equal(response.headers['cache-control'], 'no-store');
  assert.equal(response.headers.pragma, 'no-cache');
  assert.match(response.headers['content-type'] ?? '', /^application\/json/);
}

describe('discovery', () => {
  test('/.well-known/oauth-authorization-server describes the endpoints (RFC 8414)', async () => {
    const response = await h.call('metadata', { url: '/.well-known/oauth-authorization-server' });
    assert.equal(response.status, 200);
    assert.match(response.headers['cache-control'] ?? '', /max-age=3600/);
    const metadata = response.json();
    assert.deepEqual(
      {
        issuer: metadata.issuer,
        authorization_endpoint: metadata.authorization_endpoint,
        token_endpoint: metadata.token_endpoint,
        grant_types_supported: metadata.grant_types_supported,
        code_challenge_methods_supported: metadata.code_challenge_methods_supported,
        token_endpoint_auth_methods_supported: metadata.token_endpoint_auth_methods_supported,
        authorization_response_iss_parameter_supported: metadata.authorization_response_iss_parameter_supported,
      },
      {
        issuer: PUBLIC_ORIGIN,
        authorization_endpoint: `${PUBLIC_ORIGIN}/auth/login`,
        token_endpoint: `${PUBLIC_ORIGIN}/auth/token`,
        grant_types_supported: ['authorization_code', 'refresh_token'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['none'],
        authorization_response_iss_parameter_supported: true,
      },
    );
  });
});

describe('the native flow', () => {
  test('sign in through the browser, handoff code to the app, redeem, Bearer calls, rotate', async () => {
    const app = new NativeApp(h);
    const callback = await app.signIn();
    assert.equal(callback.status, 302);
    assert.ok(!callback.setCookies.some((c) => c.name === SESSION_COOKIE && c.maxAge !== 0), 'no browser session for a native sign-in');
    const redirect = app.captureRedirect(callback);
    assert.equal(`${redirect.protocol}${redirect.pathname}`, 'com.contoso.app:/oauth2redirect');
    assert.equal(redirect.searchParams.get('state'), app.state);
    assert.equal(redirect.searchParams.get('iss'), PUBLIC_ORIGIN);
    const code = redirect.searchParams.get('code') ?? '';
    assert.match(code, /^\d{10}\.[A-Za-z0-9_-]{43}$/);
    assert.ok(!/eyJ/.test(redirect.href), 'no token in the URL');
    const sessionsBefore = await sessions();

    const redeemed = await app.redeem(code);
    assert.equal(redeemed.status, 200, redeemed.body);
    assert.equal(redeemed.headers['cache-control'], 'no-store');
    const tokens = redeemed.json();
    assert.equal(tokens.token_type, 'Bearer');
    assert.ok(tokens.expires_in > 0);
    assert.ok(tokens.scope.split(' ').includes('User.Read'));
    assert.equal((await h.standIn.verifyAccessToken(tokens.access_token)).oid !== undefined, true);
    assert.match(tokens.refresh_token, /^\d{10}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/, 'the backend session token, not an Entra refresh token');
    assert.equal(await sessions(), sessionsBefore + 1);
    assert.ok(!JSON.stringify(await tableRows(azurite.connectionString, 'AuthSessions')).includes(tokens.refresh_token.split('.')[2]));

    const me = await app.bearer('me', tokens.refresh_token);
    assert.equal(me.status, 200);
    assert.equal(me.json().user.username, h.standIn.users[0]!.username);
    const access = await app.bearer('refresh', tokens.refresh_token);
    assert.equal(access.status, 200, 'Bearer needs no X-CSRF');
    assert.equal(access.json().refresh_token, undefined, 'refresh never returns a refresh token');

    const rotated = await app.refresh(tokens.refresh_token);
    assert.equal(rotated.status, 200, rotated.body);
    const next = rotated.json();
    assert.notEqual(next.refresh_token, tokens.refresh_token);
    assert.equal(next.refresh_token.split('.').slice(0, 2).join('.'), tokens.refresh_token.split('.').slice(0, 2).join('.'), 'same session row');
    assert.equal((await app.bearer('me', next.refresh_token)).status, 200);
    assert.equal(await sessions(), sessionsBefore + 1, 'rotation keeps one row');

    const logout = await app.bearer('logout', next.refresh_token);
    assert.equal(logout.status, 200);
    assert.ok(logout.json().logoutUrl);
    assert.equal(await sessions(), sessionsBefore);
    assert.equal((await app.bearer('me', next.refresh_token)).status, 401);
  });

  test('a loopback redirect URI matches with any port (RFC 8252 §7.3); the code is bound to that exact URI', async () => {
    const app = new NativeApp(h, 'http://127.0.0.1:51234/callback');
    const code = await app.signInForCode();
    assertOAuthError(await app.redeem(code, { redirect_uri: 'http://127.0.0.1:51235/callback' }), 400, 'invalid_grant');
    assert.equal((await app.redeem(code)).status, 200);
  });

  test('a claimed https link works; the app keeps its own query on the redirect URI', async () => {
    const app = new NativeApp(h, NATIVE_REDIRECT_URIS[1]);
    const redirect = app.captureRedirect(await app.signIn());
    assert.equal(`${redirect.origin}${redirect.pathname}`, NATIVE_REDIRECT_URIS[1]);
    assert.equal((await app.redeem(redirect.searchParams.get('code')!)).status, 200);
  });

  test('the user cancels at the provider: the app gets error=access_denied with its state, nothing stored', async () => {
    const app = new NativeApp(h);
    const [statesBefore, sessionsBefore] = [await states(), await sessions()];
    const redirect = app.captureRedirect(await app.signIn({ cancel: true }));
    assert.equal(redirect.searchParams.get('error'), 'access_denied');
    assert.equal(redirect.searchParams.get('state'), app.state);
    assert.equal(redirect.searchParams.get('code'), null);
    assert.deepEqual([await states(), await sessions()], [statesBefore, sessionsBefore], 'the state row consumed, no handoff, no session');
  });
});

describe("failures after the app's redirect URI matched go back to the app", () => {
  test('Entra unreachable (502) → error=server_error; hanging (504) → temporarily_unavailable; no code, no session', async () => {
    for (const [fault, error] of [[{ destroySocket: true }, 'server_error'], [{ hang: true }, 'temporarily_unavailable']] as const) {
      const app = new NativeApp(h);
      const { authorizeUrl } = await app.browser.startSignIn(app.authorizeQuery());
      const callbackUrl = await app.browser.signInAtProvider(authorizeUrl);
      const sessionsBefore = await sessions();
      h.standIn.injectFault('token', fault);
      try {
        const redirect = app.captureRedirect(await app.browser.callback(callbackUrl));
        assert.equal(`${redirect.protocol}${redirect.pathname}`, 'com.contoso.app:/oauth2redirect');
        assert.equal(redirect.searchParams.get('error'), error);
        assert.equal(redirect.searchParams.get('state'), app.state);
        assert.equal(redirect.searchParams.get('code'), null);
        assert.equal(await sessions(), sessionsBefore);
      } finally {
        h.standIn.clearFaults();
      }
    }
  });

  test('a callback from another browser is an error page, not a redirect to the app (login CSRF)', async () => {
    const app = new NativeApp(h);
    const { authorizeUrl } = await app.browser.startSignIn(app.authorizeQuery());
    const callbackUrl = await app.browser.signInAtProvider(authorizeUrl);
    const response = await h.newBrowser().callback(callbackUrl);
    assert.equal(response.status, 400);
    assert.equal(response.headers.location, undefined);
    assert.match(response.body, /state_mismatch/);
  });
});

describe('bad authorization requests: nothing stored', () => {
  const refusedWithPage: [string, Record<string, string | undefined>][] = [
    ['unregistered redirect URI', { redirect_uri: 'com.evil.app:/oauth2redirect' }],
    ['localhost loopback (RFC 8252 §8.3)', { redirect_uri: 'http://localhost:51234/callback' }],
    ['loopback with another path', { redirect_uri: 'http://127.0.0.1:51234/other' }],
    ['loopback with userinfo', { redirect_uri: 'http://user@127.0.0.1:51234/callback' }],
    ['registered URI with a fragment', { redirect_uri: 'com.contoso.app:/oauth2redirect#x' }],
    ['registered URI with a different case', { redirect_uri: 'com.contoso.app:/OAuth2Redirect' }],
    ['code_challenge without redirect_uri', { redirect_uri: undefined }],
  ];
  for (const [name, overrides] of refusedWithPage) {
    test(`${name} → 400 invalid_redirect_uri page, no redirect`, async () => {
      const app = new NativeApp(h);
      const before = await states();
      const response = await app.browser.call('login', { url: `/auth/login?${app.authorizeQuery(overrides)}` });
      assert.equal(response.status, 400);
      assert.equal(response.headers.location, undefined);
      assert.match(response.body, /invalid_redirect_uri/);
      assert.equal(response.setCookies.length, 0);
      assert.equal(await states(), before);
    });
  }

  const refusedToApp: [string, Record<string, string | undefined>][] = [
    ['plain challenge method', { code_challenge_method: 'plain', code_challenge: 'x'.repeat(43) }],
    ['no challenge method (RFC 7636 default plain)', { code_challenge_method: undefined }],
    ['no code challenge', { code_challenge: undefined }],
    ['challenge of the wrong length', { code_challenge: 'A'.repeat(42) }],
    ['response_type=token', { response_type: 'token' }],
    ['returnTo mixed in', { returnTo: '/app' }],
    ['prompt not allowed', { prompt: 'none' }],
  ];
  for (const [name, overrides] of refusedToApp) {
    test(`${name} → 302 to the app with error=invalid_request and its state`, async () => {
      const app = new NativeApp(h);
      const before = await states();
      const response = await app.browser.call('login', { url: `/auth/login?${app.authorizeQuery(overrides)}` });
      assert.equal(response.status, 302);
      const redirect = new URL(response.headers.location!);
      assert.equal(`${redirect.protocol}${redirect.pathname}`, 'com.contoso.app:/oauth2redirect');
      assert.equal(redirect.searchParams.get('error'), 'invalid_request');
      assert.equal(redirect.searchParams.get('state'), app.state);
      assert.equal(redirect.searchParams.get('code'), null);
      assert.equal(response.setCookies.length, 0);
      assert.equal(await states(), before);
    });
  }

  test('a state with control characters is not echoed', async () => {
    const app = new NativeApp(h);
    const response = await app.browser.call('login', { url: `/auth/login?${app.authorizeQuery({ state: 'a\r\nb' })}` });
    const redirect = new URL(response.headers.location!);
    assert.equal(redirect.searchParams.get('error'), 'invalid_request');
    assert.equal(redirect.searchParams.get('state'), null);
  });
});

describe('bad token requests: OAuth errors, nothing issued', () => {
  test('wrong verifier, then wrong redirect URI → invalid_grant; the rightful app can still redeem (below the attempt bound)', async () => {
    const app = new NativeApp(h);
    const code = await app.signInForCode();
    const sessionsBefore = await sessions();
    assertOAuthError(await app.redeem(code, { code_verifier: 'A'.repeat(43) }), 400, 'invalid_grant');
    assertOAuthError(await app.redeem(code, { redirect_uri: NATIVE_REDIRECT_URIS[1] }), 400, 'invalid_grant');
    assert.equal(await sessions(), sessionsBefore);
    assert.equal((await app.redeem(code)).status, 200);
  });

  test('a replayed handoff code → invalid_grant, and the session it produced is revoked (RFC 6749 §4.1.2)', async () => {
    const app = new NativeApp(h);
    const code = await app.signInForCode();
    const tokens = (await app.redeem(code)).json();
    assertOAuthError(await app.redeem(code), 400, 'invalid_grant');
    assert.equal((await app.bearer('me', tokens.refresh_token)).status, 401);
    assert.ok(h.logs.some((line) => line.includes('event replay_detected') && line.includes('handoff_code')));
  });

  test('an expired handoff code → invalid_grant, no session', async () => {
    const app = new NativeApp(h);
    const code = await app.signInForCode();
    const sessionsBefore = await sessions();
    h.clockOffsetMs += HANDOFF_TTL_MS + 1000;
    try {
      assertOAuthError(await app.redeem(code), 400, 'invalid_grant');
    } finally {
      h.clockOffsetMs -= HANDOFF_TTL_MS + 1000;
    }
    assertOAuthError(await app.redeem(code), 400, 'invalid_grant');
    assert.equal(await sessions(), sessionsBefore);
  });

  const malformed: [string, Record<string, string | undefined>, number, string][] = [
    ['unknown grant type', { grant_type: 'password', username: 'u', password: 'p' }, 400, 'unsupported_grant_type'],
    ['client_credentials', { grant_type: 'client_credentials' }, 400, 'unsupported_grant_type'],
    ['no grant type', { code: 'x' }, 400, 'invalid_request'],
    ['authorization_code without code', { grant_type: 'authorization_code', code_verifier: 'A'.repeat(43), redirect_uri: NATIVE_REDIRECT_URIS[0] }, 400, 'invalid_request'],
    ['authorization_code without verifier', { grant_type: 'authorization_code', code: `${'0'.repeat(10)}.${'A'.repeat(43)}`, redirect_uri: NATIVE_REDIRECT_URIS[0] }, 400, 'invalid_request'],
    ['authorization_code without redirect_uri', { grant_type: 'authorization_code', code: `${'0'.repeat(10)}.${'A'.repeat(43)}`, code_verifier: 'A'.repeat(43) }, 400, 'invalid_request'],
    ['malformed code', { grant_type: 'authorization_code', code: "' or 1 eq 1", code_verifier: 'A'.repeat(43), redirect_uri: NATIVE_REDIRECT_URIS[0] }, 400, 'invalid_grant'],
    ['unknown code', { grant_type: 'authorization_code', code: `${'0'.repeat(10)}.${'A'.repeat(43)}`, code_verifier: 'A'.repeat(43), redirect_uri: NATIVE_REDIRECT_URIS[0] }, 400, 'invalid_grant'],
    ['refresh_token missing', { grant_type: 'refresh_token' }, 400, 'invalid_request'],
    ['unknown refresh token', { grant_type: 'refresh_token', refresh_token: `${'0'.repeat(10)}.${'A'.repeat(22)}.${'A'.repeat(43)}` }, 400, 'invalid_grant'],
    ['malformed refresh token', { grant_type: 'refresh_token', refresh_token: 'not-a-token' }, 400, 'invalid_grant'],
  ];
  for (const [name, params, status, error] of malformed) {
    test(`${name} → ${status} ${error}`, async () => {
      const app = new NativeApp(h);
      const [statesBefore, sessionsBefore] = [await states(), await sessions()];
      assertOAuthError(await app.token(params), status, error);
      assert.deepEqual([await states(), await sessions()], [statesBefore, sessionsBefore]);
    });
  }

  test('a repeated parameter → invalid_request (RFC 6749 §3.2)', async () => {
    const response = await h.call('token', {
      method: 'POST',
      url: '/auth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=refresh_token&refresh_token=a&refresh_token=b',
    });
    assertOAuthError(response, 400, 'invalid_request');
  });

  test('JSON body → 415 invalid_request; GET → 405 with Allow; empty body → invalid_request', async () => {
    const json = await h.call('token', { method: 'POST', url: '/auth/token', headers: { 'content-type': 'application/json' }, body: '{"grant_type":"refresh_token"}' });
    assertOAuthError(json, 415, 'invalid_request');
    const get = await h.call('token', { url: '/auth/token?grant_type=refresh_token' });
    assertOAuthError(get, 405, 'invalid_request');
    assert.equal(get.headers.allow, 'POST');
    const empty = await h.call('token', { method: 'POST', url: '/auth/token' });
    assertOAuthError(empty, 400, 'invalid_request');
  });

  test('a scope outside the allowed list on refresh → invalid_scope, token not rotated', async () => {
    const app = new NativeApp(h);
    const tokens = await app.signInForTokens();
    assertOAuthError(await app.refresh(tokens.refresh_token, 'Mail.Send'), 400, 'invalid_scope');
    assert.equal((await app.refresh(tokens.refresh_token)).status, 200, 'the token was not burnt');
  });
});

describe('refresh token rotation', () => {
  test('reuse inside the grace window returns the same successor; after it, reuse revokes the session', async () => {
    const app = new NativeApp(h);
    const first = (await app.signInForTokens()).refresh_token;
    const second = (await app.refresh(first)).json().refresh_token;
    const retried = await app.refresh(first);
    assert.equal(retried.status, 200);
    assert.equal(retried.json().refresh_token, second, 'a retry inside the grace window gets the same successor');
    assert.equal((await app.bearer('me', first)).status, 200, 'inside the grace window the old token still reads the session');

    h.clockOffsetMs += ROTATION_GRACE_MS + 1000;
    try {
      const sessionsBefore = await sessions();
      assertOAuthError(await app.refresh(first), 400, 'invalid_grant');
      assert.equal(await sessions(), sessionsBefore - 1, 'the whole session is revoked');
      assertOAuthError(await app.refresh(second), 400, 'invalid_grant');
      assert.equal((await app.bearer('me', second)).status, 401);
      assert.ok(h.logs.some((line) => line.includes('event token_reuse_detected')));
    } finally {
      h.clockOffsetMs -= ROTATION_GRACE_MS + 1000;
    }
  });

  test('a token rotated twice ago inside the grace window leads to the current one (a race, not reuse); after it, reuse', async () => {
    const app = new NativeApp(h);
    const first = (await app.signInForTokens()).refresh_token;
    const second = (await app.refresh(first)).json().refresh_token;
    const third = (await app.refresh(second)).json().refresh_token;
    const late = await app.refresh(first);
    assert.equal(late.status, 200, late.body);
    assert.equal(late.json().refresh_token, third, 'handed over to the current token, no rotation');
    assert.equal((await app.bearer('me', third)).status, 200, 'not revoked');
    h.clockOffsetMs += ROTATION_GRACE_MS + 1000;
    try {
      assertOAuthError(await app.refresh(first), 400, 'invalid_grant');
      assert.equal((await app.bearer('me', third)).status, 401, 'revoked');
    } finally {
      h.clockOffsetMs -= ROTATION_GRACE_MS + 1000;
    }
  });

  test('ten concurrent refreshes with the same token: one rotation wins, all get its successor, no 500', async () => {
    const app = new NativeApp(h);
    const first = (await app.signInForTokens()).refresh_token;
    const responses = await Promise.all(Array.from({ length: 10 }, () => app.refresh(first)));
    for (const response of responses) assert.equal(response.status, 200, response.body);
    const successors = new Set(responses.map((r) => r.json().refresh_token));
    assert.equal(successors.size, 1, 'one rotation won');
    const [successor] = successors;
    assert.notEqual(successor, first);
    assert.equal((await app.bearer('me', successor!)).status, 200);
  });

  test('an expired access token is refreshed from the Entra refresh token kept server-side', async () => {
    h.standIn.setAccessTokenLifetime(60); // inside MSAL's 5-minute refresh margin: treated as expired at once
    try {
      const app = new NativeApp(h);
      const tokens = await app.signInForTokens();
      const refreshesBefore = h.standIn.counters.refreshRedemptions;
      const rotated = await app.refresh(tokens.refresh_token);
      assert.equal(rotated.status, 200);
      assert.ok(rotated.json().access_token !== tokens.access_token, 'a new access token');
      assert.equal(h.standIn.counters.refreshRedemptions, refreshesBefore + 1);
    } finally {
      h.standIn.setAccessTokenLifetime(3600);
    }
  });
});

describe('sessions are not interchangeable', () => {
  test('a web session cookie is not a Bearer token; a native token is not a cookie; a malformed Authorization is 401', async () => {
    const browser = h.newBrowser();
    await browser.signIn();
    const cookie = browser.jar.get(SESSION_COOKIE)!;
    const app = new NativeApp(h);
    assert.equal((await app.bearer('me', cookie)).status, 401);
    assert.equal((await h.call('me', { url: '/auth/me', headers: { cookie: `${SESSION_COOKIE}=${cookie}` } })).status, 200, 'the web session itself is intact');

    const tokens = await app.signInForTokens();
    assert.equal((await h.call('me', { url: '/auth/me', headers: { cookie: `${SESSION_COOKIE}=${tokens.refresh_token}` } })).status, 401);
    assertOAuthError(await app.refresh(cookie), 400, 'invalid_grant');
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', `Bearer ${tokens.refresh_token} extra`]) {
      const response = await h.call('me', { url: '/auth/me', headers: { authorization } });
      assert.equal(response.status, 401, authorization.slice(0, 6));
    }
  });
});

describe('logs', () => {
  test('no code, state, verifier, token or secret reached a log', () => {
    assert.deepEqual(h.leakedSecrets(), []);
  });
});
