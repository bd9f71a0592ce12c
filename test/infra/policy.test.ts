// Policy over the Bicep syntax tree: the real infra passes; each rule fires on a small inline snippet.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type BicepFile, INFRA_DIR, loadInfra, parseBicep } from './_bicep';
import { ALLOWED_ROLES, BROAD_ROLES, type Violation, appSettingGroups, checkPolicy } from './_policy';

const rulesOf = (violations: Violation[]): string[] => [...new Set(violations.map((x) => x.rule))].sort();

async function violationsOf(source: string): Promise<Violation[]> {
  return checkPolicy([await parseBicep(source, 'snippet.bicep')]);
}

/** Asserts that `rule` fires on `source` (and reports what fired otherwise). */
async function assertFires(rule: string, source: string): Promise<void> {
  const found = await violationsOf(source);
  expect(found.some((x) => x.rule === rule)).toBeTruthy();
}

const GOOD_STORAGE = `resource sa 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st'
  properties: {
    allowSharedKeyAccess: false
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
  }
}
`;

describe('the infra passes the policy', () => {
  let files: BicepFile[];
  beforeAll(async () => {
    files = await loadInfra();
  });

  test('no violations, every required resource, table and role present', () => {
    const found = checkPolicy(files, { requireComplete: true });
    expect(found).toStrictEqual([]);
  });

  test('the function app settings are identity-based (AzureWebJobsStorage__*) and Entra-authenticated telemetry', () => {
    const names = appSettingGroups(files).flatMap((g) => g.settings.map((s) => s.name));
    for (const name of [
      'AzureWebJobsStorage__accountName',
      'AzureWebJobsStorage__credential',
      'AzureWebJobsStorage__clientId',
      'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
    ]) {
      expect(names.includes(name)).toBeTruthy();
    }
    expect(!names.includes('AzureWebJobsStorage')).toBeTruthy();
  });

  test('AUTH_STORAGE_ACCOUNT_URL is the table endpoint, AUTH_REDIRECT_URI the callback, AUTH_KEY_VAULT_URL the vault URI', () => {
    const main = readFileSync(join(INFRA_DIR, 'main.bicep'), 'utf8');
    const settings = new Map(
      appSettingGroups(files).flatMap((g) => g.settings.map((s) => [s.name, s.value?.text ?? ''] as const)),
    );
    expect(settings.get('AUTH_STORAGE_ACCOUNT_URL')).toBe('tableEndpoint');
    expect(main).toMatch(/tableEndpoint: storage\.outputs\.tableEndpoint/);
    expect(settings.get('AUTH_REDIRECT_URI')).toBe('redirectUri');
    expect(main).toMatch(/var redirectUri = 'https:\/\/\$\{publicHost\}\/auth\/callback'/);
    expect(main).toMatch(
      /var publicHost = empty\(validatedPublicHostName\) \? functionAppHostName : validatedPublicHostName/,
    );
    expect(settings.get('AUTH_KEY_VAULT_URL')).toBe('keyVaultUrl');
    expect(main).toMatch(/keyVaultUrl: usesKeyVault \? keyVault\.outputs\.vaultUri : ''/);
  });

  test('every role GUID in the allow-list is the documented one', () => {
    expect(Object.values(ALLOWED_ROLES).sort()).toStrictEqual([
      'Key Vault Secrets User',
      'Monitoring Metrics Publisher',
      'Storage Blob Data Owner',
      'Storage Table Data Contributor',
    ]);
  });
});

describe('each rule fires on a violating snippet', () => {
  test('required-resource: an empty deployment misses every required resource', async () => {
    const found = checkPolicy([await parseBicep('param x string\n', 'empty.bicep')], { requireComplete: true });
    expect(found.filter((x) => x.rule === 'required-resource').length >= 13).toBeTruthy();
    expect(found.some((x) => x.message.includes('table AuthState'))).toBeTruthy();
    expect(found.filter((x) => x.rule === 'required-role').length).toBe(4);
  });

  test('required-resource: an `existing` reference does not count as declaring the resource', async () => {
    const found = checkPolicy(
      [
        await parseBicep(
          "resource kv 'Microsoft.KeyVault/vaults@2023-07-01' existing = {\n  name: 'kv'\n}\n",
          's.bicep',
        ),
      ],
      { requireComplete: true },
    );
    expect(
      found.some((x) => x.rule === 'required-resource' && x.message.includes('Microsoft.KeyVault/vaults ')),
    ).toBeTruthy();
  });

  test('a compliant storage account passes', async () => {
    expect(rulesOf(await violationsOf(GOOD_STORAGE))).toStrictEqual([]);
  });

  test('storage-shared-key: allowSharedKeyAccess true, missing, or not a literal', async () => {
    await assertFires(
      'storage-shared-key',
      GOOD_STORAGE.replace('allowSharedKeyAccess: false', 'allowSharedKeyAccess: true'),
    );
    await assertFires('storage-shared-key', GOOD_STORAGE.replace('allowSharedKeyAccess: false', ''));
    await assertFires(
      'storage-shared-key',
      GOOD_STORAGE.replace('allowSharedKeyAccess: false', 'allowSharedKeyAccess: someParam'),
    );
  });

  test('storage-shared-key: also through an AVM storage module', async () => {
    await assertFires(
      'storage-shared-key',
      "module st 'br/public:avm/res/storage/storage-account:0.8.3' = {\n  name: 'st'\n  params: {\n    name: 'st'\n    minimumTlsVersion: 'TLS1_2'\n    allowBlobPublicAccess: false\n  }\n}\n",
    );
  });

  test('storage-tls and storage-public-access', async () => {
    await assertFires('storage-tls', GOOD_STORAGE.replace("'TLS1_2'", "'TLS1_0'"));
    await assertFires(
      'storage-public-access',
      GOOD_STORAGE.replace('allowBlobPublicAccess: false', 'allowBlobPublicAccess: true'),
    );
  });

  const VAULT =
    "resource kv 'Microsoft.KeyVault/vaults@2023-07-01' = {\n  name: 'kv'\n  properties: {\n    enableRbacAuthorization: true\n    enableSoftDelete: true\n    enablePurgeProtection: true\n  }\n}\n";
  test('keyvault-rbac: access-policy mode (or unset) fails', async () => {
    expect(rulesOf(await violationsOf(VAULT))).toStrictEqual([]);
    await assertFires(
      'keyvault-rbac',
      VAULT.replace('enableRbacAuthorization: true', 'enableRbacAuthorization: false'),
    );
    await assertFires('keyvault-rbac', VAULT.replace('enableRbacAuthorization: true', ''));
  });

  test('keyvault-purge-protection: purge protection off or soft delete off fails', async () => {
    await assertFires('keyvault-purge-protection', VAULT.replace('enablePurgeProtection: true', ''));
    await assertFires('keyvault-purge-protection', VAULT.replace('enableSoftDelete: true', 'enableSoftDelete: false'));
  });

  const SITE = `resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: 'app'
  properties: {
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      cors: {
        allowedOrigins: [ 'https://app.example.com' ]
        supportCredentials: true
      }
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: 'st' }
      ]
    }
  }
}
`;
  test('https-only: httpsOnly false or missing fails', async () => {
    expect(rulesOf(await violationsOf(SITE))).toStrictEqual([]);
    await assertFires('https-only', SITE.replace('httpsOnly: true', 'httpsOnly: false'));
    await assertFires('https-only', SITE.replace('httpsOnly: true', ''));
  });

  test('site-tls and site-ftp', async () => {
    await assertFires('site-tls', SITE.replace("minTlsVersion: '1.2'", "minTlsVersion: '1.0'"));
    await assertFires('site-ftp', SITE.replace("ftpsState: 'Disabled'", "ftpsState: 'AllAllowed'"));
  });

  test('cors: "*" or no credentials fails', async () => {
    await assertFires('cors', SITE.replace("'https://app.example.com'", "'*'"));
    await assertFires('cors', SITE.replace('supportCredentials: true', 'supportCredentials: false'));
  });

  test('app-setting-secret: a keyed connection string, a secret, or a @secure() value in app settings', async () => {
    const withSetting = (item: string, extra = ''): string =>
      extra + SITE.replace("{ name: 'AzureWebJobsStorage__accountName', value: 'st' }", item);
    await assertFires('app-setting-secret', withSetting("{ name: 'AzureWebJobsStorage', value: storageConnection }"));
    await assertFires('app-setting-secret', withSetting("{ name: 'AUTH_STORAGE_CONNECTION_STRING', value: conn }"));
    await assertFires('app-setting-secret', withSetting("{ name: 'AUTH_CLIENT_SECRET', value: 'x' }"));
    await assertFires(
      'app-setting-secret',
      withSetting("{ name: 'AUTH_SOMETHING', value: clientSecret }", '@secure()\nparam clientSecret string\n'),
    );
    // App Insights connection string without Entra auth configured:
    await assertFires(
      'app-setting-secret',
      withSetting("{ name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: ai.properties.ConnectionString }"),
    );
  });

  test('app-setting-secret: the App Insights connection string is accepted with AAD auth and disableLocalAuth', async () => {
    const ok = SITE.replace(
      "{ name: 'AzureWebJobsStorage__accountName', value: 'st' }",
      "{ name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: ai.properties.ConnectionString }\n        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD;ClientId=${id}' }",
    );
    const component =
      "resource ai 'Microsoft.Insights/components@2020-02-02' = {\n  name: 'ai'\n  properties: {\n    disableLocalAuth: true\n  }\n}\n";
    expect(rulesOf(await violationsOf(ok + component))).toStrictEqual([]);
    await assertFires(
      'app-setting-secret',
      ok + component.replace('disableLocalAuth: true', 'disableLocalAuth: false'),
    );
  });

  test('app-setting-secret: AVM site appSettingsKeyValuePairs are checked too', async () => {
    await assertFires(
      'app-setting-secret',
      "module site 'br/public:avm/res/web/site:0.15.1' = {\n  name: 's'\n  params: {\n    httpsOnly: true\n    siteConfig: { minTlsVersion: '1.2', ftpsState: 'Disabled' }\n    appSettingsKeyValuePairs: {\n      AzureWebJobsStorage: conn\n    }\n  }\n}\n",
    );
  });

  test('appinsights-local-auth: instrumentation-key ingestion left on fails (resource or AVM module)', async () => {
    await assertFires(
      'appinsights-local-auth',
      "resource ai 'Microsoft.Insights/components@2020-02-02' = {\n  name: 'ai'\n  properties: {}\n}\n",
    );
    await assertFires(
      'appinsights-local-auth',
      "module ai 'br/public:avm/res/insights/component:0.6.0' = {\n  name: 'ai'\n  params: {\n    name: 'ai'\n  }\n}\n",
    );
  });

  test('list-keys: listKeys() in any form fails', async () => {
    await assertFires(
      'list-keys',
      "resource sa 'Microsoft.Storage/storageAccounts@2023-05-01' existing = { name: 'st' }\nvar k = sa.listKeys().keys[0].value\n",
    );
    await assertFires(
      'list-keys',
      "var k = listKeys(resourceId('Microsoft.Storage/storageAccounts', 'st'), '2023-05-01').keys[0].value\n",
    );
    await assertFires('list-keys', "var s = listSecrets(someId, '2023-01-01')\n");
  });

  test('key-in-string: AccountKey= / SharedAccessKey= / InstrumentationKey= in a string fails', async () => {
    await assertFires('key-in-string', "var c = 'DefaultEndpointsProtocol=https;AccountName=st;AccountKey=${key}'\n");
    await assertFires('key-in-string', "var c = 'Endpoint=sb://x/;SharedAccessKeyName=a;SharedAccessKey=b'\n");
    await assertFires('key-in-string', "var c = 'InstrumentationKey=00000000-0000-0000-0000-000000000000'\n");
  });

  test('output-secret: connection strings, keys and @secure() values in outputs fail', async () => {
    await assertFires(
      'output-secret',
      'output APPLICATIONINSIGHTS_CONNECTION_STRING string = monitoring.outputs.connectionString\n',
    );
    await assertFires('output-secret', 'output conn string = monitoring.outputs.connectionString\n');
    await assertFires('output-secret', 'output k string = sa.properties.primaryKey\n');
    await assertFires('output-secret', '@secure()\nparam clientSecret string\noutput echo string = clientSecret\n');
    expect(
      rulesOf(
        await violationsOf(
          "output AUTH_KEY_VAULT_URL string = kv.properties.vaultUri\noutput AUTH_CLIENT_SECRET_NAME string = 'n'\n",
        ),
      ),
    ).toStrictEqual([]);
  });

  test('avm-pinned: a registry module without an exact version fails', async () => {
    await assertFires(
      'avm-pinned',
      "module id 'br/public:avm/res/managed-identity/user-assigned-identity:latest' = {\n  name: 'id'\n  params: {}\n}\n",
    );
  });

  const assignment = (roleExpr: string, prelude = ''): string =>
    `${prelude}resource ra 'Microsoft.Authorization/roleAssignments@2022-04-01' = {\n  name: guid('x')\n  properties: {\n    roleDefinitionId: ${roleExpr}\n    principalId: p\n  }\n}\n`;

  test('role-allowed: an allowed role named beside its GUID passes', async () => {
    const source = assignment(
      "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', tableRole)",
      "var tableRole = '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // Storage Table Data Contributor\n",
    );
    expect(rulesOf(await violationsOf(source))).toStrictEqual([]);
  });

  for (const [guid, name] of Object.entries(BROAD_ROLES)) {
    test(`role-allowed: ${name} fails (inline, through a variable)`, async () => {
      await assertFires(
        'role-allowed',
        assignment(`subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '${guid}') // ${name}`),
      );
      await assertFires(
        'role-allowed',
        assignment(
          "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', r)",
          `var r = '${guid}' // ${name}\n`,
        ),
      );
    });
  }

  test('role-allowed: an unknown GUID, or a role that cannot be resolved, fails', async () => {
    await assertFires(
      'role-allowed',
      assignment(
        "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', 'acdd72a7-3385-48ef-bd42-f606fba81ae7')",
      ),
    );
    await assertFires('role-allowed', assignment('roleIdParam', 'param roleIdParam string\n'));
  });

  test('role-allowed: a broad role handed to an AVM roleAssignments parameter fails', async () => {
    await assertFires(
      'role-allowed',
      "module st 'br/public:avm/res/storage/storage-account:0.8.3' = {\n  name: 'st'\n  params: {\n    roleAssignments: [\n      { principalId: p, roleDefinitionIdOrName: 'Owner' }\n    ]\n  }\n}\n",
    );
  });

  test('role-named: an allowed GUID without its role name beside it fails', async () => {
    await assertFires(
      'role-named',
      assignment(
        "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', r)",
        "var r = '4633458b-17de-408a-b874-0445c86b69e6'\n",
      ),
    );
  });
});
