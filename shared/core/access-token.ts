/**
 * Access tokens for a session's user, from the session's own MSAL cache partition: served from the cache while
 * fresh, otherwise MSAL redeems the Entra refresh token held in that cache (server-side only).
 */
import { AuthError } from '../errors';
import type { TokenCacheBox } from '../ports';
import type { FlowDeps } from './flow';
import type { SessionRecord } from './session';

/** The JSON shape of /auth/refresh and of the token endpoint's access token part (RFC 6749 §5.1). */
export interface AccessTokenView {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

/** The requested scopes, or all allowed ones; a scope outside the allowed list is refused, not dropped. */
export function allowedScopes(requested: readonly string[] | undefined, deps: FlowDeps): readonly string[] {
  const allowed = deps.config.scopes;
  const scopes = requested ?? allowed;
  if (scopes.some((scope) => !allowed.includes(scope))) throw new AuthError('scope_not_allowed');
  return scopes;
}

/** Gets an access token and leaves the (possibly updated) cache in `record`; says whether the cache changed. */
export async function accessTokenFor(record: SessionRecord, scopes: readonly string[], deps: FlowDeps): Promise<{ view: AccessTokenView; cacheChanged: boolean }> {
  const tokens = await deps.tokenClient();
  const cache: TokenCacheBox = { serialized: record.msalCache, changed: false };
  const result = await tokens.acquireSilent({ homeAccountId: record.homeAccountId, scopes }, cache);
  record.msalCache = cache.serialized;
  return {
    view: {
      access_token: result.accessToken,
      token_type: 'Bearer',
      expires_in: Math.max(0, Math.floor((result.expiresOn - deps.clock.now()) / 1000)),
      scope: result.scopes.join(' '),
    },
    cacheChanged: cache.changed,
  };
}
