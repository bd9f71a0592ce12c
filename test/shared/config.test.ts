import { describe, expect, test } from '@jest/globals';
import { parseConfig, SETTINGS } from '../../shared/config';
import { ConfigError } from '../../shared/errors';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const valid = {
  AUTH_CLIENT_ID: 'c0ffee00-0000-4000-8000-000000000001',
  AUTH_TENANT_ID: TENANT,
  AUTH_REDIRECT_URI: 'https://auth.contoso.example/auth/callback',
  AUTH_CLIENT_SECRET: 'dev-secret',
  AUTH_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
};

function problemsOf(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  test('a minimal Entra configuration gets safe defaults', () => {
    const config = parseConfig(valid);
    expect(config.authority).toBe(`https://login.microsoftonline.com/${TENANT}`);
    expect(config.discoveryUrl).toBe(
      `https://login.microsoftonline.com/${TENANT}/v2.0/.well-known/openid-configuration?appid=${valid.AUTH_CLIENT_ID}`,
    );
    expect(config.scopes).toStrictEqual(['User.Read']);
    expect(config.allowedTenants).toStrictEqual([TENANT]);
    expect(config.publicOrigin).toBe('https://auth.contoso.example');
    expect(config.credential).toStrictEqual({ kind: 'secret', source: 'setting', clientSecret: 'dev-secret' });
    expect(config.session.idleSeconds).toBe(480 * 60);
  });

  test('each missing required setting is named, all at once', () => {
    const problems = problemsOf({});
    for (const name of [
      'AUTH_CLIENT_ID',
      'AUTH_TENANT_ID or AUTH_AUTHORITY',
      'AUTH_REDIRECT_URI',
      'AUTH_CLIENT_SECRET or AUTH_KEY_VAULT_URL',
      'AUTH_STORAGE_CONNECTION_STRING or AUTH_STORAGE_ACCOUNT_URL',
    ]) {
      expect(problems.some((p) => p.includes(name))).toBeTruthy();
    }
  });

  test('a multi-tenant authority without an allow-list fails closed', () => {
    expect(
      problemsOf({ ...valid, AUTH_TENANT_ID: 'common' }).some((p) => p.includes('AUTH_ALLOWED_TENANTS')),
    ).toBeTruthy();
    const ok = parseConfig({ ...valid, AUTH_TENANT_ID: 'organizations', AUTH_ALLOWED_TENANTS: TENANT.toUpperCase() });
    expect(ok.allowedTenants).toStrictEqual([TENANT]);
  });

  test('oidc needs an authority and uses its discovery path; no tenant check', () => {
    expect(problemsOf({ ...valid, AUTH_PROTOCOL: 'oidc' }).some((p) => p.includes('AUTH_AUTHORITY'))).toBeTruthy();
    const config = parseConfig({ ...valid, AUTH_PROTOCOL: 'oidc', AUTH_AUTHORITY: 'https://idp.example/realms/x/' });
    expect(config.discoveryUrl).toBe('https://idp.example/realms/x/.well-known/openid-configuration');
    expect(config.allowedTenants).toBe(undefined);
    expect(config.scopes).toStrictEqual([]);
  });

  test('malformed values are refused, never defaulted', () => {
    const problems = problemsOf({
      ...valid,
      AUTH_PROTOCOL: 'saml',
      AUTH_AUTHORITY: 'http://login.example/t',
      AUTH_REDIRECT_URI: 'http://auth.contoso.example/auth/callback',
      AUTH_ALLOWED_RETURN_ORIGINS: 'https://app.example/path,*',
      AUTH_NATIVE_REDIRECT_URIS: 'http://localhost:8080/cb,myapp:/cb',
      AUTH_CREDENTIAL: 'password',
      AUTH_SESSION_IDLE_MINUTES: '-1',
      AUTH_SCOPES: 'User.Read "bad"',
    });
    for (const name of [
      'AUTH_PROTOCOL',
      'AUTH_AUTHORITY',
      'AUTH_REDIRECT_URI',
      'https://app.example/path',
      '"*"',
      'localhost',
      'myapp:/cb',
      'AUTH_CREDENTIAL',
      'AUTH_SESSION_IDLE_MINUTES',
      'AUTH_SCOPES',
    ]) {
      expect(problems.some((p) => p.includes(name))).toBeTruthy();
    }
  });

  test('the problem text never echoes a secret value', () => {
    const problems = problemsOf({
      ...valid,
      AUTH_KEY_VAULT_URL: 'https://kv.vault.azure.net',
      AUTH_CLIENT_SECRET: 'S3cr3t-value-123',
    });
    expect(!problems.join('\n').includes('S3cr3t-value-123')).toBeTruthy();
  });

  test('http redirect URI is allowed on loopback only', () => {
    expect(parseConfig({ ...valid, AUTH_REDIRECT_URI: 'http://localhost:7071/auth/callback' }).publicOrigin).toBe(
      'http://localhost:7071',
    );
  });

  test('every setting is AUTH_-prefixed and listed once', () => {
    expect(new Set(SETTINGS).size).toBe(SETTINGS.length);
    expect(SETTINGS.every((s) => s.startsWith('AUTH_'))).toBeTruthy();
  });
});
