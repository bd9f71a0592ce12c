/**
 * Claims challenges: Conditional Access, authentication contexts and Continuous Access Evaluation ask for more
 * than the current token carries. The identity provider says so with `interaction_required` and a `claims`
 * value; an API says so with `401` and `WWW-Authenticate: Bearer error="insufficient_claims", claims="<base64>"`.
 * Both end the same way here: 401 problem+json `interaction_required` with the JSON claims request and a
 * `loginUrl` that starts a sign-in asking for it. The session is kept.
 * @see https://learn.microsoft.com/entra/identity-platform/claims-challenge
 * @see https://learn.microsoft.com/entra/identity/conditional-access/concept-continuous-access-evaluation
 */
import type { AuthConfig } from '../config';
import { AuthError } from '../errors';
import type { ApiChallenge } from '../ports';

/** A claims request longer than this is not a challenge we pass on (real ones are a few hundred bytes). */
export const MAX_CLAIMS_LENGTH = 4096;

/** The sign-in that meets a challenge: `/auth/login` with its claims request and, for missing consent, `prompt`. */
export function signInAgainUrl(
  config: Pick<AuthConfig, 'publicOrigin'>,
  request: { claims?: string; prompt?: 'consent' },
): string {
  const loginUrl = new URL('/auth/login', config.publicOrigin);
  if (request.claims !== undefined) loginUrl.searchParams.set('claims', request.claims);
  if (request.prompt !== undefined) loginUrl.searchParams.set('prompt', request.prompt);
  return loginUrl.href;
}

/** The error to throw for a claims challenge; `claims` is the JSON claims request (OIDC Core §5.5). */
export function claimsChallengeError(claims: string, config: AuthConfig, logDetail: string): AuthError {
  return new AuthError('interaction_required', {
    problem: { claims, loginUrl: signInAgainUrl(config, { claims }) },
    logDetail,
  });
}

/**
 * The JSON claims request of an API's Bearer challenge (`error="insufficient_claims"`, `claims` base64-encoded
 * JSON), or undefined when the answer holds no well-formed one.
 */
export function apiClaimsChallenge(challenges: readonly ApiChallenge[]): string | undefined {
  for (const challenge of challenges) {
    if (challenge.scheme !== 'bearer' || challenge.parameters.error !== 'insufficient_claims') continue;
    const encoded = challenge.parameters.claims;
    if (encoded === undefined || encoded.length > MAX_CLAIMS_LENGTH * 2 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded))
      continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
    } catch {
      continue;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) continue;
    const claims = JSON.stringify(parsed);
    if (claims.length <= MAX_CLAIMS_LENGTH) return claims;
  }
  return undefined;
}
