/**
 * The sign-in flow: begin (login), complete (callback), read (me), refresh, end (logout), for web sessions
 * and for native apps (whose own OAuth side lives in `native.ts`).
 *
 * Pure orchestration over the ports: no SDK, no environment, no HTTP types. Every check that can fail locally
 * runs before anything is written and before any call to the identity provider.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1 RFC 6749 §4.1, https://www.rfc-editor.org/rfc/rfc9700 RFC 9700
 */
import type { AuthConfig } from '../config';
import type { CookieToSet, CoreDeps } from './deps';
import { OIDC_SCOPES } from '../config';
import { AuthError } from '../errors';
import { securityEvent, userHash } from '../telemetry';
import type { TokenCacheBox } from '../ports';
import { accessTokenForSession, allowedScopes, type AccessTokenView } from './access-token';
import { idTokenSessionId, validateIdToken, type SignedInUser } from './id-token';
import {
  base64url,
  bindingHash,
  newStateToken,
  sameDigest,
  sha256Hex,
  stateRowRef,
  transactionCookieName,
} from './keys';
import {
  appErrorRedirect,
  appRedirectUrl,
  issueHandoff,
  nativeAppIdentity,
  nativeAppTarget,
  parseNativeRequest,
  type NativeAppIdentity,
  type NativeAuthorizeParams,
  type NativeRequest,
} from './native';
import { createPkcePair } from './pkce';
import { SingleFlight } from './single-flight';
import { validateReturnUrl } from './return-url';
import { open, seal } from './seal';
import {
  loadSession,
  newSession,
  saveSession,
  SESSION_COOKIE,
  SESSION_TOUCH_INTERVAL_MS,
  storeSession,
  type SessionKind,
} from './session';
import { deleteSessionRow, endUserSessions, indexableSid, sessionIndexLinks, userKeyOf } from './session-index';

/** How long a started sign-in may take (design §7: at most ten minutes). */
export const SIGN_IN_TTL_MS = 10 * 60_000;
/** What one anonymous `/auth/login` may make us store (sealed data is ASCII: characters are bytes). */
export const MAX_PENDING_ROW_BYTES = 4096;

/** What the AuthState row holds, sealed with a key derived from the state. */
interface PendingSignIn {
  v: 1;
  verifier: string;
  nonce: string;
  binding: string;
  /** Web sign-ins: where to send the browser afterwards. Native ones: '' (the app's target is in `native`). */
  returnTo: string;
  native?: NativeRequest;
  createdAt: number;
  expiresAt: number;
}

// ---------------------------------------------------------------------------------------------- login

export interface BeginSignInInput {
  returnTo?: string;
  prompt?: string;
  loginHint?: string;
  domainHint?: string;
  /** A claims request (OIDC Core §5.5), e.g. the `claims` of a claims challenge from /auth/refresh. */
  claims?: string;
  /** Present when a native app starts the sign-in (any of its parameters given). */
  native?: NativeAuthorizeParams;
}

export type BeginSignInResult =
  | { kind: 'authorize'; authorizeUrl: string; transactionCookie: CookieToSet }
  /**
   * A native sign-in: the user first confirms, on our page naming the app, that they started it (RFC 8252 §8.6).
   * The page's link is the provider's authorize URL; its state only works in the browser holding the cookie.
   */
  | { kind: 'confirm-app'; authorizeUrl: string; transactionCookie: CookieToSet; app: NativeAppIdentity }
  /** A native request refused after its redirect URI matched: the error goes back to the app. */
  | { kind: 'app-redirect'; location: string };

/** `create`: Entra External ID's (and B2C's) self-service sign-up entry point. */
const PROMPTS = new Set(['login', 'select_account', 'consent', 'create']);
/** A claims request travels in the authorize URL (and in a challenge's loginUrl): bounded well below URL limits. */
export const MAX_CLAIMS_REQUEST_BYTES = 2048;
const HINT = /^[^\u0000-\u001f\u007f]{1,256}$/;
const DOMAIN_HINT = /^[A-Za-z0-9.-]{1,253}$/;

export async function beginSignIn(input: BeginSignInInput, deps: CoreDeps): Promise<BeginSignInResult> {
  if (input.native === undefined)
    return authorize(input, validateReturnUrl(input.returnTo ?? '/', policyOf(deps.config)), undefined, deps);
  const target = nativeAppTarget(input.native, deps.config);
  try {
    if (input.returnTo !== undefined)
      throw new AuthError('invalid_request', { logDetail: 'returnTo with native parameters' });
    return await authorize(input, '', parseNativeRequest(input.native, target), deps);
  } catch (error) {
    if (!(error instanceof AuthError)) throw error;
    return { kind: 'app-redirect', location: appErrorRedirect(target, error, deps) };
  }
}

async function authorize(
  input: BeginSignInInput,
  returnTo: string,
  native: NativeRequest | undefined,
  deps: CoreDeps,
): Promise<BeginSignInResult> {
  const { config } = deps;
  if (input.prompt !== undefined && !PROMPTS.has(input.prompt))
    throw new AuthError('invalid_parameter', { logDetail: 'prompt' });
  if (input.loginHint !== undefined && !HINT.test(input.loginHint))
    throw new AuthError('invalid_parameter', { logDetail: 'login_hint' });
  if (input.domainHint !== undefined && !DOMAIN_HINT.test(input.domainHint))
    throw new AuthError('invalid_parameter', { logDetail: 'domain_hint' });
  const claims = claimsRequest(input.claims, config);

  const waitSeconds = deps.signInRate.take();
  if (waitSeconds !== undefined) throw new AuthError('rate_limited', { retryAfterSeconds: waitSeconds });

  // Discovery first: if the provider is down, nothing is written.
  const metadata = await deps.metadata.get();

  const now = deps.clock.now();
  const expiresAt = now + SIGN_IN_TTL_MS;
  const state = newStateToken(deps.random, expiresAt);
  const ref = stateRowRef(state);
  const pkce = createPkcePair(deps.random);
  // The browser keeps `binding` in its transaction cookie; the row keeps only its hash.
  const binding = base64url(deps.random(32));
  const pending: PendingSignIn = {
    v: 1,
    verifier: pkce.verifier,
    nonce: base64url(deps.random(32)),
    binding: bindingHash(binding),
    returnTo,
    native,
    createdAt: now,
    expiresAt,
  };

  const data = seal(pending, state, 'state', ref.rowKey);
  // SECURITY.md's storage bound, enforced: the inputs' own bounds keep a row near 3.5 KB at worst; never more.
  if (data.length > MAX_PENDING_ROW_BYTES)
    throw new AuthError('request_too_large', { logDetail: `pending sign-in row ${data.length} B` });
  await deps.states.insert({ ...ref, expiresAt, data });
  securityEvent(deps.logger, 'signin_started', { flow: native ? 'native' : 'web' });

  const url = new URL(metadata.authorization_endpoint);
  const params: Record<string, string | undefined> = {
    client_id: config.clientId,
    response_type: 'code',
    redirect_uri: config.redirectUri,
    // AUTH_APIS scopes too: Entra consents to every resource named at /authorize, so the proxy's later token
    // requests for those APIs need no new consent (AADSTS65001 otherwise).
    scope: [
      ...new Set([...OIDC_SCOPES, ...config.scopes, ...[...config.apis.values()].flatMap((api) => api.scopes)]),
    ].join(' '),
    state,
    nonce: pending.nonce,
    code_challenge: pkce.challenge,
    code_challenge_method: pkce.method,
    response_mode: 'query',
    prompt: input.prompt,
    login_hint: input.loginHint,
    domain_hint: input.domainHint,
    claims,
  };
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);

  const transactionCookie = { name: transactionCookieName(ref.rowKey), value: binding, maxAge: SIGN_IN_TTL_MS / 1000 };
  if (native)
    return { kind: 'confirm-app', authorizeUrl: url.href, transactionCookie, app: nativeAppIdentity(native, config) };
  return { kind: 'authorize', authorizeUrl: url.href, transactionCookie };
}

/**
 * The `claims` authorize parameter: the caller's claims request (a JSON object, bounded), merged in Entra mode
 * with the client capabilities MSAL declares on token requests (`xms_cc: cp1`), as MSAL does for its own
 * authorize URLs. Undefined when there is nothing to send.
 * @see https://learn.microsoft.com/entra/identity-platform/claims-challenge
 */
function claimsRequest(raw: string | undefined, config: AuthConfig): string | undefined {
  let requested: Record<string, unknown> = {};
  if (raw !== undefined) {
    if (Buffer.byteLength(raw) > MAX_CLAIMS_REQUEST_BYTES)
      throw new AuthError('invalid_parameter', { logDetail: 'claims too large' });
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new AuthError('invalid_parameter', { logDetail: 'claims is not JSON' });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new AuthError('invalid_parameter', { logDetail: 'claims is not a JSON object' });
    requested = parsed as Record<string, unknown>;
  }
  if (config.protocol !== 'entra') return raw === undefined ? undefined : JSON.stringify(requested);
  const accessToken = (requested.access_token ?? {}) as Record<string, unknown>;
  if (typeof accessToken !== 'object' || accessToken === null || Array.isArray(accessToken))
    throw new AuthError('invalid_parameter', { logDetail: 'claims.access_token' });
  return JSON.stringify({ ...requested, access_token: { ...accessToken, xms_cc: { values: ['cp1'] } } });
}

// ------------------------------------------------------------------------------------------- callback

export interface CompleteSignInInput {
  code?: string;
  state?: string;
  error?: string;
  /** The AADSTS number at the start of `error_description` (only the number: the rest is free text). */
  errorAadsts?: string;
  /** Request cookies by name. */
  cookies: Readonly<Record<string, string | undefined>>;
  /** The browser's User-Agent (already cleaned for display), shown in the user's session list. */
  userAgent?: string;
}

export type CompleteSignInResult =
  | {
      kind: 'signed-in';
      returnTo: string;
      session: CookieToSet;
      clearCookies: string[];
      user: SignedInUser;
    }
  | {
      /** The provider reported an error for a sign-in this browser really started: send the user back. */
      kind: 'provider-error';
      returnTo: string;
      error: string;
      clearCookies: string[];
    }
  | {
      /** A native app's sign-in ended: the browser goes to the app with a handoff code or an OAuth error. */
      kind: 'app-redirect';
      location: string;
      clearCookies: string[];
    };

/** Provider error codes passed on to the app (OAuth 2.0 §4.1.2.1, OIDC Core §3.1.2.6); others become `server_error`. */
const PROVIDER_ERRORS = new Set([
  'access_denied',
  'invalid_request',
  'unauthorized_client',
  'unsupported_response_type',
  'invalid_scope',
  'server_error',
  'temporarily_unavailable',
  'interaction_required',
  'login_required',
  'account_selection_required',
  'consent_required',
]);

export async function completeSignIn(input: CompleteSignInInput, deps: CoreDeps): Promise<CompleteSignInResult> {
  if (input.state === undefined) throw new AuthError(input.error !== undefined ? 'provider_error' : 'state_missing');
  const ref = stateRowRef(input.state);
  const row = await deps.states.get(ref.partitionKey, ref.rowKey);
  if (!row) throw new AuthError('state_unknown');
  const pending = open<PendingSignIn>(row.data, input.state, 'state', ref.rowKey);
  if (!pending) throw new AuthError('state_unknown', { logDetail: 'state row does not open with this state' });

  const txCookie = transactionCookieName(ref.rowKey);
  const binding = input.cookies[txCookie];
  // Login CSRF defence: the response must come back to the browser that started the sign-in.
  if (binding === undefined || !sameDigest(bindingHash(binding), pending.binding))
    throw new AuthError('state_mismatch');

  const taken = { ...ref, etag: row.etag, pending, clearCookies: [txCookie] };
  try {
    return await finishSignIn(input, taken, deps);
  } catch (error) {
    // The state is authentic and bound to this browser: a native app may hear about the failure.
    if (!pending.native || !(error instanceof AuthError)) throw error;
    return {
      kind: 'app-redirect',
      location: appErrorRedirect(pending.native, error, deps),
      clearCookies: taken.clearCookies,
    };
  }
}

interface TakenState {
  partitionKey: string;
  rowKey: string;
  etag: string;
  pending: PendingSignIn;
  clearCookies: string[];
}

async function finishSignIn(
  input: CompleteSignInInput,
  taken: TakenState,
  deps: CoreDeps,
): Promise<CompleteSignInResult> {
  const { pending, clearCookies } = taken;
  const now = deps.clock.now();
  if (now > pending.expiresAt) {
    await deps.states.consume(taken.partitionKey, taken.rowKey, taken.etag);
    throw new AuthError('state_expired');
  }

  if (input.error !== undefined) {
    if (!(await deps.states.consume(taken.partitionKey, taken.rowKey, taken.etag)))
      throw new AuthError('state_unknown');
    const error = PROVIDER_ERRORS.has(input.error) ? input.error : 'server_error';
    securityEvent(deps.logger, 'signin_failed', {
      flow: flowOf(pending),
      code: 'provider_error',
      providerError: error,
      ...(input.errorAadsts !== undefined ? { aadsts: input.errorAadsts } : {}),
      durationMs: now - pending.createdAt,
    });
    if (pending.native)
      return { kind: 'app-redirect', location: appRedirectUrl(pending.native, { error }, deps.config), clearCookies };
    return { kind: 'provider-error', returnTo: pending.returnTo, error, clearCookies };
  }
  if (!input.code) throw new AuthError('invalid_request', { logDetail: 'callback without code' });

  // Credential before consumption: a Key Vault outage must leave the sign-in retryable.
  const tokens = await deps.tokenClient();
  await tokens.prepare();

  // Single use: of any number of concurrent callbacks with this state, exactly one wins the conditional delete.
  if (!(await deps.states.consume(taken.partitionKey, taken.rowKey, taken.etag))) {
    securityEvent(deps.logger, 'replay_detected', { what: 'state' });
    throw new AuthError('state_unknown', { logDetail: 'state already consumed (replay or concurrent callback)' });
  }

  const cache: TokenCacheBox = { serialized: undefined, changed: false };
  const redeemed = await tokens.redeemCode(
    // OIDC + the default resource: a token request names one resource (the others were consented at authorize).
    {
      code: input.code,
      codeVerifier: pending.verifier,
      redirectUri: deps.config.redirectUri,
      scopes: allowedScopes(undefined, deps),
      nonce: pending.nonce,
    },
    cache,
  );
  const metadata = await deps.metadata.get();
  const user = await validateIdToken(redeemed.idToken, await deps.idTokenKeys(), {
    protocol: deps.config.protocol,
    issuer: metadata.issuer,
    clientId: deps.config.clientId,
    nonce: pending.nonce,
    allowedTenants: deps.config.allowedTenants,
    now: Math.floor(now / 1000),
  });

  // AUTH_REQUIRED_ROLES: a user holding none of them gets no session (and no handoff code).
  const required = deps.config.requiredRoles;
  if (required.length && !required.some((role) => user.roles?.includes(role))) {
    securityEvent(deps.logger, 'signin_failed', { flow: flowOf(pending), code: 'role_required' });
    throw new AuthError('role_required', { logDetail: 'user has none of AUTH_REQUIRED_ROLES' });
  }

  const sid = indexableSid(idTokenSessionId(redeemed.idToken));
  const signedIn = {
    user,
    homeAccountId: redeemed.homeAccountId,
    msalCache: cache.serialized,
    ...(sid !== undefined ? { sid } : {}),
  };
  const userId = `${user.tenantId ?? user.issuer}/${user.id}`;
  securityEvent(deps.logger, 'signin_completed', {
    flow: flowOf(pending),
    userHash: userHash(userId),
    durationMs: deps.clock.now() - pending.createdAt,
  });
  if (pending.native)
    return { kind: 'app-redirect', location: await issueHandoff(pending.native, signedIn, deps), clearCookies };
  const session = newSession('web', signedIn, deps, input.userAgent);
  await storeSession(session, deps);
  const cookie = { name: SESSION_COOKIE, value: session.token, maxAge: deps.config.session.absoluteSeconds };
  return { kind: 'signed-in', returnTo: pending.returnTo, session: cookie, clearCookies, user };
}

// ------------------------------------------------------------------------------------ session access

export interface SessionView {
  user: SignedInUser;
  expiresAt: string;
}

/** `kind` says how the token came: the `__Host-session` cookie (web) or `Authorization: Bearer` (native). */
export async function readSession(token: string | undefined, kind: SessionKind, deps: CoreDeps): Promise<SessionView> {
  const session = await loadSession(token, kind, deps);
  if (deps.clock.now() - session.record.lastSeenAt >= SESSION_TOUCH_INTERVAL_MS) await saveSession(session, deps);
  // `loginHint` is for sign-out only; the caller sees profile claims.
  const { loginHint: _loginHint, ...user } = session.record.user;
  return { user, expiresAt: new Date(session.record.idleExpiresAt).toISOString() };
}

// ------------------------------------------------------------------------------------------- refresh

/** Refreshes of one session for the same scopes, in flight in this instance. */
const refreshes = new SingleFlight<AccessTokenView>();

export async function refreshAccessToken(
  token: string | undefined,
  kind: SessionKind,
  requestedScopes: readonly string[] | undefined,
  deps: CoreDeps,
): Promise<AccessTokenView> {
  return sessionAccessToken(token, kind, allowedScopes(requestedScopes, deps), deps);
}

/**
 * An access token of the session's user for `scopes`, which the caller has already checked (the refresh
 * endpoint's allowed list, or an AUTH_APIS entry): from the session's cache, or redeemed from its refresh token.
 */
export async function sessionAccessToken(
  token: string | undefined,
  kind: SessionKind,
  scopes: readonly string[],
  deps: CoreDeps,
): Promise<AccessTokenView> {
  // Callers with the same token share one session read, one provider call and one write. The read is inside
  // the flight, so no caller can act on a copy read before another caller's save.
  return refreshes.run(`${sha256Hex(`${kind}:${token ?? ''}`)} ${scopes.join(' ')}`, async () => {
    const session = await loadSession(token, kind, deps);
    const { view, cacheChanged } = await accessTokenForSession(session, scopes, deps);
    if (cacheChanged || deps.clock.now() - session.record.lastSeenAt >= SESSION_TOUCH_INTERVAL_MS) {
      // Another instance saved first: its cache came from a provider call as recent as ours; keep it.
      if (!(await saveSession(session, deps))) deps.logger.info('session cache update lost to a concurrent refresh');
    }
    return view;
  });
}

// -------------------------------------------------------------------------------------------- logout

export interface EndSessionResult {
  logoutUrl: string;
  clearCookie: string;
}

export async function endSession(
  token: string | undefined,
  kind: SessionKind,
  postLogoutRedirect: string | undefined,
  deps: CoreDeps,
  everywhere = false,
): Promise<EndSessionResult> {
  const { config } = deps;
  const target = validateReturnUrl(postLogoutRedirect ?? config.postLogoutRedirectUri, policyOf(config));
  // Only a token that opens the session may end it: the id alone (without the secret) proves nothing.
  const session = await loadSession(token, kind, deps).catch((error: unknown) => {
    if (error instanceof AuthError && error.status === 401) return undefined; // no such session: nothing to end
    throw error;
  });
  if (session) {
    if (everywhere) {
      // Every indexed session of the user, this one last: a request cut short by storage can be retried.
      const ended = await endUserSessions(userKeyOf(session.record.user), deps, session.ref);
      securityEvent(deps.logger, 'signed_out_everywhere', { sessionsEnded: ended });
    }
    // This session (again, harmlessly, after "everywhere": it may predate the index).
    await deleteSessionRow({ ...session.ref, links: sessionIndexLinks(session.ref, session.record) }, deps);
  }
  const loginHint = session?.record.user.loginHint;

  const absoluteTarget = new URL(target, config.publicOrigin).href;
  // The session is already gone: a provider outage must not fail the sign-out, only skip the provider's own.
  const metadata = await deps.metadata.get().catch(() => undefined);
  if (!metadata?.end_session_endpoint) return { logoutUrl: absoluteTarget, clearCookie: SESSION_COOKIE };
  const url = new URL(metadata.end_session_endpoint);
  url.searchParams.set('client_id', config.clientId);
  url.searchParams.set('post_logout_redirect_uri', absoluteTarget);
  // Names the account to sign out, so Entra shows no account picker.
  // https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#send-a-sign-out-request
  if (loginHint) url.searchParams.set('logout_hint', loginHint);
  return { logoutUrl: url.href, clearCookie: SESSION_COOKIE };
}

// ------------------------------------------------------------------------------------------- helpers

function flowOf(pending: PendingSignIn): 'web' | 'native' {
  return pending.native ? 'native' : 'web';
}

function policyOf(config: AuthConfig) {
  return { publicOrigin: config.publicOrigin, allowedOrigins: config.allowedReturnOrigins };
}
