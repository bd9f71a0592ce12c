/**
 * Adversarial rows for `POST /auth/token` (the native apps' OAuth token endpoint). Each row asserts the status,
 * the RFC 6749 §5.2 `error`, `Cache-Control: no-store`, what was stored (a refused request writes nothing; a
 * detected replay or reuse deletes the session), and that nothing secret or attacker-chosen reached a log.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Harness, NATIVE_REDIRECT_URIS, type Response } from '../_support/harness';
import { NativeApp } from '../_support/native-app';
import { FORGED_IDENTITY_HEADERS, LIMITS, rowCounts, signedInBrowser } from './_cases';

let h: Harness;

beforeAll(async () => {
  h = await Harness.start();
});

afterAll(async () => {
  await h?.stop();
});

interface Sent {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

interface Row {
  name: string;
  /** The request; `prepare` may build it from a live sign-in. */
  send?: Sent;
  prepare?: () => Promise<Sent>;
  expect: { status: number; error?: string; allow?: string; sessions?: number; states?: number };
  payloads?: readonly string[];
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const form = (params: Record<string, string>): Sent => ({
  method: 'POST',
  headers: FORM,
  body: new URLSearchParams(params).toString(),
});
const WELL_FORMED_CODE = `${'0'.repeat(10)}.${'A'.repeat(43)}`;
const VERIFIER = 'A'.repeat(43);
const REDIRECT = NATIVE_REDIRECT_URIS[0];
const codeGrant = (overrides: Record<string, string> = {}) =>
  form({
    grant_type: 'authorization_code',
    code: WELL_FORMED_CODE,
    code_verifier: VERIFIER,
    redirect_uri: REDIRECT,
    ...overrides,
  });

/** A live handoff code of a simulated app, and the form that redeems it with some parameter changed. */
async function liveCode(change: (app: NativeApp, code: string) => Record<string, string>): Promise<Sent> {
  const app = new NativeApp(h);
  const code = await app.signInForCode();
  return codeGrant({ code, code_verifier: app.verifier, redirect_uri: app.redirectUri, ...change(app, code) });
}

async function run(row: Row): Promise<Response> {
  const sent = row.prepare ? await row.prepare() : (row.send ?? {});
  const before = await rowCounts(h);
  const firstLog = h.logs.length;
  const response = await h.call('token', {
    method: sent.method ?? 'POST',
    url: '/auth/token',
    headers: sent.headers,
    body: sent.body,
  });
  expect(response.status).not.toBe(500);
  expect(response.status).toBe(row.expect.status);
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.setCookies.length).toBe(0);
  if (row.expect.error) {
    expect(response.json().error).toBe(row.expect.error);
    expect(Object.keys(response.json()).sort()).toStrictEqual(['error', 'error_description']);
  }
  if (row.expect.allow) expect(response.headers.allow).toBe(row.expect.allow);
  const after = await rowCounts(h);
  expect({ states: after.states - before.states, sessions: after.sessions - before.sessions }).toStrictEqual({
    states: row.expect.states ?? 0,
    sessions: row.expect.sessions ?? 0,
  });
  expect(h.leakedSecrets()).toStrictEqual([]);
  const logs = h.logs.slice(firstLog).join('\n');
  for (const payload of row.payloads ?? []) {
    expect(!logs.includes(payload)).toBeTruthy();
    expect(!response.body.includes(payload)).toBeTruthy();
  }
  return response;
}

const rows: Row[] = [
  // Methods and content types
  ...['GET', 'PUT', 'PATCH', 'DELETE'].map((method): Row => ({
    name: `${method} → 405`,
    send: { method },
    expect: { status: 405, error: 'invalid_request', allow: 'POST' },
  })),
  {
    name: 'JSON body → 415',
    send: { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":"refresh_token"}' },
    expect: { status: 415, error: 'invalid_request' },
  },
  {
    name: 'text/plain body → 415',
    send: { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'grant_type=refresh_token' },
    expect: { status: 415, error: 'invalid_request' },
  },
  {
    name: 'a body without a content type → 415',
    send: { method: 'POST', body: 'grant_type=refresh_token' },
    expect: { status: 415, error: 'invalid_request' },
  },
  {
    name: 'multipart form → 415',
    send: { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=x' }, body: '--x\r\n\r\n--x--' },
    expect: { status: 415, error: 'invalid_request' },
  },
  {
    name: `body over ${LIMITS.bodyBytes} bytes → 413`,
    send: form({ grant_type: 'refresh_token', refresh_token: 'x'.repeat(LIMITS.bodyBytes) }),
    expect: { status: 413, error: 'invalid_request' },
  },
  {
    name: 'empty body → 400',
    send: { method: 'POST', headers: FORM },
    expect: { status: 400, error: 'invalid_request' },
  },
  // grant_type
  {
    name: 'grant_type empty → invalid_request',
    send: form({ grant_type: '' }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'grant_type duplicated → invalid_request',
    send: { method: 'POST', headers: FORM, body: 'grant_type=refresh_token&grant_type=authorization_code' },
    expect: { status: 400, error: 'invalid_request' },
  },
  ...[
    'password',
    'client_credentials',
    'implicit',
    'urn:ietf:params:oauth:grant-type:device_code',
    'urn:ietf:params:oauth:grant-type:jwt-bearer',
    'REFRESH_TOKEN',
    'refresh_token\r\n',
  ].map((grantType): Row => ({
    name: `grant_type ${JSON.stringify(grantType)} → unsupported_grant_type`,
    send: form({ grant_type: grantType }),
    expect: { status: 400, error: 'unsupported_grant_type' },
  })),
  // code shapes: none reaches storage
  ...[
    ['Table key characters', `${'0'.repeat(10)}./\\#?${'A'.repeat(39)}`],
    ['OData', "' or PartitionKey ne '"],
    ['CRLF', `${WELL_FORMED_CODE}\r\nx`],
    ['control characters', `${WELL_FORMED_CODE}\u0000`],
    ['Unicode look-alike digits', `${'０'.repeat(10)}.${'A'.repeat(43)}`],
    ['bad percent-encoding', '%zz%E0%A4%A'],
    ['a JWT', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'],
    ['unknown but well formed', WELL_FORMED_CODE],
  ].map(([what, code]): Row => ({
    name: `code: ${what} → invalid_grant`,
    send: codeGrant({ code: code! }),
    expect: { status: 400, error: 'invalid_grant' },
    payloads: [code!].filter((p) => p.length > 12 && p !== WELL_FORMED_CODE),
  })),
  {
    name: 'code missing → invalid_request',
    send: form({ grant_type: 'authorization_code', code_verifier: VERIFIER, redirect_uri: REDIRECT }),
    expect: { status: 400, error: 'invalid_request' },
  },
  {
    name: 'code duplicated → invalid_request',
    send: {
      method: 'POST',
      headers: FORM,
      body: `grant_type=authorization_code&code=a&code=b&code_verifier=${VERIFIER}&redirect_uri=x`,
    },
    expect: { status: 400, error: 'invalid_request' },
  },
  // a live code with a wrong verifier or redirect URI: refused, and the code stays redeemable (no write)
  ...[
    [
      'another verifier',
      (app: NativeApp) => ({ code_verifier: `${app.verifier.slice(0, -1)}${app.verifier.endsWith('A') ? 'B' : 'A'}` }),
    ],
    ['a verifier of 42 characters', () => ({ code_verifier: 'A'.repeat(42) })],
    ['a verifier of 129 characters', () => ({ code_verifier: 'A'.repeat(129) })],
    ['a verifier with forbidden characters', (app: NativeApp) => ({ code_verifier: `${app.verifier}+/=` })],
    ['the challenge as verifier (plain)', (app: NativeApp) => ({ code_verifier: app.challenge })],
    ['the redirect URI with a trailing slash', (app: NativeApp) => ({ redirect_uri: `${app.redirectUri}/` })],
    ['the redirect URI in upper case', (app: NativeApp) => ({ redirect_uri: app.redirectUri.toUpperCase() })],
    ['the redirect URI percent-encoded', (app: NativeApp) => ({ redirect_uri: encodeURIComponent(app.redirectUri) })],
    ['another registered redirect URI', () => ({ redirect_uri: NATIVE_REDIRECT_URIS[1] })],
  ].map(([what, change]): Row => ({
    name: `live code with ${what as string} → invalid_grant, nothing written`,
    prepare: () => liveCode(change as (app: NativeApp, code: string) => Record<string, string>),
    expect: { status: 400, error: 'invalid_grant' },
  })),
  // refresh tokens
  ...[
    ['malformed', 'not-a-token'],
    ['Table key characters', `${'0'.repeat(10)}.${'A'.repeat(21)}/.${'A'.repeat(43)}`],
    ['OData', "' or RowKey ne '"],
    ['CRLF', `${'0'.repeat(10)}.${'A'.repeat(22)}.${'A'.repeat(43)}\r\n`],
    ['unknown but well formed', `${'0'.repeat(10)}.${'A'.repeat(22)}.${'A'.repeat(43)}`],
    ['oversized', 'A'.repeat(8000)],
  ].map(([what, token]): Row => ({
    name: `refresh_token ${what} → invalid_grant`,
    send: form({ grant_type: 'refresh_token', refresh_token: token! }),
    expect: { status: 400, error: 'invalid_grant' },
  })),
  {
    name: "a browser's session cookie as refresh_token → invalid_grant, the web session untouched",
    prepare: async () =>
      form({ grant_type: 'refresh_token', refresh_token: (await signedInBrowser(h)).jar.get('__Host-session')! }),
    expect: { status: 400, error: 'invalid_grant' },
  },
  {
    name: 'scope outside the allowed list → invalid_scope, token not rotated',
    prepare: async () =>
      form({
        grant_type: 'refresh_token',
        refresh_token: (await new NativeApp(h).signInForTokens()).refresh_token,
        scope: 'Directory.ReadWrite.All',
      }),
    expect: { status: 400, error: 'invalid_scope' },
  },
  // replay and reuse revoke
  {
    name: 'a redeemed code replayed → invalid_grant, its session revoked',
    prepare: async () => {
      const app = new NativeApp(h);
      const code = await app.signInForCode();
      expect((await app.redeem(code)).status).toBe(200);
      return codeGrant({ code, code_verifier: app.verifier, redirect_uri: app.redirectUri });
    },
    expect: { status: 400, error: 'invalid_grant', sessions: -1 },
  },
  {
    name: 'a rotated refresh token after the grace window → invalid_grant, the session revoked',
    prepare: async () => {
      const app = new NativeApp(h);
      const first = (await app.signInForTokens()).refresh_token;
      expect((await app.refresh(first)).status).toBe(200);
      h.clockOffsetMs += 61_000;
      return form({ grant_type: 'refresh_token', refresh_token: first });
    },
    expect: { status: 400, error: 'invalid_grant', sessions: -1 },
  },
  // forged identity and client headers change nothing
  {
    name: 'forged identity headers and Basic client credentials with an unknown token → invalid_grant',
    send: {
      ...form({ grant_type: 'refresh_token', refresh_token: `${'0'.repeat(10)}.${'A'.repeat(22)}.${'A'.repeat(43)}` }),
      headers: { ...FORM, ...FORGED_IDENTITY_HEADERS, authorization: 'Basic Y2xpZW50OnNlY3JldA==' },
    },
    expect: { status: 400, error: 'invalid_grant' },
  },
];

describe('POST /auth/token', () => {
  for (const row of rows) test(row.name, () => run(row).then(() => undefined));

  test('a valid redemption still works after all of the above (the suite refused, it did not break)', async () => {
    const app = new NativeApp(h);
    const response = await app.redeem(await app.signInForCode());
    expect(response.status).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
  });
});
