/**
 * ID token validation with jose. MSAL only decodes ID tokens; this is where they are trusted or not.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation OIDC Core §3.1.3.7
 * @see https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
 */
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { AuthError } from '../errors';

type Jose = typeof import('jose');
let joseModule: Jose | undefined;
/** jose on first use (the first callback): a login and a cold start never load it (BENCHMARKS.md, cold start). */
function jose(): Jose {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy loading keeps cold starts small
  joseModule ??= require('jose') as Jose;
  return joseModule;
}

/** Clock skew tolerated on exp, nbf and iat (design §7: five minutes). */
export const CLOCK_SKEW_SECONDS = 300;
/** An ID token larger than this is refused before any parsing: no legitimate one comes close. */
const MAX_ID_TOKEN_LENGTH = 64 * 1024;
/** OIDC Core §2 `sub`: at most 255 ASCII characters; printable, and not only spaces. */
const SUBJECT = /^(?=.*[^ ])[\x20-\x7e]{1,255}$/;

export interface IdTokenExpectations {
  protocol: 'entra' | 'oidc';
  /** The issuer from discovery. Entra's multi-tenant metadata says `{tenantid}`; the token's `tid` fills it. */
  issuer: string;
  clientId: string;
  nonce: string;
  /** Tenant ids accepted (Entra); undefined means no tenant check (generic OIDC). */
  allowedTenants: readonly string[] | undefined;
  /** Seconds since the epoch. */
  now: number;
}

/** The signed-in user as this service reports it: no tokens, nothing beyond profile claims. */
export interface SignedInUser {
  /** Stable user id: Entra `oid` (with `tenantId`), or the OIDC `sub` (with `issuer`). */
  id: string;
  tenantId?: string;
  issuer: string;
  name?: string;
  username?: string;
  email?: string;
  /**
   * Where `email` came from: the `email` claim, or `preferred_username` when that is an address (Entra sends
   * `email` for members only with the optional claim; `preferred_username` is often the UPN, which may not receive mail).
   */
  emailSource?: 'email' | 'preferred_username';
  /** App roles assigned to the user (`roles`). */
  roles?: string[];
  /** Group object ids (`groups`), when the app registration emits them. */
  groups?: string[];
  /** True when the user is in more groups than fit in a token: `groups` is absent and must be read from Graph. */
  groupsOverage?: boolean;
  /** Entra's `login_hint` optional claim: kept for `logout_hint` at sign-out, never shown by /auth/me. */
  loginHint?: string;
}

export async function validateIdToken(
  idToken: string,
  keys: JWTVerifyGetKey,
  expect: IdTokenExpectations,
): Promise<SignedInUser> {
  if (idToken.length > MAX_ID_TOKEN_LENGTH) throw invalid('ID token too large');
  let payload: JWTPayload;
  try {
    ({ payload } = await jose().jwtVerify(idToken, keys, {
      algorithms: ['RS256'],
      audience: expect.clientId,
      clockTolerance: CLOCK_SKEW_SECONDS,
      currentDate: new Date(expect.now * 1000),
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
    }));
  } catch (cause) {
    const joseErrors = jose().errors;
    // The JWKS fetch happens inside jwtVerify: a provider outage there is not the token's fault.
    if (cause instanceof joseErrors.JWKSTimeout)
      throw new AuthError('upstream_timeout', { cause, logDetail: 'JWKS fetch timed out' });
    if (!(cause instanceof joseErrors.JOSEError))
      throw new AuthError('upstream_unavailable', { cause, logDetail: 'JWKS fetch failed' });
    throw invalid(describeJoseFailure(cause), cause);
  }

  // OIDC Core §3.1.3.7 (3): reject a token that also names audiences this client does not trust.
  if (Array.isArray(payload.aud) && payload.aud.some((aud) => aud !== expect.clientId))
    throw invalid('extra audiences');
  if (payload.azp !== undefined && payload.azp !== expect.clientId) throw invalid('azp is not this client');
  if (typeof payload.iat !== 'number' || payload.iat > expect.now + CLOCK_SKEW_SECONDS)
    throw invalid('iat in the future');
  if (payload.nonce !== expect.nonce) throw invalid('nonce mismatch');
  // jose only checks that `sub` is present. OIDC Core §2: a non-empty string of at most 255 ASCII characters; an
  // empty one would make every such token the same user wherever the user id is iss + sub (AUTH_PROTOCOL=oidc).
  if (typeof payload.sub !== 'string' || !SUBJECT.test(payload.sub)) throw invalid('sub missing or malformed');

  const tid = typeof payload.tid === 'string' ? payload.tid.toLowerCase() : undefined;
  const expectedIssuer = expect.issuer.replace('{tenantid}', tid ?? '{tenantid}');
  if (payload.iss !== expectedIssuer) throw invalid('issuer mismatch');

  if (expect.protocol === 'entra') {
    if (!tid || typeof payload.oid !== 'string' || !payload.oid) throw invalid('tid or oid missing');
    // Entra's v2 issuer names the token's own tenant (`…/{tid}/v2.0`): a tid the issuer does not name is forged.
    if (!payload.iss.toLowerCase().includes(`/${tid}/`)) throw invalid('tid does not match the issuer');
    // A valid token from a tenant this app does not serve: the user's organization, not the provider, is the issue.
    if (!expect.allowedTenants?.includes(tid))
      throw new AuthError('tenant_not_allowed', { logDetail: 'ID token tenant not in AUTH_ALLOWED_TENANTS' });
  } else if (expect.allowedTenants && (!tid || !expect.allowedTenants.includes(tid))) {
    throw new AuthError('tenant_not_allowed', { logDetail: 'ID token tenant not in AUTH_ALLOWED_TENANTS' });
  }

  const claim = (name: string): string | undefined =>
    typeof payload[name] === 'string' ? (payload[name] as string) : undefined;
  const username = claim('preferred_username') ?? claim('email');
  const email =
    claim('email') ??
    (claim('preferred_username') !== undefined && EMAIL.test(claim('preferred_username')!)
      ? claim('preferred_username')
      : undefined);
  const groups = stringList(payload.groups);
  // Group overage: past 200 groups Entra sends `_claim_names.groups` (a Graph pointer) instead of the list.
  // https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference#groups-overage-claim
  const claimNames = payload._claim_names as Record<string, unknown> | undefined;
  const overage =
    (typeof claimNames === 'object' && claimNames !== null && 'groups' in claimNames) || payload.hasgroups === true;
  const roles = stringList(payload.roles);
  const loginHint = claim('login_hint');
  return {
    id: expect.protocol === 'entra' ? (payload.oid as string) : (payload.sub as string),
    tenantId: tid,
    issuer: payload.iss,
    name: claim('name'),
    username,
    email,
    ...(email !== undefined ? { emailSource: claim('email') !== undefined ? 'email' : 'preferred_username' } : {}),
    ...(roles ? { roles } : {}),
    ...(groups ? { groups } : {}),
    ...(overage ? { groupsOverage: true } : {}),
    ...(loginHint !== undefined && loginHint.length <= 2048 ? { loginHint } : {}),
  };
}

/** A plain mailbox address (no display name, no spaces): what `preferred_username` must look like to count as email. */
const EMAIL = /^[^\s@<>()"]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+$/;

/** A claim that should be an array of strings; anything else (or too large) is ignored. */
function stringList(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || value.length > 1000 || !value.every((v) => typeof v === 'string' && v.length <= 256))
    return undefined;
  return [...value];
}

/**
 * The `sid` claim of an ID token that `validateIdToken` has accepted: the provider's session, which front-channel
 * logout names. Kept apart from `SignedInUser` so it is never shown by `/auth/me`.
 * @see https://openid.net/specs/openid-connect-frontchannel-1_0.html#ClaimsContents
 */
export function idTokenSessionId(validatedIdToken: string): unknown {
  return jose().decodeJwt(validatedIdToken).sid;
}

function invalid(reason: string, cause?: unknown): AuthError {
  return new AuthError('id_token_invalid', { logDetail: `ID token rejected: ${reason}`, cause });
}

function describeJoseFailure(cause: unknown): string {
  const joseErrors = jose().errors;
  if (cause instanceof joseErrors.JWTExpired) return 'expired';
  if (cause instanceof joseErrors.JWTClaimValidationFailed) return `claim ${cause.claim} failed (${cause.reason})`;
  if (cause instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad signature';
  if (cause instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (cause instanceof joseErrors.JWKSNoMatchingKey) return 'no matching signing key';
  if (cause instanceof joseErrors.JOSEError) return cause.code;
  return 'unreadable';
}
