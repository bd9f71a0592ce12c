/**
 * How Entra reads a scope list: which resource each scope belongs to, which scopes a grant covers, and how a
 * `claims` request is compared with a challenge. Pure functions, shared by the stand-in's authorize and token
 * endpoints. See dev/entra-standin/FIDELITY.md for the behaviour each one imitates.
 * @see https://learn.microsoft.com/entra/identity-platform/scopes-oidc
 * @see https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow
 */

export const GRAPH_RESOURCE_ID = '00000003-0000-0000-c000-000000000000';
const GRAPH_URIS = new Set([
  'https://graph.microsoft.com',
  'https://graph.microsoft.us',
  'https://microsoftgraph.chinacloudapi.cn',
]);
/** OpenID Connect scopes: they name no resource (Entra adds them to any request). */
export const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);

/** The resource a scope names: Graph for a bare name (`User.Read`), else everything before the last `/`. */
export function resourceOfScope(scope: string): string {
  if (!scope.includes('/')) return GRAPH_RESOURCE_ID;
  const resource = scope.slice(0, scope.lastIndexOf('/'));
  return GRAPH_URIS.has(resource) ? GRAPH_RESOURCE_ID : resource;
}

/** The distinct resources a scope list names (OIDC scopes name none). */
export function resourcesOf(scopes: readonly string[]): string[] {
  return [...new Set(scopes.filter((s) => !OIDC_SCOPES.has(s)).map(resourceOfScope))];
}

/** The single resource a token request targets: Graph for bare OIDC, `multiple` when it names more than one. */
export function resourceOf(scopes: readonly string[]): string | 'multiple' {
  const resources = resourcesOf(scopes);
  if (resources.length > 1) return 'multiple';
  return resources[0] ?? GRAPH_RESOURCE_ID;
}

/** The scope's own name within its resource (`api://x/Orders.Read` → `Orders.Read`). */
export function scopeName(scope: string): string {
  return scope.includes('/') ? scope.slice(scope.lastIndexOf('/') + 1) : scope;
}

/** Two spellings of one permission are one grant: `User.Read` and `https://graph.microsoft.com/User.Read`. */
export function permissionKey(scope: string): string {
  return `${resourceOfScope(scope)}|${scopeName(scope).toLowerCase()}`;
}

/**
 * Scopes of `asked` that `granted` does not cover. `.default` asks for "whatever was consented for the
 * resource", so it is covered by any grant for that resource.
 */
export function unconsented(asked: readonly string[], granted: ReadonlySet<string>): string[] {
  return asked.filter((scope) => {
    if (OIDC_SCOPES.has(scope)) return false;
    if (scopeName(scope) === '.default') {
      const resource = resourceOfScope(scope);
      return ![...granted].some((key) => key.startsWith(`${resource}|`));
    }
    return !granted.has(permissionKey(scope));
  });
}

/** Parses a `claims` request parameter: a JSON object, else undefined. OIDC Core §5.5. */
export function parseClaimsRequest(value: string | null | undefined): Record<string, unknown> | undefined {
  if (value === null || value === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** True when every member of `required` appears in `offered` with the same value (deeply; arrays as sets). */
export function claimsSatisfy(offered: unknown, required: unknown): boolean {
  if (Array.isArray(required)) {
    return (
      Array.isArray(offered) && required.every((item) => offered.some((candidate) => claimsSatisfy(candidate, item)))
    );
  }
  if (required !== null && typeof required === 'object') {
    if (offered === null || typeof offered !== 'object' || Array.isArray(offered)) return false;
    return Object.entries(required as Record<string, unknown>).every(([name, value]) =>
      claimsSatisfy((offered as Record<string, unknown>)[name], value),
    );
  }
  return offered === required;
}

/** The client capabilities a token or authorize request declares in `claims.access_token.xms_cc.values`. */
export function clientCapabilities(claims: Record<string, unknown> | undefined): string[] {
  const values = (claims?.access_token as { xms_cc?: { values?: unknown } } | undefined)?.xms_cc?.values;
  return Array.isArray(values) ? values.filter((v): v is string => typeof v === 'string') : [];
}
