/**
 * Adversarial rows for the API proxy, `/auth/api/{name}/{*path}`: names that are not configured, paths that try
 * to climb out of the base path or smuggle a separator (`..`, `%2e%2e`, `%2f`, `%5c`, double encodings, empty
 * segments, absolute URLs), CRLF and NUL, oversized bodies, queries and cookies, methods, CSRF, sessions and
 * forged identity headers. Every refused row also proves the upstream received nothing; every forwarded row what
 * it received.
 *
 * The harness builds each request URL with the WHATWG URL parser, as the Functions host (Kestrel) and the local
 * host normalize a request path before routing: literal and `%2e`-encoded dot segments are resolved before the
 * function runs, so such a path either leaves /auth/api/ (refused) or names another configured API (allowed,
 * and still only below that API's base). The unresolved forms are rows of test/core/api-proxy.test.ts.
 */
import { afterAll, beforeAll, expect } from '@jest/globals';
import { startApiUpstream, type ApiUpstream } from '../_support/api-upstream';
import type { Harness, Response } from '../_support/harness';
import {
  cookieHeaderOfLength,
  forgedHeaderSets,
  freshSessionCookie,
  harnessPerFile,
  LIMITS,
  noSecretInAnyLog,
  queryOfLength,
  runCases,
  SESSION_COOKIE_NAME,
  type Case,
  type Sent,
} from './_cases';

let upstream: ApiUpstream;
beforeAll(async () => {
  upstream = await startApiUpstream();
});
afterAll(async () => {
  await upstream?.stop();
});

const harness = harnessPerFile(
  () => {},
  () => ({
    env: {
      AUTH_APIS: `orders=${upstream.origin}/base api://orders-api/Orders.Read; graph=${upstream.origin}/graph User.Read`,
    },
    overrides: { apiTimeoutMs: 3000 },
  }),
);

const ALLOW = 'GET, HEAD, POST, PUT, PATCH, DELETE';
const ONE_MIB = 1024 * 1024;

type Session = 'cookie' | 'none' | ((cookie: string) => Record<string, string>);

interface Row {
  name: string;
  method?: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** How the caller authenticates (default: a fresh session's cookie with X-CSRF: 1). */
  session?: Session;
  status: number;
  code?: string;
  /** For forwarded rows: the request line the upstream must have received. */
  upstreamTarget?: string;
  check?: (response: Response, h: Harness) => void;
  payloads?: string[];
}

/** A row: refused ones must not reach the upstream; forwarded ones must reach it once, at `upstreamTarget`. */
function row(r: Row): Case {
  let receivedBefore = 0;
  return {
    name: r.name,
    method: r.method ?? 'GET',
    url: r.url,
    headers: r.headers,
    body: r.body,
    payloads: r.payloads,
    prepare: async (h): Promise<Partial<Sent>> => {
      const session = r.session ?? 'cookie';
      const auth =
        session === 'none'
          ? {}
          : session === 'cookie'
            ? { cookie: await freshSessionCookie(h), 'x-csrf': '1' }
            : session(await freshSessionCookie(h));
      receivedBefore = upstream.received.length;
      return { headers: { ...auth, ...r.headers } };
    },
    expect: {
      status: r.status,
      code: r.code,
      allow: r.status === 405 ? ALLOW : undefined,
      check: (response, h) => {
        const received = upstream.received.slice(receivedBefore);
        if (r.upstreamTarget === undefined) {
          expect(received).toHaveLength(0);
        } else {
          expect(received.map((q) => q.target)).toStrictEqual([r.upstreamTarget]);
          expect(received[0]!.headers.cookie).toBeUndefined();
          expect(received[0]!.headers['x-csrf']).toBeUndefined();
        }
        r.check?.(response, h);
      },
    },
  };
}

const EVIL = 'evil.example';

runCases(harness, 'api', [
  // ------------------------------------------------------------------------------------- names
  row({
    name: 'a configured name and path is forwarded',
    url: '/auth/api/orders/items?x=1',
    status: 200,
    upstreamTarget: '/base/items?x=1',
  }),
  row({ name: 'the base itself (no path)', url: '/auth/api/orders', status: 200, upstreamTarget: '/base/' }),
  row({ name: 'unknown name', url: '/auth/api/payments/items', status: 404, code: 'api_not_found' }),
  row({
    name: 'unknown name without a session is 404 too (the path is checked first)',
    url: '/auth/api/payments/x',
    session: 'none',
    status: 404,
    code: 'api_not_found',
  }),
  row({ name: 'a name in another case', url: '/auth/api/ORDERS/items', status: 404, code: 'api_not_found' }),
  row({ name: 'a percent-encoded name', url: '/auth/api/%6frders/items', status: 404, code: 'api_not_found' }),
  row({ name: '__proto__ as the name', url: '/auth/api/__proto__/x', status: 404, code: 'api_not_found' }),
  row({ name: 'a host as the name', url: `/auth/api/${EVIL}/x`, status: 404, code: 'api_not_found', payloads: [EVIL] }),
  row({
    name: 'an absolute URL as the name',
    url: `/auth/api/https:%2f%2f${EVIL}/x`,
    status: 404,
    code: 'api_not_found',
    payloads: [EVIL],
  }),

  // ------------------------------------------------------------------------ traversal and smuggling
  row({
    name: '.. out of /auth/api/ entirely',
    url: '/auth/api/orders/../../auth/me',
    status: 400,
    code: 'api_path_invalid',
  }),
  row({
    name: '%2e%2e out of /auth/api/ entirely',
    url: '/auth/api/orders/%2e%2e/%2e%2e/auth/me',
    status: 400,
    code: 'api_path_invalid',
  }),
  row({
    name: '.. within the route lands on another configured API, below its base',
    url: '/auth/api/orders/../graph/me',
    status: 200,
    upstreamTarget: '/graph/me',
  }),
  row({
    name: '.. inside the API path resolves below the base',
    url: '/auth/api/orders/a/../b',
    status: 200,
    upstreamTarget: '/base/b',
  }),
  row({
    name: '%2e%2e inside the API path resolves below the base',
    url: '/auth/api/orders/a/%2e%2e/b',
    status: 200,
    upstreamTarget: '/base/b',
  }),
  row({
    name: '..%2f climbing out of the base',
    url: '/auth/api/orders/..%2f..%2fadmin',
    status: 400,
    code: 'api_path_invalid',
  }),
  row({ name: '%2f (encoded slash)', url: '/auth/api/orders/a%2fb', status: 400, code: 'api_path_invalid' }),
  row({
    name: '%2F (encoded slash, upper case)',
    url: '/auth/api/orders/a%2Fb',
    status: 400,
    code: 'api_path_invalid',
  }),
  row({
    name: '%5c (encoded backslash)',
    url: '/auth/api/orders/..%5c..%5cadmin',
    status: 400,
    code: 'api_path_invalid',
  }),
  row({ name: 'double-encoded slash', url: '/auth/api/orders/a%252fb', status: 400, code: 'api_path_invalid' }),
  row({
    name: 'double-encoded dot-dot-slash',
    url: '/auth/api/orders/%252e%252e%252fadmin',
    status: 400,
    code: 'api_path_invalid',
  }),
  row({ name: 'empty segment', url: '/auth/api/orders/a//b', status: 400, code: 'api_path_invalid' }),
  row({
    name: 'absolute URL in the path',
    url: `/auth/api/orders/https://${EVIL}/x`,
    status: 400,
    code: 'api_path_invalid',
    payloads: [EVIL],
  }),
  row({
    name: 'protocol-relative URL in the path',
    url: `/auth/api/orders//${EVIL}/x`,
    status: 400,
    code: 'api_path_invalid',
    payloads: [EVIL],
  }),
  row({
    name: 'encoded absolute URL in the path',
    url: `/auth/api/orders/https:%2f%2f${EVIL}`,
    status: 400,
    code: 'api_path_invalid',
    payloads: [EVIL],
  }),
  row({
    name: 'a userinfo-looking segment stays a path on the upstream',
    url: `/auth/api/orders/@${EVIL}`,
    status: 200,
    upstreamTarget: `/base/@${EVIL}`,
  }),
  row({
    name: 'encoded CRLF in the path',
    url: '/auth/api/orders/a%0d%0aX-Injected:%201',
    status: 400,
    code: 'api_path_invalid',
  }),
  row({ name: 'encoded NUL in the path', url: '/auth/api/orders/a%00b', status: 400, code: 'api_path_invalid' }),
  row({
    name: 'bad percent-encoding in the path',
    url: '/auth/api/orders/%E0%A4%A',
    status: 400,
    code: 'api_path_invalid',
  }),
  row({
    name: 'encoded CRLF in the query stays encoded (no header injection upstream)',
    url: '/auth/api/orders/q?x=%0d%0aX-Injected:%201',
    status: 200,
    upstreamTarget: '/base/q?x=%0d%0aX-Injected:%201',
    check: () => expect(upstream.received.at(-1)!.headers['x-injected']).toBeUndefined(),
  }),

  // ----------------------------------------------------------------------------------------- sizes
  row({
    name: 'a body of exactly 1 MiB is forwarded',
    method: 'POST',
    url: '/auth/api/orders/upload',
    body: 'a'.repeat(ONE_MIB),
    headers: { 'content-type': 'text/plain' },
    status: 200,
    upstreamTarget: '/base/upload',
  }),
  row({
    name: 'a body of 1 MiB + 1 is refused',
    method: 'POST',
    url: '/auth/api/orders/upload',
    body: 'a'.repeat(ONE_MIB + 1),
    headers: { 'content-type': 'text/plain' },
    status: 413,
    code: 'request_too_large',
  }),
  row({
    name: 'a Content-Length over the bound is refused before reading',
    method: 'POST',
    url: '/auth/api/orders/upload',
    body: 'small',
    headers: { 'content-type': 'text/plain', 'content-length': String(64 * ONE_MIB) },
    status: 413,
    code: 'request_too_large',
  }),
  row({
    name: `a query over ${LIMITS.queryBytes} bytes`,
    url: `/auth/api/orders/x${queryOfLength(LIMITS.queryBytes + 1)}`,
    status: 413,
    code: 'request_too_large',
  }),
  row({
    name: `a cookie header over ${LIMITS.cookieHeaderBytes} bytes`,
    url: '/auth/api/orders/x',
    session: (cookie) => ({ cookie: cookieHeaderOfLength(LIMITS.cookieHeaderBytes + 1, cookie), 'x-csrf': '1' }),
    status: 413,
    code: 'request_too_large',
  }),

  // --------------------------------------------------------------------------------------- methods
  ...['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'].map((method) =>
    row({
      name: `${method} is forwarded as ${method}`,
      method,
      url: '/auth/api/orders/m',
      status: 200,
      upstreamTarget: '/base/m',
      check: () => expect(upstream.received.at(-1)!.method).toBe(method),
    }),
  ),
  row({
    name: 'OPTIONS is not forwarded (CORS preflights are the platform’s)',
    method: 'OPTIONS',
    url: '/auth/api/orders/m',
    status: 405,
    code: 'method_not_allowed',
  }),
  row({
    name: 'PROPFIND is not forwarded',
    method: 'PROPFIND',
    url: '/auth/api/orders/m',
    status: 405,
    code: 'method_not_allowed',
  }),

  // ----------------------------------------------------------------------------- CSRF and sessions
  row({
    name: 'cookie without X-CSRF (GET too)',
    url: '/auth/api/orders/x',
    session: (cookie) => ({ cookie }),
    status: 403,
    code: 'csrf_required',
  }),
  row({
    name: 'cookie with X-CSRF: 0',
    url: '/auth/api/orders/x',
    session: (cookie) => ({ cookie, 'x-csrf': '0' }),
    status: 403,
    code: 'csrf_required',
  }),
  row({
    name: 'cookie with X-CSRF: true',
    method: 'POST',
    url: '/auth/api/orders/x',
    session: (cookie) => ({ cookie, 'x-csrf': 'true' }),
    status: 403,
    code: 'csrf_required',
  }),
  row({
    name: 'no session',
    url: '/auth/api/orders/x',
    session: () => ({ 'x-csrf': '1' }),
    status: 401,
    code: 'session_required',
  }),
  row({
    name: 'a tampered session cookie',
    url: '/auth/api/orders/x',
    session: (cookie) => ({ cookie: `${cookie.slice(0, -4)}AAAA`, 'x-csrf': '1' }),
    status: 401,
    code: 'session_required',
  }),
  row({
    name: 'a Basic Authorization header',
    url: '/auth/api/orders/x',
    session: () => ({ authorization: 'Basic dXNlcjpwYXNz' }),
    status: 401,
    code: 'session_required',
  }),
  row({
    name: 'an unknown Bearer token',
    url: '/auth/api/orders/x',
    session: () => ({ authorization: 'Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }),
    status: 401,
    code: 'session_required',
  }),
  row({
    name: 'the session cookie sent as a Bearer token (a web session is not a native one)',
    url: '/auth/api/orders/x',
    session: (cookie) => ({ authorization: `Bearer ${cookie.slice(SESSION_COOKIE_NAME.length + 1)}` }),
    status: 401,
    code: 'session_required',
  }),
  row({
    name: 'a Bearer header with CRLF smuggled in is refused',
    url: '/auth/api/orders/x',
    session: () => ({ authorization: 'Bearer abc%0d%0aX-Admin: 1' }),
    status: 401,
    code: 'session_required',
  }),

  // ------------------------------------------------------------------------------ forged headers
  ...forgedHeaderSets()
    .filter(([name]) => name !== 'host') // Host is the request URL's own (the harness sets the URL)
    .map(([name, headers]) =>
      row({
        name: `forged ${name} does not reach the upstream`,
        url: '/auth/api/orders/forged',
        headers: Object.fromEntries(Object.entries(headers).filter(([n]) => n !== 'host')),
        status: 200,
        upstreamTarget: '/base/forged',
        check: () => {
          const got = upstream.received.at(-1)!.headers;
          for (const forged of Object.keys(headers)) if (forged !== 'host') expect(got[forged]).toBeUndefined();
          expect(got.host).toBe(new URL(upstream.origin).host);
        },
      }),
    ),
  row({
    name: 'an Authorization header cannot be chosen by the caller: the upstream gets the session user’s token',
    url: '/auth/api/orders/who',
    session: (cookie) => ({ cookie, 'x-csrf': '1', 'x-authorization': 'Bearer attacker' }),
    status: 200,
    upstreamTarget: '/base/who',
    check: () => {
      const got = upstream.received.at(-1)!.headers;
      expect(got.authorization).toMatch(/^Bearer eyJ/);
      expect(got['x-authorization']).toBeUndefined();
    },
  }),
]);

noSecretInAnyLog(harness);
