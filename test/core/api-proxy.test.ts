/**
 * The API proxy's pure parts: where a path may go (apiTarget), which headers cross in each direction, claims
 * challenges, the forward-auth identity headers, and AUTH_APIS parsing. No network: the served behaviour is in
 * test/integration/api-proxy.test.ts and the abuse rows in test/security/api.test.ts.
 */
import { describe, expect, test } from '@jest/globals';
import { parseConfig, type ApiUpstream, type Environment } from '../../shared/config';
import { apiTarget, forwardedHeaders, returnedHeaders, FORWARDED_REQUEST_HEADERS } from '../../shared/core/api-proxy';
import { apiClaimsChallenge, claimsChallengeError } from '../../shared/core/claims-challenge';
import { AuthError } from '../../shared/errors';
import { identityHeaders } from '../../shared/http/identity-headers';
import { configProblems } from '../_support/config-problems';

const ORDERS: ApiUpstream = {
  name: 'orders',
  baseUrl: 'https://orders.example.com/v1/',
  scopes: ['api://orders/Orders.Read'],
};
const APIS: ReadonlyMap<string, ApiUpstream> = new Map([['orders', ORDERS]]);

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (error instanceof AuthError) return error.code;
    throw error;
  }
}

describe('apiTarget: only paths below the base URL of a configured name', () => {
  test.each([
    ['/auth/api/orders', 'https://orders.example.com/v1/'],
    ['/auth/api/orders/', 'https://orders.example.com/v1/'],
    ['/auth/api/orders/items', 'https://orders.example.com/v1/items'],
    ['/auth/api/orders/items/', 'https://orders.example.com/v1/items/'],
    ['/auth/api/orders/items/42', 'https://orders.example.com/v1/items/42'],
    ['/AUTH/API/orders/items', 'https://orders.example.com/v1/items'],
    ['/auth/api/orders/caf%C3%A9', 'https://orders.example.com/v1/caf%C3%A9'],
    ['/auth/api/orders/a%20b', 'https://orders.example.com/v1/a%20b'],
    ['/auth/api/orders/@evil.example', 'https://orders.example.com/v1/@evil.example'],
    ['/auth/api/orders/items:search', 'https://orders.example.com/v1/items:search'],
    ['/auth/api/orders/...', 'https://orders.example.com/v1/...'],
  ])('%s → %s', (path, url) => {
    expect(apiTarget(path, '', APIS).url).toBe(url);
  });

  test('the query passes as received', () => {
    expect(apiTarget('/auth/api/orders/items', '?q=a%26b&page=2', APIS).url).toBe(
      'https://orders.example.com/v1/items?q=a%26b&page=2',
    );
  });

  test.each([
    ['unknown name', '/auth/api/payments/x', 'api_not_found'],
    ['name in another case', '/auth/api/Orders/x', 'api_not_found'],
    ['percent-encoded name', '/auth/api/%6Frders/x', 'api_not_found'],
    ['prototype name', '/auth/api/__proto__/x', 'api_not_found'],
    ['constructor name', '/auth/api/constructor/x', 'api_not_found'],
    ['empty name', '/auth/api//x', 'api_not_found'],
    ['outside the route', '/auth/me', 'api_path_invalid'],
    ['dot-dot segment', '/auth/api/orders/../x', 'api_path_invalid'],
    ['dot segment', '/auth/api/orders/./x', 'api_path_invalid'],
    ['trailing dot-dot', '/auth/api/orders/x/..', 'api_path_invalid'],
    ['encoded dot-dot', '/auth/api/orders/%2e%2e/x', 'api_path_invalid'],
    ['encoded dot-dot, upper case', '/auth/api/orders/%2E%2E/x', 'api_path_invalid'],
    ['half-encoded dot-dot', '/auth/api/orders/.%2e/x', 'api_path_invalid'],
    ['encoded slash', '/auth/api/orders/a%2fb', 'api_path_invalid'],
    ['encoded slash, upper case', '/auth/api/orders/a%2Fb', 'api_path_invalid'],
    ['encoded dot-dot-slash', '/auth/api/orders/x/..%2f..%2fadmin', 'api_path_invalid'],
    ['encoded backslash', '/auth/api/orders/a%5cb', 'api_path_invalid'],
    ['double-encoded slash', '/auth/api/orders/a%252fb', 'api_path_invalid'],
    ['double-encoded dot-dot', '/auth/api/orders/%252e%252e/x', 'api_path_invalid'],
    ['double-encoded CR', '/auth/api/orders/a%250db', 'api_path_invalid'],
    ['raw backslash', '/auth/api/orders/a\\b', 'api_path_invalid'],
    ['empty segment', '/auth/api/orders//x', 'api_path_invalid'],
    ['absolute URL', '/auth/api/orders/https://evil.example/x', 'api_path_invalid'],
    ['protocol-relative', '/auth/api/orders//evil.example/x', 'api_path_invalid'],
    ['encoded absolute URL', '/auth/api/orders/https:%2f%2fevil.example', 'api_path_invalid'],
    ['encoded CRLF', '/auth/api/orders/a%0d%0aX-Injected:%201', 'api_path_invalid'],
    ['encoded NUL', '/auth/api/orders/a%00b', 'api_path_invalid'],
    ['encoded tab', '/auth/api/orders/a%09b', 'api_path_invalid'],
    ['encoded DEL', '/auth/api/orders/a%7fb', 'api_path_invalid'],
    ['bad percent-encoding', '/auth/api/orders/%zz', 'api_path_invalid'],
    ['truncated UTF-8', '/auth/api/orders/%E0%A4%A', 'api_path_invalid'],
  ])('%s: %s is %s', (_name, path, code) => {
    expect(codeOf(() => apiTarget(path, '', APIS))).toBe(code);
  });

  test('a base URL without a path still only takes paths below /', () => {
    const root: ApiUpstream = { name: 'root', baseUrl: 'https://api.example.com/', scopes: ['api://x/y'] };
    expect(apiTarget('/auth/api/root/a/b', '', new Map([['root', root]])).url).toBe('https://api.example.com/a/b');
    expect(codeOf(() => apiTarget('/auth/api/root//@evil.example/', '', new Map([['root', root]])))).toBe(
      'api_path_invalid',
    );
  });
});

describe('headers across the proxy', () => {
  test('only allow-listed request headers pass, minus any the client named in Connection', () => {
    const sent: Record<string, string> = {
      accept: 'application/json',
      'accept-language': 'de',
      'content-type': 'application/json',
      cookie: '__Host-session=secret',
      authorization: 'Bearer session-token',
      'x-csrf': '1',
      host: 'evil.example',
      origin: 'https://evil.example',
      referer: 'https://app.example/page?code=x',
      forwarded: 'for=1.2.3.4',
      'x-forwarded-for': '1.2.3.4',
      'x-forwarded-host': 'evil.example',
      'x-ms-client-principal': 'e30=',
      'x-auth-request-user': 'admin',
      'proxy-authorization': 'Basic eA==',
      te: 'trailers',
      upgrade: 'websocket',
      'transfer-encoding': 'chunked',
      'keep-alive': 'timeout=5',
      connection: 'keep-alive, accept-language',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    };
    const forwarded = forwardedHeaders((name) => sent[name]);
    expect(forwarded).toStrictEqual({
      accept: 'application/json',
      'content-type': 'application/json',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    for (const name of Object.keys(forwarded)) expect(FORWARDED_REQUEST_HEADERS).toContain(name);
  });

  test('answer headers: allow-listed ones pass, cookies and policies do not, and the answer is inert and unshared', () => {
    const target = apiTarget('/auth/api/orders/items', '', APIS);
    const headers = returnedHeaders(
      {
        headers: {
          'content-type': 'text/html',
          etag: '"v1"',
          'set-cookie': 'a=1',
          'access-control-allow-origin': '*',
          'cache-control': 'public, max-age=600',
          'content-security-policy': 'default-src *',
          'www-authenticate': 'Bearer realm="x"',
          'content-encoding': 'gzip',
          'content-length': '10',
          server: 'upstream',
        },
      },
      target,
    );
    expect(headers).toStrictEqual({
      'content-type': 'text/html',
      etag: '"v1"',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'content-security-policy': "default-src 'none'; frame-ancestors 'none'; sandbox",
      'x-frame-options': 'DENY',
    });
  });

  test.each([
    ['relative to the request', 'next', '/auth/api/orders/next'],
    ['absolute path below the base', '/v1/items/7', '/auth/api/orders/items/7'],
    ['absolute URL below the base', 'https://orders.example.com/v1/x?y=1', '/auth/api/orders/x?y=1'],
    ['above the base path', '/v2/items', undefined],
    ['another origin', 'https://evil.example/v1/x', undefined],
    ['protocol-relative', '//evil.example/v1/x', undefined],
    ['http downgrade of the base', 'http://orders.example.com/v1/x', undefined],
  ])('Location %s (%s) → %s', (_name, location, expected) => {
    expect(returnedHeaders({ headers: { location } }, apiTarget('/auth/api/orders/items', '', APIS)).location).toBe(
      expected,
    );
  });
});

describe('claims challenges', () => {
  const claims = JSON.stringify({ access_token: { nbf: { essential: true, value: '1604106651' } } });
  const encoded = Buffer.from(claims).toString('base64');

  test('an Entra insufficient_claims Bearer challenge gives its JSON claims request', () => {
    expect(
      apiClaimsChallenge([
        { scheme: 'bearer', parameters: { realm: '', error: 'insufficient_claims', claims: encoded } },
      ]),
    ).toBe(claims);
  });

  test.each([
    ['another error', [{ scheme: 'bearer', parameters: { error: 'invalid_token', claims: encoded } }]],
    ['another scheme', [{ scheme: 'basic', parameters: { error: 'insufficient_claims', claims: encoded } }]],
    ['no claims', [{ scheme: 'bearer', parameters: { error: 'insufficient_claims' } }]],
    ['claims not base64', [{ scheme: 'bearer', parameters: { error: 'insufficient_claims', claims: 'not base64!' } }]],
    [
      'claims not JSON',
      [
        {
          scheme: 'bearer',
          parameters: { error: 'insufficient_claims', claims: Buffer.from('nope').toString('base64') },
        },
      ],
    ],
    [
      'claims a JSON array',
      [
        {
          scheme: 'bearer',
          parameters: { error: 'insufficient_claims', claims: Buffer.from('[1]').toString('base64') },
        },
      ],
    ],
    [
      'claims too long',
      [
        {
          scheme: 'bearer',
          parameters: {
            error: 'insufficient_claims',
            claims: Buffer.from(JSON.stringify({ a: 'x'.repeat(5000) })).toString('base64'),
          },
        },
      ],
    ],
  ])('%s: no challenge', (_name, challenges) => {
    expect(apiClaimsChallenge(challenges)).toBeUndefined();
  });

  test('the error is 401 interaction_required with the claims and a login URL on this service asking for them', () => {
    const config = parseConfig(BASE_ENV);
    const error = claimsChallengeError(claims, config, 'test');
    expect(error.status).toBe(401);
    expect(error.code).toBe('interaction_required');
    expect(error.problem?.claims).toBe(claims);
    const loginUrl = new URL(error.problem!.loginUrl!);
    expect(loginUrl.origin).toBe('https://auth.contoso.example');
    expect(loginUrl.pathname).toBe('/auth/login');
    expect(loginUrl.searchParams.get('claims')).toBe(claims);
  });
});

describe('forward-auth identity headers', () => {
  test('each present claim in its header; absent ones are omitted', () => {
    expect(
      identityHeaders({
        id: 'oid-1',
        tenantId: 'tid-1',
        issuer: 'https://x',
        name: 'Adele Vance',
        email: 'adele@contoso.example',
        roles: ['Reader', 'Orders.Admin'],
      }),
    ).toStrictEqual({
      'X-Auth-Request-User': 'oid-1',
      'X-Auth-Request-Email': 'adele@contoso.example',
      'X-Auth-Request-Name': 'Adele Vance',
      'X-Auth-Request-Tenant': 'tid-1',
      'X-Auth-Request-Roles': 'Reader,Orders.Admin',
    });
    expect(identityHeaders({ id: 'sub-1', issuer: 'https://x' })).toStrictEqual({ 'X-Auth-Request-User': 'sub-1' });
  });

  test('non-ASCII, control characters, % and commas in roles are percent-encoded (UTF-8)', () => {
    const headers = identityHeaders({ id: 'x', issuer: 'i', name: 'Zoë\r\nX-Admin: 1 100%', roles: ['a,b', 'ç'] });
    expect(headers['X-Auth-Request-Name']).toBe('Zo%C3%AB%0D%0AX-Admin: 1 100%25');
    expect(headers['X-Auth-Request-Roles']).toBe('a%2Cb,%C3%A7');
    expect(decodeURIComponent(headers['X-Auth-Request-Name']!)).toBe('Zoë\r\nX-Admin: 1 100%');
    for (const value of Object.values(headers)) expect(value).toMatch(/^[\x20-\x7e]*$/);
  });
});

const BASE_ENV: Environment = {
  AUTH_CLIENT_ID: '11111111-2222-4333-8444-555555555555',
  AUTH_TENANT_ID: '7c1f6a5e-3d2b-4c8a-9f1e-2b6d8a4c0e11',
  AUTH_REDIRECT_URI: 'https://auth.contoso.example/auth/callback',
  AUTH_CLIENT_SECRET: 'secret',
  AUTH_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
};

function problemsOf(apis: string, env: Environment = {}): readonly string[] {
  return configProblems({ ...BASE_ENV, ...env, AUTH_APIS: apis });
}

describe('AUTH_APIS', () => {
  test('unset: no API, the proxy answers 404 for every name', () => {
    expect(parseConfig(BASE_ENV).apis.size).toBe(0);
  });

  test('entries parse into names, base URLs ending in "/" and scopes', () => {
    const { apis } = parseConfig({
      ...BASE_ENV,
      AUTH_APIS:
        ' orders=https://orders.example.com/v1 api://orders/Orders.Read api://orders/Orders.Write ; graph=https://graph.microsoft.com/v1.0/ User.Read;local=http://127.0.0.1:8080 api://local/.default;',
    });
    expect([...apis.values()]).toStrictEqual([
      {
        name: 'orders',
        baseUrl: 'https://orders.example.com/v1/',
        scopes: ['api://orders/Orders.Read', 'api://orders/Orders.Write'],
      },
      { name: 'graph', baseUrl: 'https://graph.microsoft.com/v1.0/', scopes: ['User.Read'] },
      { name: 'local', baseUrl: 'http://127.0.0.1:8080/', scopes: ['api://local/.default'] },
    ]);
  });

  test('openid, profile and offline_access are not the API scopes', () => {
    expect(
      parseConfig({ ...BASE_ENV, AUTH_APIS: 'a=https://a.example api://a/x offline_access' }).apis.get('a')?.scopes,
    ).toStrictEqual(['api://a/x']);
  });

  test.each([
    ['no name', '=https://a.example api://a/x', /needs a name/],
    ['no "="', 'https://a.example api://a/x', /needs a name/],
    ['upper-case name', 'Orders=https://a.example api://a/x', /needs a name/],
    ['name with a slash', 'a/b=https://a.example api://a/x', /needs a name/],
    ['dot-dot name', '..=https://a.example api://a/x', /needs a name/],
    ['http upstream', 'a=http://a.example api://a/x', /https base URL/],
    ['not a URL', 'a=not-a-url api://a/x', /https base URL/],
    ['another scheme', 'a=ftp://a.example api://a/x', /https base URL/],
    ['credentials in the URL', 'a=https://user:pass@a.example api://a/x', /https base URL/],
    ['query in the URL', 'a=https://a.example/?k=1 api://a/x', /https base URL/],
    ['empty query in the URL', 'a=https://a.example/? api://a/x', /https base URL/],
    ['fragment in the URL', 'a=https://a.example/#f api://a/x', /https base URL/],
    ['no scope', 'a=https://a.example', /at least one scope/],
    ['only OpenID scopes', 'a=https://a.example openid offline_access', /at least one scope/],
    ['invalid scope token', 'a=https://a.example api://a/"x"', /invalid scope/],
    ['two resources in one entry', 'a=https://a.example api://a/x api://b/y', /mixes scopes of different resources/],
    ['Graph and another resource', 'a=https://a.example User.Read api://b/y', /mixes scopes of different resources/],
    ['a name twice', 'a=https://a.example api://a/x;a=https://b.example api://b/y', /configured twice/],
  ])('%s is a configuration problem', (_name, apis, problem) => {
    expect(problemsOf(apis).join('\n')).toMatch(problem);
  });

  test('every bad entry is reported at once, with the other settings', () => {
    const problems = problemsOf('a=http://a.example api://a/x;B=https://b.example x', { AUTH_REDIRECT_URI: 'nope' });
    expect(problems.filter((p) => p.startsWith('AUTH_APIS'))).toHaveLength(2);
    expect(problems.some((p) => p.startsWith('AUTH_REDIRECT_URI'))).toBe(true);
  });

  test('with AUTH_PROTOCOL=oidc, scopes are not grouped by Entra resource', () => {
    const env = { AUTH_PROTOCOL: 'oidc', AUTH_AUTHORITY: 'https://op.example', AUTH_TENANT_ID: undefined };
    expect(problemsOf('a=https://a.example read write', env)).toStrictEqual([]);
  });

  test('a base URL echoing a secret-looking query is refused without echoing it', () => {
    const problems = problemsOf('a=https://a.example/?sig=SECRETVALUE api://a/x');
    expect(problems.join('\n')).not.toContain('SECRETVALUE');
  });
});
