/**
 * GET /auth/me under attack: the session cookie missing, empty, duplicated, oversized, malformed, tampered,
 * spliced, replayed after logout, expired; Authorization headers; forged identity headers (Easy Auth's
 * X-MS-CLIENT-PRINCIPAL*, forwarding headers) that must never stand in for a session; methods and sizes.
 */
import { describe, expect } from '@jest/globals';
import { Harness, type Response } from '../_support/harness';
import {
  cookieHeaderOfLength,
  FORGED_IDENTITY_HEADERS,
  forgedHeaderSets,
  freshSessionCookie,
  LIMITS,
  queryOfLength,
  REGISTERED_METHODS,
  noSecretInAnyLog,
  runCases,
  SESSION_COOKIE_NAME,
  signedInBrowser,
  type Case,
  harnessPerFile,
} from './_cases';

let h: Harness;
const harness = harnessPerFile((started) => (h = started));

const cookie = (value: string) => `${SESSION_COOKIE_NAME}=${value}`;
const valueOf = (cookieHeader: string) => cookieHeader.slice(SESSION_COOKIE_NAME.length + 1);
const FORGED_OID = '00000000-0000-4000-8000-00000000beef';

/** 401 with the code, a WWW-Authenticate challenge, and no profile in the body. */
function noSession(code = 'session_required', stored: Case['expect']['stored'] = {}): Case['expect'] {
  return {
    status: 401,
    code,
    stored,
    check: (response: Response) => {
      expect(response.headers['www-authenticate'] ?? '').toMatch(/^Bearer /);
      expect(!response.body.includes(FORGED_OID) && !response.body.includes('"user"')).toBeTruthy();
    },
  };
}

/** 200 with the signed-in user's own profile, never a token, nothing from forged headers. */
const profile: Case['expect'] = {
  status: 200,
  check: (response: Response) => {
    const body = response.json();
    expect(body.user.id).toBe(h.standIn.users[0]!.oid);
    expect(body.user.tenantId).toBe(h.standIn.tenantId);
    expect(!/eyJ|refresh|access_token|id_token/i.test(response.body)).toBeTruthy();
    expect(!response.body.includes(FORGED_OID) && !/evil/i.test(response.body)).toBeTruthy();
  },
};

/** A row run with a fresh session: `make` builds the request headers from that session's cookie header. */
function withSession(
  name: string,
  expected: Case['expect'],
  make: (sessionCookie: string) => Record<string, string> | Promise<Record<string, string>> = (c) => ({ cookie: c }),
  row: Partial<Pick<Case, 'url' | 'method' | 'skip'>> = {},
): Case {
  return {
    name,
    url: '/auth/me',
    ...row,
    expect: expected,
    prepare: async (h) => ({ headers: await make(await freshSessionCookie(h)) }),
  };
}

/** A header carries bytes: non-Latin-1 text arrives as its UTF-8 bytes. */
const utf8Bytes = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
const WELL_FORMED = `0000000000.${'A'.repeat(22)}.${'A'.repeat(43)}`;

describe('the session cookie', () => {
  const cases: Case[] = [
    withSession('a live session (baseline)', profile),
    { name: 'no cookie', url: '/auth/me', expect: noSession() },
    { name: 'empty session cookie', url: '/auth/me', headers: { cookie: cookie('') }, expect: noSession() },
    {
      name: 'session cookie without =',
      url: '/auth/me',
      headers: { cookie: SESSION_COOKIE_NAME },
      expect: noSession(),
    },
    { name: 'garbage session cookie', url: '/auth/me', headers: { cookie: cookie('x') }, expect: noSession() },
    {
      name: 'well-formed but unknown session',
      url: '/auth/me',
      headers: { cookie: cookie(WELL_FORMED) },
      expect: noSession(),
    },
    {
      name: 'a session token with Table key characters',
      url: '/auth/me',
      headers: { cookie: cookie(`0000000000.${'A'.repeat(10)}/\\#?${'A'.repeat(8)}.${'A'.repeat(43)}`) },
      expect: noSession(),
    },
    {
      name: 'a session token as OData',
      url: '/auth/me',
      headers: { cookie: cookie("' or PartitionKey ne '") },
      expect: noSession(),
    },
    {
      name: 'a session token with encoded CRLF',
      url: '/auth/me',
      headers: { cookie: cookie(`${WELL_FORMED}%0d%0aSet-Cookie:%20evil=1`) },
      expect: noSession(),
    },
    {
      name: 'a session token with control characters',
      url: '/auth/me',
      headers: { cookie: cookie(`${WELL_FORMED}\u0001\u007f`) },
      expect: noSession(),
    },
    {
      name: 'a session token with bad percent-encoding',
      url: '/auth/me',
      headers: { cookie: cookie(`%E0%A4%A${WELL_FORMED.slice(8)}`) },
      expect: noSession(),
    },
    {
      name: 'a session token with a look-alike partition (fullwidth digits)',
      url: '/auth/me',
      headers: { cookie: cookie(`${utf8Bytes('\uff10'.repeat(10))}${WELL_FORMED.slice(10)}`) },
      expect: noSession(),
    },
    {
      name: 'a session token of 8000 bytes',
      url: '/auth/me',
      headers: { cookie: cookie(`0000000000.${'A'.repeat(7980)}`) },
      expect: noSession(),
    },
    {
      name: 'a state token used as a session',
      url: '/auth/me',
      headers: { cookie: cookie(`0000000000.${'A'.repeat(43)}`) },
      expect: noSession(),
    },
    {
      name: 'cookie header of 32 KB + 1 byte → 413',
      url: '/auth/me',
      headers: { cookie: cookieHeaderOfLength(LIMITS.cookieHeaderBytes + 1) },
      expect: { status: 413, code: 'request_too_large' },
    },
    withSession('a live session in a cookie header of exactly 32 KB', profile, (c) => ({
      cookie: cookieHeaderOfLength(LIMITS.cookieHeaderBytes, c),
    })),
    withSession(
      'a live session in a cookie header of 32 KB + 1 byte → 413',
      { status: 413, code: 'request_too_large' },
      (c) => ({ cookie: cookieHeaderOfLength(LIMITS.cookieHeaderBytes + 1, c) }),
    ),
    withSession('the session cookie twice, the live one first: the first counts', profile, (c) => ({
      cookie: `${c}; ${cookie(WELL_FORMED)}`,
    })),
    withSession('the session cookie twice, a forged one first: the first counts', noSession(), (c) => ({
      cookie: `${cookie(WELL_FORMED)}; ${c}`,
    })),
    withSession('lower-case cookie name', noSession(), (c) => ({ cookie: c.replace('__Host-', '__host-') })),
    withSession('cookie name without the __Host- prefix', noSession(), (c) => ({ cookie: c.replace('__Host-', '') })),
    withSession('__Secure- instead of __Host-', noSession(), (c) => ({ cookie: c.replace('__Host-', '__Secure-') })),
    withSession('tampered secret', noSession(), (c) => ({
      cookie: `${c.slice(0, -2)}${c.endsWith('AA') ? 'BB' : 'AA'}`,
    })),
    withSession('tampered id', noSession(), (c) => {
      const [partition, id, secret] = valueOf(c).split('.');
      return { cookie: cookie(`${partition}.${id!.slice(0, -1)}${id!.endsWith('A') ? 'B' : 'A'}.${secret}`) };
    }),
    withSession('tampered partition', noSession(), (c) => ({ cookie: cookie(`9999999999${valueOf(c).slice(10)}`) })),
    withSession('a session spliced from two browsers (id of one, secret of the other)', noSession(), async (c) => {
      const other = valueOf(await freshSessionCookie(h));
      const [partition, id] = valueOf(c).split('.');
      return { cookie: cookie(`${partition}.${id}.${other.split('.')[2]}`) };
    }),
    withSession('the session cookie in quotes (an RFC 6265 quoted value) is the same cookie', profile, (c) => ({
      cookie: cookie(`"${valueOf(c)}"`),
    })),
    withSession('the session cookie with a trailing segment', noSession(), (c) => ({ cookie: `${c}.x` })),
    {
      name: 'replayed after logout',
      url: '/auth/me',
      expect: noSession(),
      prepare: async (h) => {
        const browser = await signedInBrowser(h);
        const value = browser.jar.get(SESSION_COOKIE_NAME)!;
        const logout = await browser.call('logout', {
          method: 'POST',
          url: '/auth/logout',
          headers: { 'x-csrf': '1' },
        });
        expect(logout.status).toBe(200);
        return { headers: { cookie: cookie(value) } };
      },
    },
    {
      name: 'idle-expired session: refused and removed',
      url: '/auth/me',
      expect: noSession('session_expired', { sessions: -1 }),
      prepare: async (h) => {
        const c = await freshSessionCookie(h);
        h.clockOffsetMs = h.config.session.idleSeconds * 1000 + 1000;
        return { headers: { cookie: c } };
      },
    },
    {
      name: 'absolutely expired session: refused and removed',
      url: '/auth/me',
      expect: noSession('session_expired', { sessions: -1 }),
      prepare: async (h) => {
        const c = await freshSessionCookie(h);
        h.clockOffsetMs = h.config.session.absoluteSeconds * 1000 + 1000;
        return { headers: { cookie: c } };
      },
    },
  ];
  runCases(harness, 'me', cases);
});

describe('the Authorization header', () => {
  const cases: Case[] = [
    {
      name: 'Basic credentials',
      url: '/auth/me',
      headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` },
      expect: noSession(),
    },
    { name: 'Bearer without a token', url: '/auth/me', headers: { authorization: 'Bearer ' }, expect: noSession() },
    { name: 'Bearer garbage', url: '/auth/me', headers: { authorization: 'Bearer x' }, expect: noSession() },
    {
      name: 'Bearer with a forged unsigned JWT',
      url: '/auth/me',
      headers: {
        authorization: `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(`{"oid":"${FORGED_OID}"}`).toString('base64url')}.`,
      },
      expect: noSession(),
    },
    {
      name: 'Bearer of 4 KB',
      url: '/auth/me',
      headers: { authorization: `Bearer ${'A'.repeat(4096)}` },
      expect: noSession(),
    },
    {
      name: 'Bearer with CRLF-encoded content',
      url: '/auth/me',
      headers: { authorization: `Bearer ${WELL_FORMED}%0d%0a` },
      expect: noSession(),
    },
    withSession('a web session cookie presented as a Bearer token', noSession(), (c) => ({
      authorization: `Bearer ${valueOf(c)}`,
    })),
    withSession('Bearer garbage beside a live cookie: the Bearer is what the caller chose', noSession(), (c) => ({
      cookie: c,
      authorization: 'Bearer x',
    })),
    withSession('Basic credentials beside a live cookie', noSession(), (c) => ({
      cookie: c,
      authorization: 'Basic YWRtaW46YWRtaW4=',
    })),
    withSession(
      "a web session's id with a forged secret as Bearer: 401, the web session untouched",
      noSession(),
      (c) => {
        const [partition, id] = valueOf(c).split('.');
        return { authorization: `Bearer ${partition}.${id}.${'A'.repeat(43)}` };
      },
      {},
    ),
  ];
  runCases(harness, 'me', cases);
});

describe('forged identity headers never stand in for a session', () => {
  const cases: Case[] = forgedHeaderSets().flatMap(([name, headers]): Case[] => [
    { name: `${name}, no session → 401`, url: '/auth/me', headers, expect: noSession() },
    withSession(`${name}, with a session → that session's own user`, profile, (c) => ({ cookie: c, ...headers })),
  ]);
  cases.push({
    name: 'request URL on another host, no session → 401',
    url: 'https://evil.example/auth/me',
    headers: FORGED_IDENTITY_HEADERS,
    expect: noSession(),
  });
  runCases(harness, 'me', cases);
});

describe('methods, query and sizes', () => {
  const cases: Case[] = [
    ...REGISTERED_METHODS.filter((m) => m !== 'GET').map((method) =>
      withSession(
        `${method} with a live session → 405`,
        { status: 405, code: 'method_not_allowed', allow: 'GET' },
        undefined,
        { method },
      ),
    ),
    {
      name: 'POST with a JSON body → 405, body never read',
      method: 'POST',
      url: '/auth/me',
      headers: { 'content-type': 'application/json' },
      body: '{"user":{"id":"evil"}}',
      expect: { status: 405, code: 'method_not_allowed', allow: 'GET' },
    },
    withSession('query parameters are ignored (duplicated, bad encoding, CRLF)', profile, undefined, {
      url: '/auth/me?user=evil&user=x&id=%zz&x=%E0%A4%A&y=%0d%0aSet-Cookie:%20evil=1',
    }),
    {
      name: 'query over 4 KB → 413',
      url: `/auth/me${queryOfLength(LIMITS.queryBytes + 1)}`,
      expect: { status: 413, code: 'request_too_large' },
    },
    withSession('query over 4 KB with a live session → 413', { status: 413, code: 'request_too_large' }, undefined, {
      url: `/auth/me${queryOfLength(LIMITS.queryBytes + 1)}`,
    }),
  ];
  runCases(harness, 'me', cases);
});

noSecretInAnyLog(harness);
