/**
 * Sites (Public Suffix List via tldts) and what follows from them: a cookie origin on another site than the
 * service makes the configuration invalid (named in the start-up error and by /auth/health), and the token flow's
 * origins get CORS on exactly the token flow's routes. Unit tier: no network, no ports.
 */
import { describe, expect, jest, test } from '@jest/globals';
import { HttpRequest, InvocationContext, type HttpHandler, type HttpResponseInit } from '@azure/functions';
import { crossSiteOriginProblem, parseConfig } from '../../shared/config';
import { isSameSite, siteOf } from '../../shared/core/site';
import { ConfigError } from '../../shared/errors';
import { createHealthHandler } from '../../functions/health';
import { createLoginHandler } from '../../functions/login';
import { createLogoutHandler } from '../../functions/logout';
import { createMeHandler } from '../../functions/me';
import { createRefreshHandler } from '../../functions/refresh';
import { createTokenHandler } from '../../functions/token';
import { createServices } from '../../shared/services';

const base = {
  AUTH_CLIENT_ID: 'c0ffee00-0000-4000-8000-000000000001',
  AUTH_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  AUTH_CLIENT_SECRET: 'dev-secret-value-never-shown',
  AUTH_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
};

function configError(env: Record<string, string>): ConfigError {
  try {
    parseConfig({ ...base, ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('sites', () => {
  test.each([
    ['https://auth.contoso.com', 'https://contoso.com'],
    ['https://auth.contoso.com:8443', 'https://contoso.com'],
    ['http://localhost:7071', 'http://localhost'],
    ['http://127.0.0.1:3000', 'http://127.0.0.1'],
    ['https://func-a.azurewebsites.net', 'https://func-a.azurewebsites.net'],
    ['https://x.y.azurestaticapps.net', 'https://y.azurestaticapps.net'],
    ['https://shop.example.co.uk', 'https://example.co.uk'],
    ['https://[::1]:8080', 'https://[::1]'],
  ])('siteOf(%s) = %s', (url, site) => {
    expect(siteOf(url)).toBe(site);
  });

  test.each([
    ['localhost ports are one site', 'http://localhost:3000', 'http://localhost:7071', true],
    ['subdomains of one registrable domain are one site', 'https://www.contoso.com', 'https://auth.contoso.com', true],
    ['127.0.0.1 and localhost are two sites', 'http://127.0.0.1:3000', 'http://localhost:7071', false],
    [
      'two *.azurewebsites.net hosts are two sites',
      'https://app-a.azurewebsites.net',
      'https://func-b.azurewebsites.net',
      false,
    ],
    ['another registrable domain is another site', 'https://app.fabrikam.com', 'https://auth.contoso.com', false],
    ['http and https are two sites (schemeful same-site)', 'http://www.contoso.com', 'https://auth.contoso.com', false],
    ['one host on two ports is one site', 'https://Auth.Contoso.com:8443', 'https://auth.contoso.com', true],
    ['one host over http and https is two sites', 'http://auth.contoso.com', 'https://auth.contoso.com', false],
  ])('%s', (_name, a, b, same) => {
    expect(isSameSite(a, b)).toBe(same);
  });

  test('one host is one site without loading the Public Suffix List (a cold start of the one-origin topology)', () => {
    jest.isolateModules(() => {
      const { isSameSite: fresh } = require('../../shared/core/site') as typeof import('../../shared/core/site');
      const loaded = () => Object.keys(require.cache).some((id) => /[\\/]tldts[\\/]/.test(id));
      jest.resetModules();
      expect(fresh('https://auth.contoso.com:8443', 'https://auth.contoso.com')).toBe(true);
      expect(loaded()).toBe(false);
      expect(fresh('https://www.contoso.com', 'https://auth.contoso.com')).toBe(true);
      expect(loaded()).toBe(true);
    });
  });
});

describe('a cookie origin must be same-site with the service', () => {
  test.each([
    [
      'the local demo (localhost:3000 and localhost:7071)',
      'http://localhost:7071/auth/callback',
      'http://localhost:3000',
    ],
    ['a sibling subdomain', 'https://auth.contoso.com/auth/callback', 'https://www.contoso.com,https://contoso.com'],
    ["the service's own origin", 'https://www.contoso.com/auth/callback', 'https://www.contoso.com'],
  ])('%s passes', (_name, redirectUri, origins) => {
    expect(() =>
      parseConfig({ ...base, AUTH_REDIRECT_URI: redirectUri, AUTH_ALLOWED_RETURN_ORIGINS: origins }),
    ).not.toThrow();
  });

  test.each([
    [
      'a site on the default Azure host',
      'https://func-x.azurewebsites.net/auth/callback',
      'https://www.contoso.com',
      'https://contoso.com',
      'https://func-x.azurewebsites.net',
    ],
    [
      'another *.azurewebsites.net host',
      'https://func-x.azurewebsites.net/auth/callback',
      'https://app-y.azurewebsites.net',
      'https://app-y.azurewebsites.net',
      'https://func-x.azurewebsites.net',
    ],
    [
      '127.0.0.1 for a localhost service',
      'http://localhost:7071/auth/callback',
      'http://127.0.0.1:3000',
      'http://127.0.0.1',
      'http://localhost',
    ],
  ])(
    '%s is refused, naming the origin, both sites and the three topologies',
    (_name, redirectUri, origin, originSite, serviceSite) => {
      const error = configError({ AUTH_REDIRECT_URI: redirectUri, AUTH_ALLOWED_RETURN_ORIGINS: origin });
      expect(error.problems).toHaveLength(1);
      const [problem] = error.problems;
      expect(problem).toContain(`"${origin}" (site ${originSite}) is not same-site`);
      expect(problem).toContain(`site ${serviceSite})`);
      expect(problem).toMatch(
        /1\) same site, own subdomain.*publicHostName.*2\) one origin.*3\) a single-page app on another site.*AUTH_NATIVE_REDIRECT_URIS/,
      );
      expect(error.publicProblems).toEqual(error.problems);
    },
  );

  test('every cross-site origin is named; other problems are not public', () => {
    const error = configError({
      AUTH_REDIRECT_URI: 'https://auth.contoso.com/auth/callback',
      AUTH_ALLOWED_RETURN_ORIGINS: 'https://www.contoso.com,https://a.fabrikam.com,https://b.northwind.com',
      AUTH_SCOPES: 'bad"scope',
    });
    expect(error.publicProblems).toEqual([
      crossSiteOriginProblem('https://a.fabrikam.com', 'https://auth.contoso.com'),
      crossSiteOriginProblem('https://b.northwind.com', 'https://auth.contoso.com'),
    ]);
    expect(error.problems.some((p) => p.startsWith('AUTH_SCOPES'))).toBe(true);
  });

  test("the token flow's origins are the web entries of AUTH_NATIVE_REDIRECT_URIS", () => {
    const config = parseConfig({
      ...base,
      AUTH_REDIRECT_URI: 'https://func-x.azurewebsites.net/auth/callback',
      AUTH_NATIVE_REDIRECT_URIS:
        'https://app.fabrikam.com/,https://app.fabrikam.com/other,com.contoso.app:/cb,http://127.0.0.1:5173/cb',
    });
    expect(config.tokenClientOrigins).toEqual(['https://app.fabrikam.com', 'http://127.0.0.1:5173']);
  });
});

async function call(
  handler: HttpHandler,
  init: { method?: string; url: string; headers?: Record<string, string> },
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const request = new HttpRequest({ method: init.method ?? 'GET', url: init.url, headers: init.headers ?? {} });
  const context = new InvocationContext({ functionName: 'test', invocationId: 'unit', logHandler: () => {} });
  const result: HttpResponseInit = await handler(request, context);
  const headers = Object.fromEntries(new Headers(result.headers as ConstructorParameters<typeof Headers>[0]).entries());
  return { status: result.status ?? 200, headers, body: typeof result.body === 'string' ? result.body : '' };
}

describe('/auth/health shows a cross-site origin', () => {
  test('503 configuration_invalid with the public problems, and nothing secret', async () => {
    const env = {
      ...base,
      AUTH_REDIRECT_URI: 'https://func-x.azurewebsites.net/auth/callback',
      AUTH_ALLOWED_RETURN_ORIGINS: 'https://www.contoso.com',
    };
    const health = createHealthHandler(() => createServices(parseConfig(env)));
    const response = await call(health, { url: 'https://func-x.azurewebsites.net/auth/health' });
    expect(response.status).toBe(503);
    const body = JSON.parse(response.body);
    expect(body.code).toBe('configuration_invalid');
    expect(body.problems).toEqual([
      crossSiteOriginProblem('https://www.contoso.com', 'https://func-x.azurewebsites.net'),
    ]);
    expect(response.body).not.toContain(base.AUTH_CLIENT_SECRET);
  });

  test('other configuration problems stay in the log: the body names none', async () => {
    const health = createHealthHandler(() =>
      createServices(
        parseConfig({ ...base, AUTH_REDIRECT_URI: 'https://x.example/auth/callback', AUTH_SCOPES: 'bad"scope' }),
      ),
    );
    const body = JSON.parse((await call(health, { url: 'https://x.example/auth/health' })).body);
    expect(body.code).toBe('configuration_invalid');
    expect(body.problems).toBeUndefined();
  });
});

describe('CORS for the token flow: exactly its origins, only on its routes', () => {
  const SPA = 'https://app.fabrikam.com';
  const SERVICE = 'https://func-x.azurewebsites.net';
  const config = parseConfig({
    ...base,
    AUTH_REDIRECT_URI: `${SERVICE}/auth/callback`,
    AUTH_NATIVE_REDIRECT_URIS: `${SPA}/callback`,
  });
  const services = () => createServices(config);
  const tokenRoutes: [string, HttpHandler, string][] = [
    ['/auth/token', createTokenHandler(services), 'POST'],
    ['/auth/me', createMeHandler(services), 'GET'],
    ['/auth/refresh', createRefreshHandler(services), 'POST'],
    ['/auth/logout', createLogoutHandler(services), 'POST'],
  ];

  test.each(tokenRoutes)('%s: a preflight from the SPA is allowed (no credentials)', async (path, handler, method) => {
    const response = await call(handler, {
      method: 'OPTIONS',
      url: `${SERVICE}${path}`,
      headers: {
        origin: SPA,
        'access-control-request-method': method,
        'access-control-request-headers': 'authorization',
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe(SPA);
    expect(response.headers['access-control-allow-methods']).toBe(method);
    expect(response.headers['access-control-allow-headers']).toContain('authorization');
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
  });

  test.each(tokenRoutes)(
    '%s: a preflight from another origin, or for an unlisted header, gets no CORS headers',
    async (path, handler, method) => {
      for (const headers of <Record<string, string>[]>[
        { origin: 'https://evil.example', 'access-control-request-method': method },
        { origin: `${SPA}.evil.example`, 'access-control-request-method': method },
        { origin: SPA, 'access-control-request-method': method, 'access-control-request-headers': 'x-csrf' },
        { origin: SPA, 'access-control-request-method': 'DELETE' },
      ]) {
        const response = await call(handler, { method: 'OPTIONS', url: `${SERVICE}${path}`, headers });
        expect(response.status).toBe(204);
        expect(response.headers['access-control-allow-origin']).toBeUndefined();
      }
    },
  );

  test("an answer (here /auth/me without a session: 401) carries the SPA's origin; another origin gets none", async () => {
    const me = createMeHandler(services);
    const fromSpa = await call(me, { url: `${SERVICE}/auth/me`, headers: { origin: SPA } });
    expect(fromSpa.status).toBe(401);
    expect(fromSpa.headers['access-control-allow-origin']).toBe(SPA);
    expect(fromSpa.headers['vary']).toBe('Origin');
    const fromElsewhere = await call(me, { url: `${SERVICE}/auth/me`, headers: { origin: 'https://evil.example' } });
    expect(fromElsewhere.headers['access-control-allow-origin']).toBeUndefined();
  });

  test('routes outside the token flow (login, health) answer no CORS, and OPTIONS there is 405', async () => {
    const login = createLoginHandler(services);
    const health = createHealthHandler(services);
    const preflight = { origin: SPA, 'access-control-request-method': 'GET' };
    for (const [handler, path] of [
      [login, '/auth/login'],
      [health, '/auth/health'],
    ] as const) {
      const response = await call(handler, { method: 'OPTIONS', url: `${SERVICE}${path}`, headers: preflight });
      expect(response.status).toBe(405);
      expect(response.headers['access-control-allow-origin']).toBeUndefined();
    }
  });
});
