/**
 * Infra policy, checked on the Bicep syntax tree (tree-sitter-bicep): each rule has an id so tests can prove
 * that it fires. Regexes are used only on names and string contents the tree already isolated.
 *
 * Decisions (documented in README "Deploy to Azure"):
 * - Connection strings: none with keys. `APPLICATIONINSIGHTS_CONNECTION_STRING` is the one exception: its
 *   InstrumentationKey is an identifier, not a credential, when (a) every Application Insights component has
 *   `disableLocalAuth: true` and (b) the same app settings carry `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`
 *   with `Authorization=AAD`. Outputs never carry a connection string, not even that one.
 * - Roles: an allow-list of GUIDs (not a deny-list), each resolved from the role assignment's
 *   roleDefinitionId through var/param declarations; a GUID that cannot be resolved fails too.
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
  objectProperties,
  propertyKey,
  propertyValue,
  referencedIdentifiers,
  resources,
  secureParameters,
  stringValue,
  symbolValues,
} from './_bicep';

export interface Violation {
  rule: string;
  path: string;
  line: number;
  message: string;
}

/** Roles the app's identity may hold (name beside GUID). */
export const ALLOWED_ROLES: Readonly<Record<string, string>> = {
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': 'Storage Table Data Contributor',
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': 'Storage Blob Data Owner',
  '4633458b-17de-408a-b874-0445c86b69e6': 'Key Vault Secrets User',
  '3913510d-42f4-4e42-8a64-420c390055eb': 'Monitoring Metrics Publisher',
};

/** Broad roles named in messages when they show up (anything outside ALLOWED_ROLES fails anyway). */
export const BROAD_ROLES: Readonly<Record<string, string>> = {
  '8e3af657-a8ff-443c-a75c-2fe8c4bcb635': 'Owner',
  'b24988ac-6180-42a0-ab88-20f7382dd24c': 'Contributor',
  '00482a5a-887f-4fb3-b363-3b7fe8e74483': 'Key Vault Administrator',
  '18d7d88d-d35e-4fb5-a5c3-7773c4a72b9d': 'User Access Administrator',
  '17d1049b-9a84-46fb-8f53-869881c3d3ab': 'Storage Account Contributor',
  'ba92f5b4-2d11-453d-a403-e96b0029c9fe': 'Storage Blob Data Contributor',
  'b86a8fe4-44ce-4948-aee5-eccb2c155cd7': 'Key Vault Secrets Officer',
  'f25e0fa2-a7c8-4377-a976-54943a77a395': 'Key Vault Contributor',
};

/** Resource types the deployment must declare (a pinned AVM module counts for its resource type). */
export const REQUIRED_RESOURCE_TYPES = [
  'Microsoft.Web/sites',
  'Microsoft.Web/serverfarms',
  'Microsoft.ManagedIdentity/userAssignedIdentities',
  'Microsoft.Storage/storageAccounts',
  'Microsoft.Storage/storageAccounts/blobServices/containers',
  'Microsoft.Storage/storageAccounts/tableServices/tables',
  'Microsoft.KeyVault/vaults',
  'Microsoft.KeyVault/vaults/secrets',
  'Microsoft.OperationalInsights/workspaces',
  'Microsoft.Insights/components',
  'Microsoft.Authorization/roleAssignments',
  'Microsoft.Graph/applications',
  'Microsoft.Graph/applications/federatedIdentityCredentials',
] as const;

export const REQUIRED_TABLES = ['AuthState', 'AuthSessions'] as const;

/** Azure Verified Modules (br/public:avm/res/<path>) and the resource type each one deploys. */
const AVM_RESOURCE_TYPES: Readonly<Record<string, string>> = {
  'avm/res/web/site': 'Microsoft.Web/sites',
  'avm/res/web/serverfarm': 'Microsoft.Web/serverfarms',
  'avm/res/managed-identity/user-assigned-identity': 'Microsoft.ManagedIdentity/userAssignedIdentities',
  'avm/res/storage/storage-account': 'Microsoft.Storage/storageAccounts',
  'avm/res/key-vault/vault': 'Microsoft.KeyVault/vaults',
  'avm/res/operational-insights/workspace': 'Microsoft.OperationalInsights/workspaces',
  'avm/res/insights/component': 'Microsoft.Insights/components',
};

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const KEY_MATERIAL_IN_STRING = /(?:AccountKey|SharedAccessKey|SharedAccessSignature|InstrumentationKey)\s*=|[?&]sig=/i;
const SECRETISH_SETTING =
  /connection_?string|account_?key|access_?key|primary_?key|secondary_?key|instrumentation_?key|password|secret(?!_?name\b)|^AzureWebJobsStorage$/i;
const SECRETISH_OUTPUT =
  /connection_?string|account_?key|access_?key|primary_?key|secondary_?key|instrumentation_?key|password|secret(?!_?name\b)/i;

/** A resource or AVM module seen as "a thing of type T with these settings". */
interface Instance {
  decl: Declaration;
  type: string;
  /** `properties` of a resource, `params` of an AVM module (AVM modules take the properties flat). */
  settings: SyntaxNode | undefined;
  viaModule: boolean;
}

function instances(files: readonly BicepFile[]): Instance[] {
  const out: Instance[] = [];
  for (const file of files) {
    for (const r of resources(file)) {
      if (r.existing) continue;
      out.push({ decl: r, type: r.type, settings: getProperty(r.body, 'properties'), viaModule: false });
    }
    for (const m of modules(file)) {
      const avm = /^br\/public:(avm\/res\/[a-z0-9/-]+):/.exec(m.type);
      const type = avm ? AVM_RESOURCE_TYPES[avm[1]!] : undefined;
      if (type) out.push({ decl: m, type, settings: getProperty(m.body, 'params'), viaModule: true });
    }
  }
  return out;
}

function v(rule: string, decl: { file: BicepFile }, node: SyntaxNode, message: string): Violation {
  return { rule, path: decl.file.path, line: lineOf(node), message };
}

export interface PolicyOptions {
  /** Check that the whole set of files declares every required resource and role (off for snippets). */
  requireComplete?: boolean;
}

export function checkPolicy(files: readonly BicepFile[], options: PolicyOptions = {}): Violation[] {
  const violations: Violation[] = [];
  const all = instances(files);
  const ofType = (type: string): Instance[] => all.filter((i) => i.type.toLowerCase() === type.toLowerCase());

  // ---- required resources, tables and roles
  if (options.requireComplete) {
    const where = { rule: 'required-resource', path: files.map((f) => f.path).join(', '), line: 0 };
    for (const type of REQUIRED_RESOURCE_TYPES) {
      if (ofType(type).length === 0) violations.push({ ...where, message: `no ${type} is declared` });
    }
    const tableNames = ofType('Microsoft.Storage/storageAccounts/tableServices/tables').map((t) =>
      stringValue(getProperty(t.decl.body, 'name')),
    );
    for (const table of REQUIRED_TABLES) {
      if (!tableNames.includes(table)) violations.push({ ...where, message: `table ${table} is not declared` });
    }
    const assigned = new Set(roleAssignments(files).flatMap((a) => a.guids));
    for (const [guid, name] of Object.entries(ALLOWED_ROLES)) {
      if (!assigned.has(guid))
        violations.push({ ...where, rule: 'required-role', message: `no role assignment grants ${name} (${guid})` });
    }
  }

  // ---- storage
  for (const sa of ofType('Microsoft.Storage/storageAccounts')) {
    const at = sa.settings ?? sa.decl.node;
    if (!isLiteral(getProperty(sa.settings, 'allowSharedKeyAccess'), false)) {
      violations.push(
        v(
          'storage-shared-key',
          sa.decl.file ? sa.decl : sa.decl,
          at,
          `${sa.decl.symbol}: allowSharedKeyAccess must be the literal false (keys and SAS off)`,
        ),
      );
    }
    if (!isLiteral(getProperty(sa.settings, 'minimumTlsVersion'), 'TLS1_2')) {
      violations.push(v('storage-tls', sa.decl, at, `${sa.decl.symbol}: minimumTlsVersion must be 'TLS1_2'`));
    }
    if (!isLiteral(getProperty(sa.settings, 'allowBlobPublicAccess'), false)) {
      violations.push(
        v('storage-public-access', sa.decl, at, `${sa.decl.symbol}: allowBlobPublicAccess must be false`),
      );
    }
  }

  // ---- key vault
  for (const kv of ofType('Microsoft.KeyVault/vaults')) {
    const at = kv.settings ?? kv.decl.node;
    if (!isLiteral(getProperty(kv.settings, 'enableRbacAuthorization'), true)) {
      violations.push(
        v('keyvault-rbac', kv.decl, at, `${kv.decl.symbol}: enableRbacAuthorization must be true (no access policies)`),
      );
    }
    if (
      !isLiteral(getProperty(kv.settings, 'enablePurgeProtection'), true) ||
      isLiteral(getProperty(kv.settings, 'enableSoftDelete'), false)
    ) {
      violations.push(
        v(
          'keyvault-purge-protection',
          kv.decl,
          at,
          `${kv.decl.symbol}: soft delete on and enablePurgeProtection true are required`,
        ),
      );
    }
  }

  // ---- function / web apps
  for (const site of ofType('Microsoft.Web/sites')) {
    const at = site.settings ?? site.decl.node;
    const siteConfig = getProperty(site.settings, 'siteConfig');
    if (!isLiteral(getProperty(site.settings, 'httpsOnly'), true)) {
      violations.push(v('https-only', site.decl, at, `${site.decl.symbol}: httpsOnly must be true`));
    }
    const tls = getProperty(siteConfig, 'minTlsVersion');
    if (!isLiteral(tls, '1.2') && !isLiteral(tls, '1.3')) {
      violations.push(
        v(
          'site-tls',
          site.decl,
          siteConfig ?? at,
          `${site.decl.symbol}: siteConfig.minTlsVersion must be '1.2' or later`,
        ),
      );
    }
    if (!isLiteral(getProperty(siteConfig, 'ftpsState'), 'Disabled')) {
      violations.push(
        v('site-ftp', site.decl, siteConfig ?? at, `${site.decl.symbol}: siteConfig.ftpsState must be 'Disabled'`),
      );
    }
    const cors = getProperty(siteConfig, 'cors');
    if (cors) {
      const origins = getProperty(cors, 'allowedOrigins');
      if (origins && descendants(origins, 'string').some((s) => stringValue(s) === '*')) {
        violations.push(v('cors', site.decl, cors, `${site.decl.symbol}: CORS must not allow "*"`));
      }
      if (!isLiteral(getProperty(cors, 'supportCredentials'), true)) {
        violations.push(
          v('cors', site.decl, cors, `${site.decl.symbol}: CORS needs supportCredentials true (cookie sessions)`),
        );
      }
    }
  }

  // ---- application insights
  const appInsights = ofType('Microsoft.Insights/components');
  const insightsEntraOnly = appInsights.every((c) => isLiteral(getProperty(c.settings, 'disableLocalAuth'), true));
  for (const c of appInsights) {
    if (!isLiteral(getProperty(c.settings, 'disableLocalAuth'), true)) {
      violations.push(
        v(
          'appinsights-local-auth',
          c.decl,
          c.settings ?? c.decl.node,
          `${c.decl.symbol}: disableLocalAuth must be true (Entra-authenticated ingestion)`,
        ),
      );
    }
  }

  // ---- app settings: no secrets, no keyed connection strings
  for (const group of appSettingGroups(files)) {
    const secure = secureParameters(group.file);
    const byName = new Map(group.settings.map((s) => [s.name, s]));
    for (const setting of group.settings) {
      const decl = { file: group.file };
      if (setting.name === 'APPLICATIONINSIGHTS_CONNECTION_STRING') {
        const auth = byName.get('APPLICATIONINSIGHTS_AUTHENTICATION_STRING');
        const aad =
          auth?.value &&
          descendants(auth.value, 'string_content')
            .concat(auth.value.type === 'string_content' ? [auth.value] : [])
            .some((c) => /Authorization=AAD/i.test(c.text));
        if (!aad || !insightsEntraOnly) {
          violations.push(
            v(
              'app-setting-secret',
              decl,
              setting.node,
              'APPLICATIONINSIGHTS_CONNECTION_STRING is allowed only with APPLICATIONINSIGHTS_AUTHENTICATION_STRING "Authorization=AAD;..." and disableLocalAuth true on every component',
            ),
          );
        }
      } else if (SECRETISH_SETTING.test(setting.name)) {
        violations.push(
          v(
            'app-setting-secret',
            decl,
            setting.node,
            `app setting ${setting.name} looks like a secret or a connection string; use identity-based settings`,
          ),
        );
      }
      if (setting.value && referencedIdentifiers(setting.value).some((id) => secure.has(id))) {
        violations.push(
          v(
            'app-setting-secret',
            decl,
            setting.node,
            `app setting ${setting.name} takes the value of a @secure() parameter`,
          ),
        );
      }
    }
  }

  for (const file of files) {
    const secure = secureParameters(file);
    const decl = { file };
    // ---- list*() anywhere: listKeys, listSecrets, listConnectionStrings, listAccountSas, ...
    for (const call of descendants(file.root, 'call_expression')) {
      const callee = call.childForFieldName('function');
      const name = callee?.type === 'member_expression' ? callee.childForFieldName('property')?.text : callee?.text;
      if (name && /^list[A-Z]/.test(name))
        violations.push(v('list-keys', decl, call, `${name}() returns secrets; use managed identity instead`));
    }
    // ---- key material in string literals
    for (const content of descendants(file.root, 'string_content')) {
      if (KEY_MATERIAL_IN_STRING.test(content.text)) {
        violations.push(
          v('key-in-string', decl, content, `string holds key material ("${content.text.slice(0, 40)}")`),
        );
      }
    }
    // ---- outputs
    for (const output of descendants(file.root, 'output_declaration')) {
      const name = output.namedChildren[0]?.text ?? '';
      const value = output.namedChildren[output.namedChildren.length - 1];
      if (SECRETISH_OUTPUT.test(name))
        violations.push(v('output-secret', decl, output, `output ${name} looks like a secret or a connection string`));
      if (!value) continue;
      const members = [value, ...descendants(value, 'member_expression')].filter((n) => n.type === 'member_expression');
      if (
        members.some((m) => /connectionstring|key$|keys$|secret$/i.test(m.childForFieldName('property')?.text ?? ''))
      ) {
        violations.push(v('output-secret', decl, output, `output ${name} exposes a connection string or key`));
      }
      if (referencedIdentifiers(value).some((id) => secure.has(id))) {
        violations.push(v('output-secret', decl, output, `output ${name} uses a @secure() parameter`));
      }
    }
    // ---- pinned registry modules
    for (const m of modules(file)) {
      if (/^br[:/]/.test(m.type) && !/:\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/.test(m.type)) {
        violations.push(v('avm-pinned', m, m.node, `module ${m.type} must pin an exact version`));
      }
    }
  }

  // ---- role assignments: allow-list, named beside the GUID
  for (const assignment of roleAssignments(files)) {
    const decl = { file: assignment.file };
    if (assignment.guids.length === 0) {
      violations.push(
        v(
          'role-allowed',
          decl,
          assignment.node,
          `${assignment.symbol}: roleDefinitionId does not resolve to a role GUID in this file`,
        ),
      );
    }
    for (const guid of assignment.guids) {
      if (!ALLOWED_ROLES[guid]) {
        violations.push(
          v(
            'role-allowed',
            decl,
            assignment.node,
            `${assignment.symbol}: role ${BROAD_ROLES[guid] ?? 'unknown'} (${guid}) is not in the least-privilege allow-list`,
          ),
        );
      }
    }
  }
  for (const file of files) {
    // AVM-style roleAssignments params: roleDefinitionIdOrName must be an allowed GUID (names are ambiguous).
    for (const prop of descendants(file.root, 'object_property').filter(
      (p) => propertyKey(p) === 'roleDefinitionIdOrName',
    )) {
      const text = propertyValue(prop)?.text ?? '';
      const guids = text.match(GUID) ?? [];
      if (guids.length === 0 || guids.some((g) => !ALLOWED_ROLES[g.toLowerCase()])) {
        violations.push(
          v('role-allowed', { file }, prop, `roleDefinitionIdOrName ${text} is not an allowed role GUID`),
        );
      }
    }
    // Any broad-role GUID anywhere (e.g. hidden in a variable passed to a module) fails.
    for (const content of descendants(file.root, 'string_content')) {
      for (const guid of content.text.match(GUID) ?? []) {
        const name = BROAD_ROLES[guid.toLowerCase()];
        if (name)
          violations.push(v('role-allowed', { file }, content, `broad role ${name} (${guid}) appears in the template`));
      }
    }
    // Every allowed-role GUID literal carries its role's name on the same line.
    const lines = file.source.split('\n');
    for (const content of descendants(file.root, 'string_content')) {
      const guid = content.text.toLowerCase();
      const name = ALLOWED_ROLES[guid];
      if (name && !(lines[content.startPosition.row] ?? '').includes(name)) {
        violations.push(v('role-named', { file }, content, `role GUID ${guid} needs its name ("${name}") beside it`));
      }
    }
  }
  return violations;
}

export interface RoleAssignment {
  file: BicepFile;
  node: SyntaxNode;
  symbol: string;
  guids: string[];
}

/** Role assignments and the role GUIDs their roleDefinitionId resolves to (through vars/params). */
export function roleAssignments(files: readonly BicepFile[]): RoleAssignment[] {
  const out: RoleAssignment[] = [];
  for (const file of files) {
    const symbols = symbolValues(file);
    for (const r of resources(file)) {
      if (r.existing || r.type !== 'Microsoft.Authorization/roleAssignments') continue;
      const roleDefinitionId = getProperty(r.body, 'properties', 'roleDefinitionId');
      out.push({
        file,
        node: r.node,
        symbol: r.symbol,
        guids: roleDefinitionId ? resolveGuids(roleDefinitionId, symbols) : [],
      });
    }
  }
  return out;
}

function resolveGuids(node: SyntaxNode, symbols: Map<string, SyntaxNode>, seen = new Set<string>()): string[] {
  const own = [node, ...descendants(node)]
    .filter((n) => n.type === 'string_content')
    .flatMap((n) => n.text.match(GUID) ?? []);
  const viaSymbols = referencedIdentifiers(node).flatMap((id) => {
    const value = symbols.get(id);
    if (!value || seen.has(id)) return [];
    seen.add(id);
    return resolveGuids(value, symbols, seen);
  });
  return [...new Set([...own, ...viaSymbols].map((g) => g.toLowerCase()))];
}

export interface AppSetting {
  name: string;
  value: SyntaxNode | undefined;
  node: SyntaxNode;
}

export interface AppSettingGroup {
  file: BicepFile;
  owner: string;
  settings: AppSetting[];
}

/**
 * App settings as declared: `siteConfig.appSettings: [{ name, value }]` on sites (resources or AVM site
 * modules), `appSettingsKeyValuePairs: {...}` on AVM site modules, and `Microsoft.Web/sites/config` named
 * 'appsettings'. Names must be literals so they can be checked; a computed name is reported as '<computed>'.
 */
export function appSettingGroups(files: readonly BicepFile[]): AppSettingGroup[] {
  const groups: AppSettingGroup[] = [];
  for (const site of instances(files).filter((i) => i.type === 'Microsoft.Web/sites')) {
    const settings: AppSetting[] = [];
    const list = getProperty(site.settings, 'siteConfig', 'appSettings');
    for (const item of list?.namedChildren ?? []) {
      if (!item || item.type !== 'object') continue;
      settings.push({
        name: stringValue(getProperty(item, 'name')) ?? '<computed>',
        value: getProperty(item, 'value'),
        node: item,
      });
    }
    if (site.viaModule) {
      for (const prop of objectProperties(getProperty(site.settings, 'appSettingsKeyValuePairs'))) {
        settings.push({ name: propertyKey(prop) ?? '<computed>', value: propertyValue(prop), node: prop });
      }
    }
    groups.push({ file: site.decl.file, owner: site.decl.symbol, settings });
  }
  for (const file of files) {
    for (const r of resources(file)) {
      if (r.type !== 'Microsoft.Web/sites/config' || stringValue(getProperty(r.body, 'name')) !== 'appsettings')
        continue;
      const settings = objectProperties(getProperty(r.body, 'properties')).map((prop) => ({
        name: propertyKey(prop) ?? '<computed>',
        value: propertyValue(prop),
        node: prop,
      }));
      groups.push({ file, owner: r.symbol, settings });
    }
  }
  return groups;
}
