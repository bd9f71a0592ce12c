/**
 * GET /auth/login under attack: every query parameter (returnTo, prompt, login_hint, domain_hint) missing,
 * duplicated, empty, oversized, badly encoded, with control characters, CRLF and look-alikes; wrong methods;
 * size limits; cookies; forged Host / forwarding headers; and the open-redirect lists against returnTo.
 * A refused login writes no AuthState row and sets no cookie.
 */
import { describe, expect } from '@jest/globals';
import { CLIENT_ID, Harness, NATIVE_REDIRECT_URIS, REDIRECT_URI, type Response } from '../_support/harness';
import {
  cookieHeaderOfLength,
  distinctive,
  forgedHeaderSets,
  LIMITS,
  queryOfLength,
  redirectRows,
  REGISTERED_METHODS,
  noSecretInAnyLog,
  runCases,
  type Case,
  harnessPerFile,
} from './_cases';

let h: Harness;
const harness = harnessPerFile((started) => (h = started));

/** A started sign-in: 302 to the provider's authorize endpoint, one state row, one __Host- transaction cookie. */
function startsSignIn(params: Record<string, string | null> = {}): Case['expect'] {
  return {
    status: 302,
    stored: { states: 1 },
    check: (response: Response) => {
      const location = new URL(response.headers.location ?? '');
      expect(`${location.origin}${location.pathname}`).toBe(
        `${h.standIn.frontChannelUrl}/${h.standIn.tenantId}/oauth2/v2.0/authorize`,
      );
      expect(location.searchParams.get('redirect_uri')).toBe(REDIRECT_URI);
      for (const [name, value] of Object.entries(params)) expect(location.searchParams.get(name)).toBe(value);
      for (const name of [
        'client_id',
        'response_type',
        'redirect_uri',
        'scope',
        'state',
        'nonce',
        'code_challenge',
        'code_challenge_method',
      ]) {
        expect(location.searchParams.getAll(name).length).toBe(1);
      }
      h.seenSecrets.add(location.searchParams.get('state') ?? '');
      expect(response.setCookies.length).toBe(1);
      const [cookie] = response.setCookies;
      expect(cookie!.name).toMatch(/^__Host-signin-[0-9a-f]{16}$/);
      expect({
        secure: cookie!.attributes.secure,
        httpOnly: cookie!.attributes.httpOnly,
        path: cookie!.attributes.path,
        domain: cookie!.attributes.domain,
      }).toStrictEqual({ secure: true, httpOnly: true, path: '/', domain: undefined });
    },
  };
}

const refused = (code: string, status = 400): Case['expect'] => ({ status, code });

describe('query parameters', () => {
  const PARAMS = {
    returnTo: { good: '%2Fapp', code: 'invalid_return_url' },
    prompt: { good: 'login', code: 'invalid_parameter' },
    login_hint: { good: 'adele%40contoso.example', code: 'invalid_parameter' },
    domain_hint: { good: 'contoso.example', code: 'invalid_parameter' },
  } as const;
  const cases: Case[] = [
    { name: 'no parameters at all: returns to / after sign-in', url: '/auth/login', expect: startsSignIn() },
    {
      name: 'all parameters, well-formed',
      url: '/auth/login?returnTo=%2Fapp&prompt=select_account&login_hint=adele%40contoso.example&domain_hint=contoso.example',
      expect: startsSignIn({
        prompt: 'select_account',
        login_hint: 'adele@contoso.example',
        domain_hint: 'contoso.example',
      }),
    },
    {
      // `claims` is ours to take (a claims challenge); an empty request adds nothing to the declared cp1 capability.
      name: 'client_id, scope, nonce and unknown parameters are ignored, never forwarded; an empty claims request adds nothing',
      url: '/auth/login?returnTo=%2Fapp&client_id=evil&scope=Mail.Send&nonce=attacker&response_mode=fragment&claims=%7B%7D&acr_values=x',
      expect: startsSignIn({
        client_id: CLIENT_ID,
        scope: 'openid profile offline_access User.Read',
        response_mode: 'query',
        claims: '{"access_token":{"xms_cc":{"values":["cp1"]}}}',
        acr_values: null,
      }),
    },
    {
      name: 'returnTo as a PHP-style array is another parameter',
      url: '/auth/login?returnTo[]=%2F%2Fevil.example',
      expect: startsSignIn(),
    },
    {
      name: 'a differently-cased returnTo is another parameter',
      url: '/auth/login?returnTo=%2Fapp&ReturnTo=%2F%2Fevil.example&RETURNTO=%2F%2Fevil.example',
      expect: startsSignIn(),
    },
    { name: 'prompt=none is not offered', url: '/auth/login?prompt=none', expect: refused('invalid_parameter') },
    { name: 'prompt with two values', url: '/auth/login?prompt=login%20consent', expect: refused('invalid_parameter') },
    { name: 'prompt as a list', url: '/auth/login?prompt=login,consent', expect: refused('invalid_parameter') },
    { name: 'prompt in upper case', url: '/auth/login?prompt=LOGIN', expect: refused('invalid_parameter') },
    {
      name: 'prompt look-alike (fullwidth l)',
      url: `/auth/login?prompt=${encodeURIComponent('\uff4cogin')}`,
      expect: refused('invalid_parameter'),
    },
    {
      name: 'prompt look-alike (Cyrillic i)',
      url: `/auth/login?prompt=${encodeURIComponent('log\u0456n')}`,
      expect: refused('invalid_parameter'),
    },
    {
      name: 'domain_hint look-alike (Cyrillic o)',
      url: `/auth/login?domain_hint=${encodeURIComponent('c\u043entoso.example')}`,
      expect: refused('invalid_parameter'),
    },
    {
      name: 'domain_hint with a path',
      url: '/auth/login?domain_hint=contoso.example%2Fevil',
      expect: refused('invalid_parameter'),
    },
    {
      name: 'domain_hint with a parameter smuggled in',
      url: '/auth/login?domain_hint=contoso.example%26prompt%3Dnone',
      expect: refused('invalid_parameter'),
    },
    {
      name: 'login_hint with a parameter smuggled in is forwarded as one value',
      url: '/auth/login?login_hint=a%40contoso.example%26prompt%3Dnone%26redirect_uri%3Dhttps%3A%2F%2Fevil.example',
      expect: startsSignIn({
        login_hint: 'a@contoso.example&prompt=none&redirect_uri=https://evil.example',
        prompt: null,
      }),
      payloads: ['redirect_uri=https://evil.example'],
    },
    {
      name: 'login_hint look-alike (Cyrillic a) is only a hint',
      url: `/auth/login?login_hint=${encodeURIComponent('\u0430dele@contoso.example')}`,
      expect: startsSignIn({ login_hint: '\u0430dele@contoso.example' }),
    },
    {
      name: 'login_hint with markup is forwarded encoded, never rendered',
      url: `/auth/login?login_hint=${encodeURIComponent('"><script>alert(1)</script>')}`,
      expect: startsSignIn({ login_hint: '"><script>alert(1)</script>' }),
      payloads: ['<script>alert(1)</script>'],
    },
  ];
  for (const [name, { good, code }] of Object.entries(PARAMS)) {
    const other = name === 'returnTo' ? '' : 'returnTo=%2Fapp&';
    cases.push(
      {
        name: `${name}: duplicated with the same value`,
        url: `/auth/login?${other}${name}=${good}&${name}=${good}`,
        expect: refused('invalid_request'),
      },
      {
        name: `${name}: duplicated with another value`,
        url: `/auth/login?${other}${name}=${good}&${name}=x`,
        expect: refused('invalid_request'),
      },
      {
        name: `${name}: duplicated, once empty`,
        url: `/auth/login?${other}${name}=&${name}=${good}`,
        expect: refused('invalid_request'),
      },
      { name: `${name}: empty`, url: `/auth/login?${other}${name}=`, expect: refused(code) },
      { name: `${name}: present without =`, url: `/auth/login?${other}${name}`, expect: refused(code) },
      { name: `${name}: NUL`, url: `/auth/login?${other}${name}=${good}%00`, expect: refused(code) },
      { name: `${name}: control character`, url: `/auth/login?${other}${name}=${good}%01`, expect: refused(code) },
      { name: `${name}: DEL`, url: `/auth/login?${other}${name}=${good}%7f`, expect: refused(code) },
      { name: `${name}: CRLF`, url: `/auth/login?${other}${name}=${good}%0d%0a`, expect: refused(code) },
      {
        name: `${name}: CRLF header injection`,
        url: `/auth/login?${other}${name}=${good}%0d%0aSet-Cookie%3A%20evil%3D1`,
        expect: refused(code),
        payloads: ['Set-Cookie: evil=1'],
      },
      {
        name: `${name}: oversized value`,
        url: `/auth/login?${other}${name}=${'a'.repeat(2100)}`,
        expect: refused(code),
      },
      {
        name: `${name}: query over 4 KB`,
        url: `/auth/login${queryOfLength(LIMITS.queryBytes + 1, `${other}${name}=${good}`)}`,
        expect: refused('request_too_large', 413),
      },
    );
    if (name === 'login_hint') {
      // The provider decides what a hint means; a stray % or a replacement character is forwarded (encoded).
      cases.push(
        {
          name: 'login_hint: bad percent-encoding (not hex) is forwarded as text',
          url: '/auth/login?login_hint=%zz',
          expect: startsSignIn({ login_hint: '%zz' }),
        },
        {
          name: 'login_hint: bad percent-encoding (truncated UTF-8) is forwarded as text',
          url: '/auth/login?login_hint=%E0%A4%A',
          expect: startsSignIn({ login_hint: '\ufffd%A' }),
        },
      );
    } else {
      cases.push(
        {
          name: `${name}: bad percent-encoding (not hex)`,
          url: `/auth/login?${other}${name}=%zz`,
          expect: refused(code),
        },
        {
          name: `${name}: bad percent-encoding (truncated UTF-8)`,
          url: `/auth/login?${other}${name}=%E0%A4%A`,
          expect: refused(code),
        },
      );
    }
  }
  runCases(harness, 'login', cases);
});

describe('native-app parameters: an unregistered redirect URI is never redirected to', () => {
  const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
  const native = (redirectUri: string, extra = `&code_challenge=${CHALLENGE}&code_challenge_method=S256`) =>
    `/auth/login?redirect_uri=${encodeURIComponent(redirectUri)}${extra}`;
  const [scheme, claimed, loopback] = NATIVE_REDIRECT_URIS;
  const lookAlikes = [
    'https://evil.example/callback',
    `${scheme}/../evil`,
    `${scheme}/`,
    `${scheme}?next=https://evil.example`,
    scheme.toUpperCase(),
    scheme.replace(':/', '://'),
    `${claimed}/`,
    `${claimed}?x=1`,
    `${claimed}#x`,
    `${claimed}/..`,
    claimed.replace('app.contoso.example', 'app.contoso.example.evil.example'),
    claimed.replace('https://app.contoso.example', 'https://app.contoso.example:443'),
    claimed.replace('https:', 'http:'),
    loopback.replace('127.0.0.1', '127.0.0.1.evil.example'),
    loopback.replace('127.0.0.1', 'localhost'),
    loopback.replace('127.0.0.1', '127.1'),
    loopback.replace('127.0.0.1', '[::1]'),
    loopback.replace('/callback', ':8080/callback/../callback'),
    `${loopback}%0d%0aLocation:%20https://evil.example`,
    'javascript:alert(1)//com.contoso.app:/oauth2redirect',
  ];
  const cases: Case[] = [
    ...lookAlikes.map((uri): Case => ({
      name: `redirect_uri ${JSON.stringify(uri)} → error page, no redirect`,
      url: native(uri),
      expect: refused('invalid_redirect_uri'),
      payloads: distinctive(uri),
    })),
    {
      name: 'a native parameter without redirect_uri (state) → error page',
      url: '/auth/login?state=attacker',
      expect: refused('invalid_redirect_uri'),
    },
    {
      name: 'a native parameter without redirect_uri (code_challenge) → error page',
      url: `/auth/login?code_challenge=${CHALLENGE}&code_challenge_method=S256`,
      expect: refused('invalid_redirect_uri'),
    },
    {
      name: 'redirect_uri empty → error page',
      url: '/auth/login?redirect_uri=',
      expect: refused('invalid_redirect_uri'),
    },
    {
      name: 'redirect_uri duplicated',
      url: `${native(scheme)}&redirect_uri=${encodeURIComponent(scheme)}`,
      expect: refused('invalid_request'),
    },
    {
      name: 'redirect_uri duplicated, the second one evil',
      url: `${native(scheme)}&redirect_uri=https%3A%2F%2Fevil.example%2F`,
      expect: refused('invalid_request'),
    },
    {
      name: 'code_challenge duplicated',
      url: `${native(scheme)}&code_challenge=${CHALLENGE}`,
      expect: refused('invalid_request'),
    },
    ...[
      [
        'plain PKCE',
        native(`http://127.0.0.1:51234/callback`, `&code_challenge=${CHALLENGE}&code_challenge_method=plain&state=s1`),
        's1',
      ],
      ['no PKCE', native(scheme, '&state=s1'), 's1'],
      ['a returnTo beside the native parameters', `${native(scheme)}&state=s1&returnTo=%2F%2Fevil.example`, 's1'],
      [
        'a challenge of the wrong length',
        native(scheme, `&code_challenge=${CHALLENGE}x&code_challenge_method=S256&state=s1`),
        's1',
      ],
      [
        'response_type=token',
        native(scheme, `&code_challenge=${CHALLENGE}&code_challenge_method=S256&response_type=token&state=s1`),
        's1',
      ],
      [
        'a state with CRLF (not echoed)',
        native(scheme, `&code_challenge=${CHALLENGE}&code_challenge_method=S256&state=s1%0d%0aevil`),
        null,
      ],
    ].map(([what, url, state]): Case => ({
      name: `registered redirect_uri with ${what} → the error goes back to the app, nothing stored`,
      url: url!,
      expect: {
        status: 302,
        check: (response) => {
          const location = new URL(response.headers.location ?? '');
          expect(
            NATIVE_REDIRECT_URIS.some((uri) => response.headers.location!.startsWith(uri.replace('/callback', ''))),
          ).toBeTruthy();
          expect(location.searchParams.get('error')).toBe('invalid_request');
          expect(location.searchParams.get('state')).toBe(state);
          expect(!/evil/.test(response.headers.location!)).toBeTruthy();
          expect(response.setCookies.length).toBe(0);
        },
      },
    })),
  ];
  runCases(harness, 'login', cases);
});

describe('methods, sizes and cookies', () => {
  const cases: Case[] = [
    ...REGISTERED_METHODS.filter((m) => m !== 'GET').map((method): Case => ({
      name: `${method} → 405`,
      method,
      url: '/auth/login?returnTo=%2Fapp',
      expect: { ...refused('method_not_allowed', 405), allow: 'GET' },
    })),
    {
      name: 'POST with a form body naming an attack target → 405, body never read',
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'returnTo=%2F%2Fevil.example',
      expect: { ...refused('method_not_allowed', 405), allow: 'GET' },
    },
    {
      name: 'POST with a 17 KB body → 405 before the body matters',
      method: 'POST',
      url: '/auth/login',
      headers: { 'content-type': 'text/plain' },
      body: 'x'.repeat(LIMITS.bodyBytes + 1024),
      expect: { ...refused('method_not_allowed', 405), allow: 'GET' },
    },
    {
      name: 'query of exactly 4 KB is accepted',
      url: `/auth/login${queryOfLength(LIMITS.queryBytes, 'returnTo=%2Fapp')}`,
      expect: startsSignIn(),
    },
    {
      name: 'query of 4 KB + 1 byte → 413',
      url: `/auth/login${queryOfLength(LIMITS.queryBytes + 1, 'returnTo=%2Fapp')}`,
      expect: refused('request_too_large', 413),
    },
    {
      name: 'query of 64 KB → 413',
      url: `/auth/login${queryOfLength(64 * 1024)}`,
      expect: refused('request_too_large', 413),
    },
    {
      name: 'cookie header of exactly 32 KB is accepted',
      url: '/auth/login',
      headers: { cookie: cookieHeaderOfLength(LIMITS.cookieHeaderBytes) },
      expect: startsSignIn(),
    },
    {
      name: 'cookie header of 32 KB + 1 byte → 413',
      url: '/auth/login',
      headers: { cookie: cookieHeaderOfLength(LIMITS.cookieHeaderBytes + 1) },
      expect: refused('request_too_large', 413),
    },
    {
      name: 'cookie header with multi-byte characters over 32 KB in bytes → 413',
      url: '/auth/login',
      headers: { cookie: `a=${'\u00e9'.repeat(16_400)}` },
      expect: refused('request_too_large', 413),
    },
    {
      name: 'garbage, duplicated and control-character cookies are ignored',
      url: '/auth/login',
      headers: {
        cookie: '__Host-session=x; __Host-session=y; __Host-signin-0000000000000000=%zz; =; ;;; a=\u0001\u007f',
      },
      expect: startsSignIn(),
    },
    {
      name: 'a forged session cookie does not matter to login',
      url: '/auth/login',
      headers: { cookie: `__Host-session=0000000000.${'A'.repeat(22)}.${'A'.repeat(43)}` },
      expect: startsSignIn(),
    },
  ];
  runCases(harness, 'login', cases);
});

describe('forged Host and identity headers are never trusted', () => {
  const cases: Case[] = forgedHeaderSets().map(([name, headers]): Case => ({
    name: `${name}: the provider still gets the configured redirect_uri`,
    url: '/auth/login?returnTo=%2Fapp',
    headers,
    expect: startsSignIn(),
  }));
  cases.push(
    {
      name: 'request URL on another host (what a forged Host header yields)',
      url: 'https://evil.example/auth/login?returnTo=%2Fapp',
      headers: { host: 'evil.example' },
      expect: startsSignIn(),
    },
    {
      name: 'another host does not make that host a return target',
      url: 'https://evil.example/auth/login?returnTo=https%3A%2F%2Fevil.example%2F',
      headers: { host: 'evil.example', 'x-forwarded-host': 'evil.example' },
      expect: refused('invalid_return_url'),
    },
    {
      name: 'X-Forwarded-Proto: http does not make http:// our origin',
      url: '/auth/login?returnTo=http%3A%2F%2Fauth.contoso.example%2Fapp',
      headers: { 'x-forwarded-proto': 'http' },
      expect: refused('invalid_return_url'),
    },
    {
      name: 'X-Forwarded-Host does not make its host our origin',
      url: '/auth/login?returnTo=https%3A%2F%2Fevil.example%2Fapp',
      headers: { 'x-forwarded-host': 'evil.example' },
      expect: refused('invalid_return_url'),
    },
  );
  runCases(harness, 'login', cases);
});

describe('open redirects through returnTo (curated bypasses and oauth2-proxy list; raw, single- and double-encoded)', () => {
  runCases(
    harness,
    'login',
    redirectRows().map(({ name, value, encoded, accepted }): Case => ({
      name,
      url: `/auth/login?returnTo=${encoded}`,
      expect: accepted ? startsSignIn() : refused('invalid_return_url'),
      payloads: distinctive(value),
    })),
  );
});

noSecretInAnyLog(harness);
