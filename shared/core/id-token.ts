/**
 * ID token validation with jose. MSAL only decodes ID tokens; this is where they are trusted or not.
 * @see https://openid.net/specs/openid-connect-core-1_0.html#IDTokenValidation OIDC Core §3.1.3.7
 * @see https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
 */
import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { AuthError } from '../errors';

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
  /** App roles assigned to the user (`roles` claim), when the token carries them. */
  roles?: string[];
}

export async function validateIdToken(idToken: string, keys: JWTVerifyGetKey, expect: IdTokenExpectations): Promise<SignedInUser> {
  if (idToken.length > MAX_ID_TOKEN_LENGTH) throw invalid('ID token too large');
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(idToken, keys, {
      algorithms: ['RS256'],
      audience: expect.clientId,
      clockTolerance: CLOCK_SKEW_SECONDS,
      currentDate: new Date(expect.now * 1000),
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
    }));
  } catch (cause) {
    // The JWKS fetch happens inside jwtVerify: a provider outage there is not the token's fault.
    if (cause instanceof joseErrors.JWKSTimeout) throw new AuthError('upstream_timeout', { cause, logDetail: 'JWKS fetch timed out' });
    if (!(cause instanceof joseErrors.JOSEError)) throw new AuthError('upstream_unavailable', { cause, logDetail: 'JWKS fetch failed' });
    throw invalid(describeJoseFailure(cause), cause);
  }

  // OIDC Core §3.1.3.7 (3): reject a token that also names audiences this client does not trust.
  if (Array.isArray(payload.aud) && payload.aud.some((aud) => aud !== expect.clientId)) throw invalid('extra audiences');
  if (payload.azp !== undefined && payload.azp !== expect.clientId) throw invalid('azp is not this client');
  if (typeof payload.iat !== 'number' || payload.iat > expect.now + CLOCK_SKEW_SECONDS) throw invalid('iat in the future');
  if (payload.nonce !== expect.nonce) throw invalid('nonce mismatch');
  // jose only checks that `sub` is present. OIDC Core §2: a non-empty string of at most 255 ASCII characters; an
  // empty one would make every such token the same user wherever the user id is iss + sub (AUTH_PROTOCOL=oidc).
  if (typeof payload.sub !== 'string' || !SUBJECT.test(payload.sub)) throw invalid('sub missing or malformed');

  const tid = typeof payload.tid === 'string' ? payload.tid.toLowerCase() : undefined;
  const expectedIssuer = expect.issuer.replace('{tenantid}', tid ?? '{tenantid}');
  if (payload.iss !== expectedIssuer) throw invalid('issuer mismatch');

  if (expect.protocol === 'entra') {
    if (!tid || typeof payload.oid !== 'string' || !payload.oid) throw invalid('tid or oid missing');
    if (!expect.allowedTenants?.includes(tid)) throw invalid('tenant not allowed');
  } else if (expect.allowedTenants && (!tid || !expect.allowedTenants.includes(tid))) {
    throw invalid('tenant not allowed');
  }

  const claim = (name: string): string | undefined => (typeof payload[name] === 'string' ? (payload[name] as string) : undefined);
  return {
    id: expect.protocol === 'entra' ? (payload.oid as string) : (payload.sub as string),
    tenantId: tid,
    issuer: payload.iss,
    name: claim('name'),
    username: claim('preferred_username') ?? claim('email'),
    email: claim('email'),
    ...optional('roles', stringList(payload.roles)),
  };
}

function optional<K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, V>);
}

/** App role values: a list of short strings; anything else is ignored rather than trusted half-way. */
function stringList(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > 200) return undefined;
  return value.every((v) => typeof v === 'string' && v.length > 0 && v.length <= 256) ? (value as string[]) : undefined;
}

function invalid(reason: string, cause?: unknown): AuthError {
  return new AuthError('id_token_invalid', { logDetail: `ID token rejected: ${reason}`, cause });
}

function describeJoseFailure(cause: unknown): string {
  if (cause instanceof joseErrors.JWTExpired) return 'expired';
  if (cause instanceof joseErrors.JWTClaimValidationFailed) return `claim ${cause.claim} failed (${cause.reason})`;
  if (cause instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad signature';
  if (cause instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (cause instanceof joseErrors.JWKSNoMatchingKey) return 'no matching signing key';
  if (cause instanceof joseErrors.JOSEError) return cause.code;
  return 'unreadable';
}
