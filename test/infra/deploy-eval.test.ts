// The templates run offline (test/infra/_eval.ts) for given parameters, and what they would deploy is checked against
// what the code needs: the app settings each credential mode requires (shared/config.ts parses them), the reply
// URLs Entra must know (callback and post-logout target), the guards against tenant/authority and origin drift, the
// token-exchange audience per cloud, and the host name the redirect URI assumes. Each check is shown to fail too.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { type BicepFile, loadInfra } from './_bicep';
import {
  BicepFail,
  PUBLIC_CLOUD,
  Unknown,
  type DeploymentContext,
  type Value,
  deploy,
  isDeployed,
  resourceProperty,
} from './_eval';
import { parseConfig, tokenExchangeAudienceFor, type AuthConfig } from '../../shared/config';
import { configProblems } from '../_support/config-problems';

const ENV = { environmentName: 'signin-dev', location: 'westeurope' };
const IDENTITY_CLIENT_ID = '0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6';
const APP_CLIENT_ID = '9f8e7d6c-5b4a-4392-8180-7f6e5d4c3b2a';
const SECRET = 'template-test-secret-value';
/** Deployment-time values (module outputs) as ARM would resolve them. */
const KNOWN: Record<string, Value> = {
  'identity.outputs.clientId': IDENTITY_CLIENT_ID,
  'identity.outputs.principalId': '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d',
  'appRegistration.outputs.clientId': APP_CLIENT_ID,
  'storage.outputs.tableEndpoint': 'https://stsignin.table.core.windows.net/',
  'keyVault.outputs.vaultUri': 'https://kv-signin.vault.azure.net/',
  'keyVault.outputs.name': 'kv-signin',
};

let files: BicepFile[];
beforeAll(async () => {
  files = await loadInfra();
});

const run = (
  params: Record<string, Value> = {},
  context: DeploymentContext = PUBLIC_CLOUD,
  known: Record<string, Value> = {},
) => deploy(files, { ...ENV, ...params }, context, { ...KNOWN, ...known });

/** The Function App's app settings as deployed, as an environment for shared/config.ts. */
function appSettings(
  params: Record<string, Value> = {},
  context: DeploymentContext = PUBLIC_CLOUD,
): Record<string, string> {
  const list = resourceProperty(
    run(params, context).module('api'),
    'functionApp',
    'properties',
    'siteConfig',
    'appSettings',
  ) as { name: string; value: Value }[];
  return Object.fromEntries(
    list.map((s) => [s.name, s.value instanceof Unknown ? `<${s.value.text}>` : String(s.value)]),
  );
}

const configOf = (env: Record<string, string>): AuthConfig => parseConfig(env);
const problemsOf = configProblems;

describe('every app setting the code requires in the chosen mode is set', () => {
  const modes: [string, Record<string, Value>][] = [
    ['managed-identity', {}],
    ['secret', { credentialMode: 'secret', clientSecret: SECRET }],
    ['secret', { credentialMode: 'secret' }],
    ['certificate', { credentialMode: 'certificate' }],
  ];
  test.each(modes)('%s %j: shared/config.ts accepts the deployed settings', (mode, params) => {
    const env = appSettings(params);
    expect(problemsOf(env)).toEqual([]);
    const config = configOf(env);
    expect(config.credential.kind).toBe(mode);
    expect(config.clientId).toBe(APP_CLIENT_ID);
    expect(config.storage).toEqual({ accountUrl: KNOWN['storage.outputs.tableEndpoint'] });
    if (config.credential.kind === 'managed-identity') {
      expect(config.credential.managedIdentityClientId).toBe(IDENTITY_CLIENT_ID);
      expect(env.AUTH_KEY_VAULT_URL).toBe(''); // no vault in this mode
    } else {
      expect(env.AUTH_KEY_VAULT_URL).toBe(KNOWN['keyVault.outputs.vaultUri']);
    }
  });

  test('the check can fail: without AUTH_MANAGED_IDENTITY_CLIENT_ID the managed-identity mode is refused, naming it', () => {
    const { AUTH_MANAGED_IDENTITY_CLIENT_ID: _dropped, ...env } = appSettings();
    expect(problemsOf(env)).toEqual([expect.stringContaining('AUTH_MANAGED_IDENTITY_CLIENT_ID is required')]);
  });

  test('the vault and its read role exist only in the modes that read one', () => {
    expect(isDeployed(run(), 'keyVault')).toBe(false);
    expect(run().module('rbac').lookup('keyVaultName')).toBe('');
    for (const params of [
      { credentialMode: 'secret', clientSecret: SECRET },
      { credentialMode: 'certificate' },
    ] as Record<string, Value>[]) {
      expect(isDeployed(run(params), 'keyVault')).toBe(true);
      expect(run(params).module('rbac').lookup('keyVaultName')).toBe('kv-signin');
    }
    // Scoped to the one secret when the template creates it; the certificate's secret is named after it.
    expect(run({ credentialMode: 'secret', clientSecret: SECRET }).module('rbac').lookup('keyVaultSecretExists')).toBe(
      true,
    );
    expect(run({ credentialMode: 'certificate' }).module('rbac').lookup('keyVaultSecretName')).toBe(
      'auth-client-certificate',
    );
  });
});

describe('reply URLs: every redirect the app sends is registered', () => {
  test.each([
    [{}],
    [{ postLogoutRedirectUri: '/signed-out' }],
    // A cookie origin must be same-site with the service: its public host (Front Door) is then on that site too.
    [
      {
        publicHostName: 'auth.example.com',
        allowedOrigins: 'https://app.example.com',
        postLogoutRedirectUri: 'https://app.example.com/bye',
      },
    ],
  ])('%j: the callback and the post-logout target are web redirect URIs', (params) => {
    const registered = resourceProperty(
      run(params).module('appRegistration'),
      'application',
      'web',
      'redirectUris',
    ) as string[];
    const config = configOf(appSettings(params));
    // What shared/core/flow.ts sends: redirect_uri, and post_logout_redirect_uri resolved against the public origin.
    const postLogout = new URL(config.postLogoutRedirectUri, config.publicOrigin).href;
    expect(registered).toEqual(expect.arrayContaining([config.redirectUri, postLogout]));
    expect(new Set(registered).size).toBe(registered.length);
  });

  test('the check can fail: a registration with the callback only misses the sign-out target', () => {
    const config = configOf(appSettings());
    expect([config.redirectUri]).not.toEqual(
      expect.arrayContaining([new URL(config.postLogoutRedirectUri, config.publicOrigin).href]),
    );
  });
});

describe('federated credential and token-exchange audience', () => {
  const clouds: [string, DeploymentContext, string][] = [
    ['public', PUBLIC_CLOUD, 'api://AzureADTokenExchange'],
    [
      'US Government',
      { ...PUBLIC_CLOUD, cloud: 'AzureUSGovernment', loginEndpoint: 'https://login.microsoftonline.us/' },
      'api://AzureADTokenExchangeUSGov',
    ],
    [
      'China',
      { ...PUBLIC_CLOUD, cloud: 'AzureChinaCloud', loginEndpoint: 'https://login.chinacloudapi.cn/' },
      'api://AzureADTokenExchangeChina',
    ],
  ];
  test.each(clouds)(
    '%s cloud: the credential, the app setting and the code agree on %s',
    (_name, context, audience) => {
      const registration = run({}, context).module('appRegistration');
      expect(resourceProperty(registration, 'managedIdentityCredential', 'audiences')).toEqual([audience]);
      const env = appSettings({}, context);
      expect(env.AUTH_TOKEN_EXCHANGE_AUDIENCE).toBe(audience);
      const config = configOf(env);
      expect(config.credential).toMatchObject({ kind: 'managed-identity', tokenExchangeAudience: audience });
      // The sign-in endpoint is the cloud's own, and the code would derive the same audience from it.
      expect(config.authority.startsWith(context.loginEndpoint)).toBe(true);
      expect(tokenExchangeAudienceFor(config.authority)).toBe(audience);
    },
  );

  test('the subject is the user-assigned identity principal id, the issuer the tenant v2.0 endpoint', () => {
    const registration = run().module('appRegistration');
    expect(resourceProperty(registration, 'managedIdentityCredential', 'subject')).toBe(
      KNOWN['identity.outputs.principalId'],
    );
    expect(resourceProperty(registration, 'managedIdentityCredential', 'issuer')).toBe(
      `https://login.microsoftonline.com/${PUBLIC_CLOUD.tenantId}/v2.0`,
    );
    const identityModule = files
      .find((f) => f.path === 'infra/main.bicep')!
      .source.match(/module identity '([^']+)'/)?.[1];
    expect(identityModule).toMatch(/^br\/public:avm\/res\/managed-identity\/user-assigned-identity:/);
    expect(appSettings().AUTH_MANAGED_IDENTITY_CLIENT_ID).toBe(IDENTITY_CLIENT_ID);
  });

  test('the deployer owns the registration, and the Graph permissions cover every sign-in scope', () => {
    const registration = run().module('appRegistration');
    expect(resourceProperty(registration, 'application', 'owners')).toEqual({
      relationshipSemantics: 'append',
      relationships: [PUBLIC_CLOUD.deployerObjectId],
    });
  });
});

describe('network exposure (vnetEnabled)', () => {
  test('off by default: public endpoints, no network', () => {
    expect(isDeployed(run(), 'network')).toBe(false);
    expect(run().module('storage').lookup('publicNetworkAccess')).toBe('Enabled');
    expect(resourceProperty(run().module('api'), 'functionApp', 'properties', 'virtualNetworkSubnetId')).toBeNull();
  });

  test.each([
    [{}, ['blob', 'table']],
    [{ credentialMode: 'certificate' }, ['blob', 'table', 'vault']],
  ] as [Record<string, Value>, string[]][])(
    'on (%j): private endpoints for %j, public access off, the app in the delegated subnet',
    (params, groups) => {
      const d = run({ ...params, vnetEnabled: true }, PUBLIC_CLOUD, {
        'storage.outputs.resourceId':
          '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st',
        'keyVault.outputs.resourceId': '/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/kv',
        'network.outputs.appSubnetId':
          '/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/app',
      });
      expect(isDeployed(d, 'network')).toBe(true);
      expect((d.module('network').lookup('endpoints') as { group: string }[]).map((e) => e.group)).toEqual(groups);
      expect(d.module('storage').lookup('publicNetworkAccess')).toBe('Disabled');
      expect(resourceProperty(d.module('storage'), 'storage', 'properties', 'networkAcls', 'defaultAction')).toBe(
        'Deny',
      );
      if (groups.includes('vault')) expect(d.module('keyVault').lookup('publicNetworkAccess')).toBe('Disabled');
      expect(resourceProperty(d.module('api'), 'functionApp', 'properties', 'virtualNetworkSubnetId')).toMatch(
        /\/subnets\/app$/,
      );
      expect(resourceProperty(d.module('network'), 'network', 'properties', 'subnets')).toContainEqual(
        expect.objectContaining({
          name: 'app',
          properties: expect.objectContaining({
            delegations: [{ name: 'flex-consumption', properties: { serviceName: 'Microsoft.App/environments' } }],
          }),
        }),
      );
    },
  );
});

describe('guards: drift between the template and what the code needs fails the deployment', () => {
  test('tenant: a created registration lives in the deployment tenant only', () => {
    expect(() => run({ tenantId: '3c2b1a09-8f7e-4d6c-9b5a-493827160504' }).value('effectiveTenantId')).toThrow(
      BicepFail,
    );
    expect(() =>
      run({ authority: 'https://contoso.ciamlogin.com/contoso.onmicrosoft.com' }).value('effectiveTenantId'),
    ).toThrow(BicepFail);
    expect(run({ tenantId: PUBLIC_CLOUD.tenantId.toUpperCase() }).value('effectiveTenantId')).toBe(
      PUBLIC_CLOUD.tenantId.toUpperCase(),
    );
    expect(
      run({ authority: `https://login.microsoftonline.com/${PUBLIC_CLOUD.tenantId}` }).value('effectiveTenantId'),
    ).toBe(PUBLIC_CLOUD.tenantId);
    // Bring your own registration: any tenant or authority.
    const own = {
      createAppRegistration: false,
      clientId: APP_CLIENT_ID,
      tenantId: '3c2b1a09-8f7e-4d6c-9b5a-493827160504',
    };
    expect(run(own).value('effectiveTenantId')).toBe(own.tenantId);
  });

  test('host name: the redirect URI host must be the site default host name', () => {
    const host = String(run().value('functionAppHostName'));
    expect(run({}, PUBLIC_CLOUD, { 'api.outputs.defaultHostName': host }).value('SERVICE_API_URI')).toBe(
      `https://${host}`,
    );
    expect(() =>
      run({}, PUBLIC_CLOUD, {
        'api.outputs.defaultHostName': 'func-api-x-abc123.westeurope-01.azurewebsites.net',
      }).value('SERVICE_API_URI'),
    ).toThrow(BicepFail);
  });

  // Origins: the template refuses exactly what shared/config.ts would refuse at start-up.
  test.each([
    ['https://app.example.com', true],
    ['https://app.example.com:8443', true],
    ['http://localhost:5173', true],
    ['http://127.0.0.1:3000', true],
    ['https://app.example.com/', false],
    ['https://app.example.com/path', false],
    ['http://app.example.com', false],
    ['http://localhost.evil.example', false],
    ['https://App.Example.com', false],
    ['https://app.example.com:443', false],
    ['https://user@app.example.com', false],
    ['https://app.example.com?x=1', false],
    ['app.example.com', false],
    ['*', false],
  ])('origin %s: accepted %s by both', (origin, valid) => {
    const bicep = (() => {
      try {
        run({ allowedOrigins: origin }).value('validatedOrigins');
        return true;
      } catch (error) {
        if (error instanceof BicepFail) return false;
        throw error;
      }
    })();
    expect(bicep).toBe(valid);
    const redirect = valid ? `${origin}/auth/callback` : 'https://auth.example.com/auth/callback';
    const env = { ...appSettings(), AUTH_REDIRECT_URI: redirect, AUTH_ALLOWED_RETURN_ORIGINS: origin };
    expect(problemsOf(env).some((p) => p.includes('AUTH_ALLOWED_RETURN_ORIGINS'))).toBe(!valid);
  });
});
