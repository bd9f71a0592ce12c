/**
 * Identity provider faults: the Entra stand-in answering HTML, truncated or cut-short JSON, 429, 5xx, dropping the
 * connection or never answering, at the token endpoint (code redemption and refresh), at discovery and at the JWKS.
 *
 * Every case: the status and stable code (502 `upstream_unavailable` / 504 `upstream_timeout`, never a 500), what
 * the tables hold afterwards, how many times the service posted to the token endpoint (an authorization code is
 * never sent twice; one refresh need is at most one Entra call), and that nothing secret reached the logs.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import type { Fault } from '../../dev/entra-standin';
import {
  assertCleanError,
  assertCodedError,
  faultCases,
  newSessionCookie,
  pendingCallback,
  REFRESH,
  signedIn,
  tableView,
  tokenPosts,
} from '../_support/fault-kit';
import { Harness, type Response } from '../_support/harness';
import { NativeApp } from '../_support/native-app';

/** Deadline for each provider call: bounds the hanging cases, with headroom for a loaded 2-core machine. */
const PROVIDER_TIMEOUT_MS = 3000;

const JSON_TYPE = 'application/json; charset=utf-8';
const HTML_PAGE =
  '<!DOCTYPE html><html><head><title>Service unavailable</title></head><body><h1>Sorry, we are down</h1></body></html>';
/** A well-formed token response, to cut short: the client sees a valid start and then nothing. */
const TOKEN_JSON = JSON.stringify({
  token_type: 'Bearer',
  scope: 'User.Read',
  expires_in: 3600,
  access_token: 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.sig',
});
const ENTRA_429 = JSON.stringify({
  error: 'temporarily_unavailable',
  error_description: 'AADSTS50196: The server terminated an operation because it encountered a client request loop.',
  error_codes: [50196],
});

let azurite: AzuriteInstance;
let h: Harness;
const view = tableView(() => azurite.connectionString);

beforeAll(async () => {
  azurite = await startAzurite();
  h = await Harness.start({ azurite, overrides: { providerTimeoutMs: PROVIDER_TIMEOUT_MS } });
});
afterAll(async () => {
  await h?.stop();
  await azurite?.stop();
});

function assertNoLeaks(harness: Harness): void {
  expect(harness.leakedSecrets()).toStrictEqual([]);
}

interface FaultCase {
  name: string;
  fault: Fault;
  status: number;
  code: string;
  skip?: string;
}

/** The case's exact status and code; with `strict` false (a known gap), any clean coded error. */
function expectError(c: FaultCase, strict: boolean, response: Response, what = c.name): void {
  if (strict) assertCodedError(response, c.status, c.code, what);
  else assertCleanError(response, what);
}

/** Transport and format faults: the same answer whichever call meets them. */
const TRANSPORT_FAULTS: FaultCase[] = [
  {
    name: 'an HTML error page with 503',
    fault: { status: 503, body: HTML_PAGE, contentType: 'text/html' },
    status: 502,
    code: 'upstream_unavailable',
  },
  {
    name: 'an HTML page with 200',
    fault: { status: 200, body: HTML_PAGE, contentType: 'text/html' },
    status: 502,
    code: 'upstream_unavailable',
  },
  {
    name: 'truncated JSON with 200',
    fault: { status: 200, body: TOKEN_JSON.slice(0, 40), contentType: JSON_TYPE },
    status: 502,
    code: 'upstream_unavailable',
  },
  {
    name: 'an empty 200',
    fault: { status: 200, body: '', contentType: JSON_TYPE },
    status: 502,
    code: 'upstream_unavailable',
  },
  {
    name: 'a body cut short (Content-Length not met, connection closed)',
    fault: { status: 200, body: TOKEN_JSON, contentType: JSON_TYPE, truncateAtBytes: 30 },
    status: 502,
    code: 'upstream_unavailable',
  },
  {
    name: 'a body that stops half-way and never finishes',
    fault: { status: 200, body: TOKEN_JSON, contentType: JSON_TYPE, truncateAtBytes: 30, afterTruncate: 'stall' },
    status: 504,
    code: 'upstream_timeout',
  },
  { name: 'the connection dropped', fault: { destroySocket: true }, status: 502, code: 'upstream_unavailable' },
  { name: 'no answer at all', fault: { hang: true }, status: 504, code: 'upstream_timeout' },
];

/** What only a token endpoint says: Entra-shaped (AADSTS) errors. */
const TOKEN_ENDPOINT_FAULTS: FaultCase[] = [
  ...TRANSPORT_FAULTS,
  // Entra's throttling: 503 with its own Retry-After, so callers back off as long as it asks.
  {
    name: '429 with Retry-After',
    fault: { status: 429, body: ENTRA_429, contentType: JSON_TYPE, headers: { 'Retry-After': '30' } },
    status: 503,
    code: 'upstream_throttled',
  },
  {
    name: '429 with an HTML body',
    fault: { status: 429, body: HTML_PAGE, contentType: 'text/html', headers: { 'Retry-After': '30' } },
    status: 503,
    code: 'upstream_throttled',
  },
  {
    name: 'AADSTS server_error with 500',
    fault: { aadsts: 90033, error: 'server_error', status: 500, description: 'A transient error has occurred.' },
    status: 502,
    code: 'upstream_unavailable',
  },
  {
    name: 'AADSTS temporarily_unavailable with 503 and Retry-After',
    fault: { aadsts: 90033, error: 'temporarily_unavailable', status: 503, headers: { 'Retry-After': '10' } },
    status: 502,
    code: 'upstream_unavailable',
  },
];
const NO_TOKEN: Fault = { status: 200, body: '{"token_type":"Bearer"}', contentType: JSON_TYPE };

// ---------------------------------------------------------------------------------------------------------

describe('the stand-in’s cut-short bodies do what they say', () => {
  test('truncateAtBytes announces the whole body, sends a part, then closes (or stalls)', async () => {
    h.standIn.injectFault('discovery', { status: 200, body: TOKEN_JSON, contentType: JSON_TYPE, truncateAtBytes: 30 });
    const response = await fetch(h.standIn.discoveryUrl);
    expect(response.headers.get('content-length')).toBe(String(Buffer.byteLength(TOKEN_JSON)));
    await expect(response.text()).rejects.toThrow();

    h.standIn.injectFault('discovery', {
      status: 200,
      body: TOKEN_JSON,
      contentType: JSON_TYPE,
      truncateAtBytes: 30,
      afterTruncate: 'stall',
    });
    const stalled = await fetch(h.standIn.discoveryUrl, { signal: AbortSignal.timeout(300) });
    await expect(stalled.text()).rejects.toSatisfy(
      (error: Error) => error.name === 'TimeoutError' || error.name === 'AbortError',
    );
  });
});

describe('token endpoint faults at the callback (code redemption) → 502/504, code sent once, state consumed, no session', () => {
  const cases: FaultCase[] = [
    ...TOKEN_ENDPOINT_FAULTS,
    {
      name: 'a JSON 200 without any token',
      fault: NO_TOKEN,
      status: 502,
      code: 'upstream_unavailable',
      skip: 'product gap: a token response with no ID token at all answers id_token_invalid (MSAL nonce check); expected upstream_unavailable',
    },
  ];
  faultCases(cases, async (c, strict) => {
    const { browser, state, callbackUrl } = await pendingCallback(h);
    const codePosts = tokenPosts(h.standIn, 'authorization_code');
    const sessionsBefore = (await view.sessions()).length;
    h.standIn.injectFault('token', c.fault);
    try {
      expectError(c, strict, await browser.callback(callbackUrl));
    } finally {
      h.standIn.clearFaults();
    }
    expect(tokenPosts(h.standIn, 'authorization_code')).toBe(codePosts + 1);
    expect(await view.hasState(state)).toBe(false);
    expect((await view.sessions()).length).toBe(sessionsBefore);

    const replay = await browser.callback(callbackUrl);
    assertCodedError(replay, 400, 'state_unknown', 'the same callback again');
    expect(tokenPosts(h.standIn, 'authorization_code')).toBe(codePosts + 1);
    assertNoLeaks(h);
  });

  test('a token endpoint slower than usual but within the deadline: signed in', async () => {
    const { browser, callbackUrl } = await pendingCallback(h);
    h.standIn.injectFault('token', { delayMs: 300 });
    const response = await browser.callback(callbackUrl);
    expect(response.status).toBe(302);
    expect(newSessionCookie(response)).toBeTruthy();
    assertNoLeaks(h);
  });
});

describe('token endpoint faults at /auth/refresh (refresh grant) → 502/504, one Entra call, the session untouched and still usable', () => {
  beforeAll(() => h.standIn.setAccessTokenLifetime(60)); // inside MSAL's 5-minute margin: every refresh needs Entra
  afterAll(() => h.standIn.setAccessTokenLifetime(3600));

  const cases: FaultCase[] = [
    ...TOKEN_ENDPOINT_FAULTS,
    {
      name: 'a JSON 200 without any token',
      fault: NO_TOKEN,
      status: 502,
      code: 'upstream_unavailable',
    },
    // A revoked refresh token (AADSTS50173) ends the session: test/integration/entra-fidelity.test.ts.
    {
      name: 'AADSTS invalid_client (secret no longer valid)',
      fault: { aadsts: 7000215, error: 'invalid_client', status: 401 },
      status: 503,
      code: 'credential_unavailable',
    },
  ];
  faultCases(cases, async (c, strict) => {
    const { browser, cookie } = await signedIn(h);
    const etag = await view.sessionEtag(cookie);
    const refreshPosts = tokenPosts(h.standIn, 'refresh_token');
    h.standIn.injectFault('token', c.fault);
    try {
      expectError(c, strict, await browser.call('refresh', REFRESH));
    } finally {
      h.standIn.clearFaults();
    }
    expect(tokenPosts(h.standIn, 'refresh_token')).toBe(refreshPosts + 1);
    expect(await view.sessionEtag(cookie)).toBe(etag);

    const retried = await browser.call('refresh', REFRESH);
    expect(retried.status).toBe(200);
    h.seenSecrets.add(retried.json().access_token);
    await h.standIn.verifyAccessToken(retried.json().access_token);
    expect(tokenPosts(h.standIn, 'refresh_token')).toBe(refreshPosts + 2);
    assertNoLeaks(h);
  });
});

describe('token endpoint faults behind POST /auth/token (native apps) → 502/504 as RFC 6749 errors; nothing rotated or burnt, the retry works', () => {
  beforeAll(() => h.standIn.setAccessTokenLifetime(60)); // every access token the app asks for needs Entra
  afterAll(() => h.standIn.setAccessTokenLifetime(3600));

  /** The OAuth error names `/auth/token` answers for our 502 and 504. */
  const cases: FaultCase[] = [
    {
      name: 'an HTML error page with 503',
      fault: { status: 503, body: HTML_PAGE, contentType: 'text/html' },
      status: 502,
      code: 'server_error',
    },
    {
      name: '429 with Retry-After',
      fault: { status: 429, body: ENTRA_429, contentType: JSON_TYPE, headers: { 'Retry-After': '30' } },
      status: 503,
      code: 'temporarily_unavailable',
    },
    { name: 'the connection dropped', fault: { destroySocket: true }, status: 502, code: 'server_error' },
    { name: 'no answer at all', fault: { hang: true }, status: 504, code: 'temporarily_unavailable' },
  ];

  describe('refresh grant: the app keeps its refresh token', () => {
    faultCases(cases, async (c, strict) => {
      const app = new NativeApp(h);
      const tokens = await app.signInForTokens();
      const etag = await view.sessionEtag(tokens.refresh_token);
      expect(etag).toBeTruthy();
      const refreshPosts = tokenPosts(h.standIn, 'refresh_token');
      h.standIn.injectFault('token', c.fault);
      try {
        expectError(c, strict, await app.refresh(tokens.refresh_token));
      } finally {
        h.standIn.clearFaults();
      }
      expect(tokenPosts(h.standIn, 'refresh_token')).toBe(refreshPosts + 1);
      expect(await view.sessionEtag(tokens.refresh_token)).toBe(etag);

      const retried = await app.refresh(tokens.refresh_token);
      expect(retried.status).toBe(200);
      expect(retried.json().refresh_token).not.toBe(tokens.refresh_token);
      await h.standIn.verifyAccessToken(retried.json().access_token);
      assertNoLeaks(h);
    });
  });

  describe('code redemption: the handoff code stays redeemable', () => {
    faultCases(cases, async (c, strict) => {
      const app = new NativeApp(h);
      const code = await app.signInForCode();
      const sessionsBefore = (await view.sessions()).length;
      h.standIn.injectFault('token', c.fault);
      try {
        expectError(c, strict, await app.redeem(code));
      } finally {
        h.standIn.clearFaults();
      }
      expect((await view.sessions()).length).toBe(sessionsBefore);
      const retried = await app.redeem(code);
      expect(retried.status).toBe(200);
      expect(await view.hasSession(retried.json().refresh_token)).toBeTruthy();
      assertNoLeaks(h);
    });
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('discovery faults on a fresh instance: login → 502/504, nothing written, and the failure is not remembered', () => {
  const cases: FaultCase[] = [
    ...TRANSPORT_FAULTS,
    {
      name: '429 with Retry-After',
      fault: { status: 429, body: ENTRA_429, contentType: JSON_TYPE, headers: { 'Retry-After': '30' } },
      status: 502,
      code: 'upstream_unavailable',
    },
    {
      name: 'a JSON document without the endpoints',
      fault: { status: 200, body: '{"issuer":"https://x.example"}', contentType: JSON_TYPE },
      status: 502,
      code: 'upstream_unavailable',
    },
  ];
  faultCases(cases, async (c, strict) => {
    const fresh = await Harness.start({ azurite, overrides: { providerTimeoutMs: PROVIDER_TIMEOUT_MS } });
    try {
      const statesBefore = (await view.states()).length;
      fresh.standIn.injectFault('discovery', c.fault);
      const { response } = await fresh.newBrowser().startSignIn();
      fresh.standIn.clearFaults();
      expectError(c, strict, response);
      expect(response.setCookies.length).toBe(0);
      expect((await view.states()).length).toBe(statesBefore);
      expect((await fresh.newBrowser().startSignIn()).response.status).toBe(302);
      assertNoLeaks(fresh);
    } finally {
      await fresh.stop();
    }
  });

  test('discovery down once the cached copy is a day old: the stale copy keeps sign-in working', async () => {
    expect((await h.newBrowser().startSignIn()).response.status).toBe(302);
    const fetched = h.standIn.counters.discovery;
    h.clockOffsetMs = 25 * 3600_000;
    h.standIn.injectFault('discovery', { status: 503, body: HTML_PAGE }, 10);
    try {
      const { response } = await h.newBrowser().startSignIn();
      expect(response.status).toBe(302);
      expect(h.standIn.counters.discovery > fetched).toBeTruthy();
    } finally {
      h.standIn.clearFaults();
      h.clockOffsetMs = 0;
    }
    assertNoLeaks(h);
  });
});

describe('JWKS faults at the callback on a fresh instance → 502/504 after the code was redeemed; no session; the next sign-in works', () => {
  const cases: FaultCase[] = [
    {
      name: 'an HTML error page with 503',
      fault: { status: 503, body: HTML_PAGE, contentType: 'text/html' },
      status: 502,
      code: 'upstream_unavailable',
    },
    {
      name: 'an HTML page with 200',
      fault: { status: 200, body: HTML_PAGE, contentType: 'text/html' },
      status: 502,
      code: 'upstream_unavailable',
    },
    {
      name: 'truncated JSON with 200',
      fault: { status: 200, body: '{"keys":[{"kty":"RSA","kid', contentType: JSON_TYPE },
      status: 502,
      code: 'upstream_unavailable',
    },
    {
      name: '429 with Retry-After',
      fault: { status: 429, body: ENTRA_429, contentType: JSON_TYPE, headers: { 'Retry-After': '30' } },
      status: 502,
      code: 'upstream_unavailable',
    },
    { name: 'the connection dropped', fault: { destroySocket: true }, status: 502, code: 'upstream_unavailable' },
    { name: 'no answer at all', fault: { hang: true }, status: 504, code: 'upstream_timeout' },
  ];
  faultCases(cases, async (c, strict) => {
    const fresh = await Harness.start({ azurite, overrides: { providerTimeoutMs: PROVIDER_TIMEOUT_MS } });
    try {
      const freshView = tableView(() => azurite.connectionString);
      const { browser, state, callbackUrl } = await pendingCallback(fresh);
      const sessionsBefore = (await freshView.sessions()).length;
      fresh.standIn.injectFault('jwks', c.fault);
      try {
        expectError(c, strict, await browser.callback(callbackUrl));
      } finally {
        fresh.standIn.clearFaults();
      }
      expect(fresh.standIn.counters.codeRedemptions).toBe(1);
      expect(tokenPosts(fresh.standIn, 'authorization_code')).toBe(1);
      expect(await freshView.hasState(state)).toBe(false);
      expect((await freshView.sessions()).length).toBe(sessionsBefore);
      assertCodedError(await browser.callback(callbackUrl), 400, 'state_unknown', 'the same callback again');
      expect(tokenPosts(fresh.standIn, 'authorization_code')).toBe(1);

      const again = await signedIn(fresh);
      expect((await again.browser.call('me', { url: '/auth/me' })).status).toBe(200);
      assertNoLeaks(fresh);
    } finally {
      await fresh.stop();
    }
  });
});

describe('logs', () => {
  test('the shared harness logged no secret over the whole file', () => {
    expect(h.logs.length > 20).toBeTruthy();
    assertNoLeaks(h);
  });
});
