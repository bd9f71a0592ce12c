/**
 * Configuration: every `AUTH_*` setting is parsed and validated here, once, at start-up.
 *
 * A missing or malformed setting fails closed with one message naming every problem (oauth2-proxy style):
 * there is no default that opens a hole (e.g. a multi-tenant authority without a tenant allow-list).
 */
import { isSameSite, siteOf } from './core/site';
import { ConfigError } from './errors';

/** Every setting this service reads. Infra (Bicep) and `local.settings.sample.json` are checked against it. */
export const SETTINGS = [
  'AUTH_CLIENT_ID',
  'AUTH_TENANT_ID',
  'AUTH_AUTHORITY',
  'AUTH_PROTOCOL',
  'AUTH_REDIRECT_URI',
  'AUTH_SCOPES',
  'AUTH_CLIENT_SECRET',
  'AUTH_KEY_VAULT_URL',
  'AUTH_CLIENT_SECRET_NAME',
  'AUTH_CLIENT_CERTIFICATE_NAME',
  'AUTH_CREDENTIAL',
  'AUTH_MANAGED_IDENTITY_CLIENT_ID',
  'AUTH_TOKEN_EXCHANGE_AUDIENCE',
  'AUTH_STORAGE_CONNECTION_STRING',
  'AUTH_STORAGE_ACCOUNT_URL',
  'AUTH_ALLOWED_RETURN_ORIGINS',
  'AUTH_NATIVE_REDIRECT_URIS',
  'AUTH_ALLOWED_TENANTS',
  'AUTH_POST_LOGOUT_REDIRECT_URI',
  'AUTH_SESSION_IDLE_MINUTES',
  'AUTH_SESSION_ABSOLUTE_HOURS',
  'AUTH_SIGNIN_RATE_PER_SECOND',
  'AUTH_REQUIRED_ROLES',
  'AUTH_APIS',
] as const;

export type SettingName = (typeof SETTINGS)[number];
export type Environment = Readonly<Record<string, string | undefined>>;

export type CredentialConfig =
  | { kind: 'secret'; source: 'setting'; clientSecret: string }
  | { kind: 'secret'; source: 'key-vault'; keyVaultUrl: string; secretName: string }
  | { kind: 'certificate'; keyVaultUrl: string; certificateName: string }
  // Both are always set by parseConfig; optional in the type for configs built by hand (the adapter refuses a
  // missing client id at the first use and defaults the audience to the public cloud's).
  | { kind: 'managed-identity'; managedIdentityClientId?: string; tokenExchangeAudience?: string };

export type StorageConfig = { connectionString: string } | { accountUrl: string };

export interface AuthConfig {
  clientId: string;
  protocol: 'entra' | 'oidc';
  /** Authority URL without a trailing slash. */
  authority: string;
  /** True when AUTH_AUTHORITY was given: MSAL must then trust its host without Entra instance discovery. */
  authorityIsCustom: boolean;
  /** The OpenID Provider discovery document URL for this authority and protocol. */
  discoveryUrl: string;
  redirectUri: string;
  /** Origin of the redirect URI: this service's own public origin. */
  publicOrigin: string;
  /** Scopes asked for at sign-in besides `openid profile offline_access`: every resource's, for one consent. */
  scopes: readonly string[];
  /**
   * `scopes` grouped by the resource they belong to, in the order first named. An Entra token (and so a code
   * redemption or a refresh) serves one resource; the first group is the default one.
   */
  resources: readonly ScopeGroup[];
  credential: CredentialConfig;
  storage: StorageConfig;
  /** Client id of the user-assigned managed identity the app runs as (Storage, Key Vault, federation). */
  managedIdentityClientId: string | undefined;
  allowedReturnOrigins: readonly string[];
  nativeRedirectUris: readonly string[];
  /**
   * Origins of the web (http/https) entries of AUTH_NATIVE_REDIRECT_URIS: single-page apps on any site that use
   * the token flow. They get CORS, without credentials, on the token flow's routes only (shared/http/cors.ts).
   */
  tokenClientOrigins: readonly string[];
  /** The app's name per native redirect URI (optional), shown on the page that confirms a native sign-in. */
  nativeAppNames: Readonly<Record<string, string>>;
  /** Tenant ids accepted in ID tokens; undefined only for the generic OIDC protocol (no `tid`). */
  allowedTenants: readonly string[] | undefined;
  /** Where the provider sends the user after sign-out when the caller names no target (relative or allowed). */
  postLogoutRedirectUri: string;
  session: { idleSeconds: number; absoluteSeconds: number };
  /** Sign-ins one instance starts per second, sustained (bursts of twice that); 0: no limit. */
  signInRatePerSecond: number;
  /** App roles of which a user needs one to get a session (empty: no role gate). */
  requiredRoles: readonly string[];
  /** Upstream APIs of the token-free proxy `/auth/api/{name}/…`, by name (AUTH_APIS). */
  apis: ReadonlyMap<string, ApiUpstream>;
}

/** The scopes of one resource: what one Entra access token can carry. */
export interface ScopeGroup {
  /** The resource: `graph` for Microsoft Graph, else the scopes' prefix (`api://contoso-api`); `*` for generic OIDC. */
  resource: string;
  scopes: readonly string[];
}

/** One upstream API of the proxy: where `/auth/api/{name}/<path>` goes, and the scopes of the token it gets. */
export interface ApiUpstream {
  name: string;
  /** Origin and base path, the path ending in `/`; every proxied path is appended below it. */
  baseUrl: string;
  /** Scopes of the access token attached (one resource: Entra issues a token for one resource at a time). */
  scopes: readonly string[];
}

export const OIDC_SCOPES = ['openid', 'profile', 'offline_access'] as const;
const MAX_NATIVE_REDIRECT_URI_LENGTH = 256;
/** Sign-ins per second one instance may admit: 500 × 300 s between purge runs stays under one run's measured capacity. */
export const MAX_SIGNIN_RATE_PER_SECOND = 500;
/** A native app's display name: printable, no control characters (it is HTML-escaped where shown anyway). */
const APP_NAME = /^\P{Cc}{1,64}$/u;
const MULTI_TENANT = new Set(['common', 'organizations', 'consumers']);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const TENANT = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9][a-z0-9.-]{0,252}[a-z0-9])$/i;
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/; // RFC 6749 §3.3 scope-token
const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname);
}

/** Parses the environment. Throws ConfigError naming every problem. Pure: pass any record. */
export function parseConfig(env: Environment): AuthConfig {
  const problems: string[] = [];
  const get = (name: SettingName): string | undefined => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };
  const require = (name: SettingName, why = 'is required'): string => {
    const value = get(name);
    if (value === undefined) problems.push(`${name} ${why}`);
    return value ?? '';
  };

  const clientId = require('AUTH_CLIENT_ID');

  const protocolRaw = get('AUTH_PROTOCOL') ?? 'entra';
  const protocol = protocolRaw === 'entra' || protocolRaw === 'oidc' ? protocolRaw : 'entra';
  if (protocolRaw !== protocol) problems.push(`AUTH_PROTOCOL must be "entra" or "oidc", not "${protocolRaw}"`);

  // Authority: explicit URL, or derived from the tenant for Entra.
  const tenantId = get('AUTH_TENANT_ID');
  if (tenantId !== undefined && !TENANT.test(tenantId)) {
    problems.push('AUTH_TENANT_ID must be a tenant GUID, a verified domain, or common/organizations/consumers');
  }
  let authority = '';
  const authorityRaw = get('AUTH_AUTHORITY');
  if (authorityRaw !== undefined) {
    const url = parseUrl(authorityRaw);
    if (!url || url.protocol !== 'https:' || url.search || url.hash || url.username || url.password) {
      problems.push('AUTH_AUTHORITY must be an https URL without query, fragment or credentials');
    } else {
      authority = ciamAuthority(url) ?? url.href.replace(/\/+$/, '');
    }
  } else if (protocol === 'oidc') {
    problems.push('AUTH_AUTHORITY is required when AUTH_PROTOCOL is "oidc" (the issuer URL)');
  } else if (tenantId === undefined) {
    problems.push('AUTH_TENANT_ID or AUTH_AUTHORITY is required');
  } else {
    authority = `https://login.microsoftonline.com/${tenantId}`;
  }
  // Entra: `?appid=` asks for the metadata of this app, whose jwks_uri then includes the app-specific signing key
  // that a claims-mapping policy uses (without it, such tenants' ID tokens fail signature validation).
  // https://learn.microsoft.com/entra/identity-platform/jwt-claims-customization#validate-token-signing-key
  const discoveryUrl = authority
    ? protocol === 'entra'
      ? `${authority}/v2.0/.well-known/openid-configuration${clientId ? `?appid=${encodeURIComponent(clientId)}` : ''}`
      : `${authority}/.well-known/openid-configuration`
    : '';

  // Tenant allow-list: explicit, or the single configured tenant. A multi-tenant authority needs a list.
  let allowedTenants: string[] | undefined;
  const tenantsRaw = get('AUTH_ALLOWED_TENANTS');
  if (tenantsRaw !== undefined) {
    allowedTenants = splitList(tenantsRaw).map((t) => t.toLowerCase());
    const bad = allowedTenants.filter((t) => !GUID.test(t));
    if (bad.length) problems.push(`AUTH_ALLOWED_TENANTS must hold tenant GUIDs; not: ${bad.join(', ')}`);
  } else if (protocol === 'entra') {
    const authorityTenant = authority ? new URL(authority).pathname.split('/').filter(Boolean)[0] : undefined;
    const single = tenantId ?? authorityTenant;
    if (single && GUID.test(single)) {
      allowedTenants = [single.toLowerCase()];
    } else if (authority) {
      problems.push(
        'AUTH_ALLOWED_TENANTS is required when the authority is multi-tenant or named by domain ' +
          `(${single && MULTI_TENANT.has(single.toLowerCase()) ? single : 'no tenant GUID in it'})`,
      );
    }
  }

  // Redirect URI: never derived from the Host header.
  let redirectUri = '';
  let publicOrigin = '';
  const redirectRaw = require('AUTH_REDIRECT_URI');
  if (redirectRaw) {
    const url = parseUrl(redirectRaw);
    if (!url || !isSecureWebUrl(url) || url.hash || url.search) {
      problems.push(
        'AUTH_REDIRECT_URI must be an absolute https URL (http only on loopback), with no query or fragment',
      );
    } else {
      redirectUri = url.href;
      publicOrigin = url.origin;
    }
  }

  const scopesRaw = get('AUTH_SCOPES');
  const scopes = scopesRaw !== undefined ? scopesRaw.split(/\s+/) : protocol === 'entra' ? ['User.Read'] : [];
  const badScopes = scopes.filter((s) => !SCOPE_TOKEN.test(s));
  if (badScopes.length) problems.push(`AUTH_SCOPES has invalid scope tokens: ${badScopes.join(', ')}`);
  const userScopes = [...new Set(scopes.filter((s) => !(OIDC_SCOPES as readonly string[]).includes(s)))];
  const resources = groupScopesByResource(userScopes, protocol, problems);

  const credential = parseCredential(get, problems, authority);
  const storage = parseStorage(get, problems);

  const allowedReturnOrigins = splitList(get('AUTH_ALLOWED_RETURN_ORIGINS') ?? '');
  const publicProblems: string[] = [];
  for (const origin of allowedReturnOrigins) {
    const url = parseUrl(origin);
    if (!url || !isSecureWebUrl(url) || url.origin !== origin) {
      problems.push(
        `AUTH_ALLOWED_RETURN_ORIGINS entry "${origin}" must be an exact origin like https://app.example.com`,
      );
    } else if (publicOrigin && !isSameSite(url, publicOrigin)) {
      publicProblems.push(crossSiteOriginProblem(origin, publicOrigin));
    }
  }
  problems.push(...publicProblems);

  // Each entry: `<redirect URI>` or `<redirect URI> <app name>`; the name is what the sign-in page shows the user.
  const nativeRedirectUris: string[] = [];
  const nativeAppNames: Record<string, string> = {};
  for (const entry of splitList(get('AUTH_NATIVE_REDIRECT_URIS') ?? '')) {
    const [uri = '', ...words] = entry.split(/\s+/);
    const why = nativeRedirectProblem(uri);
    if (why) problems.push(`AUTH_NATIVE_REDIRECT_URIS entry "${uri}" ${why}`);
    const name = words.join(' ');
    if (name && !APP_NAME.test(name))
      problems.push(`AUTH_NATIVE_REDIRECT_URIS entry "${uri}": the app name must be 1-64 printable characters`);
    nativeRedirectUris.push(uri);
    if (name) nativeAppNames[uri] = name;
  }

  const postLogoutRedirectUri = get('AUTH_POST_LOGOUT_REDIRECT_URI') ?? '/';
  if (!isAllowedRedirectSetting(postLogoutRedirectUri, allowedReturnOrigins, publicOrigin)) {
    problems.push('AUTH_POST_LOGOUT_REDIRECT_URI must be a relative path or a URL on an allowed return origin');
  }

  const idleMinutes = parseInteger(
    get('AUTH_SESSION_IDLE_MINUTES'),
    480,
    5,
    60 * 24 * 30,
    'AUTH_SESSION_IDLE_MINUTES',
    problems,
  );
  const absoluteHours = parseInteger(
    get('AUTH_SESSION_ABSOLUTE_HOURS'),
    24,
    1,
    24 * 90,
    'AUTH_SESSION_ABSOLUTE_HOURS',
    problems,
  );

  // At most what one purge run deletes between two runs (SECURITY.md, BENCHMARKS.md: purge capacity), so that the
  // rows one instance admits never outgrow the purge. 0 turns the limit off (benchmarks; not for production).
  const signInRatePerSecond = parseInteger(
    get('AUTH_SIGNIN_RATE_PER_SECOND'),
    100,
    0,
    MAX_SIGNIN_RATE_PER_SECOND,
    'AUTH_SIGNIN_RATE_PER_SECOND',
    problems,
  );

  // App role values: no spaces or separators (Entra's "Value" field), so a comma list is unambiguous.
  const requiredRoles = splitList(get('AUTH_REQUIRED_ROLES') ?? '');
  const badRoles = requiredRoles.filter((r) => !/^[\x21-\x7e]{1,120}$/.test(r));
  if (badRoles.length)
    problems.push(`AUTH_REQUIRED_ROLES must be app role values without spaces; not: ${badRoles.join(', ')}`);

  const apis = parseApis(get('AUTH_APIS'), protocol, problems);

  if (problems.length) throw new ConfigError(problems, publicProblems);
  return {
    clientId,
    protocol,
    authority,
    authorityIsCustom: authorityRaw !== undefined,
    discoveryUrl,
    redirectUri,
    publicOrigin,
    scopes: userScopes,
    resources,
    credential,
    storage,
    managedIdentityClientId: get('AUTH_MANAGED_IDENTITY_CLIENT_ID'),
    allowedReturnOrigins,
    nativeRedirectUris,
    tokenClientOrigins: [
      ...new Set(
        nativeRedirectUris
          .map(parseUrl)
          .filter(isWebUrl)
          .map((url) => url.origin),
      ),
    ],
    nativeAppNames,
    allowedTenants,
    postLogoutRedirectUri,
    session: { idleSeconds: idleMinutes * 60, absoluteSeconds: absoluteHours * 3600 },
    signInRatePerSecond,
    requiredRoles,
    apis,
  };
}

/**
 * The audience a managed identity's token must carry to be accepted as a federated client assertion: Entra's
 * token-exchange audience of the cloud the authority lives in (Learn "Configure an application to trust a managed
 * identity", audiences). Any other authority host (Entra External ID, a local stand-in) is in the public cloud.
 */
export function tokenExchangeAudienceFor(authority: string): string {
  const host = parseUrl(authority)?.hostname.toLowerCase() ?? '';
  if (host === 'login.microsoftonline.us' || host === 'login.usgovcloudapi.net')
    return 'api://AzureADTokenExchangeUSGov';
  if (host === 'login.chinacloudapi.cn' || host === 'login.partner.microsoftonline.cn')
    return 'api://AzureADTokenExchangeChina';
  return 'api://AzureADTokenExchange';
}

/**
 * Why a cookie origin on another site can never work, and the three ways that do. The session cookie is
 * `SameSite=Lax` on the host of AUTH_REDIRECT_URI, so a `fetch` from a page on another site never carries it
 * (and Safari and Firefox block third-party cookies even with `SameSite=None`). Names only public origins: it
 * is also shown by /auth/health.
 */
export function crossSiteOriginProblem(origin: string, publicOrigin: string): string {
  return (
    `AUTH_ALLOWED_RETURN_ORIGINS entry "${origin}" (site ${siteOf(origin)}) is not same-site with this service ` +
    `(AUTH_REDIRECT_URI is on ${publicOrigin}, site ${siteOf(publicOrigin)}): browsers never send the session cookie ` +
    `from a page on another site. Use one of the three topologies (README "Use it from your site"): ` +
    `1) same site, own subdomain: serve the service on a host under ${siteOf(origin)} (Bicep publicHostName, Azure Front Door) ` +
    `and set AUTH_REDIRECT_URI to https://<that host>/auth/callback; ` +
    `2) one origin: forward ${origin}/auth/* to the service through your site's own proxy and set AUTH_REDIRECT_URI to ` +
    `${origin}/auth/callback; ` +
    `3) a single-page app on another site: no cookies, the token flow; remove ${origin} from AUTH_ALLOWED_RETURN_ORIGINS and ` +
    `put the app's https redirect URI (e.g. ${origin}/callback) in AUTH_NATIVE_REDIRECT_URIS`
  );
}

function isWebUrl(url: URL | undefined): url is URL {
  return url !== undefined && (url.protocol === 'https:' || url.protocol === 'http:');
}

/** Microsoft Graph's identifier URIs in each cloud: a scope under one of them is a Graph scope, like a bare one. */
const GRAPH_URIS = new Set([
  'https://graph.microsoft.com',
  'https://graph.microsoft.us',
  'https://dod-graph.microsoft.us',
  'https://microsoftgraph.chinacloudapi.cn',
]);

/** The resource an Entra scope belongs to: `graph` for a bare name (`User.Read`), else the part before the last `/`. */
export function resourceOfScope(scope: string): string {
  if (!scope.includes('/')) return 'graph';
  const resource = scope.slice(0, scope.lastIndexOf('/'));
  return GRAPH_URIS.has(resource.toLowerCase()) ? 'graph' : resource;
}

/**
 * Groups the sign-in scopes by resource. Entra consents to several resources at /authorize but issues a token
 * for one resource at a time (AADSTS28000 otherwise), so each group is what one token request may ask for.
 * Refused: a scope with no name after its resource (`api://x/`), and `.default` beside named scopes of the same
 * resource (Entra answers AADSTS70011: `.default` cannot be combined with other scopes of that resource).
 * A generic OpenID Provider has no resources: one group.
 * @see https://learn.microsoft.com/entra/identity-platform/scopes-oidc
 * @see https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#redeem-a-code-for-an-access-token
 */
export function groupScopesByResource(
  scopes: readonly string[],
  protocol: 'entra' | 'oidc',
  problems: string[],
): ScopeGroup[] {
  if (protocol === 'oidc') return [{ resource: '*', scopes: [...scopes] }];
  const groups = new Map<string, string[]>();
  for (const scope of scopes) {
    if (scope.endsWith('/')) {
      problems.push(
        `AUTH_SCOPES entry "${scope}" names a resource but no scope (add the scope name, e.g. ${scope}access_as_user)`,
      );
      continue;
    }
    const resource = resourceOfScope(scope);
    groups.set(resource, [...(groups.get(resource) ?? []), scope]);
  }
  for (const [resource, named] of groups) {
    if (named.length > 1 && named.some((s) => s.endsWith('/.default') || s === '.default')) {
      problems.push(
        `AUTH_SCOPES: ${resource === 'graph' ? 'Microsoft Graph' : resource} has ".default" beside other scopes of the same resource; use one or the other`,
      );
    }
  }
  return [...groups].map(([resource, named]) => ({ resource, scopes: named }));
}

/** `/auth/api/{name}`: a path segment that needs no encoding and cannot be a dot segment. */
const API_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * AUTH_APIS: `;`-separated `name=<base URL> <scope> [<scope> …]`. Base URLs are https (http only on loopback,
 * for local upstreams and tests), without credentials, query or fragment. An entry's scopes must name one
 * resource: Entra issues an access token for a single resource per request (AADSTS28000 otherwise).
 * @see https://learn.microsoft.com/entra/identity-platform/scopes-oidc#scopes-and-permissions
 */
function parseApis(
  raw: string | undefined,
  protocol: AuthConfig['protocol'],
  problems: string[],
): ReadonlyMap<string, ApiUpstream> {
  const apis = new Map<string, ApiUpstream>();
  const entries = (raw ?? '')
    .split(';')
    .map((e) => e.trim())
    .filter(Boolean);
  for (const [index, entry] of entries.entries()) {
    const equals = entry.indexOf('=');
    const name = equals > 0 ? entry.slice(0, equals).trim() : '';
    const [urlText = '', ...scopes] = entry
      .slice(equals + 1)
      .trim()
      .split(/\s+/);
    // Named by its position when it has no valid name: the rest of an entry may hold a URL not to be echoed.
    const label = API_NAME.test(name) ? `AUTH_APIS entry "${name}"` : `AUTH_APIS entry ${index + 1}`;
    if (!API_NAME.test(name)) {
      problems.push(
        `${label} needs a name of lower-case letters, digits, "-" or "_" before "=" (name=<base URL> <scope> …)`,
      );
      continue;
    }
    if (apis.has(name)) problems.push(`${label} is configured twice`);
    const url = parseUrl(urlText);
    if (
      !url ||
      !isSecureWebUrl(url) ||
      url.username ||
      url.password ||
      url.search ||
      url.hash ||
      urlText.includes('?') ||
      urlText.includes('#')
    ) {
      problems.push(`${label} needs an https base URL (http only on loopback) without credentials, query or fragment`);
      continue;
    }
    const badScopes = scopes.filter((s) => !SCOPE_TOKEN.test(s));
    const resourceScopes = scopes.filter((s) => !(OIDC_SCOPES as readonly string[]).includes(s));
    if (badScopes.length) problems.push(`${label} has invalid scope tokens: ${badScopes.join(', ')}`);
    else if (resourceScopes.length === 0)
      problems.push(
        `${label} needs at least one scope of the API (openid, profile, offline_access give no access token)`,
      );
    else if (protocol === 'entra' && new Set(resourceScopes.map(resourceOfScope)).size > 1) {
      problems.push(`${label} mixes scopes of different resources; one entry per resource`);
    }
    const path = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
    apis.set(name, { name, baseUrl: `${url.origin}${path}`, scopes: resourceScopes });
  }
  return apis;
}

function parseCredential(
  get: (name: SettingName) => string | undefined,
  problems: string[],
  authority: string,
): CredentialConfig {
  const kind = get('AUTH_CREDENTIAL') ?? 'secret';
  const keyVaultUrl = get('AUTH_KEY_VAULT_URL');
  if (keyVaultUrl !== undefined) {
    const url = parseUrl(keyVaultUrl);
    if (!url || url.protocol !== 'https:' || url.search || url.hash)
      problems.push('AUTH_KEY_VAULT_URL must be an https URL');
  }
  switch (kind) {
    case 'secret': {
      const clientSecret = get('AUTH_CLIENT_SECRET');
      if (clientSecret !== undefined && keyVaultUrl !== undefined) {
        problems.push('set AUTH_CLIENT_SECRET or AUTH_KEY_VAULT_URL, not both (which secret wins would be a guess)');
      }
      if (keyVaultUrl !== undefined) {
        return {
          kind,
          source: 'key-vault',
          keyVaultUrl,
          secretName: get('AUTH_CLIENT_SECRET_NAME') ?? 'auth-client-secret',
        };
      }
      if (clientSecret === undefined) {
        problems.push('AUTH_CLIENT_SECRET or AUTH_KEY_VAULT_URL is required when AUTH_CREDENTIAL is "secret"');
      }
      return { kind, source: 'setting', clientSecret: clientSecret ?? '' };
    }
    case 'certificate':
      if (keyVaultUrl === undefined)
        problems.push('AUTH_KEY_VAULT_URL is required when AUTH_CREDENTIAL is "certificate"');
      return {
        kind,
        keyVaultUrl: keyVaultUrl ?? '',
        certificateName: get('AUTH_CLIENT_CERTIFICATE_NAME') ?? 'auth-client-certificate',
      };
    case 'managed-identity': {
      // A federated identity credential can trust only a user-assigned managed identity (Learn "Configure an
      // application to trust a managed identity", prerequisites), so the identity is named, never implied.
      const managedIdentityClientId = get('AUTH_MANAGED_IDENTITY_CLIENT_ID');
      if (managedIdentityClientId === undefined) {
        problems.push(
          'AUTH_MANAGED_IDENTITY_CLIENT_ID is required when AUTH_CREDENTIAL is "managed-identity" ' +
            '(the client id of the user-assigned identity the federated credential trusts; Entra does not accept a system-assigned one)',
        );
      } else if (!GUID.test(managedIdentityClientId)) {
        problems.push(
          'AUTH_MANAGED_IDENTITY_CLIENT_ID must be the client id (a GUID) of a user-assigned managed identity',
        );
      }
      const audienceRaw = get('AUTH_TOKEN_EXCHANGE_AUDIENCE');
      const audienceUrl = audienceRaw === undefined ? undefined : parseUrl(audienceRaw);
      if (
        audienceRaw !== undefined &&
        (!audienceUrl ||
          audienceUrl.search ||
          audienceUrl.hash ||
          /\s/.test(audienceRaw) ||
          audienceRaw.endsWith('/.default'))
      ) {
        problems.push(
          'AUTH_TOKEN_EXCHANGE_AUDIENCE must be an absolute URI such as api://AzureADTokenExchange (no /.default)',
        );
      }
      return {
        kind,
        managedIdentityClientId: managedIdentityClientId ?? '',
        tokenExchangeAudience: audienceRaw ?? tokenExchangeAudienceFor(authority),
      };
    }
    default:
      problems.push(`AUTH_CREDENTIAL must be "secret", "certificate" or "managed-identity", not "${kind}"`);
      return { kind: 'secret', source: 'setting', clientSecret: '' };
  }
}

/**
 * Only the storage settings (AUTH_STORAGE_CONNECTION_STRING or AUTH_STORAGE_ACCOUNT_URL), for tools that touch
 * nothing else, such as `npm run revoke`. Throws ConfigError naming the problem.
 */
export function parseStorageConfig(env: Environment): StorageConfig {
  const problems: string[] = [];
  const storage = parseStorage((name) => env[name]?.trim() || undefined, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return storage;
}

function parseStorage(get: (name: SettingName) => string | undefined, problems: string[]): StorageConfig {
  const connectionString = get('AUTH_STORAGE_CONNECTION_STRING');
  const accountUrl = get('AUTH_STORAGE_ACCOUNT_URL');
  if (connectionString !== undefined && accountUrl !== undefined) {
    problems.push('set AUTH_STORAGE_CONNECTION_STRING or AUTH_STORAGE_ACCOUNT_URL, not both');
  }
  if (accountUrl !== undefined) {
    const url = parseUrl(accountUrl);
    if (!url || !isSecureWebUrl(url)) problems.push('AUTH_STORAGE_ACCOUNT_URL must be an https URL');
    return { accountUrl };
  }
  if (connectionString === undefined) {
    problems.push('AUTH_STORAGE_CONNECTION_STRING or AUTH_STORAGE_ACCOUNT_URL is required');
  }
  return { connectionString: connectionString ?? '' };
}

/**
 * RFC 8252 rules for native redirect URIs: claimed https links, private-use schemes in reverse-DNS form
 * (§7.1), and loopback IP literals (§7.3). `localhost` is refused (§8.3).
 */
export function nativeRedirectProblem(uri: string): string | undefined {
  const url = parseUrl(uri);
  if (!url || url.hash) return 'must be an absolute URI without a fragment';
  // Stored with every pending native sign-in: bounded so that row stays under 4 KB (SECURITY.md).
  if (uri.length > MAX_NATIVE_REDIRECT_URI_LENGTH)
    return `must be at most ${MAX_NATIVE_REDIRECT_URI_LENGTH} characters`;
  const scheme = url.protocol.slice(0, -1);
  if (scheme === 'https') return undefined;
  if (scheme === 'http') {
    if (url.hostname === '127.0.0.1' || url.hostname === '[::1]') return undefined;
    return 'may use http only on the loopback IP literals 127.0.0.1 or [::1] (not localhost, RFC 8252 §8.3)';
  }
  if (!scheme.includes('.')) return 'must use a reverse-DNS private-use scheme such as com.example.app (RFC 8252 §7.1)';
  return undefined;
}

/**
 * Entra External ID: a bare `https://<tenant>.ciamlogin.com` names no tenant in its path; the tenant is the
 * subdomain (`<tenant>.onmicrosoft.com`), as MSAL's own `Authority.transformCIAMAuthority` does.
 * @see https://learn.microsoft.com/entra/external-id/customers/concept-authentication-methods-customers
 */
function ciamAuthority(url: URL): string | undefined {
  if (!url.hostname.toLowerCase().endsWith('.ciamlogin.com') || url.pathname.replace(/\/+$/, '') !== '')
    return undefined;
  return `${url.origin}/${url.hostname.split('.')[0]!.toLowerCase()}.onmicrosoft.com`;
}

function isAllowedRedirectSetting(value: string, origins: readonly string[], publicOrigin: string): boolean {
  if (value.startsWith('/') && !value.startsWith('//') && !value.startsWith('/\\')) return true;
  const url = parseUrl(value);
  return !!url && (origins.includes(url.origin) || url.origin === publicOrigin);
}

function isSecureWebUrl(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
}

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}

function parseInteger(
  raw: string | undefined,
  fallback: number,
  min: number,
  max: number,
  name: string,
  problems: string[],
): number {
  if (raw === undefined) return fallback;
  const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    problems.push(`${name} must be a whole number from ${min} to ${max}`);
    return fallback;
  }
  return value;
}

let cached: AuthConfig | undefined;

/** The process's configuration, parsed from `process.env` on first use and kept. */
export function getConfig(): AuthConfig {
  cached ??= parseConfig(process.env);
  return cached;
}

/** For tests and the local host: forget the parsed configuration so the next call re-reads the environment. */
export function resetConfigForTests(): void {
  cached = undefined;
}
