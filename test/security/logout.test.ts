/**
 * POST /auth/logout under attack: cross-site form posts (Origin, Sec-Fetch-Site, content types), X-CSRF, the
 * post_logout_redirect_uri parameter in the query, a form body and a JSON body (missing, duplicated, empty,
 * wrong type, oversized, and the open-redirect lists in raw, single- and double-encoded forms), sessions
 * missing, replayed or spliced, Authorization headers, forged Host / identity headers, methods and sizes.
 * A refused logout deletes nothing: the session survives.
 */
import { describe, expect } from '@jest/globals';
import { APP_ORIGIN, CLIENT_ID, Harness, PUBLIC_ORIGIN, type Response } from '../_support/harness';
import {
  cookieHeaderOfLength,
  distinctive,
  FORGED_IDENTITY_HEADERS,
  forgedHeaderSets,
  freshSessionCookie,
  LIMITS,
  queryOfLength,
  REDIRECT_PAYLOADS,
  redirectRows,
  REGISTERED_METHODS,
  noSecretInAnyLog,
  runCases,
  SESSION_COOKIE_NAME,
  staysTrusted,
  type Case,
  type Sent,
  harnessPerFile,
  sessionRows,
} from './_cases';

let h: Harness;
const harness = harnessPerFile((started) => (h = started));

const XHR = { 'x-csrf': '1' };
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSON_TYPE = { 'content-type': 'application/json' };
const SAME_ORIGIN_FORM = { ...FORM, origin: PUBLIC_ORIGIN };

/** Signed out: the provider's end-session URL (JSON for XHR, a 302 for a form post) naming `target`; cookie cleared. */
function signsOut(target = `${PUBLIC_ORIGIN}/`, how: 'json' | 'redirect' = 'json', sessions = -1): Case['expect'] {
  return {
    status: how === 'json' ? 200 : 302,
    stored: { sessions },
    check: (response: Response) => {
      const logoutUrl = new URL(how === 'json' ? response.json().logoutUrl : (response.headers.location ?? ''));
      expect(`${logoutUrl.origin}${logoutUrl.pathname}`).toBe(
        `${h.standIn.frontChannelUrl}/${h.standIn.tenantId}/oauth2/v2.0/logout`,
      );
      expect(logoutUrl.searchParams.get('client_id')).toBe(CLIENT_ID);
      expect(logoutUrl.searchParams.get('post_logout_redirect_uri')).toBe(target);
      expect(staysTrusted(logoutUrl.searchParams.get('post_logout_redirect_uri') ?? '')).toBeTruthy();
      const cleared = response.setCookies.find((c) => c.name === SESSION_COOKIE_NAME);
      expect(cleared?.maxAge).toBe(0);
    },
  };
}

const refused = (status: number, code: string): Case['expect'] => ({ status, code });

/** A logout row; with `session` (default) the request carries a fresh session's cookie. */
const row = sessionRows('/auth/logout');

describe('CSRF: XHR header or a same-origin form post, nothing else', () => {
  const cases: Case[] = [
    row('X-CSRF: 1 (baseline)', signsOut(), { headers: XHR }),
    row('a same-origin form post (Origin)', signsOut(undefined, 'redirect'), { headers: SAME_ORIGIN_FORM, body: '' }),
    row('a same-origin form post (Sec-Fetch-Site, no Origin)', signsOut(undefined, 'redirect'), {
      headers: { ...FORM, 'sec-fetch-site': 'same-origin' },
      body: '',
    }),
    row('no X-CSRF, no Origin, no Sec-Fetch-Site', refused(403, 'csrf_required')),
    row('X-CSRF: 0', refused(403, 'csrf_required'), { headers: { 'x-csrf': '0' } }),
    row('X-CSRF sent twice (1, 1)', refused(403, 'csrf_required'), { headers: { 'x-csrf': '1, 1' } }),
    row('a cross-site form post', refused(403, 'csrf_required'), {
      headers: { ...FORM, origin: 'https://evil.example' },
      body: '',
    }),
    row('a form post from the allowed app origin (not this service)', refused(403, 'csrf_required'), {
      headers: { ...FORM, origin: APP_ORIGIN },
      body: '',
    }),
    row('a form post from Origin: null (sandboxed frame, data: URL)', refused(403, 'csrf_required'), {
      headers: { ...FORM, origin: 'null' },
      body: '',
    }),
    row('a form post from a host that starts with ours', refused(403, 'csrf_required'), {
      headers: { ...FORM, origin: `${PUBLIC_ORIGIN}.evil.example` },
      body: '',
    }),
    row('a form post from our host over http', refused(403, 'csrf_required'), {
      headers: { ...FORM, origin: PUBLIC_ORIGIN.replace('https:', 'http:') },
      body: '',
    }),
    row('a form post from our origin with a path (not an Origin)', refused(403, 'csrf_required'), {
      headers: { ...FORM, origin: `${PUBLIC_ORIGIN}/` },
      body: '',
    }),
    row('a form post with Sec-Fetch-Site: same-site', refused(403, 'csrf_required'), {
      headers: { ...FORM, 'sec-fetch-site': 'same-site' },
      body: '',
    }),
    row('a form post with Sec-Fetch-Site: cross-site', refused(403, 'csrf_required'), {
      headers: { ...FORM, 'sec-fetch-site': 'cross-site' },
      body: '',
    }),
    row('a form post with Sec-Fetch-Site: none', refused(403, 'csrf_required'), {
      headers: { ...FORM, 'sec-fetch-site': 'none' },
      body: '',
    }),
    row('a cross-site Origin with a same-origin Sec-Fetch-Site: Origin decides', refused(403, 'csrf_required'), {
      headers: { ...FORM, origin: 'https://evil.example', 'sec-fetch-site': 'same-origin' },
      body: '',
    }),
    row('same Origin but a JSON body without X-CSRF', refused(403, 'csrf_required'), {
      headers: { ...JSON_TYPE, origin: PUBLIC_ORIGIN },
      body: '{}',
    }),
    row('same Origin but a text/plain body (enctype=text/plain) → 415', refused(415, 'unsupported_media_type'), {
      headers: { 'content-type': 'text/plain', origin: PUBLIC_ORIGIN },
      body: 'post_logout_redirect_uri=/',
    }),
    row('same Origin but multipart → 415', refused(415, 'unsupported_media_type'), {
      headers: { 'content-type': 'multipart/form-data; boundary=x', origin: PUBLIC_ORIGIN },
      body: '--x--',
    }),
    row('X-Forwarded-Host naming the attacker does not make its Origin ours', refused(403, 'csrf_required'), {
      headers: {
        ...FORM,
        origin: 'https://evil.example',
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'https',
      },
      body: '',
    }),
    row('a request under another Host does not make that Origin ours', refused(403, 'csrf_required'), {
      url: 'https://evil.example/auth/logout',
      headers: { ...FORM, origin: 'https://evil.example', host: 'evil.example' },
      body: '',
    }),
  ];
  runCases(harness, 'logout', cases);
});

describe('post_logout_redirect_uri and the body', () => {
  const cases: Case[] = [
    row('a relative target in the query', signsOut(`${PUBLIC_ORIGIN}/bye`), {
      headers: XHR,
      url: '/auth/logout?post_logout_redirect_uri=%2Fbye',
    }),
    row('an allowed absolute target in a form body', signsOut(`${APP_ORIGIN}/bye`, 'redirect'), {
      headers: SAME_ORIGIN_FORM,
      body: `post_logout_redirect_uri=${encodeURIComponent(`${APP_ORIGIN}/bye`)}`,
    }),
    row('an allowed absolute target in a JSON body', signsOut(`${APP_ORIGIN}/bye`), {
      headers: { ...XHR, ...JSON_TYPE },
      body: JSON.stringify({ post_logout_redirect_uri: `${APP_ORIGIN}/bye` }),
    }),
    row('query and body both: the query counts', signsOut(`${PUBLIC_ORIGIN}/q`, 'redirect'), {
      url: '/auth/logout?post_logout_redirect_uri=%2Fq',
      headers: SAME_ORIGIN_FORM,
      body: 'post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F',
    }),
    row('duplicated in the query', refused(400, 'invalid_request'), {
      headers: XHR,
      url: '/auth/logout?post_logout_redirect_uri=%2Fa&post_logout_redirect_uri=%2Fb',
    }),
    row('duplicated in the query, the second evil', refused(400, 'invalid_request'), {
      headers: XHR,
      url: '/auth/logout?post_logout_redirect_uri=%2Fa&post_logout_redirect_uri=https%3A%2F%2Fevil.example',
    }),
    row('duplicated in a form body', refused(400, 'invalid_request'), {
      headers: SAME_ORIGIN_FORM,
      body: 'post_logout_redirect_uri=%2Fa&post_logout_redirect_uri=%2F%2Fevil.example',
    }),
    row('empty in the query', refused(400, 'invalid_return_url'), {
      headers: XHR,
      url: '/auth/logout?post_logout_redirect_uri=',
    }),
    row('empty in a form body', refused(400, 'invalid_return_url'), {
      headers: SAME_ORIGIN_FORM,
      body: 'post_logout_redirect_uri=',
    }),
    row('empty in a JSON body', refused(400, 'invalid_return_url'), {
      headers: { ...XHR, ...JSON_TYPE },
      body: '{"post_logout_redirect_uri":""}',
    }),
    row('a number in a JSON body', refused(400, 'invalid_request'), {
      headers: { ...XHR, ...JSON_TYPE },
      body: '{"post_logout_redirect_uri":1}',
    }),
    row('an array in a JSON body', refused(400, 'invalid_request'), {
      headers: { ...XHR, ...JSON_TYPE },
      body: '{"post_logout_redirect_uri":["/a","https://evil.example"]}',
    }),
    row('an object in a JSON body', refused(400, 'invalid_request'), {
      headers: { ...XHR, ...JSON_TYPE },
      body: '{"post_logout_redirect_uri":{"href":"https://evil.example"}}',
    }),
    row('JSON null for the target (not a string)', refused(400, 'invalid_request'), {
      headers: { ...XHR, ...JSON_TYPE },
      body: '{"post_logout_redirect_uri":null}',
    }),
    row('a JSON body that is not JSON', refused(400, 'invalid_request'), {
      headers: { ...XHR, ...JSON_TYPE },
      body: '{post_logout_redirect_uri:',
    }),
    row('a JSON body that is null: the default', signsOut(), { headers: { ...XHR, ...JSON_TYPE }, body: 'null' }),
    row('JSON keys duplicated: the last one counts (and is refused)', refused(400, 'invalid_return_url'), {
      headers: { ...XHR, ...JSON_TYPE },
      body: '{"post_logout_redirect_uri":"/a","post_logout_redirect_uri":"https://evil.example/"}',
    }),
    row('a PHP-style array name is another parameter', signsOut(undefined, 'redirect'), {
      headers: SAME_ORIGIN_FORM,
      body: 'post_logout_redirect_uri[]=https%3A%2F%2Fevil.example%2F',
    }),
    row('bad percent-encoding in a form body (not hex)', refused(400, 'invalid_return_url'), {
      headers: SAME_ORIGIN_FORM,
      body: 'post_logout_redirect_uri=%2F%zz',
    }),
    row('bad percent-encoding in a form body (truncated UTF-8)', refused(400, 'invalid_return_url'), {
      headers: SAME_ORIGIN_FORM,
      body: 'post_logout_redirect_uri=%2F%E0%A4%A',
    }),
    row('CRLF in a form body', refused(400, 'invalid_return_url'), {
      headers: SAME_ORIGIN_FORM,
      body: 'post_logout_redirect_uri=%2Fa%0d%0aLocation%3A%20https%3A%2F%2Fevil.example',
      payloads: ['Location: https://evil.example'],
    }),
    row('a body of exactly 16 KB', signsOut(undefined, 'redirect'), {
      headers: SAME_ORIGIN_FORM,
      body: `post_logout_redirect_uri=%2F&pad=${'x'.repeat(LIMITS.bodyBytes - 'post_logout_redirect_uri=%2F&pad='.length)}`,
    }),
    row('a body of 16 KB + 1 byte → 413', refused(413, 'request_too_large'), {
      headers: SAME_ORIGIN_FORM,
      body: `pad=${'x'.repeat(LIMITS.bodyBytes + 1 - 4)}`,
    }),
    row('a 1 MB JSON body → 413', refused(413, 'request_too_large'), {
      headers: { ...XHR, ...JSON_TYPE },
      body: JSON.stringify({ post_logout_redirect_uri: `/${'a'.repeat(1024 * 1024)}` }),
    }),
    row('a declared Content-Length over 16 KB → 413', refused(413, 'request_too_large'), {
      headers: { ...XHR, ...JSON_TYPE, 'content-length': String(LIMITS.bodyBytes + 1) },
      body: '{}',
    }),
    row('query over 4 KB → 413', refused(413, 'request_too_large'), {
      headers: XHR,
      url: `/auth/logout${queryOfLength(LIMITS.queryBytes + 1)}`,
    }),
    row('cookie header over 32 KB → 413', refused(413, 'request_too_large'), {
      headers: XHR,
      make: (c) => ({ cookie: cookieHeaderOfLength(LIMITS.cookieHeaderBytes + 1, c) }),
    }),
    row('text/plain with X-CSRF → 415', refused(415, 'unsupported_media_type'), {
      headers: { ...XHR, 'content-type': 'text/plain' },
      body: 'x',
    }),
  ];
  runCases(harness, 'logout', cases);
});

describe('sessions and Authorization', () => {
  const cases: Case[] = [
    row('no session: still signed out (idempotent), nothing deleted', signsOut(undefined, 'json', 0), {
      headers: XHR,
      session: false,
    }),
    row('garbage session cookie: nothing deleted', signsOut(undefined, 'json', 0), {
      headers: { ...XHR, cookie: `${SESSION_COOKIE_NAME}=x` },
      session: false,
    }),
    row('a session token as OData: nothing deleted', signsOut(undefined, 'json', 0), {
      headers: { ...XHR, cookie: `${SESSION_COOKIE_NAME}=' or 1 eq 1 or '` },
      session: false,
    }),
    row('logged out twice: the second deletes nothing', signsOut(undefined, 'json', 0), {
      headers: XHR,
      make: async (c) => {
        expect(
          (await h.call('logout', { method: 'POST', url: '/auth/logout', headers: { ...XHR, cookie: c } })).status,
        ).toBe(200);
        return { cookie: c };
      },
    }),
    row("a session's id with a forged secret: nothing deleted", signsOut(undefined, 'json', 0), {
      headers: XHR,
      make: (c) => {
        const [partition, id] = c.slice(SESSION_COOKIE_NAME.length + 1).split('.');
        return { cookie: `${SESSION_COOKIE_NAME}=${partition}.${id}.${'A'.repeat(43)}` };
      },
    }),
    row(
      'Bearer garbage beside a live cookie: the Bearer is what the caller chose, nothing deleted',
      signsOut(undefined, 'json', 0),
      { make: (c) => ({ cookie: c, authorization: 'Bearer x' }) },
    ),
    row('Bearer that is not a b64token → 401', refused(401, 'session_required'), {
      make: (c) => ({ cookie: c, authorization: 'Bearer <evil>' }),
    }),
    row('Basic credentials → 401', refused(401, 'session_required'), {
      headers: XHR,
      make: (c) => ({ cookie: c, authorization: 'Basic YWRtaW46YWRtaW4=' }),
    }),
  ];
  runCases(harness, 'logout', cases);
});

describe('forged Host and identity headers: the end-session target stays ours', () => {
  const cases: Case[] = forgedHeaderSets().flatMap(([name, headers]): Case[] => [
    row(`${name}: default target`, signsOut(), { headers: { ...XHR, ...headers } }),
    row(`${name}: relative target resolved against our origin`, signsOut(`${PUBLIC_ORIGIN}/bye`), {
      headers: { ...XHR, ...headers },
      url: '/auth/logout?post_logout_redirect_uri=%2Fbye',
    }),
  ]);
  cases.push(
    row('under another Host, a relative target still resolves against our origin', signsOut(`${PUBLIC_ORIGIN}/bye`), {
      url: 'https://evil.example/auth/logout?post_logout_redirect_uri=%2Fbye',
      headers: { ...XHR, ...FORGED_IDENTITY_HEADERS },
    }),
  );
  runCases(harness, 'logout', cases);
});

describe('methods', () => {
  runCases(
    harness,
    'logout',
    REGISTERED_METHODS.filter((m) => m !== 'POST').map((method) =>
      row(
        `${method} with a session and X-CSRF → 405, the session survives`,
        { ...refused(405, 'method_not_allowed'), allow: 'POST' },
        { method, headers: XHR, url: '/auth/logout?post_logout_redirect_uri=%2F' },
      ),
    ),
  );
});

describe('open redirects through post_logout_redirect_uri', () => {
  // One session serves every refused row (a refusal must leave it alone); an accepted row ends it.
  let shared: string | undefined;
  const withShared = (
    name: string,
    accepted: boolean,
    target: string | undefined,
    sent: Partial<Sent>,
    payloads: string[],
    how: 'json' | 'redirect' = 'json',
  ): Case => ({
    name,
    method: 'POST',
    url: '/auth/logout',
    ...sent,
    payloads,
    prepare: async (h) => {
      shared ??= await freshSessionCookie(h);
      return { headers: { ...sent.headers, cookie: shared } };
    },
    expect: accepted
      ? {
          ...signsOut(target, how),
          check: async (response, h) => {
            shared = undefined;
            await signsOut(target, how).check!(response, h);
          },
        }
      : refused(400, 'invalid_return_url'),
  });
  const absolute = (value: string) => {
    try {
      return new URL(value.replace(/[\t\n\r]/g, ''), PUBLIC_ORIGIN).href;
    } catch {
      return undefined;
    }
  };

  describe('in the query (curated bypasses and oauth2-proxy list; raw, single- and double-encoded)', () => {
    runCases(
      harness,
      'logout',
      redirectRows().map(({ name, value, form, encoded, accepted }) => {
        // What the function receives for an accepted row: the payload itself (single), or as the URL parser left it (raw).
        const received = form === 'single' ? value : new URL(`${PUBLIC_ORIGIN}/?v=${encoded}`).searchParams.get('v')!;
        return withShared(
          name,
          accepted,
          accepted ? absolute(received) : undefined,
          { url: `/auth/logout?post_logout_redirect_uri=${encoded}`, headers: XHR },
          distinctive(value),
        );
      }),
    );
  });
  describe('in a same-origin form body (curated bypasses)', () => {
    runCases(
      harness,
      'logout',
      REDIRECT_PAYLOADS.map(({ name, value, accept }) =>
        withShared(
          `${name} ${JSON.stringify(value.slice(0, 80))}`,
          accept?.includes('single') ?? false,
          absolute(value),
          { headers: SAME_ORIGIN_FORM, body: new URLSearchParams({ post_logout_redirect_uri: value }).toString() },
          distinctive(value),
          'redirect',
        ),
      ),
    );
  });
  describe('in a JSON body (curated bypasses)', () => {
    runCases(
      harness,
      'logout',
      REDIRECT_PAYLOADS.map(({ name, value, accept }) =>
        withShared(
          `${name} ${JSON.stringify(value.slice(0, 80))}`,
          accept?.includes('single') ?? false,
          absolute(value),
          { headers: { ...XHR, ...JSON_TYPE }, body: JSON.stringify({ post_logout_redirect_uri: value }) },
          distinctive(value),
        ),
      ),
    );
  });
});

noSecretInAnyLog(harness);
