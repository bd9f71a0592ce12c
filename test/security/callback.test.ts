/**
 * GET /auth/callback under attack: state, code and error missing, duplicated, empty, oversized, malformed (Table
 * key characters, OData, control characters, look-alikes); state from another browser, replayed, expired; code
 * replayed or swapped between sign-ins; provider errors; ID tokens that must fail validation (alg confusion,
 * keys, issuer, audience, times, claims, size); signing-key rotation and unknown kids against the JWKS cooldown;
 * forged Host / identity headers; and the returnTo values login accepts, followed to the final redirect.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, jest } from '@jest/globals';
import { expectPresent } from '../_support/expect-present';
import type { SignFn } from '../../dev/entra-standin';
import { APP_ORIGIN, Harness, PUBLIC_ORIGIN, type Response } from '../_support/harness';
import {
  cookieHeaderOfLength,
  forgedHeaderSets,
  LIMITS,
  pendingCallback,
  queryOfLength,
  REGISTERED_METHODS,
  noSecretInAnyLog,
  runCases,
  SESSION_COOKIE_NAME,
  staysTrusted,
  type Case,
  type Sent,
  harnessPerFile,
} from './_cases';

let h: Harness;
const harness = harnessPerFile((started) => (h = started));

const tokenCalls = () => Object.values(h.standIn.counters.token).reduce((a, b) => a + b, 0);
let tokenCallsBefore = 0;
beforeEach(() => {
  tokenCallsBefore = tokenCalls();
});
type Pending = Awaited<ReturnType<typeof pendingCallback>> & { params: URLSearchParams; code: string };

/** A row whose request is a live sign-in's callback, as `tamper` changes it (default: unchanged). */
function live(
  name: string,
  expected: Case['expect'],
  tamper: (p: Pending) => Partial<Sent> | Promise<Partial<Sent>> = () => ({}),
  options: { query?: string; cancel?: boolean; skip?: string; payloads?: string[] } = {},
): Case {
  return {
    name,
    url: '/auth/callback',
    skip: options.skip,
    payloads: options.payloads,
    prepare: async (h) => {
      const pending = await pendingCallback(h, options.query ?? 'returnTo=%2Fapp', { cancel: options.cancel });
      const p: Pending = {
        ...pending,
        params: new URLSearchParams(pending.callbackUrl.search),
        code: pending.callbackUrl.searchParams.get('code') ?? '',
      };
      const sent = { url: pending.path, headers: { cookie: pending.cookie }, ...(await tamper(p)) };
      tokenCallsBefore = tokenCalls(); // the row's own request starts here
      return sent;
    },
    expect: expected,
  };
}

const withParams = (p: Pending, change: (params: URLSearchParams) => void): Partial<Sent> => {
  const params = new URLSearchParams(p.params);
  change(params);
  return { url: `/auth/callback?${params}` };
};

/** The sign-in completed: 302 to `location`, the state consumed, one session, its __Host- cookie. */
function signedIn(location: string | ((location: string) => void) = '/app'): Case['expect'] {
  return {
    status: 302,
    stored: { states: -1, sessions: 1 },
    check: (response: Response) => {
      if (typeof location === 'string') expect(response.headers.location).toBe(location);
      else location(response.headers.location ?? '');
      expect(staysTrusted(response.headers.location ?? '')).toBeTruthy();
      const session = response.setCookies.find((c) => c.name === SESSION_COOKIE_NAME);
      expectPresent(session);
      expect(session.value).toBeTruthy();
      expect({
        secure: session.attributes.secure,
        httpOnly: session.attributes.httpOnly,
        path: session.attributes.path,
        domain: session.attributes.domain,
        sameSite: session.attributes.sameSite,
      }).toStrictEqual({ secure: true, httpOnly: true, path: '/', domain: undefined, sameSite: 'Lax' });
      expect(response.setCookies.some((c) => c.name.startsWith('__Host-signin-') && c.maxAge === 0)).toBeTruthy();
    },
  };
}

/** Refused before anything was consumed, and before any call to the provider's token endpoint. */
function refusedEarly(code: string, status = 400): Case['expect'] {
  return {
    status,
    code,
    check: () => expect(tokenCalls()).toBe(tokenCallsBefore),
  };
}

/** The provider's answer is no good: the state is spent, no session. */
const ID_TOKEN_INVALID: Case['expect'] = { status: 502, code: 'id_token_invalid', stored: { states: -1 } };

/** A callback whose ID token the stand-in builds with `mutate`. */
function idTokenRow(
  name: string,
  mutate: (claims: Record<string, unknown>, sign: SignFn) => string,
  expected: Case['expect'] = ID_TOKEN_INVALID,
  skip?: string,
): Case {
  return live(
    name,
    expected,
    () => {
      h.standIn.nextIdToken(mutate);
      return {};
    },
    { skip },
  );
}

const header = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString());
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
/** A JWS with the given header and claims and no signature at all. */
const unsigned = (head: Record<string, unknown>, claims: Record<string, unknown>) => `${b64(head)}.${b64(claims)}.`;
const nowSeconds = () => Math.floor(Date.now() / 1000);
const OTHER_TENANT = '99999999-9999-4999-8999-999999999999';
const wellFormedState = (secret = 'A'.repeat(43)) => `${'0'.repeat(10)}.${secret}`;

describe('state, code and error parameters without a live sign-in', () => {
  const forbidden = ['/', '\\', '#', '?', "'", '"', '%', '*', ' ', '\u0000', '\r\n', '\u0410', '\uff21', '+', '='];
  const cases: Case[] = [
    { name: 'no parameters', url: '/auth/callback', expect: refusedEarly('state_missing') },
    { name: 'code without state', url: '/auth/callback?code=abc', expect: refusedEarly('state_missing') },
    { name: 'error without state', url: '/auth/callback?error=access_denied', expect: refusedEarly('provider_error') },
    {
      name: 'error and markup in error_description without state: nothing reflected',
      url: `/auth/callback?error=${encodeURIComponent('<b>evil</b>')}&error_description=${encodeURIComponent('<script>alert("evil")</script>\r\nSet-Cookie: evil=1')}`,
      expect: refusedEarly('provider_error'),
      payloads: ['<script>alert("evil")</script>', 'Set-Cookie: evil=1', '<b>evil</b>'],
    },
    { name: 'state empty', url: '/auth/callback?code=abc&state=', expect: refusedEarly('state_malformed') },
    { name: 'state present without =', url: '/auth/callback?code=abc&state', expect: refusedEarly('state_malformed') },
    {
      name: 'state duplicated',
      url: `/auth/callback?code=abc&state=${wellFormedState()}&state=${wellFormedState()}`,
      expect: refusedEarly('invalid_request'),
    },
    {
      name: 'code duplicated',
      url: `/auth/callback?code=a&code=b&state=${wellFormedState()}`,
      expect: refusedEarly('invalid_request'),
    },
    {
      name: 'error duplicated',
      url: `/auth/callback?error=access_denied&error=server_error&state=${wellFormedState()}`,
      expect: refusedEarly('invalid_request'),
    },
    {
      name: 'state not of our shape',
      url: '/auth/callback?code=abc&state=not-a-state',
      expect: refusedEarly('state_malformed'),
    },
    {
      name: 'state with an extra segment',
      url: `/auth/callback?code=abc&state=${wellFormedState()}.x`,
      expect: refusedEarly('state_malformed'),
    },
    {
      name: 'state one character short',
      url: `/auth/callback?code=abc&state=${wellFormedState('A'.repeat(42))}`,
      expect: refusedEarly('state_malformed'),
    },
    {
      name: 'state with a fullwidth-digit partition',
      url: `/auth/callback?code=abc&state=${encodeURIComponent(`${'\uff10'.repeat(10)}.${'A'.repeat(43)}`)}`,
      expect: refusedEarly('state_malformed'),
    },
    {
      name: 'state with a path-traversal partition',
      url: `/auth/callback?code=abc&state=${encodeURIComponent(`../../../.${'A'.repeat(43)}`)}`,
      expect: refusedEarly('state_malformed'),
    },
    {
      name: 'state as OData',
      url: `/auth/callback?code=abc&state=${encodeURIComponent("' or PartitionKey ne '")}`,
      expect: refusedEarly('state_malformed'),
    },
    {
      name: 'state as an OData filter',
      url: `/auth/callback?code=abc&state=${encodeURIComponent("0000000000.x' or RowKey gt '' or '")}`,
      expect: refusedEarly('state_malformed'),
    },
    {
      name: 'state as an OData query option',
      url: `/auth/callback?code=abc&state=${encodeURIComponent('$filter=true')}`,
      expect: refusedEarly('state_malformed'),
    },
    ...forbidden.map((char): Case => ({
      name: `state with ${JSON.stringify(char)} in it (Table key / URL / look-alike character)`,
      url: `/auth/callback?code=abc&state=${encodeURIComponent(wellFormedState(`${'A'.repeat(21)}${char}${'A'.repeat(43 - 22 - char.length + 1)}`))}`,
      expect: refusedEarly('state_malformed'),
    })),
    {
      name: 'state with bad percent-encoding (not hex)',
      url: `/auth/callback?code=abc&state=${wellFormedState(`${'A'.repeat(40)}%zz`)}`,
      expect: refusedEarly('state_malformed'),
    },
    {
      name: 'state with bad percent-encoding (truncated UTF-8)',
      url: `/auth/callback?code=abc&state=${wellFormedState(`${'A'.repeat(34)}%E0%A4%A`)}`,
      expect: refusedEarly('state_malformed'),
    },
    {
      name: 'state with CRLF',
      url: `/auth/callback?code=abc&state=${wellFormedState(`${'A'.repeat(41)}`)}%0d%0a`,
      expect: refusedEarly('state_malformed'),
    },
    {
      name: 'state of 4 KB',
      url: `/auth/callback?code=abc&state=${'0'.repeat(10)}.${'A'.repeat(4000)}`,
      expect: refusedEarly('state_malformed'),
    },
    {
      name: 'well-formed but unknown state',
      url: `/auth/callback?code=abc&state=${wellFormedState()}`,
      expect: refusedEarly('state_unknown'),
    },
    {
      name: 'well-formed unknown state with a provider error',
      url: `/auth/callback?error=access_denied&state=${wellFormedState()}`,
      expect: refusedEarly('state_unknown'),
    },
    {
      name: 'query over 4 KB',
      url: `/auth/callback${queryOfLength(LIMITS.queryBytes + 1, `code=abc&state=${wellFormedState()}`)}`,
      expect: refusedEarly('request_too_large', 413),
    },
    {
      name: 'cookie header over 32 KB',
      url: `/auth/callback?code=abc&state=${wellFormedState()}`,
      headers: { cookie: cookieHeaderOfLength(LIMITS.cookieHeaderBytes + 1) },
      expect: refusedEarly('request_too_large', 413),
    },
    ...REGISTERED_METHODS.filter((m) => m !== 'GET').map((method): Case => ({
      name: `${method} → 405 (a form_post response is not accepted)`,
      method,
      url: `/auth/callback?code=abc&state=${wellFormedState()}`,
      ...(method === 'POST'
        ? {
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: `code=abc&state=${wellFormedState()}`,
          }
        : {}),
      expect: { ...refusedEarly('method_not_allowed', 405), allow: 'GET' },
    })),
  ];
  runCases(harness, 'callback', cases);
});

describe('a live sign-in: browser binding, replay, code injection', () => {
  const cases: Case[] = [
    live('the untouched callback signs in (baseline)', signedIn()),
    live('without the transaction cookie (state from another browser)', refusedEarly('state_mismatch'), () => ({
      headers: {},
    })),
    live("with another browser's own transaction cookie", refusedEarly('state_mismatch'), async () => {
      const other = await pendingCallback(h);
      return { headers: { cookie: other.cookie } };
    }),
    live('transaction cookie with a wrong value', refusedEarly('state_mismatch'), (p) => ({
      headers: { cookie: p.cookie.replace(/=.*/, `=${'A'.repeat(43)}`) },
    })),
    live('transaction cookie empty', refusedEarly('state_mismatch'), (p) => ({
      headers: { cookie: p.cookie.replace(/=.*/, '=') },
    })),
    live('transaction cookie name in lower case', refusedEarly('state_mismatch'), (p) => ({
      headers: { cookie: p.cookie.replace('__Host-', '__host-') },
    })),
    live('transaction cookie without the __Host- prefix', refusedEarly('state_mismatch'), (p) => ({
      headers: { cookie: p.cookie.replace('__Host-', '') },
    })),
    live('transaction cookie twice, a forged one first: the first counts', refusedEarly('state_mismatch'), (p) => ({
      headers: { cookie: `${p.cookie.replace(/=.*/, `=${'B'.repeat(43)}`)}; ${p.cookie}` },
    })),
    live('transaction cookie twice, the real one first: the first counts', signedIn(), (p) => ({
      headers: { cookie: `${p.cookie}; ${p.cookie.replace(/=.*/, `=${'B'.repeat(43)}`)}` },
    })),
    live('transaction cookie with control characters appended', refusedEarly('state_mismatch'), (p) => ({
      headers: { cookie: `${p.cookie}\u0001\u007f` },
    })),
    live('cookie header of exactly 32 KB with the real transaction cookie', signedIn(), (p) => ({
      headers: { cookie: cookieHeaderOfLength(LIMITS.cookieHeaderBytes, p.cookie) },
    })),
    live(
      'cookie header of 32 KB + 1 byte with the real transaction cookie',
      refusedEarly('request_too_large', 413),
      (p) => ({ headers: { cookie: cookieHeaderOfLength(LIMITS.cookieHeaderBytes + 1, p.cookie) } }),
    ),
    live('state duplicated, same value', refusedEarly('invalid_request'), (p) =>
      withParams(p, (q) => q.append('state', p.state)),
    ),
    live('code duplicated, same value', refusedEarly('invalid_request'), (p) =>
      withParams(p, (q) => q.append('code', p.code)),
    ),
    live('code missing: refused, the sign-in is not spent', refusedEarly('invalid_request'), (p) =>
      withParams(p, (q) => q.delete('code')),
    ),
    live(
      'code empty: refused before the state is spent',
      refusedEarly('invalid_request'),
      (p) => withParams(p, (q) => q.set('code', '')),
      {},
    ),
    live('code unknown to the provider', { status: 400, code: 'invalid_grant', stored: { states: -1 } }, (p) =>
      withParams(p, (q) => q.set('code', 'forged-code')),
    ),
    live(
      'code with CRLF and a header',
      { status: 400, code: 'invalid_grant', stored: { states: -1 } },
      (p) => withParams(p, (q) => q.set('code', `${p.code}\r\nX-Evil: 1`)),
      { payloads: ['X-Evil: 1'] },
    ),
    live('code of 3.5 KB', { status: 400, code: 'invalid_grant', stored: { states: -1 } }, (p) =>
      withParams(p, (q) => q.set('code', 'A'.repeat(3500))),
    ),
    live(
      'code from another sign-in (code injection: PKCE binds the code to its own verifier)',
      { status: 400, code: 'invalid_grant', stored: { states: -1 } },
      async (p) => {
        const other = await pendingCallback(h);
        return withParams(p, (q) => q.set('code', other.callbackUrl.searchParams.get('code')!));
      },
    ),
    live(
      'a code already redeemed, replayed with a fresh state',
      { status: 400, code: 'invalid_grant', stored: { states: -1 } },
      async (p) => {
        const victim = await pendingCallback(h);
        expect((await victim.browser.callback(victim.callbackUrl.href)).status).toBe(302);
        return withParams(p, (q) => q.set('code', victim.callbackUrl.searchParams.get('code')!));
      },
    ),
    live('the whole callback replayed after it completed', refusedEarly('state_unknown'), async (p) => {
      expect((await p.browser.callback(p.callbackUrl.href)).status).toBe(302);
      return {};
    }),
    live('replayed after it completed, from another browser', refusedEarly('state_unknown'), async (p) => {
      expect((await p.browser.callback(p.callbackUrl.href)).status).toBe(302);
      return { headers: {} };
    }),
    live(
      "the state of a sign-in replayed with another sign-in's cookie and code",
      refusedEarly('state_mismatch'),
      async (p) => {
        const other = await pendingCallback(h);
        return {
          headers: { cookie: other.cookie },
          ...withParams(p, (q) => q.set('code', other.callbackUrl.searchParams.get('code')!)),
        };
      },
    ),
    live(
      'expired state (11 minutes later): refused and removed',
      { status: 400, code: 'state_expired', stored: { states: -1 } },
      () => {
        h.clockOffsetMs = 11 * 60_000;
        return {};
      },
    ),
    live(
      'a state spliced from two sign-ins (partition of one, secret of another)',
      refusedEarly('state_unknown'),
      async (p) => {
        const other = await pendingCallback(h);
        const spliced = `${'9'.repeat(10)}.${other.state.split('.')[1]}`;
        return withParams(p, (q) => q.set('state', spliced));
      },
    ),
  ];
  runCases(harness, 'callback', cases);
});

describe('provider errors', () => {
  const cancelled = (location: string): Case['expect'] => ({
    status: 302,
    stored: { states: -1 },
    check: (r) => expect(r.headers.location).toBe(location),
  });
  const cases: Case[] = [
    live('user cancelled: back to returnTo with auth_error', cancelled('/app?auth_error=access_denied'), () => ({}), {
      cancel: true,
    }),
    live(
      'error with markup: becomes server_error, nothing reflected',
      cancelled('/app?auth_error=server_error'),
      (p) => withParams(p, (q) => q.set('error', '<script>alert("evil")</script>')),
      { cancel: true, payloads: ['<script>alert("evil")</script>'] },
    ),
    live(
      'error with CRLF: becomes server_error',
      cancelled('/app?auth_error=server_error'),
      (p) => withParams(p, (q) => q.set('error', 'access_denied\r\nSet-Cookie: evil=1')),
      { cancel: true, payloads: ['Set-Cookie: evil=1'] },
    ),
    live(
      'error look-alike (Cyrillic a): becomes server_error',
      cancelled('/app?auth_error=server_error'),
      (p) => withParams(p, (q) => q.set('error', '\u0430ccess_denied')),
      { cancel: true },
    ),
    live(
      'error empty: becomes server_error',
      cancelled('/app?auth_error=server_error'),
      (p) => withParams(p, (q) => q.set('error', '')),
      { cancel: true },
    ),
    live(
      'error_description with markup and CRLF is never reflected',
      cancelled('/app?auth_error=access_denied'),
      (p) =>
        withParams(p, (q) =>
          q.set('error_description', '<img src=x onerror=alert("evil")>\r\nLocation: https://evil.example/'),
        ),
      { cancel: true, payloads: ['<img src=x onerror=alert("evil")>', 'Location: https://evil.example/'] },
    ),
    live(
      'error_uri to another site is ignored',
      cancelled('/app?auth_error=access_denied'),
      (p) => withParams(p, (q) => q.set('error_uri', 'https://evil.example/phish')),
      { cancel: true },
    ),
    live(
      'error and a code together: the error wins, the code is not redeemed',
      {
        ...cancelled('/app?auth_error=access_denied'),
        check: (r) => {
          expect(r.headers.location).toBe('/app?auth_error=access_denied');
          expect(tokenCalls()).toBe(tokenCallsBefore);
        },
      },
      (p) => withParams(p, (q) => q.set('error', 'access_denied')),
    ),
    live(
      'a provider error from another browser: refused, the sign-in not spent',
      refusedEarly('state_mismatch'),
      () => ({ headers: {} }),
      { cancel: true },
    ),
    live(
      'a provider error for an absolute returnTo keeps it absolute',
      cancelled(`${APP_ORIGIN}/a?auth_error=access_denied`),
      () => ({}),
      { cancel: true, query: `returnTo=${encodeURIComponent(`${APP_ORIGIN}/a`)}` },
    ),
  ];
  runCases(harness, 'callback', cases);
});

describe('ID tokens that fail validation → 502 id_token_invalid, state spent, no session', () => {
  const withoutClaim = (name: string) => (c: Record<string, unknown>, sign: SignFn) => {
    const { [name]: _removed, ...rest } = c;
    return sign(rest);
  };
  const cases: Case[] = [
    idTokenRow('alg none', (c, sign) => sign(c, { alg: 'none' })),
    idTokenRow('alg NONE in upper case', (c, sign) => unsigned({ ...header(sign(c)), alg: 'NONE' }, c)),
    idTokenRow('alg RS256 with an empty signature', (c, sign) => unsigned(header(sign(c)), c)),
    idTokenRow('alg HS256 keyed with the public key (algorithm confusion)', (c, sign) => sign(c, { alg: 'HS256' })),
    idTokenRow('signed by a key not in the JWKS under a published kid', (c, sign) => sign(c, { key: 'foreign' })),
    idTokenRow('foreign key with an embedded jwk header', (c, sign) =>
      sign(c, { key: 'foreign', header: { jwk: { kty: 'RSA', n: 'AQAB', e: 'AQAB' } } }),
    ),
    idTokenRow('foreign key with a jku header to another site', (c, sign) =>
      sign(c, { key: 'foreign', header: { jku: 'https://evil.example/keys' } }),
    ),
    idTokenRow('foreign key with an x5u header to another site', (c, sign) =>
      sign(c, { key: 'foreign', header: { x5u: 'https://evil.example/cert.pem' } }),
    ),
    idTokenRow('an unknown critical header', (c, sign) => sign(c, { header: { crit: ['x-evil'], 'x-evil': true } })),
    idTokenRow('signature stripped', (c, sign) => `${sign(c).split('.').slice(0, 2).join('.')}.`),
    idTokenRow('payload swapped under a valid signature', (c, sign) => {
      const [header, , signature] = sign(c).split('.');
      return `${header}.${b64({ ...c, oid: '00000000-0000-4000-8000-00000000beef' })}.${signature}`;
    }),
    idTokenRow('issuer of another tenant (and its tid)', (c, sign) =>
      sign({ ...c, iss: String(c.iss).replace(String(c.tid), OTHER_TENANT), tid: OTHER_TENANT }),
    ),
    idTokenRow('issuer of another tenant, our tid', (c, sign) =>
      sign({ ...c, iss: String(c.iss).replace(String(c.tid), OTHER_TENANT) }),
    ),
    idTokenRow('our issuer, the tid of another tenant', (c, sign) => sign({ ...c, tid: OTHER_TENANT })),
    idTokenRow('issuer of another site', (c, sign) => sign({ ...c, iss: 'https://evil.example/v2.0' })),
    idTokenRow('issuer with a trailing slash', (c, sign) => sign({ ...c, iss: `${String(c.iss)}/` })),
    idTokenRow('issuer over http', (c, sign) => sign({ ...c, iss: String(c.iss).replace('https:', 'http:') })),
    idTokenRow('issuer of the v1 endpoint', (c, sign) =>
      sign({ ...c, iss: `https://sts.windows.net/${String(c.tid)}/` }),
    ),
    idTokenRow('issuer in upper case', (c, sign) => sign({ ...c, iss: String(c.iss).toUpperCase() })),
    idTokenRow('audience of another client', (c, sign) => sign({ ...c, aud: '99999999-2222-4333-8444-555555555555' })),
    idTokenRow('audience array with an extra audience', (c, sign) =>
      sign({ ...c, aud: [c.aud, 'https://evil.example'] }),
    ),
    idTokenRow('audience array with only other audiences', (c, sign) => sign({ ...c, aud: ['https://evil.example'] })),
    idTokenRow('audience empty array', (c, sign) => sign({ ...c, aud: [] })),
    idTokenRow('audience missing', withoutClaim('aud')),
    idTokenRow('azp of another client', (c, sign) => sign({ ...c, azp: '99999999-2222-4333-8444-555555555555' })),
    idTokenRow('expired beyond the 5-minute skew', (c, sign) =>
      sign({ ...c, exp: nowSeconds() - 400, iat: nowSeconds() - 4000, nbf: nowSeconds() - 4000 }),
    ),
    idTokenRow('iat in the future beyond the skew', (c, sign) => sign({ ...c, iat: nowSeconds() + 400 })),
    idTokenRow('nbf in the future beyond the skew', (c, sign) => sign({ ...c, nbf: nowSeconds() + 400 })),
    idTokenRow('iat and nbf in the future beyond the skew', (c, sign) =>
      sign({ ...c, iat: nowSeconds() + 400, nbf: nowSeconds() + 400 }),
    ),
    idTokenRow('iat missing', withoutClaim('iat')),
    idTokenRow('iat not a number', (c, sign) => sign({ ...c, iat: String(c.iat) })),
    idTokenRow('exp missing', withoutClaim('exp')),
    idTokenRow('nonce missing', withoutClaim('nonce')),
    idTokenRow('nonce of another sign-in', (c, sign) => sign({ ...c, nonce: 'A'.repeat(43) })),
    idTokenRow('sub missing', withoutClaim('sub')),
    idTokenRow('sub empty', (c, sign) => sign({ ...c, sub: '' })),
    idTokenRow('sub not a string', (c, sign) => sign({ ...c, sub: 12345 })),
    idTokenRow('oid missing', withoutClaim('oid')),
    idTokenRow('oid empty', (c, sign) => sign({ ...c, oid: '' })),
    idTokenRow('oid not a string', (c, sign) => sign({ ...c, oid: 12345 })),
    idTokenRow('tid missing', withoutClaim('tid')),
    idTokenRow('a 1 MB token (one huge claim)', (c, sign) => sign({ ...c, pad: 'A'.repeat(1024 * 1024) })),
    idTokenRow('a 1 MB token (huge signature part)', (c, sign) => `${sign(c)}${'A'.repeat(1024 * 1024)}`),
    idTokenRow('just over the 64 KB limit', (c, sign) => sign({ ...c, pad: 'A'.repeat(64 * 1024) })),
    idTokenRow('empty', () => ''),
    idTokenRow('not a JWT', () => 'not-a-jwt', ID_TOKEN_INVALID),
    idTokenRow('three garbage segments', () => 'a.b.c', ID_TOKEN_INVALID),
    // Tokens that are fine: the checks above are not stricter than the spec.
    idTokenRow(
      'accepted: expired within the skew',
      (c, sign) => sign({ ...c, exp: nowSeconds() - 200, iat: nowSeconds() - 4000, nbf: nowSeconds() - 4000 }),
      signedIn(),
    ),
    idTokenRow(
      'accepted: iat and nbf in the future within the skew',
      (c, sign) => sign({ ...c, iat: nowSeconds() + 200, nbf: nowSeconds() + 200 }),
      signedIn(),
    ),
    idTokenRow('accepted: audience array of this client only', (c, sign) => sign({ ...c, aud: [c.aud] }), signedIn()),
    idTokenRow('accepted: azp of this client', (c, sign) => sign({ ...c, azp: c.aud }), signedIn()),
    idTokenRow(
      'accepted: tid in upper case',
      (c, sign) => sign({ ...c, tid: String(c.tid).toUpperCase() }),
      signedIn(),
    ),
  ];
  runCases(harness, 'callback', cases);
});

describe('forged Host and identity headers: the redirect never uses a forwarded host', () => {
  const cases: Case[] = forgedHeaderSets().flatMap(([name, headers]): Case[] => [
    live(`${name}: signed in, relative redirect, host-only cookie`, signedIn('/app'), (p) => ({
      headers: { cookie: p.cookie, ...headers },
    })),
    live(
      `${name}: cancelled, relative redirect`,
      {
        status: 302,
        stored: { states: -1 },
        check: (r) => expect(r.headers.location).toBe('/app?auth_error=access_denied'),
      },
      (p) => ({ headers: { cookie: p.cookie, ...headers } }),
      { cancel: true },
    ),
  ]);
  cases.push(
    live('callback reached under another host (what a forged Host yields)', signedIn('/app'), (p) => ({
      url: `https://evil.example${p.path}`,
      headers: { cookie: p.cookie, host: 'evil.example' },
    })),
    live(
      'callback reached under another host, absolute returnTo kept exact',
      signedIn(`${APP_ORIGIN}/a`),
      (p) => ({
        url: `https://evil.example${p.path}`,
        headers: { cookie: p.cookie, 'x-forwarded-host': 'evil.example' },
      }),
      { query: `returnTo=${encodeURIComponent(`${APP_ORIGIN}/a`)}` },
    ),
  );
  runCases(harness, 'callback', cases);
});

describe('returnTo values login accepts, followed to the final redirect (success and provider error)', () => {
  const targets: [string, string][] = [
    ['/app?x=1#y', '/app?x=1#y'],
    ['/caf\u00e9', '/caf%C3%A9'],
    ['/x/../app', '/app'],
    ['/\uff0fevil.example', '/%EF%BC%8Fevil.example'],
    ['/\u2215\u2215evil.example', '/%E2%88%95%E2%88%95evil.example'],
    ['/https://evil.example/', '/https://evil.example/'],
    ['/https://evil.example/%2e%2e', '/https://'],
    ['/https:///evil.example/%2f%2e%2e', '/https:///evil.example/%2f%2e%2e'],
    ['/<>//evil.example', '/%3C%3E//evil.example'],
    [`https://@${new URL(APP_ORIGIN).host}/`, `${APP_ORIGIN}/`],
    [`HTTPS://${new URL(APP_ORIGIN).host.toUpperCase()}/x`, `${APP_ORIGIN}/x`],
    [`${PUBLIC_ORIGIN}/auth/me`, `${PUBLIC_ORIGIN}/auth/me`],
  ];
  const withError = (location: string) => {
    const url = new URL(location, PUBLIC_ORIGIN);
    url.searchParams.set('auth_error', 'access_denied');
    return location.startsWith('/') ? `${url.pathname}${url.search}${url.hash}` : url.href;
  };
  const cases: Case[] = targets.flatMap(([returnTo, location]): Case[] => [
    live(`${JSON.stringify(returnTo)} → ${location}`, signedIn(location), () => ({}), {
      query: `returnTo=${encodeURIComponent(returnTo)}`,
    }),
    live(
      `${JSON.stringify(returnTo)} cancelled → ${withError(location)}`,
      {
        status: 302,
        stored: { states: -1 },
        check: (r) => {
          expect(r.headers.location).toBe(withError(location));
          expect(staysTrusted(r.headers.location ?? '')).toBeTruthy();
        },
      },
      () => ({}),
      { query: `returnTo=${encodeURIComponent(returnTo)}`, cancel: true },
    ),
  ]);
  runCases(harness, 'callback', cases);
});

describe('signing keys: unknown kid and rotation against the JWKS refetch cooldown', () => {
  // jose refetches the JWKS on an unknown kid at most once per 30 s cooldown, timed with Date.now(): the rows
  // move Date.now() past the cooldown instead of waiting (the harness clock follows; the stand-in's does not).
  const realNow = Date.now.bind(Date);
  let offsetMs = 0;
  beforeAll(() => {
    jest.spyOn(Date, 'now').mockImplementation(() => realNow() + offsetMs);
  });
  afterAll(() => {
    jest.restoreAllMocks();
  });
  let jwksBefore = 0;
  const jwksFetches = (expected: number) => () => expect(h.standIn.counters.jwks - jwksBefore).toBe(expected);
  const cases: Case[] = [
    live(
      'unknown kid after the cooldown: one JWKS refetch, then rejected',
      { ...ID_TOKEN_INVALID, check: jwksFetches(1) },
      () => {
        offsetMs += 31_000;
        jwksBefore = h.standIn.counters.jwks;
        h.standIn.nextIdToken((c, sign) => sign(c, { kid: 'kid-the-provider-never-published' }));
        return {};
      },
    ),
    live(
      'another unknown kid within the cooldown: no refetch (forged kids cannot hammer the provider)',
      { ...ID_TOKEN_INVALID, check: jwksFetches(0) },
      () => {
        jwksBefore = h.standIn.counters.jwks;
        h.standIn.nextIdToken((c, sign) => sign(c, { kid: 'another-unpublished-kid' }));
        return {};
      },
    ),
    live(
      'rotated signing key after the cooldown: one refetch, accepted',
      {
        ...signedIn(),
        check: async (r, h) => {
          await signedIn().check!(r, h);
          jwksFetches(1)();
        },
      },
      () => {
        offsetMs += 31_000;
        jwksBefore = h.standIn.counters.jwks;
        h.standIn.rotateSigningKey();
        return {};
      },
    ),
    live(
      'the new key again: served from the refreshed set, no fetch',
      {
        ...signedIn(),
        check: async (r, h) => {
          await signedIn().check!(r, h);
          jwksFetches(0)();
        },
      },
      () => {
        jwksBefore = h.standIn.counters.jwks;
        return {};
      },
    ),
  ];
  runCases(harness, 'callback', cases);
});

noSecretInAnyLog(harness);
