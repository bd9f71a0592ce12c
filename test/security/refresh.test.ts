/**
 * POST /auth/refresh under attack: the X-CSRF header missing or wrong, the JSON body of the wrong type, shape,
 * size or content type, scopes outside the allowed list (case, look-alikes, CRLF, resource URLs), sessions
 * missing, tampered, replayed or expired, Authorization headers, forged identity headers, methods and sizes.
 * A refused refresh calls no provider, answers no token, and changes no row.
 */
import { describe, expect } from '@jest/globals';
import { Harness, type Response } from '../_support/harness';
import {
  cookieHeaderOfLength,
  forgedHeaderSets,
  LIMITS,
  queryOfLength,
  REGISTERED_METHODS,
  noSecretInAnyLog,
  runCases,
  SESSION_COOKIE_NAME,
  signedInBrowser,
  type Case,
  harnessPerFile,
  sessionRows,
} from './_cases';

let h: Harness;
const harness = harnessPerFile((started) => (h = started));

const tokenCalls = () => Object.values(h.standIn.counters.token).reduce((a, b) => a + b, 0);
let tokenCallsBefore = 0;

const JSON_TYPE = { 'content-type': 'application/json' };
const XHR = { 'x-csrf': '1' };

/** 200 with a bearer access token for the session's user; never the refresh or ID token. */
const accessToken: Case['expect'] = {
  status: 200,
  check: async (response: Response) => {
    const body = response.json();
    h.seenSecrets.add(body.access_token);
    expect(Object.keys(body).sort()).toStrictEqual(['access_token', 'expires_in', 'scope', 'token_type']);
    expect(body.token_type).toBe('Bearer');
    expect((await h.standIn.verifyAccessToken(body.access_token)).oid).toBe(h.standIn.users[0]!.oid);
    expect(!/refresh_token|id_token/.test(response.body)).toBeTruthy();
  },
};

/** Refused: the status and code, no provider call, no token in the body. */
function refused(status: number, code: string, stored: Case['expect']['stored'] = {}): Case['expect'] {
  return {
    status,
    code,
    stored,
    check: (response: Response) => {
      expect(tokenCalls()).toBe(tokenCallsBefore);
      expect(!/eyJ|access_token/.test(response.body)).toBeTruthy();
    },
  };
}

/** A POST /auth/refresh row; with `session`, the request carries a fresh session's cookie (unless `make` says otherwise). */
const row = sessionRows('/auth/refresh', () => (tokenCallsBefore = tokenCalls()));

const scopes = (value: unknown) => JSON.stringify({ scopes: value });

describe('the X-CSRF header', () => {
  const cases: Case[] = [
    row('a live session with X-CSRF: 1 (baseline)', accessToken, { headers: XHR }),
    row('X-CSRF missing', refused(403, 'csrf_required')),
    row('X-CSRF: 0', refused(403, 'csrf_required'), { headers: { 'x-csrf': '0' } }),
    row('X-CSRF: true', refused(403, 'csrf_required'), { headers: { 'x-csrf': 'true' } }),
    row('X-CSRF empty', refused(403, 'csrf_required'), { headers: { 'x-csrf': '' } }),
    row('X-CSRF sent twice (1, 1)', refused(403, 'csrf_required'), { headers: { 'x-csrf': '1, 1' } }),
    row('X-CSRF: 1 with a control character', refused(403, 'csrf_required'), { headers: { 'x-csrf': '1\u0001' } }),
    row('X-CSRF look-alike value (fullwidth 1, as UTF-8 bytes)', refused(403, 'csrf_required'), {
      headers: { 'x-csrf': Buffer.from('\uff11').toString('latin1') },
    }),
    row('X-CSRF-Token instead of X-CSRF', refused(403, 'csrf_required'), { headers: { 'x-csrf-token': '1' } }),
    row('X-Requested-With instead of X-CSRF', refused(403, 'csrf_required'), {
      headers: { 'x-requested-with': 'XMLHttpRequest' },
    }),
    row('X-CSRF: 1 without a session', refused(401, 'session_required'), { headers: XHR, session: false }),
    row(
      'a cross-site form post with a session → 415, never reaches the session',
      refused(415, 'unsupported_media_type'),
      {
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
        body: 'scopes=User.Read',
      },
    ),
  ];
  runCases(harness, 'refresh', cases);
});

describe('the JSON body', () => {
  const json = (name: string, expected: Case['expect'], body: string, headers: Record<string, string> = JSON_TYPE) =>
    row(name, expected, { headers: { ...XHR, ...headers }, body });
  const cases: Case[] = [
    json('{"scopes":["User.Read"]}', accessToken, scopes(['User.Read'])),
    json('an empty JSON object: the allowed scopes', accessToken, '{}'),
    json('the same allowed scope twice', accessToken, scopes(['User.Read', 'User.Read'])),
    json('an empty body with a JSON content type', accessToken, ''),
    json(
      '__proto__ in the body pollutes nothing',
      accessToken,
      '{"__proto__":{"scopes":["Mail.Send"]},"constructor":{"prototype":{"scopes":["Mail.Send"]}}}',
    ),
    json(
      'scopes duplicated as JSON keys: the last one counts (and is refused)',
      refused(400, 'scope_not_allowed'),
      '{"scopes":["User.Read"],"scopes":["Mail.Send"]}',
    ),
    json('not JSON', refused(400, 'invalid_request'), '{scopes:'),
    json('JSON null', refused(400, 'invalid_request'), 'null'),
    json('a JSON array', refused(400, 'invalid_request'), '["User.Read"]'),
    json('a JSON string', refused(400, 'invalid_request'), '"User.Read"'),
    json('a JSON number', refused(400, 'invalid_request'), '1'),
    json('scopes a string, not an array', refused(400, 'invalid_request'), scopes('User.Read')),
    json('scopes an object', refused(400, 'invalid_request'), scopes({ 0: 'User.Read' })),
    json('scopes null', refused(400, 'invalid_request'), scopes(null)),
    json('scopes empty', refused(400, 'invalid_request'), scopes([])),
    json('scopes with a number', refused(400, 'invalid_request'), scopes([1])),
    json('scopes with null', refused(400, 'invalid_request'), scopes([null])),
    json('scopes nested', refused(400, 'invalid_request'), scopes([['User.Read']])),
    json('21 scopes', refused(400, 'invalid_request'), scopes(Array(21).fill('User.Read'))),
    json('a scope of 257 characters', refused(400, 'invalid_request'), scopes(['U'.repeat(257)])),
    json('a scope outside the allowed list', refused(400, 'scope_not_allowed'), scopes(['Mail.Send'])),
    json('an allowed scope and another', refused(400, 'scope_not_allowed'), scopes(['User.Read', 'Mail.Send'])),
    json('two scopes in one string', refused(400, 'scope_not_allowed'), scopes(['User.Read Mail.Send'])),
    json('openid (asked at sign-in, not a refresh scope)', refused(400, 'scope_not_allowed'), scopes(['openid'])),
    json('offline_access', refused(400, 'scope_not_allowed'), scopes(['offline_access'])),
    json('.default', refused(400, 'scope_not_allowed'), scopes(['.default'])),
    json(
      'the allowed scope as a resource URL',
      refused(400, 'scope_not_allowed'),
      scopes(['https://graph.microsoft.com/User.Read']),
    ),
    json(
      'the allowed scope of another resource',
      refused(400, 'scope_not_allowed'),
      scopes(['https://evil.example/User.Read']),
    ),
    json('the allowed scope in lower case', refused(400, 'scope_not_allowed'), scopes(['user.read'])),
    json('the allowed scope with CRLF', refused(400, 'scope_not_allowed'), scopes(['User.Read\r\nMail.Send'])),
    json('the allowed scope with a NUL', refused(400, 'scope_not_allowed'), scopes(['User.Read\u0000'])),
    json('the allowed scope with a trailing space', refused(400, 'scope_not_allowed'), scopes(['User.Read '])),
    json('the allowed scope look-alike (Cyrillic a)', refused(400, 'scope_not_allowed'), scopes(['User.Re\u0430d'])),
    json('the allowed scope with a zero-width space', refused(400, 'scope_not_allowed'), scopes(['User.Read\u200b'])),
    json(
      'a body of exactly 16 KB',
      accessToken,
      `${scopes(['User.Read'])}${' '.repeat(LIMITS.bodyBytes - scopes(['User.Read']).length)}`,
    ),
    json(
      'a body of 16 KB + 1 byte → 413',
      refused(413, 'request_too_large'),
      `${scopes(['User.Read'])}${' '.repeat(LIMITS.bodyBytes + 1 - scopes(['User.Read']).length)}`,
    ),
    json(
      'a body over 16 KB in bytes, under it in characters → 413',
      refused(413, 'request_too_large'),
      scopes(['\u00e9'.repeat(9000)]),
    ),
    json('a 1 MB body → 413', refused(413, 'request_too_large'), scopes(['U'.repeat(1024 * 1024)])),
    json('a declared Content-Length over 16 KB → 413', refused(413, 'request_too_large'), '{}', {
      ...JSON_TYPE,
      'content-length': String(LIMITS.bodyBytes + 1),
    }),
    json('text/plain → 415', refused(415, 'unsupported_media_type'), scopes(['User.Read']), {
      'content-type': 'text/plain',
    }),
    json('a form body → 415', refused(415, 'unsupported_media_type'), 'scopes=User.Read', {
      'content-type': 'application/x-www-form-urlencoded',
    }),
    json('multipart → 415', refused(415, 'unsupported_media_type'), '--x\r\n\r\n{}\r\n--x--', {
      'content-type': 'multipart/form-data; boundary=x',
    }),
    json('application/json-patch+json → 415', refused(415, 'unsupported_media_type'), '[]', {
      'content-type': 'application/json-patch+json',
    }),
    json('a JSON-ish content type (application/jsonx) → 415', refused(415, 'unsupported_media_type'), '{}', {
      'content-type': 'application/jsonx',
    }),
    json('no content type with a body → 415', refused(415, 'unsupported_media_type'), '{}', {}),
    json('application/json with a charset', accessToken, '{}', { 'content-type': 'application/json; charset=utf-8' }),
    json('APPLICATION/JSON in upper case', accessToken, '{}', { 'content-type': 'APPLICATION/JSON' }),
    json('a content type but no body', accessToken, '', { 'content-type': 'text/plain' }),
  ];
  runCases(harness, 'refresh', cases);
});

describe('the session', () => {
  const cases: Case[] = [
    row('no cookie', refused(401, 'session_required'), { headers: XHR, session: false }),
    row('garbage cookie', refused(401, 'session_required'), {
      headers: { ...XHR, cookie: `${SESSION_COOKIE_NAME}=x` },
      session: false,
    }),
    row('tampered secret', refused(401, 'session_required'), {
      headers: XHR,
      make: (c) => ({ cookie: `${c.slice(0, -2)}${c.endsWith('AA') ? 'BB' : 'AA'}` }),
    }),
    row('the session cookie twice, a forged one first', refused(401, 'session_required'), {
      headers: XHR,
      make: (c) => ({ cookie: `${SESSION_COOKIE_NAME}=0000000000.${'A'.repeat(22)}.${'A'.repeat(43)}; ${c}` }),
    }),
    row('cookie header over 32 KB → 413', refused(413, 'request_too_large'), {
      headers: XHR,
      make: (c) => ({ cookie: cookieHeaderOfLength(LIMITS.cookieHeaderBytes + 1, c) }),
    }),
    row('query over 4 KB → 413', refused(413, 'request_too_large'), {
      headers: XHR,
      url: `/auth/refresh${queryOfLength(LIMITS.queryBytes + 1)}`,
    }),
    row('query parameters are ignored (scopes in the query is not a way around the list)', accessToken, {
      headers: XHR,
      url: '/auth/refresh?scopes=Mail.Send&scope=Mail.Send&x=%zz&y=%E0%A4%A',
    }),
    {
      name: 'replayed after logout',
      method: 'POST',
      url: '/auth/refresh',
      headers: XHR,
      expect: refused(401, 'session_required'),
      prepare: async (h) => {
        const browser = await signedInBrowser(h);
        const value = browser.jar.get(SESSION_COOKIE_NAME)!;
        expect((await browser.call('logout', { method: 'POST', url: '/auth/logout', headers: XHR })).status).toBe(200);
        tokenCallsBefore = tokenCalls();
        return { headers: { ...XHR, cookie: `${SESSION_COOKIE_NAME}=${value}` } };
      },
    },
    row('idle-expired session: refused and removed', refused(401, 'session_expired', { sessions: -1 }), {
      headers: XHR,
      make: (c) => {
        h.clockOffsetMs = h.config.session.idleSeconds * 1000 + 1000;
        return { cookie: c };
      },
    }),
    row('Bearer garbage (no CSRF needed, none taken from the cookie)', refused(401, 'session_required'), {
      make: (c) => ({ cookie: c, authorization: 'Bearer x' }),
    }),
    row('a web session cookie as a Bearer token', refused(401, 'session_required'), {
      make: (c) => ({ authorization: `Bearer ${c.slice(SESSION_COOKIE_NAME.length + 1)}` }),
    }),
    row('Basic credentials', refused(401, 'session_required'), {
      headers: XHR,
      make: (c) => ({ cookie: c, authorization: 'Basic YWRtaW46YWRtaW4=' }),
    }),
  ];
  runCases(harness, 'refresh', cases);
});

describe('forged identity headers and methods', () => {
  const cases: Case[] = forgedHeaderSets().flatMap(([name, headers]): Case[] => [
    row(`${name}, no session → 401`, refused(401, 'session_required'), {
      headers: { ...XHR, ...headers },
      session: false,
    }),
    row(`${name}, with a session → that session's own user`, accessToken, { headers: { ...XHR, ...headers } }),
  ]);
  cases.push(
    ...REGISTERED_METHODS.filter((m) => m !== 'POST').map((method) =>
      row(
        `${method} with a session and X-CSRF → 405`,
        { ...refused(405, 'method_not_allowed'), allow: 'POST' },
        { method, headers: XHR },
      ),
    ),
  );
  runCases(harness, 'refresh', cases);
});

noSecretInAnyLog(harness);
