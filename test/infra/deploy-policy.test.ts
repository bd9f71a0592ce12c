// Deploy policy over the Bicep syntax tree (infra review B4, W3, S1–S4, federated credential): the real infra
// passes, and each rule fires on a small violating snippet.
import { beforeAll, describe, expect, test } from '@jest/globals';
import { type BicepFile, loadInfra, parseBicep } from './_bicep';
import { FLEX_REGIONS, GRAPH_DELEGATED, SIGN_IN_SCOPES, checkDeployPolicy } from './_policy-deploy';
import { OIDC_SCOPES } from '../../shared/config';

const rulesOf = async (source: string, main = false): Promise<string[]> => {
  const file = await parseBicep(source, main ? 'infra/main.bicep' : 'snippet.bicep');
  return [...new Set(checkDeployPolicy([file], main ? { main: file } : {}).map((x) => x.rule))].sort();
};

describe('the infra passes the deploy policy', () => {
  let files: BicepFile[];
  beforeAll(async () => {
    files = await loadInfra();
  });

  test('no violations', () => {
    const found = checkDeployPolicy(files, { main: files.find((f) => f.path === 'infra/main.bicep') });
    expect(found.map((x) => `${x.path}:${x.line} [${x.rule}] ${x.message}`)).toEqual([]);
  });

  test('the scopes checked are what the code asks at sign-in (OIDC_SCOPES and the AUTH_SCOPES default)', () => {
    expect(SIGN_IN_SCOPES).toEqual([...OIDC_SCOPES, 'User.Read']);
    for (const scope of SIGN_IN_SCOPES) expect(GRAPH_DELEGATED[scope]).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('each deploy rule fires on a violating snippet', () => {
  const COMPONENT =
    "module ai 'br/public:avm/res/insights/component:0.6.0' = {\n  name: 'ai'\n  params: {\n    name: 'ai'\n    disableLocalAuth: true\n    disableIpMasking: false\n  }\n}\n";
  test('appinsights-ip-masking: the AVM default (no masking) or true fails', async () => {
    expect(await rulesOf(COMPONENT)).toEqual([]);
    expect(await rulesOf(COMPONENT.replace('    disableIpMasking: false\n', ''))).toEqual(['appinsights-ip-masking']);
    expect(await rulesOf(COMPONENT.replace('disableIpMasking: false', 'disableIpMasking: true'))).toEqual([
      'appinsights-ip-masking',
    ]);
    expect(
      await rulesOf(
        "resource ai 'Microsoft.Insights/components@2020-02-02' = {\n  name: 'ai'\n  properties: {\n    DisableIpMasking: true\n  }\n}\n",
      ),
    ).toEqual(['appinsights-ip-masking']);
  });

  const SITE = `resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: 'app'
  properties: {}
}
resource scm 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}
resource ftp 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}
`;
  test('basic-publishing-credentials: scm or ftp basic auth missing or allowed fails', async () => {
    expect(await rulesOf(SITE)).toEqual([]);
    expect(
      await rulesOf(
        SITE.replace("name: 'scm'\n  properties: {\n    allow: false", "name: 'scm'\n  properties: {\n    allow: true"),
      ),
    ).toEqual(['basic-publishing-credentials']);
    expect(await rulesOf(SITE.slice(0, SITE.indexOf('resource ftp')))).toEqual(['basic-publishing-credentials']);
  });

  const VAULT = `resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: 'kv'
  properties: {}
}
resource audit 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'a'
  scope: vault
  properties: {
    workspaceId: ws
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
  }
}
`;
  test('diagnostic-settings: a vault without an audit log to a workspace fails', async () => {
    expect(await rulesOf(VAULT)).toEqual([]);
    expect(await rulesOf(VAULT.slice(0, VAULT.indexOf('resource audit')))).toEqual(['diagnostic-settings']);
    expect(await rulesOf(VAULT.replace('enabled: true', 'enabled: false'))).toEqual(['diagnostic-settings']);
    expect(await rulesOf(VAULT.replace('    workspaceId: ws\n', ''))).toEqual(['diagnostic-settings']);
  });

  const TABLES = `resource tables 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  name: 'default'
}
resource access 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'a'
  scope: tables
  properties: {
    workspaceId: ws
    logs: [
      { category: 'StorageRead', enabled: true }
      { category: 'StorageWrite', enabled: true }
      { category: 'StorageDelete', enabled: true }
    ]
  }
}
`;
  test('diagnostic-settings: a table service without read/write/delete logs fails', async () => {
    expect(await rulesOf(TABLES)).toEqual([]);
    expect(await rulesOf(TABLES.replace("      { category: 'StorageRead', enabled: true }\n", ''))).toEqual([
      'diagnostic-settings',
    ]);
    expect(await rulesOf(TABLES.slice(0, TABLES.indexOf('resource access')))).toEqual(['diagnostic-settings']);
  });

  const ROLE = (cond: string) =>
    `var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User\nresource read 'Microsoft.Authorization/roleAssignments@2022-04-01' = ${cond}{\n  name: guid('x')\n  properties: {\n    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)\n    principalId: p\n  }\n}\n`;
  test('vault-conditional: an unconditional Key Vault Secrets User role fails', async () => {
    expect(await rulesOf(ROLE('if (!empty(keyVaultName)) '))).toEqual([]);
    expect(await rulesOf(ROLE(''))).toEqual(['vault-conditional']);
  });

  const APP = (ids: string[]) => `var graph = '00000003-0000-0000-c000-000000000000'
resource application 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: 'u'
  requiredResourceAccess: [
    {
      resourceAppId: graph
      resourceAccess: [
${ids.map((id) => `        {\n          id: '${id}'\n          type: 'Scope'\n        }`).join('\n')}
      ]
    }
  ]
}
`;
  test('required-resource-access: each sign-in scope missing from the Graph permissions fails', async () => {
    const all = SIGN_IN_SCOPES.map((s) => GRAPH_DELEGATED[s]!);
    expect(await rulesOf(APP(all))).toEqual([]);
    for (const scope of SIGN_IN_SCOPES) {
      const file = await parseBicep(APP(all.filter((id) => id !== GRAPH_DELEGATED[scope])), 'snippet.bicep');
      expect(checkDeployPolicy([file]).map((x) => x.message)).toEqual([expect.stringContaining(` ${scope} `)]);
    }
  });

  test('fic-subject: a federated credential whose subject is not the identity principal id fails', async () => {
    const fic = (subject: string) =>
      `resource application 'Microsoft.Graph/applications@v1.0' = {\n  uniqueName: 'u'\n  requiredResourceAccess: []\n  resource cred 'federatedIdentityCredentials@v1.0' = {\n    name: 'x'\n    subject: ${subject}\n  }\n}\n`;
    expect((await rulesOf(fic('managedIdentityPrincipalId'))).filter((r) => r === 'fic-subject')).toEqual([]);
    expect(await rulesOf(fic("'repo:contoso/app:ref:refs/heads/main'"))).toContain('fic-subject');
    expect(await rulesOf(fic('managedIdentityClientId'))).toContain('fic-subject');
  });

  const MAIN = (decorator: string, moduleIf: string) => `@allowed([
${decorator}
])
param location string
param credentialMode string
module keyVault 'br/public:avm/res/key-vault/vault:0.11.0' = ${moduleIf}{
  name: 'kv'
  params: {}
}
`;
  test('allowed-locations: no list, or a region without Flex Consumption, fails', async () => {
    const flex = FLEX_REGIONS.map((r) => `  '${r}'`).join('\n');
    const ok = "if (credentialMode != 'managed-identity') ";
    expect(await rulesOf(MAIN(flex, ok), true)).toEqual([]);
    expect(await rulesOf(MAIN(`${flex}\n  'westindia'`, ok), true)).toEqual(['allowed-locations']);
    expect(await rulesOf(`param location string\nparam credentialMode string\n`, true)).toEqual(['allowed-locations']);
  });

  test('vault-conditional: a vault module deployed regardless of the credential mode fails', async () => {
    const flex = FLEX_REGIONS.map((r) => `  '${r}'`).join('\n');
    expect(await rulesOf(MAIN(flex, ''), true)).toEqual(['vault-conditional']);
    expect(await rulesOf(MAIN(flex, 'if (true) '), true)).toEqual(['vault-conditional']);
  });
});
