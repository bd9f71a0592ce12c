/**
 * Native apps (RFC 8252): to a mobile or desktop app this service is a plain OAuth 2.0 authorization server.
 *
 * The app opens `/auth/login` in the system browser with its own PKCE challenge, state and a registered
 * redirect URI. After the Entra sign-in, the callback stores the signed-in result under a one-time **handoff
 * code** (bound to the app's challenge and redirect URI, sealed with the code itself) and sends the browser to
 * the app with `code`, `state` and `iss`. The app redeems the code at `/auth/token` for an access token and a
 * backend refresh token (a native session token that rotates on every use). The Entra refresh token stays here.
 * @see https://www.rfc-editor.org/rfc/rfc8252 RFC 8252, https://www.rfc-editor.org/rfc/rfc6749#section-4.1 RFC 6749 §4.1,
 *      https://www.rfc-editor.org/rfc/rfc9207 RFC 9207 (`iss`), https://www.rfc-editor.org/rfc/rfc8414 RFC 8414
 */
import type { AuthConfig } from '../config';
import { AuthError } from '../errors';
import { securityEvent } from '../telemetry';
import { accessTokenFor, accessTokenForSession, allowedScopes, type AccessTokenView } from './access-token';
import type { CoreDeps } from './deps';
import { handoffRowRef, newHandoffCode, sha256Hex, type RowRef } from './keys';
import { verifierMatchesChallenge } from './pkce';
import { SingleFlight } from './single-flight';
import { open, seal } from './seal';
import { loadSession, newSession, rotateSession, saveSession, storeSession, type SignedIn } from './session';
import { deleteSessionByRef } from './session-index';

/** A handoff code is redeemed by the app right after the redirect: a minute is plenty. */
export const HANDOFF_TTL_MS = 60_000;

/** RFC 7636 §4.2: an S256 challenge is exactly 43 base64url characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
/** RFC 6749 Appendix A.5: state is VSCHAR; bounded so it cannot inflate the stored row. */
const APP_STATE = /^[\x20-\x7e]{1,1024}$/;

/** The native parameters of `/auth/login`, as received. */
export interface NativeAuthorizeParams {
  redirectUri?: string;
  codeChallenge?: string;
  codeChallengeMethod?: string;
  state?: string;
  responseType?: string;
}

/** Where to send the browser back to the app; known once the redirect URI has matched a registered one. */
export interface AppTarget {
  redirectUri: string;
  state?: string;
}

/** What a pending sign-in keeps for a native app. */
export interface NativeRequest extends AppTarget {
  codeChallenge: string;
}

// ------------------------------------------------------------------------------------------- authorize

/**
 * The app's redirect URI, exactly as registered. Until it has matched, errors must not redirect anywhere
 * (RFC 6749 §4.1.2.1): the caller shows an error page instead.
 */
export function nativeAppTarget(params: NativeAuthorizeParams, config: AuthConfig): AppTarget {
  const { redirectUri } = params;
  if (redirectUri === undefined || !isRegisteredNativeRedirect(redirectUri, config.nativeRedirectUris)) {
    throw new AuthError('invalid_redirect_uri');
  }
  return { redirectUri, state: params.state !== undefined && APP_STATE.test(params.state) ? params.state : undefined };
}

/** The rest of the native parameters; errors from here on go back to the app as OAuth errors. */
export function parseNativeRequest(params: NativeAuthorizeParams, target: AppTarget): NativeRequest {
  if (params.responseType !== undefined && params.responseType !== 'code')
    throw new AuthError('invalid_parameter', { logDetail: 'response_type' });
  if (params.state !== undefined && target.state === undefined)
    throw new AuthError('invalid_parameter', { logDetail: 'state' });
  // Without a method RFC 7636 means `plain`, which a stolen challenge would defeat: S256 only.
  if (params.codeChallengeMethod !== 'S256')
    throw new AuthError('invalid_parameter', { logDetail: 'code_challenge_method must be S256' });
  if (params.codeChallenge === undefined || !S256_CHALLENGE.test(params.codeChallenge)) {
    throw new AuthError('invalid_parameter', { logDetail: 'code_challenge' });
  }
  return { ...target, codeChallenge: params.codeChallenge };
}

/**
 * Exact string match against the registered list; for loopback IP literals the port may differ (the app
 * listens on an ephemeral port, RFC 8252 §7.3). `localhost` is never registered (config refuses it, §8.3).
 */
export function isRegisteredNativeRedirect(uri: string, registered: readonly string[]): boolean {
  return registeredNativeRedirect(uri, registered) !== undefined;
}

/** The registered entry `uri` matches (see isRegisteredNativeRedirect), or undefined. */
function registeredNativeRedirect(uri: string, registered: readonly string[]): string | undefined {
  if (registered.includes(uri)) return uri;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  // Only the canonical spelling counts: no default-port, case or dot-segment games on the way to a match.
  if (url.href !== uri || url.protocol !== 'http:' || (url.hostname !== '127.0.0.1' && url.hostname !== '[::1]'))
    return undefined;
  url.port = '';
  return registered.find((entry) => {
    const candidate = new URL(entry);
    candidate.port = '';
    return candidate.href === url.href;
  });
}

/** What the confirmation page shows about the app a native sign-in is for. */
export interface NativeAppIdentity {
  /** The name configured for its redirect URI (AUTH_NATIVE_REDIRECT_URIS `<uri> <name>`), if any. */
  name: string | undefined;
  redirectUri: string;
  /** Where "Cancel" goes: the app, told `access_denied` (RFC 6749 §4.1.2.1). */
  cancelLocation: string;
}

/**
 * RFC 8252 §8.6: a native client cannot be authenticated, and whoever can receive a registered redirect (another
 * app on the same private-use scheme, any local process on a loopback port, any iOS app through
 * ASWebAuthenticationSession) can start a sign-in with its own PKCE pair. With a provider SSO session that would
 * complete with no screen at all, so every native sign-in first shows our page naming the app, and goes on to the
 * provider only when the user clicks through it.
 */
export function nativeAppIdentity(native: NativeRequest, config: AuthConfig): NativeAppIdentity {
  const registered = registeredNativeRedirect(native.redirectUri, config.nativeRedirectUris);
  return {
    name: registered === undefined ? undefined : config.nativeAppNames[registered],
    redirectUri: native.redirectUri,
    cancelLocation: appRedirectUrl(native, { error: 'access_denied' }, config),
  };
}

/** The app's redirect URI with response parameters added (its own query kept), plus `state` and `iss`. */
export function appRedirectUrl(target: AppTarget, params: Record<string, string>, config: AuthConfig): string {
  const url = new URL(target.redirectUri);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  if (target.state !== undefined) url.searchParams.set('state', target.state);
  url.searchParams.set('iss', config.publicOrigin);
  return url.href;
}

/** An error after the redirect URI matched, told to the app the OAuth way (RFC 6749 §4.1.2.1); static text only. */
export function appErrorRedirect(target: AppTarget, error: AuthError, deps: CoreDeps): string {
  securityEvent(deps.logger, 'signin_failed', { flow: 'native', code: error.code });
  const oauthError = [429, 503, 504].includes(error.status)
    ? 'temporarily_unavailable'
    : error.status >= 500
      ? 'server_error'
      : error.status === 403
        ? 'access_denied'
        : 'invalid_request';
  return appRedirectUrl(target, { error: oauthError, error_description: error.message }, deps.config);
}

// --------------------------------------------------------------------------------------------- handoff

/** The AuthState row of a handoff code, sealed with the code: before redemption, then as a tombstone after. */
type HandoffRow =
  | ({
      v: 1;
      status: 'issued';
      redirectUri: string;
      codeChallenge: string;
      expiresAt: number;
      failedAttempts?: number;
    } & SignedIn)
  /**
   * Kept until the code's expiry so a replay can revoke the session it produced (RFC 6749 §4.1.2); it keeps the
   * challenge and redirect URI, so only a replay that proves both (the app's own verifier) revokes.
   */
  | { v: 1; status: 'redeemed'; session: RowRef; redirectUri?: string; codeChallenge?: string; expiresAt: number };

/**
 * Redemptions of one code with a wrong verifier or redirect URI before the code dies (Entra burns a code on the
 * first failed redemption; a few allow for an app retrying after a bug, not for guessing).
 */
export const HANDOFF_MAX_FAILED_ATTEMPTS = 3;

/** Stores the signed-in result under a new handoff code; returns the app redirect that carries the code. */
export async function issueHandoff(native: NativeRequest, signedIn: SignedIn, deps: CoreDeps): Promise<string> {
  const expiresAt = deps.clock.now() + HANDOFF_TTL_MS;
  const code = newHandoffCode(deps.random, expiresAt);
  const ref = handoffRowRef(code) as RowRef;
  const row: HandoffRow = {
    v: 1,
    status: 'issued',
    redirectUri: native.redirectUri,
    codeChallenge: native.codeChallenge,
    expiresAt,
    ...signedIn,
  };
  await deps.states.insert({ ...ref, expiresAt, data: seal(row, code, 'handoff', ref.rowKey) });
  return appRedirectUrl(native, { code }, deps.config);
}

// ------------------------------------------------------------------------------------- token endpoint

/** RFC 6749 §5.1, with the backend session token as the refresh token. */
export interface TokenResponse extends AccessTokenView {
  refresh_token: string;
}

interface HandoffRedemption {
  code: string;
  codeVerifier: string;
  redirectUri: string;
}

/** Writers that may change an issued code's row between our read and our write: attempt counters, a redemption. */
const HANDOFF_WRITE_ROUNDS = 5;

/** `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5). */
export async function redeemHandoff(
  request: HandoffRedemption & { userAgent?: string },
  deps: CoreDeps,
): Promise<TokenResponse> {
  const ref = handoffRowRef(request.code);
  if (!ref) throw new AuthError('grant_invalid', { logDetail: 'malformed code' });
  let redeemed: { session: ReturnType<typeof newSession>; view: AccessTokenView } | undefined;
  for (let round = 0; round < HANDOFF_WRITE_ROUNDS; round++) {
    const row = await deps.states.get(ref.partitionKey, ref.rowKey);
    const grant = row && open<HandoffRow>(row.data, request.code, 'handoff', ref.rowKey);
    if (!row || !grant) throw new AuthError('grant_invalid', { logDetail: 'unknown code' });
    if (grant.status === 'redeemed') {
      // Only a replay by someone holding the app's verifier is the app's code used twice (RFC 6749 §4.1.2): the code
      // alone (seen in a log, a history, another app on the scheme) is worthless under PKCE, and must not be enough
      // to end the session the app just got. A redemption that lost a race to its twin (round > 0) is no replay.
      if (round === 0 && provesHandoff(request, grant)) {
        await deleteSessionByRef(grant.session, deps);
        securityEvent(deps.logger, 'replay_detected', { what: 'handoff_code', sessionRevoked: true });
      }
      throw new AuthError('grant_invalid', { logDetail: 'code already redeemed' });
    }
    if (deps.clock.now() > grant.expiresAt) {
      await deps.states.consume(ref.partitionKey, ref.rowKey, row.etag);
      throw new AuthError('grant_invalid', { logDetail: 'code expired' });
    }
    if (!provesHandoff(request, grant)) {
      if (await countFailedAttempt(ref, row.etag, grant, request.code, deps)) {
        throw new AuthError('grant_invalid', { logDetail: 'redirect_uri or code_verifier does not match' });
      }
      continue; // another writer changed the row first: count this attempt against the fresh copy
    }

    // First the access token (from the sign-in's fresh cache): if it fails, the code stays redeemable.
    if (!redeemed) {
      const signedIn: SignedIn = {
        user: grant.user,
        homeAccountId: grant.homeAccountId,
        msalCache: grant.msalCache,
        ...(grant.sid !== undefined ? { sid: grant.sid } : {}),
      };
      const session = newSession('native', signedIn, deps, request.userAgent);
      redeemed = { session, view: (await accessTokenFor(session.record, allowedScopes(undefined, deps), deps)).view };
    }
    const { session, view } = redeemed;
    const tombstone: HandoffRow = {
      v: 1,
      status: 'redeemed',
      session: { partitionKey: session.ref.partitionKey, rowKey: session.ref.rowKey },
      redirectUri: grant.redirectUri,
      codeChallenge: grant.codeChallenge,
      expiresAt: grant.expiresAt,
    };
    const won = await deps.states.replace(
      { ...ref, expiresAt: grant.expiresAt, data: seal(tombstone, request.code, 'handoff', ref.rowKey) },
      row.etag,
    );
    if (won === false) continue; // a failed attempt was counted, or a twin redeemed it: read again
    await storeSession(session, deps);
    return { ...view, refresh_token: session.token };
  }
  throw new AuthError('grant_invalid', { logDetail: 'code kept changing under concurrent writers' });
}

function provesHandoff(request: HandoffRedemption, grant: { redirectUri?: string; codeChallenge?: string }): boolean {
  if (grant.redirectUri === undefined || grant.codeChallenge === undefined) return false;
  return (
    request.redirectUri === grant.redirectUri && verifierMatchesChallenge(request.codeVerifier, grant.codeChallenge)
  );
}

/**
 * One more failed redemption of an issued code; at HANDOFF_MAX_FAILED_ATTEMPTS the code dies (a guess at the
 * verifier, or a client that cannot redeem its own code). False when another writer changed the row first.
 */
async function countFailedAttempt(
  ref: RowRef,
  etag: string,
  grant: HandoffRow & { status: 'issued' },
  code: string,
  deps: CoreDeps,
): Promise<boolean> {
  const failedAttempts = (grant.failedAttempts ?? 0) + 1;
  if (failedAttempts >= HANDOFF_MAX_FAILED_ATTEMPTS) {
    if (!(await deps.states.consume(ref.partitionKey, ref.rowKey, etag))) return false;
    securityEvent(deps.logger, 'replay_detected', {
      what: 'handoff_code',
      reason: 'failed_attempts',
      failedAttempts,
      codeRevoked: true,
    });
    return true;
  }
  const counted: HandoffRow = { ...grant, failedAttempts };
  return (
    (await deps.states.replace(
      { ...ref, expiresAt: grant.expiresAt, data: seal(counted, code, 'handoff', ref.rowKey) },
      etag,
    )) !== false
  );
}

/** `grant_type=refresh_token` (RFC 6749 §6): a fresh access token and a rotated refresh token. */
export async function refreshGrant(
  refreshToken: string,
  requestedScopes: readonly string[] | undefined,
  deps: CoreDeps,
): Promise<TokenResponse> {
  const scopes = allowedScopes(requestedScopes, deps);
  // Concurrent grants with the same token in this instance: one provider call, one rotation, one answer.
  return grants.run(`${sha256Hex(refreshToken)} ${scopes.join(' ')}`, () =>
    rotateWithAccessToken(refreshToken, scopes, deps),
  );
}

/** Refresh grants in flight in this instance, by token and scopes. */
const grants = new SingleFlight<TokenResponse>();

async function rotateWithAccessToken(
  refreshToken: string,
  scopes: readonly string[],
  deps: CoreDeps,
): Promise<TokenResponse> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const session = await loadSession(refreshToken, 'native', deps);
    const { view, cacheChanged } = await accessTokenForSession(session, scopes, deps);
    if (session.handedOver) {
      // A retry with the token rotated moments ago: the same successor again, no second rotation.
      if (cacheChanged) await saveSession(session, deps);
      return { ...view, refresh_token: session.token };
    }
    const successor = await rotateSession(session, deps);
    if (successor) return { ...view, refresh_token: successor };
    // A concurrent refresh with the same token rotated first; reloading finds its hand-over to the successor.
  }
  throw new AuthError('grant_invalid', { logDetail: 'rotation kept losing to concurrent writers' });
}

// -------------------------------------------------------------------------------------------- metadata

/** RFC 8414 authorization server metadata, so AppAuth-style libraries configure themselves from the issuer. */
export function authorizationServerMetadata(config: AuthConfig): Record<string, unknown> {
  const origin = config.publicOrigin;
  return {
    issuer: origin,
    authorization_endpoint: `${origin}/auth/login`,
    token_endpoint: `${origin}/auth/token`,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none'],
    scopes_supported: [...config.scopes],
    authorization_response_iss_parameter_supported: true,
  };
}
