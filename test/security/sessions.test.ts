/**
 * GET /auth/sessions, DELETE /auth/sessions/{id} and GET /auth/frontchannel-logout under attack: missing and
 * forged credentials, CSRF, ids that are someone else's, unknown, malformed or storage keys (all the same 404,
 * no oracle), methods and sizes; front-channel calls with missing, duplicated, malformed, guessed or
 * case-changed sids and wrong issuers (the same page, nothing ended). Each row goes through `runCase`: status,
 * code, the session rows added or removed, no cookie on an error, no secret in the logs.
 */
import { describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { SESSION_COOKIE } from '../../shared/core/session';
import { sessionRowRef } from '../../shared/core/keys';
import type { Harness, Response } from '../_support/harness';
import { NativeApp } from '../_support/native-app';
import {
  cookieHeaderOfLength,
  FORGED_IDENTITY_HEADERS,
  harnessPerFile,
  LIMITS,
  noSecretInAnyLog,
  queryOfLength,
  runCases,
  type Case,
  type Endpoint,
  type Sent,
} from './_cases';

let h: Harness;
const harness = harnessPerFile((started) => (h = started));
const runRows = (endpoint: Endpoint, rows: readonly Case[]) => runCases(harness, endpoint, rows);

const ADELE = 'adele@contoso.example';
const ALEX = 'alex@contoso.example';
const XHR = { 'x-csrf': '1' };

/** A signed-in browser of `username`: its cookie header and its sid at the provider. */
async function browserOf(username: string): Promise<{ cookie: string; token: string; sid: string }> {
  const browser = h.newBrowser();
  const { authorizeUrl } = await browser.startSignIn();
  const done = await browser.callback(await browser.signInAtProvider(authorizeUrl, username));
  expect(done.status).toBe(302);
  const token = browser.jar.get(SESSION_COOKIE)!;
  return { cookie: `${SESSION_COOKIE}=${token}`, token, sid: h.standIn.sessionIds(username).at(-1)! };
}

/** The ids Adele's first browser sees: its own (current) and her second browser's. */
async function adeleWithTwoBrowsers() {
  const first = await browserOf(ADELE);
  const second = await browserOf(ADELE);
  const listed = await h.call('sessions', { url: '/auth/sessions', headers: { cookie: first.cookie } });
  const sessions = listed.json().sessions as { id: string; current: boolean }[];
  // Sessions of earlier rows are listed too; the second browser's is the most recently seen one that is not current.
  const current = sessions.find((s) => s.current)!.id;
  const other = sessions.find((s) => !s.current)!.id;
  return { first, second, current, other };
}

async function alexId(): Promise<string> {
  const alex = await browserOf(ALEX);
  return (await h.call('sessions', { url: '/auth/sessions', headers: { cookie: alex.cookie } })).json().sessions[0].id;
}

const refused = (status: number, code: string, extra: Partial<Case['expect']> = {}): Case['expect'] => ({
  status,
  code,
  ...extra,
});

// ----------------------------------------------------------------------------------- GET /auth/sessions

describe('GET /auth/sessions', () => {
  const withCookie =
    (make: (b: { cookie: string; token: string }) => Record<string, string>) => async (): Promise<Partial<Sent>> => ({
      headers: make(await browserOf(ADELE)),
    });
  const listsOwn: Case['expect'] = {
    status: 200,
    check: (response: Response) => {
      const sessions = response.json().sessions as { current: boolean; kind: string }[];
      expect(sessions.filter((s) => s.current)).toHaveLength(1);
      expect(response.headers['cache-control']).toBe('no-store');
    },
  };
  runRows('sessions', [
    { name: 'no session → 401', url: '/auth/sessions', expect: refused(401, 'session_required') },
    {
      name: 'own cookie → 200, one current',
      url: '/auth/sessions',
      prepare: withCookie((b) => ({ cookie: b.cookie })),
      expect: listsOwn,
    },
    {
      name: 'the app’s Bearer token → 200',
      url: '/auth/sessions',
      prepare: async () => ({
        headers: { authorization: `Bearer ${(await new NativeApp(h).signInForTokens()).refresh_token}` },
      }),
      expect: {
        ...listsOwn,
        check: (r: Response) =>
          expect((r.json().sessions as { current: boolean; kind: string }[]).find((s) => s.current)?.kind).toBe(
            'native',
          ),
      },
    },
    {
      name: 'a cookie with its secret changed → 401',
      url: '/auth/sessions',
      prepare: withCookie((b) => ({
        cookie: `${SESSION_COOKIE}=${b.token.slice(0, -2)}${b.token.endsWith('AA') ? 'BB' : 'AA'}`,
      })),
      expect: refused(401, 'session_required'),
    },
    {
      name: 'a web session token as Bearer → 401',
      url: '/auth/sessions',
      prepare: withCookie((b) => ({ authorization: `Bearer ${b.token}` })),
      expect: refused(401, 'session_required'),
    },
    {
      name: 'Authorization: Basic → 401',
      url: '/auth/sessions',
      headers: { authorization: 'Basic YWRlbGU6cGFzcw==' },
      expect: refused(401, 'session_required'),
    },
    {
      name: 'forged identity headers, no session → 401',
      url: '/auth/sessions',
      headers: FORGED_IDENTITY_HEADERS,
      expect: refused(401, 'session_required'),
    },
    {
      name: 'a query naming another user changes nothing',
      url: '/auth/sessions?user=alex%40contoso.example&id=all',
      prepare: withCookie((b) => ({ cookie: b.cookie })),
      expect: listsOwn,
    },
    {
      name: 'GET of one id → 404',
      url: `/auth/sessions/${'a'.repeat(32)}`,
      prepare: withCookie((b) => ({ cookie: b.cookie })),
      expect: refused(404, 'session_not_found'),
    },
    ...(['POST', 'PUT', 'PATCH'] as const).map((method) => ({
      name: `${method} → 405`,
      method,
      url: '/auth/sessions',
      headers: XHR,
      expect: refused(405, 'method_not_allowed', { allow: 'GET, DELETE' }),
    })),
    {
      name: 'an oversized query → 413',
      url: `/auth/sessions?${queryOfLength(LIMITS.queryBytes + 1)}`,
      expect: refused(413, 'request_too_large'),
    },
    {
      name: 'an oversized cookie header → 413',
      url: '/auth/sessions',
      headers: { cookie: cookieHeaderOfLength(LIMITS.cookieHeaderBytes + 1) },
      expect: refused(413, 'request_too_large'),
    },
  ]);
});

// ---------------------------------------------------------------------------- DELETE /auth/sessions/{id}

describe('DELETE /auth/sessions/{id}', () => {
  /** A DELETE row: Adele's first browser sends it, for the id `target` picks. */
  const del = (
    name: string,
    expect: Case['expect'],
    target: (s: Awaited<ReturnType<typeof adeleWithTwoBrowsers>>) => string | Promise<string>,
    headers: Record<string, string> = XHR,
  ): Case => ({
    name,
    method: 'DELETE',
    url: '/auth/sessions',
    expect,
    prepare: async () => {
      const s = await adeleWithTwoBrowsers();
      return { url: `/auth/sessions/${await target(s)}`, headers: { cookie: s.first.cookie, ...headers } };
    },
  });
  const clearsCookie = (r: Response) =>
    expect(r.setCookies).toEqual([expect.objectContaining({ name: SESSION_COOKIE, maxAge: 0 })]);
  runRows('sessions', [
    del(
      'own other session → 204',
      { status: 204, stored: { sessions: -1 }, check: (r) => expect(r.setCookies).toEqual([]) },
      (s) => s.other,
    ),
    del(
      'own current session → 204, cookie cleared',
      { status: 204, stored: { sessions: -1 }, check: clearsCookie },
      (s) => s.current,
    ),
    del('no X-CSRF → 403, nothing ended', refused(403, 'csrf_required'), (s) => s.other, {}),
    del('X-CSRF: 0 → 403', refused(403, 'csrf_required'), (s) => s.other, { 'x-csrf': '0' }),
    del('X-CSRF: true → 403', refused(403, 'csrf_required'), (s) => s.other, { 'x-csrf': 'true' }),
    del('someone else’s id → 404, nothing ended', refused(404, 'session_not_found'), () => alexId()),
    del('someone else’s id with forged identity headers → 404', refused(404, 'session_not_found'), () => alexId(), {
      ...XHR,
      ...FORGED_IDENTITY_HEADERS,
    }),
    del('an unknown id → 404', refused(404, 'session_not_found'), () => 'f'.repeat(32)),
    del('own id in upper case → 404', refused(404, 'session_not_found'), (s) => s.other.toUpperCase()),
    del('own id one character short → 404', refused(404, 'session_not_found'), (s) => s.other.slice(0, -1)),
    del('own id with a character more → 404', refused(404, 'session_not_found'), (s) => `${s.other}0`),
    del(
      'the session row key (a storage key) → 404',
      refused(404, 'session_not_found'),
      (s) => sessionRowRef(s.second.token)!.rowKey,
    ),
    del('the session token’s id part → 404', refused(404, 'session_not_found'), (s) => s.second.token.split('.')[1]!),
    del('the whole session token → 404', refused(404, 'session_not_found'), (s) => encodeURIComponent(s.second.token)),
    del('a dot-segment id → 404', refused(404, 'session_not_found'), () => '%2e%2e'),
    del('an id with a slash after it → 404', refused(404, 'session_not_found'), (s) => `${s.other}/x`),
    del('an OData filter as the id → 404', refused(404, 'session_not_found'), () =>
      encodeURIComponent("x' or PartitionKey ne '"),
    ),
    {
      name: 'no id → 400',
      method: 'DELETE',
      url: '/auth/sessions',
      prepare: async () => ({ headers: { cookie: (await browserOf(ADELE)).cookie, ...XHR } }),
      expect: refused(400, 'invalid_request'),
    },
    {
      name: 'no session (X-CSRF sent) → 401',
      method: 'DELETE',
      url: `/auth/sessions/${'a'.repeat(32)}`,
      headers: XHR,
      expect: refused(401, 'session_required'),
    },
    {
      name: 'the app (Bearer, no X-CSRF) ends a browser session of the same user → 204',
      method: 'DELETE',
      url: '/auth/sessions',
      prepare: async () => {
        const browser = await browserOf(ADELE);
        const app = await new NativeApp(h).signInForTokens();
        const listed = (await h.call('sessions', { url: '/auth/sessions', headers: { cookie: browser.cookie } })).json()
          .sessions as { id: string; current: boolean }[];
        return {
          url: `/auth/sessions/${listed.find((s) => s.current)!.id}`,
          headers: { authorization: `Bearer ${app.refresh_token}` },
        };
      },
      expect: { status: 204, stored: { sessions: -1 } },
    },
  ]);

  test('every 404 is the same answer, whatever the id was', async () => {
    const s = await adeleWithTwoBrowsers();
    const bodies = new Set<string>();
    for (const id of [
      await alexId(),
      'f'.repeat(32),
      s.other.toUpperCase(),
      '%2e%2e',
      sessionRowRef(s.second.token)!.rowKey,
    ]) {
      const response = await h.call('sessions', {
        method: 'DELETE',
        url: `/auth/sessions/${id}`,
        headers: { cookie: s.first.cookie, ...XHR },
      });
      expect(response.status).toBe(404);
      bodies.add(response.body);
    }
    expect(bodies.size).toBe(1);
  });
});

// ------------------------------------------------------------------------------ front-channel logout

describe('GET /auth/frontchannel-logout', () => {
  const FC = '/auth/frontchannel-logout';
  const q = (params: Record<string, string>) => `${FC}?${new URLSearchParams(params)}`;
  /** A row whose query is built around a live browser session's sid. */
  const live = (
    name: string,
    expect: Case['expect'],
    query: (sid: string) => string,
    headers: (cookie: string) => Record<string, string> = () => ({}),
  ): Case => ({
    name,
    url: FC,
    expect,
    prepare: async () => {
      const browser = await browserOf(ADELE);
      return { url: query(browser.sid), headers: headers(browser.cookie) };
    },
  });
  const page = (sessions: number): Case['expect'] => ({
    status: 200,
    stored: { sessions },
    check: (response: Response) => {
      expect(response.headers['cache-control']).toBe('no-cache, no-store');
      expect(response.headers['content-security-policy']).toMatch(/frame-ancestors https:\/\/127\.0\.0\.1:\d+;/);
      expect(response.headers['x-frame-options']).toBeUndefined();
      expect(response.setCookies).toEqual([]);
      expect(response.body).toBe(
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head><body></body></html>',
      );
    },
  });
  runRows('frontchannel-logout', [
    live('a live sid → 200, its session ended', page(-1), (sid) => q({ sid })),
    live('a live sid with its issuer → 200, ended', page(-1), (sid) => q({ iss: h.standIn.issuer, sid })),
    live('a live sid with another issuer → 200, nothing ended', page(0), (sid) =>
      q({ iss: 'https://login.evil.example/common/v2.0', sid }),
    ),
    live('a live sid with its issuer plus a slash → 200, nothing ended', page(0), (sid) =>
      q({ iss: `${h.standIn.issuer}/`, sid }),
    ),
    live('a live sid in upper case → 200, nothing ended', page(0), (sid) => q({ sid: sid.toUpperCase() })),
    live('a live sid’s prefix → 200, nothing ended', page(0), (sid) => q({ sid: sid.slice(0, 8) })),
    live(
      'the session cookie beside an unknown sid is ignored → 200, nothing ended',
      page(0),
      () => q({ sid: randomUUID() }),
      (cookie) => ({ cookie }),
    ),
    { name: 'an unknown sid → 200, nothing ended', url: q({ sid: randomUUID() }), expect: page(0) },
    {
      name: 'a one-character sid → 200, nothing ended (short sids are never indexed)',
      url: q({ sid: '1' }),
      expect: page(0),
    },
    {
      name: 'markup in the sid is not echoed',
      url: q({ sid: '<script>alert(1)</script>' }),
      expect: page(0),
      payloads: ['<script>alert(1)</script>'],
    },
    { name: 'no sid → 400', url: FC, expect: refused(400, 'invalid_request') },
    { name: 'an empty sid → 400', url: `${FC}?sid=`, expect: refused(400, 'invalid_request') },
    {
      name: 'sid twice → 400',
      url: `${FC}?sid=${randomUUID()}&sid=${randomUUID()}`,
      expect: refused(400, 'invalid_request'),
    },
    {
      name: 'a newline in the sid → 400',
      url: `${FC}?sid=a%0aSet-Cookie:x`,
      expect: refused(400, 'invalid_request'),
      payloads: ['Set-Cookie:x'],
    },
    { name: 'a 256-character sid → 400', url: q({ sid: 'a'.repeat(256) }), expect: refused(400, 'invalid_request') },
    {
      name: 'iss not a URL → 400',
      url: q({ iss: 'evil', sid: randomUUID() }),
      expect: refused(400, 'invalid_request'),
    },
    {
      name: 'iss javascript: → 400',
      url: q({ iss: 'javascript:alert(1)', sid: randomUUID() }),
      expect: refused(400, 'invalid_request'),
    },
    {
      name: 'an oversized query → 413',
      url: `${FC}?${queryOfLength(LIMITS.queryBytes + 1)}`,
      expect: refused(413, 'request_too_large'),
    },
    ...(['POST', 'PUT', 'PATCH', 'DELETE'] as const).map((method) => ({
      name: `${method} → 405`,
      method,
      url: q({ sid: randomUUID() }),
      expect: refused(405, 'method_not_allowed', { allow: 'GET' }),
    })),
  ]);
});

// The stand-in counts every sid it issued among its secrets: none may reach a log either.
noSecretInAnyLog(harness);
