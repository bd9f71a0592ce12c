/**
 * The native app flow (RFC 8252) end to end through the real handlers, Azurite and the Entra stand-in: a
 * simulated app with its own PKCE signs in through the browser, catches the redirect with a handoff code,
 * redeems it at /auth/token, uses its session token as Bearer, and rotates it; and the bad inputs around it.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { SESSION_COOKIE } from '../../shared/core/session';
import { HANDOFF_TTL_MS } from '../../shared/core/native';
import { ROTATION_GRACE_MS } from '../../shared/core/session';
import { Harness, NATIVE_REDIRECT_URIS, PUBLIC_ORIGIN, type Response } from '../_support/harness';
import { NativeApp } from '../_support/native-app';
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

const states = async () => (await tableRows(azurite.connectionString, 'AuthState')).length;
const sessions = async () => (await tableRows(azurite.connectionString, 'AuthSessions')).length;

function assertOAuthError(response: Response, status: number, error: string): void {
  expect(response.status).toBe(status);
  expect(response.json().error).toBe(error);
  expect(typeof response.json().error_description).toBe('string');
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.headers.pragma).toBe('no-cache');
  expect(response.headers['content-type'] ?? '').toMatch(/^application\/json/);
}

describe('discovery', () => {
  test('/.well-known/oauth-authorization-server describes the endpoints (RFC 8414)', async () => {
    const response = await h.call('metadata', { url: '/.well-known/oauth-authorization-server' });
    expect(response.status).toBe(200);
    expect(response.headers['cache-control'] ?? '').toMatch(/max-age=3600/);
    const metadata = response.json();
    expect({
      issuer: metadata.issuer,
      authorization_endpoint: metadata.authorization_endpoint,
      token_endpoint: metadata.token_endpoint,
      grant_types_supported: metadata.grant_types_supported,
      code_challenge_methods_supported: metadata.code_challenge_methods_supported,
      token_endpoint_auth_methods_supported: metadata.token_endpoint_auth_methods_supported,
      authorization_response_iss_parameter_supported: metadata.authorization_response_iss_parameter_supported,
    }).toStrictEqual({
      issuer: PUBLIC_ORIGIN,
      authorization_endpoint: `${PUBLIC_ORIGIN}/auth/login`,
      token_endpoint: `${PUBLIC_ORIGIN}/auth/token`,
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none'],
      authorization_response_iss_parameter_supported: true,
    });
  });
});

describe('the native flow', () => {
  test('sign in through the browser, handoff code to the app, redeem, Bearer calls, rotate', async () => {
    const app = new NativeApp(h);
    const callback = await app.signIn();
    expect(callback.status).toBe(302);
    expect(!callback.setCookies.some((c) => c.name === SESSION_COOKIE && c.maxAge !== 0)).toBeTruthy();
    const redirect = app.captureRedirect(callback);
    expect(`${redirect.protocol}${redirect.pathname}`).toBe('com.contoso.app:/oauth2redirect');
    expect(redirect.searchParams.get('state')).toBe(app.state);
    expect(redirect.searchParams.get('iss')).toBe(PUBLIC_ORIGIN);
    const code = redirect.searchParams.get('code') ?? '';
    expect(code).toMatch(/^[a-p]-\d{10}\.[A-Za-z0-9_-]{43}$/);
    expect(!/eyJ/.test(redirect.href)).toBeTruthy();
    const sessionsBefore = await sessions();

    const redeemed = await app.redeem(code);
    expect(redeemed.status).toBe(200);
    expect(redeemed.headers['cache-control']).toBe('no-store');
    const tokens = redeemed.json();
    expect(tokens.token_type).toBe('Bearer');
    expect(tokens.expires_in > 0).toBeTruthy();
    expect(tokens.scope.split(' ').includes('User.Read')).toBeTruthy();
    expect((await h.standIn.verifyAccessToken(tokens.access_token)).oid !== undefined).toBe(true);
    expect(tokens.refresh_token).toMatch(/^[a-p]-\d{10}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(await sessions()).toBe(sessionsBefore + 1);
    expect(
      !JSON.stringify(await tableRows(azurite.connectionString, 'AuthSessions')).includes(
        tokens.refresh_token.split('.')[2],
      ),
    ).toBeTruthy();

    const me = await app.bearer('me', tokens.refresh_token);
    expect(me.status).toBe(200);
    expect(me.json().user.username).toBe(h.standIn.users[0]!.username);
    const access = await app.bearer('refresh', tokens.refresh_token);
    expect(access.status).toBe(200);
    expect(access.json().refresh_token).toBe(undefined);

    const rotated = await app.refresh(tokens.refresh_token);
    expect(rotated.status).toBe(200);
    const next = rotated.json();
    expect(next.refresh_token).not.toBe(tokens.refresh_token);
    expect(next.refresh_token.split('.').slice(0, 2).join('.')).toBe(
      tokens.refresh_token.split('.').slice(0, 2).join('.'),
    );
    expect((await app.bearer('me', next.refresh_token)).status).toBe(200);
    expect(await sessions()).toBe(sessionsBefore + 1);

    const logout = await app.bearer('logout', next.refresh_token);
    expect(logout.status).toBe(200);
    expect(logout.json().logoutUrl).toBeTruthy();
    expect(await sessions()).toBe(sessionsBefore);
    expect((await app.bearer('me', next.refresh_token)).status).toBe(401);
  });

  test('a loopback redirect URI matches with any port (RFC 8252 §7.3); the code is bound to that exact URI', async () => {
    const app = new NativeApp(h, 'http://127.0.0.1:51234/callback');
    const code = await app.signInForCode();
    assertOAuthError(await app.redeem(code, { redirect_uri: 'http://127.0.0.1:51235/callback' }), 400, 'invalid_grant');
    expect((await app.redeem(code)).status).toBe(200);
  });

  test('a claimed https link works; the app keeps its own query on the redirect URI', async () => {
    const app = new NativeApp(h, NATIVE_REDIRECT_URIS[1]);
    const redirect = app.captureRedirect(await app.signIn());
    expect(`${redirect.origin}${redirect.pathname}`).toBe(NATIVE_REDIRECT_URIS[1]);
    expect((await app.redeem(redirect.searchParams.get('code')!)).status).toBe(200);
  });

  test('the user cancels at the provider: the app gets error=access_denied with its state, nothing stored', async () => {
    const app = new NativeApp(h);
    const [statesBefore, sessionsBefore] = [await states(), await sessions()];
    const redirect = app.captureRedirect(await app.signIn({ cancel: true }));
    expect(redirect.searchParams.get('error')).toBe('access_denied');
    expect(redirect.searchParams.get('state')).toBe(app.state);
    expect(redirect.searchParams.get('code')).toBe(null);
    expect([await states(), await sessions()]).toStrictEqual([statesBefore, sessionsBefore]);
  });
});

describe("failures after the app's redirect URI matched go back to the app", () => {
  test('Entra unreachable (502) → error=server_error; hanging (504) → temporarily_unavailable; no code, no session', async () => {
    for (const [fault, error] of [
      [{ destroySocket: true }, 'server_error'],
      [{ hang: true }, 'temporarily_unavailable'],
    ] as const) {
      const app = new NativeApp(h);
      const { authorizeUrl } = await app.browser.startSignIn(app.authorizeQuery());
      const callbackUrl = await app.browser.signInAtProvider(authorizeUrl);
      const sessionsBefore = await sessions();
      h.standIn.injectFault('token', fault);
      try {
        const redirect = app.captureRedirect(await app.browser.callback(callbackUrl));
        expect(`${redirect.protocol}${redirect.pathname}`).toBe('com.contoso.app:/oauth2redirect');
        expect(redirect.searchParams.get('error')).toBe(error);
        expect(redirect.searchParams.get('state')).toBe(app.state);
        expect(redirect.searchParams.get('code')).toBe(null);
        expect(await sessions()).toBe(sessionsBefore);
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
    expect(response.status).toBe(400);
    expect(response.headers.location).toBe(undefined);
    expect(response.body).toMatch(/state_mismatch/);
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
      expect(response.status).toBe(400);
      expect(response.headers.location).toBe(undefined);
      expect(response.body).toMatch(/invalid_redirect_uri/);
      expect(response.setCookies.length).toBe(0);
      expect(await states()).toBe(before);
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
      expect(response.status).toBe(302);
      const redirect = new URL(response.headers.location!);
      expect(`${redirect.protocol}${redirect.pathname}`).toBe('com.contoso.app:/oauth2redirect');
      expect(redirect.searchParams.get('error')).toBe('invalid_request');
      expect(redirect.searchParams.get('state')).toBe(app.state);
      expect(redirect.searchParams.get('code')).toBe(null);
      expect(response.setCookies.length).toBe(0);
      expect(await states()).toBe(before);
    });
  }

  test('a state with control characters is not echoed', async () => {
    const app = new NativeApp(h);
    const response = await app.browser.call('login', { url: `/auth/login?${app.authorizeQuery({ state: 'a\r\nb' })}` });
    const redirect = new URL(response.headers.location!);
    expect(redirect.searchParams.get('error')).toBe('invalid_request');
    expect(redirect.searchParams.get('state')).toBe(null);
  });
});

describe('bad token requests: OAuth errors, nothing issued', () => {
  test('wrong verifier, then wrong redirect URI → invalid_grant; the rightful app can still redeem (below the attempt bound)', async () => {
    const app = new NativeApp(h);
    const code = await app.signInForCode();
    const sessionsBefore = await sessions();
    assertOAuthError(await app.redeem(code, { code_verifier: 'A'.repeat(43) }), 400, 'invalid_grant');
    assertOAuthError(await app.redeem(code, { redirect_uri: NATIVE_REDIRECT_URIS[1] }), 400, 'invalid_grant');
    expect(await sessions()).toBe(sessionsBefore);
    expect((await app.redeem(code)).status).toBe(200);
  });

  test('a replayed handoff code → invalid_grant, and the session it produced is revoked (RFC 6749 §4.1.2)', async () => {
    const app = new NativeApp(h);
    const code = await app.signInForCode();
    const tokens = (await app.redeem(code)).json();
    assertOAuthError(await app.redeem(code), 400, 'invalid_grant');
    expect((await app.bearer('me', tokens.refresh_token)).status).toBe(401);
    expect(h.logs.some((line) => line.includes('event replay_detected') && line.includes('handoff_code'))).toBeTruthy();
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
    expect(await sessions()).toBe(sessionsBefore);
  });

  const malformed: [string, Record<string, string | undefined>, number, string][] = [
    ['unknown grant type', { grant_type: 'password', username: 'u', password: 'p' }, 400, 'unsupported_grant_type'],
    ['client_credentials', { grant_type: 'client_credentials' }, 400, 'unsupported_grant_type'],
    ['no grant type', { code: 'x' }, 400, 'invalid_request'],
    [
      'authorization_code without code',
      { grant_type: 'authorization_code', code_verifier: 'A'.repeat(43), redirect_uri: NATIVE_REDIRECT_URIS[0] },
      400,
      'invalid_request',
    ],
    [
      'authorization_code without verifier',
      {
        grant_type: 'authorization_code',
        code: `${'0'.repeat(10)}.${'A'.repeat(43)}`,
        redirect_uri: NATIVE_REDIRECT_URIS[0],
      },
      400,
      'invalid_request',
    ],
    [
      'authorization_code without redirect_uri',
      { grant_type: 'authorization_code', code: `${'0'.repeat(10)}.${'A'.repeat(43)}`, code_verifier: 'A'.repeat(43) },
      400,
      'invalid_request',
    ],
    [
      'malformed code',
      {
        grant_type: 'authorization_code',
        code: "' or 1 eq 1",
        code_verifier: 'A'.repeat(43),
        redirect_uri: NATIVE_REDIRECT_URIS[0],
      },
      400,
      'invalid_grant',
    ],
    [
      'unknown code',
      {
        grant_type: 'authorization_code',
        code: `${'0'.repeat(10)}.${'A'.repeat(43)}`,
        code_verifier: 'A'.repeat(43),
        redirect_uri: NATIVE_REDIRECT_URIS[0],
      },
      400,
      'invalid_grant',
    ],
    ['refresh_token missing', { grant_type: 'refresh_token' }, 400, 'invalid_request'],
    [
      'unknown refresh token',
      { grant_type: 'refresh_token', refresh_token: `${'0'.repeat(10)}.${'A'.repeat(22)}.${'A'.repeat(43)}` },
      400,
      'invalid_grant',
    ],
    ['malformed refresh token', { grant_type: 'refresh_token', refresh_token: 'not-a-token' }, 400, 'invalid_grant'],
  ];
  for (const [name, params, status, error] of malformed) {
    test(`${name} → ${status} ${error}`, async () => {
      const app = new NativeApp(h);
      const [statesBefore, sessionsBefore] = [await states(), await sessions()];
      assertOAuthError(await app.token(params), status, error);
      expect([await states(), await sessions()]).toStrictEqual([statesBefore, sessionsBefore]);
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
    const json = await h.call('token', {
      method: 'POST',
      url: '/auth/token',
      headers: { 'content-type': 'application/json' },
      body: '{"grant_type":"refresh_token"}',
    });
    assertOAuthError(json, 415, 'invalid_request');
    const get = await h.call('token', { url: '/auth/token?grant_type=refresh_token' });
    assertOAuthError(get, 405, 'invalid_request');
    expect(get.headers.allow).toBe('POST');
    const empty = await h.call('token', { method: 'POST', url: '/auth/token' });
    assertOAuthError(empty, 400, 'invalid_request');
  });

  test('a scope outside the allowed list on refresh → invalid_scope, token not rotated', async () => {
    const app = new NativeApp(h);
    const tokens = await app.signInForTokens();
    assertOAuthError(await app.refresh(tokens.refresh_token, 'Mail.Send'), 400, 'invalid_scope');
    expect((await app.refresh(tokens.refresh_token)).status).toBe(200);
  });
});

describe('refresh token rotation', () => {
  test('reuse inside the grace window returns the same successor; after it, reuse revokes the session', async () => {
    const app = new NativeApp(h);
    const first = (await app.signInForTokens()).refresh_token;
    const second = (await app.refresh(first)).json().refresh_token;
    const retried = await app.refresh(first);
    expect(retried.status).toBe(200);
    expect(retried.json().refresh_token).toBe(second);
    expect((await app.bearer('me', first)).status).toBe(200);

    h.clockOffsetMs += ROTATION_GRACE_MS + 1000;
    try {
      const sessionsBefore = await sessions();
      assertOAuthError(await app.refresh(first), 400, 'invalid_grant');
      expect(await sessions()).toBe(sessionsBefore - 1);
      assertOAuthError(await app.refresh(second), 400, 'invalid_grant');
      expect((await app.bearer('me', second)).status).toBe(401);
      expect(h.logs.some((line) => line.includes('event token_reuse_detected'))).toBeTruthy();
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
    expect(late.status).toBe(200);
    expect(late.json().refresh_token).toBe(third);
    expect((await app.bearer('me', third)).status).toBe(200);
    h.clockOffsetMs += ROTATION_GRACE_MS + 1000;
    try {
      assertOAuthError(await app.refresh(first), 400, 'invalid_grant');
      expect((await app.bearer('me', third)).status).toBe(401);
    } finally {
      h.clockOffsetMs -= ROTATION_GRACE_MS + 1000;
    }
  });

  test('ten concurrent refreshes with the same token: one rotation wins, all get its successor, no 500', async () => {
    const app = new NativeApp(h);
    const first = (await app.signInForTokens()).refresh_token;
    const responses = await Promise.all(Array.from({ length: 10 }, () => app.refresh(first)));
    for (const response of responses) expect(response.status).toBe(200);
    const successors = new Set(responses.map((r) => r.json().refresh_token));
    expect(successors.size).toBe(1);
    const [successor] = successors;
    expect(successor).not.toBe(first);
    expect((await app.bearer('me', successor!)).status).toBe(200);
  });

  test('an expired access token is refreshed from the Entra refresh token kept server-side', async () => {
    h.standIn.setAccessTokenLifetime(60); // inside MSAL's 5-minute refresh margin: treated as expired at once
    try {
      const app = new NativeApp(h);
      const tokens = await app.signInForTokens();
      const refreshesBefore = h.standIn.counters.refreshRedemptions;
      const rotated = await app.refresh(tokens.refresh_token);
      expect(rotated.status).toBe(200);
      expect(rotated.json().access_token !== tokens.access_token).toBeTruthy();
      expect(h.standIn.counters.refreshRedemptions).toBe(refreshesBefore + 1);
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
    expect((await app.bearer('me', cookie)).status).toBe(401);
    expect((await h.call('me', { url: '/auth/me', headers: { cookie: `${SESSION_COOKIE}=${cookie}` } })).status).toBe(
      200,
    );

    const tokens = await app.signInForTokens();
    expect(
      (await h.call('me', { url: '/auth/me', headers: { cookie: `${SESSION_COOKIE}=${tokens.refresh_token}` } }))
        .status,
    ).toBe(401);
    assertOAuthError(await app.refresh(cookie), 400, 'invalid_grant');
    for (const authorization of ['Basic dXNlcjpwYXNz', 'Bearer', `Bearer ${tokens.refresh_token} extra`]) {
      const response = await h.call('me', { url: '/auth/me', headers: { authorization } });
      expect(response.status).toBe(401);
    }
  });
});

describe('logs', () => {
  test('no code, state, verifier, token or secret reached a log', () => {
    expect(h.leakedSecrets()).toStrictEqual([]);
  });
});
