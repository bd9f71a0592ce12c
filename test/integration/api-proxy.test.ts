/**
 * The token-free API proxy (`/auth/api/{name}/{*path}`) end to end: real handlers, real Azurite, the Entra
 * stand-in issuing real access tokens for two resources, and a loopback upstream that records what it received
 * and checks the token as a resource server would.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { FORWARDED_REQUEST_HEADERS } from '../../shared/core/api-proxy';
import { startApiUpstream, type ApiUpstream, type ReceivedRequest } from '../_support/api-upstream';
import { Harness, type TestBrowser } from '../_support/harness';
import { NativeApp } from '../_support/native-app';

const ORDERS_RESOURCE = 'api://orders-api';
const ORDERS_SCOPE = `${ORDERS_RESOURCE}/Orders.Read`;

/**
 * What a request may carry when it reaches the upstream: the allow-list, the token, and what Node's fetch adds
 * on its own for any client (Host, Connection, Content-Length, Accept-Encoding, Sec-Fetch-Mode, a User-Agent).
 */
const CLIENT_STACK_HEADERS = [
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'accept-encoding',
  'sec-fetch-mode',
  'user-agent',
  'authorization',
];
const ALLOWED_AT_UPSTREAM = new Set<string>([...FORWARDED_REQUEST_HEADERS, ...CLIENT_STACK_HEADERS]);

let h: Harness;
let upstream: ApiUpstream;
let browser: TestBrowser;

beforeAll(async () => {
  // The upstream checks tokens against the stand-in the harness starts next (requests come only after that).
  upstream = await startApiUpstream({ verify: (token) => h.standIn.verifyAccessToken(token) });
  h = await Harness.start({
    env: { AUTH_APIS: `orders=${upstream.origin}/base ${ORDERS_SCOPE}; graph=${upstream.origin}/graph User.Read` },
    // A short deadline so the slow and stalled answers end in this test's time; the default is 30 s.
    overrides: { apiTimeoutMs: 4000, providerTimeoutMs: 3000 },
  });
  browser = h.newBrowser();
  expect((await browser.signIn()).status).toBe(302);
});

afterAll(async () => {
  await h?.stop();
  await upstream?.stop();
});

function lastReceived(): ReceivedRequest {
  const last = upstream.received.at(-1);
  if (!last) throw new Error('the upstream received nothing');
  return last;
}

/** A cookie call from the page: X-CSRF and whatever else is given. */
function fromPage(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return browser.call('api', {
    url,
    method: init.method,
    body: init.body,
    headers: { 'x-csrf': '1', ...init.headers },
  });
}

describe('what reaches the upstream', () => {
  test('the path below the base, the query as sent, the access token for the API, and no cookie', async () => {
    const response = await fromPage('/auth/api/orders/items/42?expand=lines&q=a%20b', {
      headers: {
        accept: 'application/json',
        'accept-language': 'de-CH',
        'x-request-id': 'r-1',
        'x-forwarded-for': '203.0.113.9',
        'x-forwarded-host': 'evil.example',
        forwarded: 'for=203.0.113.9',
        origin: 'https://app.contoso.example',
        referer: 'https://app.contoso.example/page',
        'x-ms-client-principal-id': '00000000-0000-4000-8000-00000000beef',
        'x-auth-request-user': 'forged',
        'proxy-authorization': 'Basic eDp5',
        'x-custom': 'not on the list',
      },
    });
    expect(response.status).toBe(200);
    const got = lastReceived();
    expect(got.method).toBe('GET');
    expect(got.target).toBe('/base/items/42?expand=lines&q=a%20b');
    expect(got.headers.cookie).toBeUndefined();
    expect(got.headers['x-csrf']).toBeUndefined();
    expect(Object.keys(got.headers).filter((name) => !ALLOWED_AT_UPSTREAM.has(name))).toStrictEqual([]);
    expect(got.headers.accept).toBe('application/json');
    expect(got.headers['accept-language']).toBe('de-CH');
    expect(got.headers['x-request-id']).toBe('r-1');

    // The resource server's view: a valid token for this API and this user, not a token for another resource.
    expect(got.tokenError).toBeUndefined();
    expect(got.tokenClaims?.aud).toBe(ORDERS_RESOURCE);
    expect(got.tokenClaims?.scp).toBe('Orders.Read');
    expect(got.tokenClaims?.oid).toBe(h.standIn.users[0]!.oid);
  });

  test('another API gets a token for its own resource from the same session', async () => {
    expect((await fromPage('/auth/api/graph/me')).status).toBe(200);
    expect(lastReceived().target).toBe('/graph/me');
    expect(lastReceived().tokenClaims?.aud).toBe('00000003-0000-0000-c000-000000000000');
  });

  test('a second call reuses the cached access token: no provider call', async () => {
    await fromPage('/auth/api/orders/a');
    const first = lastReceived().headers.authorization;
    const redemptions = h.standIn.counters.refreshRedemptions;
    await fromPage('/auth/api/orders/b');
    expect(lastReceived().headers.authorization).toBe(first);
    expect(h.standIn.counters.refreshRedemptions).toBe(redemptions);
  });

  test('concurrent calls of one session for a new API share one token request (single flight)', async () => {
    const other = h.newBrowser();
    expect((await other.signIn()).status).toBe(302);
    const redemptions = h.standIn.counters.refreshRedemptions;
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => other.call('api', { url: '/auth/api/orders/x', headers: { 'x-csrf': '1' } })),
    );
    expect(answers.map((a) => a.status)).toStrictEqual([200, 200, 200, 200, 200]);
    expect(h.standIn.counters.refreshRedemptions - redemptions).toBe(1);
  });

  test('a header the client names in Connection is dropped even when allow-listed', async () => {
    await fromPage('/auth/api/orders/x', { headers: { 'accept-language': 'fr', connection: 'accept-language' } });
    expect(lastReceived().headers['accept-language']).not.toBe('fr');
  });

  test.each(['POST', 'PUT', 'PATCH', 'DELETE'])(
    '%s: the body arrives byte for byte with its content type',
    async (method) => {
      const body = JSON.stringify({ order: 7, note: 'Grüße \u2603', method });
      const response = await fromPage('/auth/api/orders/items', {
        method,
        body,
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      expect(response.status).toBe(200);
      const got = lastReceived();
      expect(got.method).toBe(method);
      expect(got.body.toString('utf8')).toBe(body);
      expect(got.headers['content-type']).toBe('application/json; charset=utf-8');
    },
  );

  test('HEAD reaches the upstream as HEAD and answers without a body', async () => {
    const response = await fromPage('/auth/api/orders/status/200', { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(lastReceived().method).toBe('HEAD');
    expect(response.body).toBe('');
  });

  test('a native app calls with its session token as Bearer (no CSRF header needed)', async () => {
    const app = new NativeApp(h);
    const tokens = await app.signInForTokens();
    const response = await h.call('api', {
      url: '/auth/api/orders/native',
      headers: { authorization: `Bearer ${tokens.refresh_token}` },
    });
    expect(response.status).toBe(200);
    const got = lastReceived();
    expect(got.headers.authorization).not.toContain(tokens.refresh_token);
    expect(got.tokenClaims?.aud).toBe(ORDERS_RESOURCE);
  });
});

describe('what comes back', () => {
  test('status, allow-listed headers and body; never the access token, an upstream cookie or its policies', async () => {
    const response = await fromPage('/auth/api/orders/headers');
    expect(response.status).toBe(200);
    expect(response.json()).toStrictEqual({ headers: true });
    expect(response.headers.etag).toBe('"v1"');
    expect(response.headers['x-request-id']).toBe('req-123');
    expect(response.setCookies).toStrictEqual([]);
    for (const name of [
      'set-cookie',
      'access-control-allow-origin',
      'access-control-allow-credentials',
      'server',
      'x-powered-by',
      'strict-transport-security',
      'www-authenticate',
    ]) {
      expect(response.headers[name]).toBeUndefined();
    }
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'; sandbox");
    const token = lastReceived().headers.authorization!.slice('Bearer '.length);
    expect(JSON.stringify(response)).not.toContain(token);
  });

  test('an upstream HTML page is served inert (sandboxed, nosniff): it cannot script this origin', async () => {
    const response = await fromPage('/auth/api/orders/html');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/html');
    expect(response.headers['content-security-policy']).toContain('sandbox');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
  });

  test.each([
    [404, undefined],
    [409, undefined],
    [429, '7'],
    [500, undefined],
    [503, '7'],
  ])('upstream %i passes through with its body (Retry-After %s)', async (status, retryAfter) => {
    const response = await fromPage(`/auth/api/orders/status/${status}`);
    expect(response.status).toBe(status);
    expect(response.json()).toStrictEqual({ upstream: status });
    expect(response.headers['retry-after']).toBe(retryAfter);
  });

  test('a large answer within the bound arrives whole', async () => {
    const response = await fromPage('/auth/api/orders/large?bytes=1000000');
    expect(response.status).toBe(200);
    expect(response.body.length).toBe(1_000_000);
  });

  test.each(['large', 'chunked'])(
    'an answer over 8 MiB (%s) is 502 api_unavailable, not a truncated 200',
    async (kind) => {
      const response = await fromPage(`/auth/api/orders/${kind}?bytes=${8 * 1024 * 1024 + 1}`);
      expect(response.status).toBe(502);
      expect(response.json().code).toBe('api_unavailable');
    },
  );

  test('redirects are not followed; a Location below the base comes back through the proxy, any other is dropped', async () => {
    const inside = await fromPage('/auth/api/orders/redirect?to=%2Fbase%2Fnext%3Fp%3D2');
    expect(inside.status).toBe(302);
    expect(inside.headers.location).toBe('/auth/api/orders/next?p=2');
    const outside = await fromPage('/auth/api/orders/redirect?to=https%3A%2F%2Fevil.example%2F');
    expect(outside.status).toBe(302);
    expect(outside.headers.location).toBeUndefined();
    const above = await fromPage('/auth/api/orders/redirect?to=%2Fgraph%2Fme');
    expect(above.headers.location).toBeUndefined();
  });
});

describe('upstream faults', () => {
  test('headers later than the deadline: 504 api_timeout', async () => {
    const response = await fromPage('/auth/api/orders/slow?ms=8000');
    expect(response.status).toBe(504);
    expect(response.json().code).toBe('api_timeout');
  });

  test('a body that stalls after the headers: 504 api_timeout, not a truncated 200', async () => {
    const response = await fromPage('/auth/api/orders/stall');
    expect(response.status).toBe(504);
    expect(response.json().code).toBe('api_timeout');
  });

  test('a connection dropped before any answer: 502 api_unavailable', async () => {
    const response = await fromPage('/auth/api/orders/fail');
    expect(response.status).toBe(502);
    expect(response.json().code).toBe('api_unavailable');
  });

  test('nothing listening at the base URL: 502 api_unavailable', async () => {
    const closed = await startApiUpstream();
    await closed.stop();
    const other = await Harness.start({
      azurite: h.azurite,
      env: { AUTH_APIS: `gone=${closed.origin}/ ${ORDERS_SCOPE}` },
    });
    try {
      const b = other.newBrowser();
      expect((await b.signIn()).status).toBe(302);
      const response = await b.call('api', { url: '/auth/api/gone/x', headers: { 'x-csrf': '1' } });
      expect(response.status).toBe(502);
      expect(response.json().code).toBe('api_unavailable');
    } finally {
      await other.stop();
    }
  });
});

describe('challenges and sessions', () => {
  test('an upstream claims challenge is 401 interaction_required with the claims and a loginUrl; the session is kept', async () => {
    const response = await fromPage('/auth/api/orders/challenge');
    expect(response.status).toBe(401);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = response.json();
    expect(problem.code).toBe('interaction_required');
    expect(problem.claims).toBe(upstream.challengeClaims);
    const loginUrl = new URL(problem.loginUrl);
    expect(loginUrl.href.startsWith('https://auth.contoso.example/auth/login?')).toBe(true);
    expect(loginUrl.searchParams.get('claims')).toBe(upstream.challengeClaims);
    expect((await browser.call('me', { url: '/auth/me' })).status).toBe(200);
  });

  test('a 401 without a usable claims challenge passes through (its challenge header does not)', async () => {
    for (const path of ['unauthorized', 'bad-challenge']) {
      const response = await fromPage(`/auth/api/orders/${path}`);
      expect(response.status).toBe(401);
      expect(response.headers['content-type']).toBe('application/json');
      expect(response.headers['www-authenticate']).toBeUndefined();
    }
  });

  test('no session: 401 session_required and the upstream is not called', async () => {
    const before = upstream.received.length;
    const response = await h.call('api', { url: '/auth/api/orders/x', headers: { 'x-csrf': '1' } });
    expect(response.status).toBe(401);
    expect(response.json().code).toBe('session_required');
    expect(upstream.received.length).toBe(before);
  });

  test('a session whose refresh token the provider revoked: 401 session_revoked, the session ends, the upstream is not called', async () => {
    const revoked = h.newBrowser();
    expect((await revoked.signIn()).status).toBe(302);
    h.standIn.revokeRefreshTokens({ username: h.standIn.users[0]!.username });
    const before = upstream.received.length;
    // A resource this session has no cached token for: only the (revoked) refresh token could get one.
    const response = await revoked.call('api', { url: '/auth/api/orders/x', headers: { 'x-csrf': '1' } });
    expect(response.status).toBe(401);
    expect(response.json().code).toBe('session_revoked');
    expect(upstream.received.length).toBe(before);
    expect((await revoked.call('me', { url: '/auth/me' })).status).toBe(401);
  });

  test('the identity provider down while a token is needed: 502, the upstream is not called', async () => {
    const fresh = h.newBrowser();
    expect((await fresh.signIn()).status).toBe(302);
    h.standIn.injectFault(
      'token',
      { status: 503, body: '{"error":"temporarily_unavailable"}', contentType: 'application/json' },
      5,
    );
    const before = upstream.received.length;
    try {
      const response = await fresh.call('api', { url: '/auth/api/orders/x', headers: { 'x-csrf': '1' } });
      expect(response.status).toBe(502);
      expect(response.json().code).toBe('upstream_unavailable');
      expect(upstream.received.length).toBe(before);
    } finally {
      h.standIn.clearFaults();
    }
  });

  test('nothing the run saw (codes, state, cookies, tokens) reached a log', () => {
    for (const r of upstream.received) {
      const token = r.headers.authorization?.slice('Bearer '.length);
      if (token) h.seenSecrets.add(token);
    }
    expect(h.logs.length).toBeGreaterThan(0);
    expect(h.leakedSecrets()).toStrictEqual([]);
  });
});
