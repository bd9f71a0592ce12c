/**
 * Settings for the shapes of a real Entra deployment: scopes grouped by resource (two resources from one
 * sign-in), invalid groupings refused at start-up, the role gate, claims-mapping discovery, External ID and
 * sovereign-cloud authorities.
 */
import { describe, expect, test } from '@jest/globals';
import { parseConfig, type Environment } from '../../shared/config';
import { configProblems } from '../_support/config-problems';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = 'c0ffee00-0000-4000-8000-000000000001';
const base: Environment = {
  AUTH_CLIENT_ID: CLIENT,
  AUTH_TENANT_ID: TENANT,
  AUTH_REDIRECT_URI: 'https://auth.contoso.example/auth/callback',
  AUTH_CLIENT_SECRET: 'x',
  AUTH_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
};

function problemsOf(env: Environment): string[] {
  const problems = configProblems(env);
  if (problems.length === 0) throw new Error('expected a ConfigError');
  return problems;
}

describe('AUTH_SCOPES grouped by resource', () => {
  test('Graph (bare or by URI) and an API are two groups, in the order named; the first is the default', () => {
    const config = parseConfig({
      ...base,
      AUTH_SCOPES:
        'User.Read api://contoso-api/Orders.Read https://graph.microsoft.com/Mail.Read api://contoso-api/Orders.Write',
    });
    expect(config.resources).toEqual([
      { resource: 'graph', scopes: ['User.Read', 'https://graph.microsoft.com/Mail.Read'] },
      { resource: 'api://contoso-api', scopes: ['api://contoso-api/Orders.Read', 'api://contoso-api/Orders.Write'] },
    ]);
    expect(config.scopes).toHaveLength(4);
  });

  test.each([
    ['.default beside a named scope of the same resource', 'api://x/.default api://x/Orders.Read', /\.default/],
    ['a resource without a scope name', 'User.Read api://x/', /names a resource but no scope/],
  ])('refused at start-up: %s', (_name, scopes, message) => {
    expect(problemsOf({ ...base, AUTH_SCOPES: scopes }).join('\n')).toMatch(message);
  });

  test('.default of one resource beside scopes of another is fine', () => {
    expect(parseConfig({ ...base, AUTH_SCOPES: 'User.Read api://x/.default' }).resources).toHaveLength(2);
  });

  test('a generic OpenID Provider has no resources: one group', () => {
    const config = parseConfig({
      ...base,
      AUTH_TENANT_ID: undefined,
      AUTH_PROTOCOL: 'oidc',
      AUTH_AUTHORITY: 'https://idp.example/realms/x',
      AUTH_SCOPES: 'openid api.read other/thing',
    });
    expect(config.resources).toEqual([{ resource: '*', scopes: ['api.read', 'other/thing'] }]);
  });
});

describe('AUTH_REQUIRED_ROLES', () => {
  test('a comma list of role values; values with spaces are refused', () => {
    expect(parseConfig({ ...base, AUTH_REQUIRED_ROLES: 'Orders.Admin, Orders.Auditor' }).requiredRoles).toEqual([
      'Orders.Admin',
      'Orders.Auditor',
    ]);
    expect(parseConfig(base).requiredRoles).toEqual([]);
    expect(problemsOf({ ...base, AUTH_REQUIRED_ROLES: 'Orders Admin' }).join('\n')).toMatch(/AUTH_REQUIRED_ROLES/);
  });
});

describe('authorities', () => {
  test('Entra discovery carries ?appid=<client id> (claims-mapping signing keys); generic OIDC does not', () => {
    expect(parseConfig(base).discoveryUrl).toBe(
      `https://login.microsoftonline.com/${TENANT}/v2.0/.well-known/openid-configuration?appid=${CLIENT}`,
    );
  });

  test('a bare *.ciamlogin.com authority names its tenant by the subdomain, as MSAL does', () => {
    const config = parseConfig({ ...base, AUTH_AUTHORITY: 'https://contoso.ciamlogin.com/' });
    expect(config.authority).toBe('https://contoso.ciamlogin.com/contoso.onmicrosoft.com');
    expect(
      config.discoveryUrl.startsWith(
        'https://contoso.ciamlogin.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration',
      ),
    ).toBe(true);
    // With the tenant in the path it is left as given.
    expect(parseConfig({ ...base, AUTH_AUTHORITY: `https://contoso.ciamlogin.com/${TENANT}` }).authority).toBe(
      `https://contoso.ciamlogin.com/${TENANT}`,
    );
  });

  test.each([
    'https://login.microsoftonline.us',
    'https://login.chinacloudapi.cn',
    'https://login.partner.microsoftonline.cn',
  ])('sovereign cloud %s: discovery under that host', (host) => {
    const config = parseConfig({ ...base, AUTH_AUTHORITY: `${host}/${TENANT}` });
    expect(config.discoveryUrl.startsWith(`${host}/${TENANT}/v2.0/.well-known/openid-configuration`)).toBe(true);
    expect(config.allowedTenants).toEqual([TENANT]);
  });

  test('organizations needs AUTH_ALLOWED_TENANTS; personal accounts are the consumers tenant id', () => {
    expect(problemsOf({ ...base, AUTH_TENANT_ID: 'organizations' }).join('\n')).toMatch(
      /AUTH_ALLOWED_TENANTS is required/,
    );
    const config = parseConfig({
      ...base,
      AUTH_TENANT_ID: 'common',
      AUTH_ALLOWED_TENANTS: `${TENANT},9188040d-6c67-4c5b-b112-36a304b66dad`,
    });
    expect(config.allowedTenants).toContain('9188040d-6c67-4c5b-b112-36a304b66dad');
  });
});
