/**
 * Policy rules for what `azd up` must get right beyond the security baseline of _policy.ts (infra review B/W/S
 * findings), on the syntax tree. Each rule has an id so the tests can prove it fires on a violating snippet. Rules
 * that need values (reply URLs, app settings per mode, guards) run the templates through _eval.ts instead: see
 * deploy-eval.test.ts.
 */
import {
  type BicepFile,
  type Declaration,
  type SyntaxNode,
  descendants,
  getProperty,
  isLiteral,
  lineOf,
  modules,
  resources,
  stringValue,
} from './_bicep';
import type { Violation } from './_policy';
import { OIDC_SCOPES, parseConfig } from '../../shared/config';

/**
 * Regions that offer Flex Consumption (Learn "flex-consumption-plan", Considerations: not all regions; the list of
 * Azure-Samples/functions-quickstart-typescript-azd infra/main.bicep, without the canary region eastus2euap).
 */
export const FLEX_REGIONS: readonly string[] = [
  'australiaeast',
  'australiasoutheast',
  'brazilsouth',
  'canadacentral',
  'centralindia',
  'centralus',
  'eastasia',
  'eastus',
  'eastus2',
  'francecentral',
  'germanywestcentral',
  'italynorth',
  'japaneast',
  'koreacentral',
  'northcentralus',
  'northeurope',
  'norwayeast',
  'southafricanorth',
  'southcentralus',
  'southeastasia',
  'southindia',
  'spaincentral',
  'swedencentral',
  'uaenorth',
  'uksouth',
  'ukwest',
  'westcentralus',
  'westeurope',
  'westus',
  'westus2',
  'westus3',
];

/**
 * Delegated Microsoft Graph permission ids (Learn "Microsoft Graph permissions reference"). Sign-in always asks
 * `openid profile offline_access` (shared/config.ts OIDC_SCOPES) and, by default, `User.Read` (AUTH_SCOPES).
 */
export const GRAPH_DELEGATED: Readonly<Record<string, string>> = {
  openid: '37f7f235-527c-4136-accd-4a02d197296e',
  profile: '14dad69e-099b-42c9-810b-d002981feec1',
  offline_access: '7427e0e9-2fba-42fe-b0c0-848c9e6a8182',
  email: '64a6cdd6-aab1-4aaf-94b8-3cc8405e90d0',
  'User.Read': 'e1fe6dd8-ba31-4d61-89e7-88639da4683d',
};
const MICROSOFT_GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const KEY_VAULT_SECRETS_USER = '4633458b-17de-408a-b874-0445c86b69e6';
const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

function v(rule: string, file: BicepFile, node: SyntaxNode, message: string): Violation {
  return { rule, path: file.path, line: lineOf(node), message };
}

/** `var`/`param` text by name, so a GUID behind a variable is found (one level, as the templates write them). */
function symbolTexts(file: BicepFile): Map<string, string> {
  const out = new Map<string, string>();
  for (const decl of [
    ...descendants(file.root, 'variable_declaration'),
    ...descendants(file.root, 'parameter_declaration'),
  ]) {
    const name = decl.namedChildren[0]?.text;
    const value = decl.namedChildren[decl.namedChildren.length - 1];
    if (name && value) out.set(name, value.text);
  }
  return out;
}

function resolvedText(node: SyntaxNode | undefined, file: BicepFile): string {
  if (!node) return '';
  const symbols = symbolTexts(file);
  return node.text.replace(/[A-Za-z_][A-Za-z0-9_]*/g, (id) => (symbols.has(id) ? `${id} ${symbols.get(id)}` : id));
}

function condition(decl: Declaration): SyntaxNode | undefined {
  return decl.node.namedChildren.find((c) => c?.type === 'if_statement') ?? undefined;
}

export interface DeployPolicyOptions {
  /** Rules about infra/main.bicep itself (location list, how modules are instantiated); off for snippets. */
  main?: BicepFile;
}

export function checkDeployPolicy(files: readonly BicepFile[], options: DeployPolicyOptions = {}): Violation[] {
  const out: Violation[] = [];
  const allResources = files.flatMap((f) => resources(f));
  const allModules = files.flatMap((f) => modules(f));

  // ---- S1: Application Insights masks client IPs. The AVM module defaults to disableIpMasking = true (no masking),
  // so the template must say false; the raw resource takes DisableIpMasking in properties.
  for (const m of allModules.filter((m) => /^br\/public:avm\/res\/insights\/component:/.test(m.type))) {
    if (!isLiteral(getProperty(m.body, 'params', 'disableIpMasking'), false)) {
      out.push(
        v(
          'appinsights-ip-masking',
          m.file,
          m.node,
          `${m.symbol}: pass disableIpMasking: false (the AVM default true stores full client IPs)`,
        ),
      );
    }
  }
  for (const r of allResources.filter((r) => !r.existing && r.type === 'Microsoft.Insights/components')) {
    const props = getProperty(r.body, 'properties');
    if (
      isLiteral(getProperty(props, 'DisableIpMasking'), true) ||
      isLiteral(getProperty(props, 'disableIpMasking'), true)
    ) {
      out.push(v('appinsights-ip-masking', r.file, r.node, `${r.symbol}: DisableIpMasking must not be true`));
    }
  }

  // ---- S2: basic-auth publishing off for both scm and ftp, on every site.
  for (const site of allResources.filter((r) => !r.existing && r.type === 'Microsoft.Web/sites')) {
    const policies = allResources.filter(
      (r) =>
        r.type === 'Microsoft.Web/sites/basicPublishingCredentialsPolicies' &&
        (r.node.parent?.parent?.parent === site.node || getProperty(r.body, 'parent')?.text === site.symbol),
    );
    for (const name of ['scm', 'ftp']) {
      const policy = policies.find((p) => stringValue(getProperty(p.body, 'name')) === name);
      if (!policy || !isLiteral(getProperty(policy.body, 'properties', 'allow'), false)) {
        out.push(
          v(
            'basic-publishing-credentials',
            site.file,
            site.node,
            `${site.symbol}: basicPublishingCredentialsPolicies '${name}' with allow: false is required`,
          ),
        );
      }
    }
  }

  // ---- S3: audit logs. A diagnostic setting scoped to every vault (category group audit or allLogs) and to every
  // table service (StorageRead, StorageWrite, StorageDelete), sent to a workspace.
  const diagnostics = allResources.filter((r) => r.type === 'Microsoft.Insights/diagnosticSettings');
  const diagnosticsOf = (symbol: string) => diagnostics.filter((d) => getProperty(d.body, 'scope')?.text === symbol);
  const logsOf = (d: Declaration) => descendants(getProperty(d.body, 'properties', 'logs') ?? d.node, 'object');
  for (const vault of allResources.filter((r) => !r.existing && r.type === 'Microsoft.KeyVault/vaults')) {
    const ok = diagnosticsOf(vault.symbol).some(
      (d) =>
        getProperty(d.body, 'properties', 'workspaceId') &&
        logsOf(d).some(
          (l) =>
            ['audit', 'allLogs'].includes(stringValue(getProperty(l, 'categoryGroup')) ?? '') &&
            isLiteral(getProperty(l, 'enabled'), true),
        ),
    );
    if (!ok)
      out.push(
        v(
          'diagnostic-settings',
          vault.file,
          vault.node,
          `${vault.symbol}: a diagnostic setting with the audit category group to Log Analytics is required (who read which secret)`,
        ),
      );
  }
  for (const tables of allResources.filter(
    (r) => !r.existing && r.type === 'Microsoft.Storage/storageAccounts/tableServices',
  )) {
    const ok = diagnosticsOf(tables.symbol).some((d) => {
      const enabled = logsOf(d)
        .filter((l) => isLiteral(getProperty(l, 'enabled'), true))
        .map((l) => stringValue(getProperty(l, 'category')) ?? stringValue(getProperty(l, 'categoryGroup')));
      return (
        getProperty(d.body, 'properties', 'workspaceId') &&
        (enabled.includes('allLogs') ||
          ['StorageRead', 'StorageWrite', 'StorageDelete'].every((c) => enabled.includes(c)))
      );
    });
    if (!ok)
      out.push(
        v(
          'diagnostic-settings',
          tables.file,
          tables.node,
          `${tables.symbol}: a diagnostic setting with StorageRead, StorageWrite and StorageDelete to Log Analytics is required`,
        ),
      );
  }

  // ---- S4 / B2: the vault read role exists only conditionally (the modes that use a vault).
  for (const r of allResources.filter((r) => !r.existing && r.type === 'Microsoft.Authorization/roleAssignments')) {
    const role = resolvedText(getProperty(r.body, 'properties', 'roleDefinitionId'), r.file);
    if ((role.match(GUID) ?? []).some((g) => g.toLowerCase() === KEY_VAULT_SECRETS_USER) && !condition(r)) {
      out.push(
        v(
          'vault-conditional',
          r.file,
          r.node,
          `${r.symbol}: Key Vault Secrets User only in the modes that read a vault (an if condition)`,
        ),
      );
    }
  }

  // ---- W3: required resource access ⊇ what sign-in asks for.
  for (const app of allResources.filter((r) => !r.existing && r.type === 'Microsoft.Graph/applications')) {
    const access = getProperty(app.body, 'requiredResourceAccess');
    const graph = descendants(access ?? app.node, 'object').find((o) =>
      resolvedText(getProperty(o, 'resourceAppId'), app.file).includes(MICROSOFT_GRAPH_APP_ID),
    );
    const declared = new Set(
      descendants(getProperty(graph, 'resourceAccess') ?? app.node, 'object')
        .filter((o) => isLiteral(getProperty(o, 'type'), 'Scope'))
        .flatMap((o) => (resolvedText(getProperty(o, 'id'), app.file).match(GUID) ?? []).map((g) => g.toLowerCase())),
    );
    for (const scope of SIGN_IN_SCOPES) {
      if (!declared.has(GRAPH_DELEGATED[scope]!)) {
        out.push(
          v(
            'required-resource-access',
            app.file,
            app.node,
            `${app.symbol}: requiredResourceAccess lacks the delegated Graph permission ${scope} that sign-in asks for`,
          ),
        );
      }
    }
  }

  // ---- federated credential: trusts the user-assigned identity (its principal id), nothing else.
  for (const fic of allResources.filter(
    (r) => r.type === 'Microsoft.Graph/applications/federatedIdentityCredentials',
  )) {
    const subject = getProperty(fic.body, 'subject');
    if (!subject || !/principalid/i.test(subject.text)) {
      out.push(
        v(
          'fic-subject',
          fic.file,
          fic.node,
          `${fic.symbol}: subject must be the managed identity's principal id parameter`,
        ),
      );
    }
  }

  if (options.main) out.push(...checkMain(options.main, files));
  return out;
}

/** Scopes every sign-in asks for with the default settings: shared/config.ts OIDC_SCOPES + the AUTH_SCOPES default. */
export const SIGN_IN_SCOPES: readonly string[] = [
  ...OIDC_SCOPES,
  ...parseConfig({
    AUTH_CLIENT_ID: '11111111-2222-4333-8444-555555555555',
    AUTH_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    AUTH_REDIRECT_URI: 'https://auth.example.com/auth/callback',
    AUTH_CLIENT_SECRET: 'unused',
    AUTH_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
  }).scopes,
];

function checkMain(main: BicepFile, files: readonly BicepFile[]): Violation[] {
  const out: Violation[] = [];
  // ---- B4: location limited to Flex Consumption regions.
  const location = descendants(main.root, 'parameter_declaration').find((p) => p.namedChildren[0]?.text === 'location');
  let decorators = location?.previousNamedSibling;
  while (decorators && decorators.type === 'comment') decorators = decorators.previousNamedSibling;
  const allowed =
    decorators?.type === 'decorators'
      ? descendants(decorators, 'call_expression').find((c) => c.childForFieldName('function')?.text === 'allowed')
      : undefined;
  const regions = allowed ? descendants(allowed, 'string').map((s) => stringValue(s) ?? '') : [];
  if (!location || regions.length === 0) {
    out.push(
      v(
        'allowed-locations',
        main,
        location ?? main.root,
        'param location needs @allowed([...]) with the Flex Consumption regions',
      ),
    );
  } else {
    const unknown = regions.filter((r) => !FLEX_REGIONS.includes(r));
    if (unknown.length)
      out.push(
        v('allowed-locations', main, allowed!, `regions without Flex Consumption in @allowed: ${unknown.join(', ')}`),
      );
  }

  // ---- B2 / S4: the vault module is conditional, on the credential mode.
  for (const m of modules(main)) {
    const file = files.find((f) => f.path.endsWith(`infra/${m.type}`));
    const declaresVault = file && resources(file).some((r) => !r.existing && r.type === 'Microsoft.KeyVault/vaults');
    if (!declaresVault && !/avm\/res\/key-vault\/vault/.test(m.type)) continue;
    const cond = condition(m);
    if (!cond || !/credentialmode/i.test(resolvedText(cond, main))) {
      out.push(
        v(
          'vault-conditional',
          main,
          m.node,
          `module ${m.symbol} declares a Key Vault: deploy it only in the modes that read one (if on the credential mode)`,
        ),
      );
    }
  }
  return out;
}
