/**
 * The adversarial suite's table runner and shared payloads (test/security/*.test.ts, one file per endpoint).
 *
 * Every row is one request to one real handler (through `Harness.call`: real HttpRequest / InvocationContext,
 * real Azurite, the Entra stand-in) and asserts, whatever it expects:
 * - the HTTP status, and never a 500;
 * - the stable error `code` (problem+json `code`, or the `Error code: <code>…</code>` of an HTML error page);
 * - what was stored: rows added to or removed from AuthState and AuthSessions (default: nothing written);
 * - that an error response sets no cookie and that no secret the run has seen reached a log;
 * - that the row's attack payloads are echoed neither in an error response nor in the logs.
 */
import { TableClient } from '@azure/data-tables';
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  APP_ORIGIN,
  Harness,
  PUBLIC_ORIGIN,
  type HarnessOptions,
  type Response,
  type TestBrowser,
} from '../_support/harness';

export type Endpoint =
  'login' | 'callback' | 'me' | 'refresh' | 'logout' | 'health' | 'sessions' | 'frontchannel-logout' | 'api' | 'verify';

export interface Sent {
  method?: string;
  /** Path and query, or an absolute URL (a request that reached the function under another Host). */
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface Stored {
  /** AuthState rows added (+) or removed (−) by the request. */
  states?: number;
  /** AuthSessions rows added (+) or removed (−) by the request. */
  sessions?: number;
}

export interface Expectation {
  status: number;
  /** The stable error code; omitted for a success, which then must carry none. */
  code?: string;
  /** Row deltas; what is omitted must not change: a refused request writes and deletes nothing. */
  stored?: Stored;
  /** The Allow header a 405 must carry. */
  allow?: string;
  /** Anything else about the response (Location, body, cookies). */
  check?: (response: Response, h: Harness) => void | Promise<void>;
}

export interface Case extends Sent {
  name: string;
  /** Builds (parts of) the request at run time, e.g. with a fresh session's cookie or a live state. */
  prepare?: (h: Harness) => Promise<Partial<Sent>>;
  expect: Expectation;
  /** Attack strings that must not come back in an error response nor reach a log. */
  payloads?: readonly string[];
  /** `product gap: <one line>`: the row keeps the correct expectation and is reported, not run. */
  skip?: string;
}

/**
 * One harness for the whole file: started before its first test (tight provider deadline), stopped after the
 * last, its clock offset reset after each test. `onStart` receives it; the returned getter reads it.
 */
export function harnessPerFile(
  onStart: (h: Harness) => unknown = () => {},
  /** Extra harness options; a function when they depend on something started in an earlier hook. */
  options: HarnessOptions | (() => HarnessOptions) = {},
): () => Harness {
  let h: Harness | undefined;
  beforeAll(async () => {
    const extra = typeof options === 'function' ? options() : options;
    h = await Harness.start({ ...extra, overrides: { providerTimeoutMs: 3000, ...extra.overrides } });
    await onStart(h);
  });
  afterAll(async () => {
    await h?.stop();
  });
  afterEach(() => {
    if (h) h.clockOffsetMs = 0;
  });
  return () => h!;
}

/** One Jest `test()` per row (a row with a known product gap is `test.skip`, its expectation kept). */
export function runCases(harness: () => Harness, endpoint: Endpoint, cases: readonly Case[]): void {
  const seen = new Set<string>();
  for (const row of cases) {
    expect(!seen.has(row.name)).toBeTruthy();
    seen.add(row.name);
    (row.skip ? test.skip : test)(row.name, async () => {
      await runCase(harness(), endpoint, row);
    });
  }
}

export async function runCase(h: Harness, endpoint: Endpoint, row: Case): Promise<Response> {
  const prepared = row.prepare ? await row.prepare(h) : {};
  const sent: Sent = {
    method: prepared.method ?? row.method,
    url: prepared.url ?? row.url,
    headers: { ...row.headers, ...prepared.headers },
    body: prepared.body ?? row.body,
  };
  const before = await rowCounts(h);
  const firstLog = h.logs.length;
  const response = await h.call(endpoint, sent);
  for (const cookie of response.setCookies) if (cookie.value) h.seenSecrets.add(cookie.value);

  const code = errorCode(response);
  expect(response.status).not.toBe(500);
  expect(response.status).toBe(row.expect.status);
  expect(code).toBe(row.expect.code);
  if (row.expect.allow !== undefined) expect(response.headers.allow).toBe(row.expect.allow);
  if (response.status >= 400) {
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.setCookies.filter((c) => c.value !== '').map((c) => c.name)).toStrictEqual([]);
  }

  const after = await rowCounts(h);
  expect({ states: after.states - before.states, sessions: after.sessions - before.sessions }).toStrictEqual({
    states: row.expect.stored?.states ?? 0,
    sessions: row.expect.stored?.sessions ?? 0,
  });

  const logs = h.logs.slice(firstLog).join('\n');
  // This row's log lines against every secret seen so far; `noSecretInAnyLog` rechecks the whole run at the end.
  expect(secretsIn(h, logs)).toBe(0);
  for (const payload of row.payloads ?? []) {
    if (payload.length < 4) continue;
    expect(!logs.includes(payload)).toBeTruthy();
    if (response.status >= 400) expect(!response.body.includes(payload)).toBeTruthy();
  }
  if (response.status >= 400) expect(!/evil/i.test(response.body)).toBeTruthy();

  await row.expect.check?.(response, h);
  return response;
}

function secretsIn(h: Harness, text: string): number {
  if (!text) return 0;
  return [...h.seenSecrets, ...h.standIn.issuedSecrets()].filter(
    (secret) => secret.length >= 8 && text.includes(secret),
  ).length;
}

/**
 * A last test for a file: every line logged during the run, against every secret the run saw (a secret may be
 * seen only after a row logged it).
 */
export function noSecretInAnyLog(harness: () => Harness): void {
  test('nothing logged during this file contains a code, state, verifier, token, secret or cookie value', () => {
    const h = harness();
    expect(h.logs.length > 0).toBeTruthy();
    expect(h.leakedSecrets().length).toBe(0);
  });
}

/** The stable code of an error response: problem+json `code`, or the code on an HTML error page. */
export function errorCode(response: Response): string | undefined {
  const type = response.headers['content-type'] ?? '';
  if (type.startsWith('application/problem+json')) return response.json().code;
  if (type.startsWith('text/html')) return /Error code: <code>([a-z_]+)<\/code>/.exec(response.body)?.[1];
  return undefined;
}

export async function rowCounts(h: Harness): Promise<{ states: number; sessions: number }> {
  const [states, sessions] = await Promise.all([rowCount(h, 'AuthState'), rowCount(h, 'AuthSessions')]);
  return { states, sessions };
}

const tableClients = new Map<string, TableClient>();

/** How many rows a table holds, reading only their keys (session rows carry sealed token caches of kilobytes). */
async function rowCount(h: Harness, table: string): Promise<number> {
  const key = `${h.azurite.connectionString}|${table}`;
  let client = tableClients.get(key);
  if (!client)
    tableClients.set(
      key,
      (client = TableClient.fromConnectionString(h.azurite.connectionString, table, { allowInsecureConnection: true })),
    );
  let count = 0;
  try {
    // AuthSessions: the session rows (`<shard>-<bucket>` partitions, shards a..p, or ten digits from before the
    // shards), not the session index entries (`s.`/`u.` partitions, which sort after them).
    const filter = table === 'AuthSessions' ? "PartitionKey lt 's.'" : undefined;
    for await (const _row of client.listEntities({ queryOptions: { select: ['RowKey'], filter } })) count++;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return 0;
    throw error;
  }
  return count;
}

// ------------------------------------------------------------------------------------------- sign-ins

export const SESSION_COOKIE_NAME = '__Host-session';

/** A browser that has completed a sign-in (its jar holds the session cookie). */
export async function signedInBrowser(h: Harness, query?: string): Promise<TestBrowser> {
  const browser = h.newBrowser();
  const done = await browser.signIn(query);
  expect(done.status).toBe(302);
  expect(browser.jar.has(SESSION_COOKIE_NAME)).toBeTruthy();
  return browser;
}

/** The `cookie` header of a fresh session. */
export async function freshSessionCookie(h: Harness): Promise<string> {
  const browser = await signedInBrowser(h);
  return `${SESSION_COOKIE_NAME}=${browser.jar.get(SESSION_COOKIE_NAME)}`;
}

/** A sign-in started and finished at the provider, not yet at the callback: its callback URL and cookies. */
export async function pendingCallback(h: Harness, query?: string, opts?: { cancel?: boolean }) {
  const browser = h.newBrowser();
  const { authorizeUrl, state } = await browser.startSignIn(query);
  const callbackUrl = new URL(await browser.signInAtProvider(authorizeUrl, undefined, opts));
  return { browser, state, callbackUrl, path: `/auth/callback${callbackUrl.search}`, cookie: browser.cookieHeader() };
}

export type SessionRowRequest = Partial<Sent> & {
  /** Send a fresh session's cookie (default true). */
  session?: boolean;
  /** Build the session headers from the fresh cookie header instead (e.g. a tampered cookie, a Bearer header). */
  make?: (sessionCookie: string) => Record<string, string> | Promise<Record<string, string>>;
  skip?: string;
  payloads?: string[];
};

/** Rows for a POST endpoint that acts on a session; `beforeSend` runs once the request is built (to take counts). */
export function sessionRows(url: string, beforeSend: () => void = () => {}) {
  return (name: string, expected: Case['expect'], request: SessionRowRequest = {}): Case => {
    const { session = true, make, skip, payloads, ...sent } = request;
    return {
      name,
      method: 'POST',
      url,
      ...sent,
      skip,
      payloads,
      expect: expected,
      prepare: async (h) => {
        const headers = session ? await (make ?? ((c: string) => ({ cookie: c })))(await freshSessionCookie(h)) : {};
        beforeSend();
        return { headers: { ...sent.headers, ...headers } };
      },
    };
  };
}

// ------------------------------------------------------------------------------------------ HTTP shapes

/** Methods the functions are registered for (shared/http/registration.ts): others never reach a handler. */
export const REGISTERED_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export const LIMITS = { queryBytes: 4096, cookieHeaderBytes: 32_768, bodyBytes: 16_384 } as const;

/** `?<prefix>&pad=xxx…` padded so `url.search` (with its `?`) is exactly `bytes` long. */
export function queryOfLength(bytes: number, prefix = ''): string {
  const head = prefix ? `?${prefix}&pad=` : '?pad=';
  return `${head}${'x'.repeat(bytes - head.length)}`;
}

/** A cookie header exactly `bytes` long: the given cookies, then a padding cookie. */
export function cookieHeaderOfLength(bytes: number, cookies = ''): string {
  const head = cookies ? `${cookies}; pad=` : 'pad=';
  return `${head}${'x'.repeat(bytes - head.length)}`;
}

/**
 * Identity and routing headers a front end or an attacker may send. None is trusted: the service's origin comes
 * from AUTH_REDIRECT_URI and the user only from a session it issued.
 */
export const FORGED_IDENTITY_HEADERS: Record<string, string> = {
  'x-ms-client-principal': Buffer.from(
    JSON.stringify({
      auth_typ: 'aad',
      name_typ: 'name',
      role_typ: 'roles',
      claims: [
        {
          typ: 'http://schemas.microsoft.com/identity/claims/objectidentifier',
          val: '00000000-0000-4000-8000-00000000beef',
        },
        { typ: 'name', val: 'Evil Admin' },
        { typ: 'roles', val: 'Global Administrator' },
      ],
    }),
  ).toString('base64'),
  'x-ms-client-principal-id': '00000000-0000-4000-8000-00000000beef',
  'x-ms-client-principal-name': 'admin@evil.example',
  'x-ms-client-principal-idp': 'aad',
  'x-forwarded-host': 'evil.example',
  'x-forwarded-proto': 'http',
  'x-forwarded-for': '203.0.113.66',
  'x-original-url': 'https://evil.example/auth/me',
  forwarded: 'for=203.0.113.66;host=evil.example;proto=http',
  host: 'evil.example',
};

/** A forged header alone, one row each, plus all of them at once. */
export function forgedHeaderSets(): [string, Record<string, string>][] {
  return [
    ...Object.entries(FORGED_IDENTITY_HEADERS).map(([name, value]): [string, Record<string, string>] => [
      name,
      { [name]: value },
    ]),
    ['all forged identity headers at once', FORGED_IDENTITY_HEADERS],
  ];
}

/** True when a redirect target, as a browser resolves it against this service, stays on a trusted origin. */
export function staysTrusted(location: string): boolean {
  if (!/^[\x21-\x7e]+$/.test(location)) return false; // a header value: visible ASCII only
  if (location.startsWith('//') || location.startsWith('/\\')) return false;
  const origin = new URL(location, PUBLIC_ORIGIN).origin;
  return origin === PUBLIC_ORIGIN || origin === APP_ORIGIN;
}

// ------------------------------------------------------------------------------------- open redirects

/**
 * How an attack string travels in a query parameter. `raw`: pasted as is (the URL parser decides what reaches
 * the function: `%xx` is decoded once, `#` ends the query, `&` splits it); `single`: percent-encoded once (the
 * function receives exactly the payload); `double`: twice (the function receives the payload encoded once, which
 * a front end or framework that decodes again would turn back into the payload).
 */
export const FORMS = {
  raw: (value: string) => value,
  single: (value: string) => encodeURIComponent(value),
  double: (value: string) => encodeURIComponent(encodeURIComponent(value)),
} as const;
export type Form = keyof typeof FORMS;

export interface RedirectPayload {
  /** Why it is here: the bypass it tries, or the CVE behind it. */
  name: string;
  value: string;
  /** Forms in which it is a legitimate target (a same-origin path or an exactly allowed origin). */
  accept?: readonly Form[];
}

const EVIL = 'evil.example';
const ALLOWED_HOST = new URL(APP_ORIGIN).host;

/**
 * Open-redirect bypasses against `returnTo` and `post_logout_redirect_uri`, by the CVE or technique behind each:
 * oauth2-proxy CVE-2020-5233 (`/\`, `/<tab>/`), CVE-2020-4037 (`/\t/`, whitespace), CVE-2021-21291 (allowed-domain
 * suffix), CVE-2021-41121-style userinfo tricks, and the usual scheme, encoding and look-alike games.
 */
export const REDIRECT_PAYLOADS: readonly RedirectPayload[] = [
  { name: 'empty', value: '' },
  { name: 'protocol-relative', value: `//${EVIL}` },
  { name: 'protocol-relative to the allowed host', value: `//${ALLOWED_HOST}/` },
  { name: 'CVE-2020-5233 slash backslash', value: `/\\${EVIL}` },
  { name: 'CVE-2020-5233 slash tab slash (encoded)', value: `/%09/${EVIL}` },
  { name: 'CVE-2020-4037 slash tab slash (literal)', value: `/\t/${EVIL}` },
  { name: 'slash newline slash', value: `/%0a/${EVIL}` },
  { name: 'slash CR slash', value: `/%0d/${EVIL}` },
  { name: 'slash vertical tab backslash', value: `/\v\\${EVIL}` },
  { name: 'slash space slash', value: `/ /${EVIL}` },
  { name: 'leading space', value: ` //${EVIL}` },
  { name: 'leading ideographic space', value: `\u3000//${EVIL}` },
  { name: 'two backslashes', value: `\\\\${EVIL}` },
  { name: 'escaped slashes', value: `\\/\\/${EVIL}/` },
  { name: 'encoded slashes', value: `/%2f%2f${EVIL}` },
  { name: 'encoded slashes, upper case', value: `/%2F%2F${EVIL}` },
  { name: 'encoded slashes without the leading slash', value: `%2f%2f${EVIL}` },
  { name: 'double-encoded slashes', value: `/%252f%252f${EVIL}` },
  { name: 'encoded backslash', value: `/%5c${EVIL}` },
  { name: 'dot segment to // (literal)', value: `/x/..//${EVIL}` },
  { name: 'dot segment to // (current directory)', value: `/.//${EVIL}` },
  { name: 'dot segment to // (encoded dots)', value: `/%2e%2e//${EVIL}` },
  { name: 'dot segment to // (encoded slashes)', value: `/x/..%2f%2f${EVIL}` },
  { name: 'CVE-2021-21291 allowed host as a prefix of another host', value: `https://${ALLOWED_HOST}.${EVIL}/` },
  { name: 'allowed host as a path', value: `https://${EVIL}/${ALLOWED_HOST}` },
  { name: 'allowed host in the query', value: `https://${EVIL}/?next=https://${ALLOWED_HOST}/` },
  { name: 'allowed host after a fragment', value: `https://${EVIL}#@${ALLOWED_HOST}/` },
  { name: 'allowed host after a question mark', value: `https://${EVIL}?@${ALLOWED_HOST}/` },
  { name: 'backslash before userinfo', value: `https://${EVIL}\\@${ALLOWED_HOST}/` },
  { name: 'userinfo with the allowed host', value: `https://${ALLOWED_HOST}@${EVIL}/` },
  { name: 'userinfo on the allowed host', value: `https://user:pass@${ALLOWED_HOST}/` },
  { name: 'encoded dot joining the allowed host to another', value: `https://${ALLOWED_HOST}%2e${EVIL}/` },
  { name: 'encoded at sign in the host', value: `https://${ALLOWED_HOST}%40${EVIL}/` },
  { name: 'backslash-dot host', value: `https://${ALLOWED_HOST}\\.${EVIL}/` },
  { name: 'https without slashes', value: `https:${EVIL}` },
  { name: 'https with one slash', value: `https:/${EVIL}` },
  { name: 'https with backslashes', value: `https:\\\\${EVIL}` },
  { name: 'https with three slashes', value: `https:///${EVIL}/` },
  { name: 'scheme downgrade of the allowed origin', value: `http://${ALLOWED_HOST}/` },
  { name: 'another port on the allowed host', value: `https://${ALLOWED_HOST}:8443/` },
  { name: 'trailing dot on the allowed host', value: `https://${ALLOWED_HOST}./` },
  { name: 'javascript:', value: 'javascript:alert(1)' },
  { name: 'javascript: mixed case', value: 'JaVaScRiPt:alert(1)' },
  { name: 'javascript: with a tab in the scheme', value: 'java\tscript:alert(1)' },
  { name: 'javascript: with an encoded tab in the scheme', value: 'java%09script:alert(1)' },
  { name: 'javascript: with an encoded newline in the scheme', value: 'java%0ascript:alert(1)' },
  { name: 'javascript: behind a control character', value: '\u0001javascript:alert(1)' },
  { name: 'javascript: with an allowed host and CRLF', value: `javascript://${ALLOWED_HOST}/%0d%0aalert(1)` },
  { name: 'data: HTML', value: 'data:text/html,<script>alert(1)</script>' },
  { name: 'data: base64', value: 'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==' },
  { name: 'vbscript:', value: 'vbscript:msgbox(1)' },
  { name: 'CRLF header injection', value: '/app%0d%0aSet-Cookie:%20evil=1' },
  { name: 'CRLF header injection (literal)', value: '/app\r\nLocation: https://evil.example/' },
  { name: 'NUL byte', value: '/app%00evil' },
  { name: 'bad percent-encoding (truncated UTF-8)', value: '/%E0%A4%A' },
  { name: 'bad percent-encoding (not hex)', value: '/%zz' },
  { name: 'IDN look-alike host (Cyrillic a)', value: 'https://\u0430pp.contoso.example/' },
  { name: 'IDN look-alike host (punycode)', value: 'https://xn--pp-8kc.contoso.example/' },
  { name: 'look-alike host (capital I for l)', value: 'https://app.contoso.exampIe.evil.example/' },
  { name: 'ideographic full stop joining the allowed host to another', value: `https://${ALLOWED_HOST}\u3002${EVIL}/` },
  { name: 'encoded ideographic full stop', value: `//evil%E3%80%82example` },
  { name: 'fullwidth solidi', value: `\uff0f\uff0f${EVIL}` },
  { name: 'Japanese iteration mark in place of slashes', value: `\u3031${EVIL}` },
  { name: 'division slashes', value: `\u2215\u2215${EVIL}` },
  { name: 'right-to-left override', value: `/app\u202e${EVIL}` },
  { name: 'zero-width space', value: `/\u200b/${EVIL}` },
  { name: 'not a URL', value: 'app' },
  { name: 'too long', value: `/${'a'.repeat(2100)}` },
  // Legitimate targets, and look-alikes that really are this service's own origin or the allowed one.
  { name: 'a relative path', value: '/app?x=1#y', accept: ['raw', 'single'] },
  { name: 'the allowed origin', value: `${APP_ORIGIN}/dashboard?tab=1`, accept: ['raw', 'single'] },
  { name: "this service's own origin", value: `${PUBLIC_ORIGIN}/auth/me`, accept: ['raw', 'single'] },
  {
    name: 'the allowed origin in upper case',
    value: `HTTPS://${ALLOWED_HOST.toUpperCase()}/x`,
    accept: ['raw', 'single'],
  },
  {
    name: 'the allowed origin with its default port',
    value: `https://${ALLOWED_HOST}:443/x`,
    accept: ['raw', 'single'],
  },
  {
    name: 'the allowed host with ideographic full stops',
    value: `https://${ALLOWED_HOST.replaceAll('.', '\u3002')}/x`,
    accept: ['raw', 'single'],
  },
  { name: 'a fullwidth solidus is a path on this origin', value: `/\uff0f${EVIL}`, accept: ['raw', 'single'] },
  { name: 'division slashes are a path on this origin', value: `/\u2215\u2215${EVIL}`, accept: ['raw', 'single'] },
  { name: 'a non-ASCII path', value: '/caf\u00e9', accept: ['raw', 'single'] },
  { name: 'a dot segment that stays a path', value: '/x/../app', accept: ['raw', 'single'] },
  {
    name: 'empty userinfo on the allowed host is no userinfo',
    value: `https://@${ALLOWED_HOST}/`,
    accept: ['raw', 'single'],
  },
];

/**
 * oauth2-proxy's open-redirect list (testdata/openredirects.txt, github.com/oauth2-proxy/oauth2-proxy, MIT), with
 * its hosts renamed: www.whitelisteddomain.tld → the allowed app host, google.com / example.com / localdomain.pw /
 * bing.com → evil.example (duplicates that made removed; its empty line is the `empty` row above).
 */
export const OAUTH2_PROXY_PAYLOADS: readonly string[] = readFileSync(
  join(__dirname, 'fixtures', 'oauth2-proxy-open-redirects.txt'),
  'utf8',
)
  .split('\n')
  .filter((line) => line !== '');

/**
 * Entries of that list that are, for this service, paths on its own origin (`/https://evil.example/` is the page
 * https://auth.contoso.example/https://evil.example/): accepted raw and encoded once. oauth2-proxy refuses them
 * because it proxies an upstream app that might redirect from such a path; here only /auth/* exists. Every other
 * entry, in every form, is refused.
 */
export const OAUTH2_PROXY_SAME_ORIGIN_PATHS: ReadonlySet<string> = new Set([
  '/%68%74%74%70%3a%2f%2f%67%6f%6f%67%6c%65%2e%63%6f%6d',
  '/<>//evil.example',
  '/evil.example/%2f%2e%2e',
  '/http://%67%6f%6f%67%6c%65%2e%63%6f%6d',
  '/http://evil.example',
  '/https:///evil.example/%2e%2e',
  '/https:///evil.example/%2f%2e%2e',
  '/https:///evil.example@evil.example/%2f%2e%2e',
  '/https:///www.evil.example/%2f%2e%2e',
  '/https:///app.contoso.example@evil.example/%2f%2e%2e',
  '/https:///app.contoso.example@www.evil.example/%2f%2e%2e',
  '/https://evil.example',
  '/https://evil.example/',
  '/https://evil.example/%2e%2e',
  '/https://evil.example/%2e%2e%2f',
  '/https://evil.example/%2f%2e%2e',
  '/https://evil.example/%2f..',
  '/https://evil.example//',
  '/https://evil.example@evil.example/',
  '/https://evil.example@evil.example/%2e%2e',
  '/https://evil.example@evil.example/%2f%2e%2e',
  '/https://evil.example@evil.example/%2f..',
  '/https://www.evil.example/%2e%2e',
  '/https://www.evil.example/%2f%2e%2e',
  '/https://app.contoso.example@evil.example/',
  '/https://app.contoso.example@evil.example/%2f..',
  '/https://app.contoso.example@evil.example/%2e%2e',
  '/https://app.contoso.example@evil.example/%2f%2e%2e',
  '/https://app.contoso.example@www.evil.example/%2e%2e',
  '/https://app.contoso.example@www.evil.example/%2f%2e%2e',
]);

/** Every (payload, form) row of both lists, with whether the target is legitimate. */
export function redirectRows(): { name: string; value: string; form: Form; encoded: string; accepted: boolean }[] {
  const rows: { name: string; value: string; form: Form; encoded: string; accepted: boolean }[] = [];
  for (const payload of REDIRECT_PAYLOADS) {
    for (const form of Object.keys(FORMS) as Form[]) {
      rows.push({
        name: `${payload.name} ${JSON.stringify(payload.value.slice(0, 80))} (${form})`,
        value: payload.value,
        form,
        encoded: FORMS[form](payload.value),
        accepted: payload.accept?.includes(form) ?? false,
      });
    }
  }
  for (const value of OAUTH2_PROXY_PAYLOADS) {
    for (const form of Object.keys(FORMS) as Form[]) {
      const accepted = form !== 'double' && OAUTH2_PROXY_SAME_ORIGIN_PATHS.has(value);
      rows.push({
        name: `oauth2-proxy ${JSON.stringify(value)} (${form})`,
        value,
        form,
        encoded: FORMS[form](value),
        accepted,
      });
    }
  }
  return rows;
}

/** Strings of a payload distinctive enough to look for in logs and responses (not `/` or `app`). */
export function distinctive(value: string): string[] {
  return value.length >= 6 && /evil|script|alert/i.test(value) ? [value] : [];
}
