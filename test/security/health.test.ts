/**
 * GET /auth/health under attack: whatever the query, cookies, headers or method, it answers its fixed,
 * secret-free body (or 405 / 413), echoes nothing, writes nothing, and calls neither storage nor the provider.
 */
import { describe, expect } from '@jest/globals';
import { CLIENT_ID, CLIENT_SECRET, Harness, type Response } from '../_support/harness';
import {
  cookieHeaderOfLength,
  forgedHeaderSets,
  LIMITS,
  noSecretInAnyLog,
  queryOfLength,
  REGISTERED_METHODS,
  runCases,
  type Case,
  harnessPerFile,
} from './_cases';

let h: Harness;
const harness = harnessPerFile((started) => (h = started));

const providerCalls = () => {
  const { discovery, jwks, authorize, endSession, token } = h.standIn.counters;
  return discovery + jwks + authorize + endSession + Object.values(token).reduce((a, b) => a + b, 0);
};
let providerCallsBefore = 0;
/** Every row: no call to the identity provider (storage is covered by the runner's row counts). */
const quiet = async () => {
  providerCallsBefore = providerCalls();
  return {};
};

/** 200 with exactly the fixed body: configuration shape only, nothing secret, nothing from the request. */
const healthy: Case['expect'] = {
  status: 200,
  check: (response: Response) => {
    expect(response.json()).toStrictEqual({
      status: 'ok',
      protocol: 'entra',
      credential: 'secret',
      storage: 'connection-string',
    });
    expect(response.headers['content-type'] ?? '').toMatch(/^application\/json/);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.setCookies.length).toBe(0);
    for (const secret of [CLIENT_SECRET, h.azurite.connectionString, 'AccountKey', CLIENT_ID])
      expect(!response.body.includes(secret)).toBeTruthy();
    expect(providerCalls()).toBe(providerCallsBefore);
  },
};
const refused = (status: number, code: string, allow?: string): Case['expect'] => ({
  status,
  code,
  allow,
  check: () => expect(providerCalls()).toBe(providerCallsBefore),
});

const row = (name: string, expected: Case['expect'], sent: Partial<Case> = {}): Case => ({
  name,
  url: '/auth/health',
  ...sent,
  prepare: quiet,
  expect: expected,
});

describe('query, cookies and headers are ignored; sizes are bounded', () => {
  const cases: Case[] = [
    row('no input (baseline)', healthy),
    row('duplicated and unknown parameters', healthy, {
      url: '/auth/health?status=evil&status=x&verbose=1&debug=true',
    }),
    row('bad percent-encoding', healthy, { url: '/auth/health?x=%zz&y=%E0%A4%A&%zz=1' }),
    row('control characters and CRLF', healthy, { url: '/auth/health?x=%00%01%7f&y=%0d%0aSet-Cookie:%20evil=1' }),
    row('Unicode look-alikes', healthy, {
      url: `/auth/health?st${encodeURIComponent('\u0430')}tus=${encodeURIComponent('\uff45vil')}`,
    }),
    row('markup in the query is not reflected', healthy, {
      url: `/auth/health?x=${encodeURIComponent('<script>alert("evil")</script>')}`,
      payloads: ['<script>alert("evil")</script>'],
    }),
    row('query of exactly 4 KB', healthy, { url: `/auth/health${queryOfLength(LIMITS.queryBytes)}` }),
    row('query of 4 KB + 1 byte → 413', refused(413, 'request_too_large'), {
      url: `/auth/health${queryOfLength(LIMITS.queryBytes + 1)}`,
    }),
    row('garbage, duplicated and control-character cookies', healthy, {
      headers: { cookie: '__Host-session=x; __Host-session=y; a=%zz; =; ;;; b=\u0001\u007f' },
    }),
    row('cookie header of exactly 32 KB', healthy, {
      headers: { cookie: cookieHeaderOfLength(LIMITS.cookieHeaderBytes) },
    }),
    row('cookie header of 32 KB + 1 byte → 413', refused(413, 'request_too_large'), {
      headers: { cookie: cookieHeaderOfLength(LIMITS.cookieHeaderBytes + 1) },
    }),
    row('Authorization garbage', healthy, { headers: { authorization: 'Bearer <evil>' } }),
    row('Accept: text/html still gets JSON', healthy, { headers: { accept: 'text/html' } }),
    row('a content type on a GET without a body', healthy, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    }),
    ...forgedHeaderSets().map(([name, headers]) => row(`forged ${name}`, healthy, { headers })),
    row('request URL under another Host', healthy, {
      url: 'https://evil.example/auth/health',
      headers: { host: 'evil.example' },
    }),
  ];
  runCases(harness, 'health', cases);
});

describe('methods', () => {
  const cases: Case[] = [
    ...REGISTERED_METHODS.filter((m) => m !== 'GET').map((method) =>
      row(`${method} → 405`, refused(405, 'method_not_allowed', 'GET'), { method }),
    ),
    row('POST with a JSON body → 405, body never read', refused(405, 'method_not_allowed', 'GET'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"status":"evil"}',
    }),
    row('POST with a 17 KB body → 405', refused(405, 'method_not_allowed', 'GET'), {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x'.repeat(LIMITS.bodyBytes + 1024),
    }),
  ];
  runCases(harness, 'health', cases);
});

noSecretInAnyLog(harness);
