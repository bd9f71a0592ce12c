/**
 * Access tokens for a session's user, from the session's own MSAL cache partition: served from the cache while
 * fresh, otherwise MSAL redeems the Entra refresh token held in that cache (server-side only).
 *
 * Entra's refresh token is multi-resource: one sign-in consents to every configured resource, and each token
 * request then names the scopes of exactly one of them (a mixed set is AADSTS28000, so it is refused here first).
 * @see https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token
 */
import { AuthError } from '../errors';
import { signInAgainUrl } from './claims-challenge';
import type { TokenCacheBox } from '../ports';
import type { CoreDeps } from './deps';
import type { LoadedSession, SessionRecord } from './session';
import { deleteSessionRow, sessionIndexLinks } from './session-index';

/** What access-token handling uses of the core deps. */
export type AccessTokenDeps = Pick<CoreDeps, 'config' | 'clock' | 'logger' | 'sessions' | 'tokenClient'>;

/** The JSON shape of /auth/refresh and of the token endpoint's access token part (RFC 6749 §5.1). */
export interface AccessTokenView {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

/**
 * The requested scopes, or the default resource's (the first configured). Every scope must be configured and all
 * of them must belong to one resource; anything else is refused, not dropped.
 */
export function allowedScopes(requested: readonly string[] | undefined, deps: AccessTokenDeps): readonly string[] {
  const groups = deps.config.resources;
  if (requested === undefined) return groups[0]?.scopes ?? [];
  const group = groups.find((g) => requested.every((scope) => g.scopes.includes(scope)));
  if (!group) {
    const configured = requested.every((scope) => deps.config.scopes.includes(scope));
    throw new AuthError('scope_not_allowed', {
      logDetail: configured ? 'scopes of more than one resource in one request' : 'scope not configured',
    });
  }
  return [...new Set(requested)];
}

/** Gets an access token and leaves the (possibly updated) cache in `record`; says whether the cache changed. */
export async function accessTokenFor(
  record: SessionRecord,
  scopes: readonly string[],
  deps: AccessTokenDeps,
): Promise<{ view: AccessTokenView; cacheChanged: boolean }> {
  const tokens = await deps.tokenClient();
  const cache: TokenCacheBox = { serialized: record.msalCache, changed: false };
  let result;
  try {
    result = await tokens.acquireSilent({ homeAccountId: record.homeAccountId, scopes }, cache);
  } catch (error) {
    throw withLoginUrl(error, deps);
  }
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

/**
 * `accessTokenFor` a loaded session. When the provider ends the sign-in for good (a terminal `invalid_grant`:
 * revoked, expired, password reset, disabled account) the session row goes too, so `/auth/me` answers 401 and no
 * other call keeps acting for a user the provider no longer accepts. A claims challenge keeps the session.
 */
export async function accessTokenForSession(
  session: LoadedSession,
  scopes: readonly string[],
  deps: AccessTokenDeps,
): Promise<{ view: AccessTokenView; cacheChanged: boolean }> {
  try {
    return await accessTokenFor(session.record, scopes, deps);
  } catch (error) {
    if (error instanceof AuthError && error.code === 'session_revoked') {
      // With its index entries, so the user's session list and "everywhere" never name a session that is gone.
      await deleteSessionRow({ ...session.ref, links: sessionIndexLinks(session.ref, session.record) }, deps);
      deps.logger.info('session ended: the provider refused its refresh token', { aadsts: error.provider?.aadsts });
    }
    throw error;
  }
}

/** RFC 9457 extension members for `interaction_required`: the challenge's `claims` and the sign-in that meets it. */
function withLoginUrl(error: unknown, deps: AccessTokenDeps): unknown {
  if (!(error instanceof AuthError) || error.code !== 'interaction_required') return error;
  const claims = error.problem?.claims;
  // Consent missing for a resource (AADSTS65001, e.g. a scope added after the user signed in): ask for it again.
  const prompt = error.provider?.suberror === 'consent_required' ? 'consent' : undefined;
  return new AuthError('interaction_required', {
    cause: error.cause,
    provider: error.provider,
    logDetail: error.logDetail,
    problem: { ...(claims !== undefined ? { claims } : {}), loginUrl: signInAgainUrl(deps.config, { claims, prompt }) },
  });
}
