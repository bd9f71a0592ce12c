/**
 * The web sign-in flow: begin (login), complete (callback), read (me), refresh, end (logout).
 *
 * Pure orchestration over the ports: no SDK, no environment, no HTTP types. Every check that can fail locally
 * runs before anything is written and before any call to the identity provider.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1 RFC 6749 §4.1, https://www.rfc-editor.org/rfc/rfc9700 RFC 9700
 */
import type { JWTVerifyGetKey } from 'jose';
import type { AuthConfig } from '../config';
import { OIDC_SCOPES } from '../config';
import { AuthError } from '../errors';
import type { Clock, Logger, ProviderMetadataSource, RowStore, TokenCacheBox, TokenClient } from '../ports';
import { validateIdToken, type SignedInUser } from './id-token';
import {
  base64url,
  bindingHash,
  newSessionToken,
  newStateToken,
  sameDigest,
  sessionRowRef,
  stateRowRef,
  transactionCookieName,
  type RandomBytes,
  type SessionRef,
} from './keys';
import { createPkcePair } from './pkce';
import { validateReturnUrl } from './return-url';
import { open, seal } from './seal';

/** How long a started sign-in may take (design §7: at most ten minutes). */
export const SIGN_IN_TTL_MS = 10 * 60_000;
/** A session's idle expiry is pushed forward at most this often, so reading /auth/me is not a write each time. */
export const SESSION_TOUCH_INTERVAL_MS = 5 * 60_000;

export interface FlowDeps {
  config: AuthConfig;
  clock: Clock;
  random: RandomBytes;
  logger: Logger;
  states: RowStore;
  sessions: RowStore;
  metadata: ProviderMetadataSource;
  /** Lazy: only the callback needs signing keys. */
  idTokenKeys(): Promise<JWTVerifyGetKey>;
  /** Lazy: only the callback and refresh load MSAL and the client credential. */
  tokenClient(): Promise<TokenClient>;
}

/** What the AuthState row holds, sealed with a key derived from the state. */
interface PendingSignIn {
  v: 1;
  verifier: string;
  nonce: string;
  binding: string;
  returnTo: string;
  createdAt: number;
  expiresAt: number;
}

/** What the AuthSessions row holds, sealed with a key derived from the session token's secret. */
interface SessionRecord {
  v: 1;
  user: SignedInUser;
  homeAccountId: string;
  msalCache: string | undefined;
  createdAt: number;
  lastSeenAt: number;
  idleExpiresAt: number;
  absoluteExpiresAt: number;
}

export interface CookieToSet {
  name: string;
  value: string;
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
}

// ---------------------------------------------------------------------------------------------- login

export interface BeginSignInInput {
  returnTo?: string;
  prompt?: string;
  loginHint?: string;
  domainHint?: string;
}

export interface BeginSignInResult {
  authorizeUrl: string;
  transactionCookie: CookieToSet;
}

const PROMPTS = new Set(['login', 'select_account', 'consent']);
const HINT = /^[^\u0000-\u001f\u007f]{1,256}$/;
const DOMAIN_HINT = /^[A-Za-z0-9.-]{1,253}$/;

export async function beginSignIn(input: BeginSignInInput, deps: FlowDeps): Promise<BeginSignInResult> {
  const { config } = deps;
  const returnTo = validateReturnUrl(input.returnTo ?? '/', policyOf(config));
  if (input.prompt !== undefined && !PROMPTS.has(input.prompt)) throw new AuthError('invalid_parameter', { logDetail: 'prompt' });
  if (input.loginHint !== undefined && !HINT.test(input.loginHint)) throw new AuthError('invalid_parameter', { logDetail: 'login_hint' });
  if (input.domainHint !== undefined && !DOMAIN_HINT.test(input.domainHint)) throw new AuthError('invalid_parameter', { logDetail: 'domain_hint' });

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
    createdAt: now,
    expiresAt,
  };

  await deps.states.insert({ ...ref, expiresAt, data: await seal(pending, state, 'state', ref.rowKey) });

  const url = new URL(metadata.authorization_endpoint);
  const params: Record<string, string | undefined> = {
    client_id: config.clientId,
    response_type: 'code',
    redirect_uri: config.redirectUri,
    scope: [...OIDC_SCOPES, ...config.scopes].join(' '),
    state,
    nonce: pending.nonce,
    code_challenge: pkce.challenge,
    code_challenge_method: pkce.method,
    response_mode: 'query',
    prompt: input.prompt,
    login_hint: input.loginHint,
    domain_hint: input.domainHint,
  };
  for (const [name, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(name, value);

  return {
    authorizeUrl: url.href,
    transactionCookie: { name: transactionCookieName(ref.rowKey), value: binding, maxAge: SIGN_IN_TTL_MS / 1000 },
  };
}

// ------------------------------------------------------------------------------------------- callback

export interface CompleteSignInInput {
  code?: string;
  state?: string;
  error?: string;
  /** Request cookies by name. */
  cookies: Readonly<Record<string, string | undefined>>;
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

export async function completeSignIn(input: CompleteSignInInput, deps: FlowDeps): Promise<CompleteSignInResult> {
  if (input.state === undefined) throw new AuthError(input.error !== undefined ? 'provider_error' : 'state_missing');
  const ref = stateRowRef(input.state);
  const row = await deps.states.get(ref.partitionKey, ref.rowKey);
  if (!row) throw new AuthError('state_unknown');
  const pending = await open<PendingSignIn>(row.data, input.state, 'state', ref.rowKey);
  if (!pending) throw new AuthError('state_unknown', { logDetail: 'state row does not open with this state' });

  const txCookie = transactionCookieName(ref.rowKey);
  const binding = input.cookies[txCookie];
  // Login CSRF defence: the response must come back to the browser that started the sign-in.
  if (binding === undefined || !sameDigest(bindingHash(binding), pending.binding)) throw new AuthError('state_mismatch');

  const now = deps.clock.now();
  if (now > pending.expiresAt) {
    await deps.states.consume(ref.partitionKey, ref.rowKey, row.etag);
    throw new AuthError('state_expired');
  }

  if (input.error !== undefined) {
    if (!(await deps.states.consume(ref.partitionKey, ref.rowKey, row.etag))) throw new AuthError('state_unknown');
    const error = PROVIDER_ERRORS.has(input.error) ? input.error : 'server_error';
    return { kind: 'provider-error', returnTo: pending.returnTo, error, clearCookies: [txCookie] };
  }
  if (input.code === undefined) throw new AuthError('invalid_request', { logDetail: 'callback without code' });

  // Credential before consumption: a Key Vault outage must leave the sign-in retryable.
  const tokens = await deps.tokenClient();
  await tokens.prepare();

  // Single use: of any number of concurrent callbacks with this state, exactly one wins the conditional delete.
  if (!(await deps.states.consume(ref.partitionKey, ref.rowKey, row.etag))) {
    throw new AuthError('state_unknown', { logDetail: 'state already consumed (replay or concurrent callback)' });
  }

  const cache: TokenCacheBox = { serialized: undefined, changed: false };
  const redeemed = await tokens.redeemCode(
    { code: input.code, codeVerifier: pending.verifier, redirectUri: deps.config.redirectUri, scopes: deps.config.scopes, nonce: pending.nonce },
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

  const session = await createSession(user, redeemed.homeAccountId, cache.serialized, deps);
  return { kind: 'signed-in', returnTo: pending.returnTo, session, clearCookies: [txCookie], user };
}

async function createSession(user: SignedInUser, homeAccountId: string, msalCache: string | undefined, deps: FlowDeps): Promise<CookieToSet> {
  const now = deps.clock.now();
  const { idleSeconds, absoluteSeconds } = deps.config.session;
  const absoluteExpiresAt = now + absoluteSeconds * 1000;
  const token = newSessionToken(deps.random, absoluteExpiresAt);
  const ref = sessionRowRef(token) as SessionRef;
  const record: SessionRecord = {
    v: 1,
    user,
    homeAccountId,
    msalCache,
    createdAt: now,
    lastSeenAt: now,
    idleExpiresAt: Math.min(now + idleSeconds * 1000, absoluteExpiresAt),
    absoluteExpiresAt,
  };
  await deps.sessions.insert({
    partitionKey: ref.partitionKey,
    rowKey: ref.rowKey,
    expiresAt: absoluteExpiresAt,
    data: await seal(record, ref.secret, 'session', ref.rowKey),
  });
  return { name: SESSION_COOKIE, value: token, maxAge: absoluteSeconds };
}

// ------------------------------------------------------------------------------------ session access

export const SESSION_COOKIE = '__Host-session';

export interface LoadedSession {
  ref: SessionRef;
  record: SessionRecord;
  etag: string;
}

export async function loadSession(token: string | undefined, deps: FlowDeps): Promise<LoadedSession> {
  const ref = token === undefined ? undefined : sessionRowRef(token);
  if (!ref) throw new AuthError('session_required');
  const row = await deps.sessions.get(ref.partitionKey, ref.rowKey);
  if (!row) throw new AuthError('session_required');
  const record = await open<SessionRecord>(row.data, ref.secret, 'session', ref.rowKey);
  if (!record) throw new AuthError('session_required', { logDetail: 'session row does not open with this token' });
  const now = deps.clock.now();
  if (now >= record.idleExpiresAt || now >= record.absoluteExpiresAt) {
    await deps.sessions.delete(ref.partitionKey, ref.rowKey);
    throw new AuthError('session_expired');
  }
  return { ref, record, etag: row.etag };
}

/** Writes the session back with its idle expiry pushed forward. False when a concurrent writer won. */
async function saveSession(session: LoadedSession, deps: FlowDeps): Promise<boolean> {
  const now = deps.clock.now();
  const record: SessionRecord = {
    ...session.record,
    lastSeenAt: now,
    idleExpiresAt: Math.min(now + deps.config.session.idleSeconds * 1000, session.record.absoluteExpiresAt),
  };
  const etag = await deps.sessions.replace(
    {
      partitionKey: session.ref.partitionKey,
      rowKey: session.ref.rowKey,
      expiresAt: record.absoluteExpiresAt,
      data: await seal(record, session.ref.secret, 'session', session.ref.rowKey),
    },
    session.etag,
  );
  if (etag === false) return false;
  session.record = record;
  session.etag = etag;
  return true;
}

export interface SessionView {
  user: SignedInUser;
  expiresAt: string;
}

export async function readSession(token: string | undefined, deps: FlowDeps): Promise<SessionView> {
  const session = await loadSession(token, deps);
  if (deps.clock.now() - session.record.lastSeenAt >= SESSION_TOUCH_INTERVAL_MS) await saveSession(session, deps);
  return { user: session.record.user, expiresAt: new Date(session.record.idleExpiresAt).toISOString() };
}

// ------------------------------------------------------------------------------------------- refresh

export interface AccessTokenView {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  scope: string;
}

export async function refreshAccessToken(token: string | undefined, requestedScopes: readonly string[] | undefined, deps: FlowDeps): Promise<AccessTokenView> {
  const allowed = deps.config.scopes;
  const scopes = requestedScopes ?? allowed;
  if (scopes.some((scope) => !allowed.includes(scope))) throw new AuthError('scope_not_allowed');

  const session = await loadSession(token, deps);
  const tokens = await deps.tokenClient();
  const cache: TokenCacheBox = { serialized: session.record.msalCache, changed: false };
  const result = await tokens.acquireSilent({ homeAccountId: session.record.homeAccountId, scopes }, cache);

  if (cache.changed || deps.clock.now() - session.record.lastSeenAt >= SESSION_TOUCH_INTERVAL_MS) {
    session.record = { ...session.record, msalCache: cache.serialized };
    // A concurrent refresh that saved first wrote a cache at least as good as ours: keep theirs.
    if (!(await saveSession(session, deps))) deps.logger.info('session cache update lost to a concurrent refresh');
  }
  return {
    access_token: result.accessToken,
    token_type: 'Bearer',
    expires_in: Math.max(0, Math.floor((result.expiresOn - deps.clock.now()) / 1000)),
    scope: result.scopes.join(' '),
  };
}

// -------------------------------------------------------------------------------------------- logout

export interface EndSessionResult {
  logoutUrl: string;
  clearCookie: string;
}

export async function endSession(token: string | undefined, postLogoutRedirect: string | undefined, deps: FlowDeps): Promise<EndSessionResult> {
  const { config } = deps;
  const target = validateReturnUrl(postLogoutRedirect ?? config.postLogoutRedirectUri, policyOf(config));
  const ref = token === undefined ? undefined : sessionRowRef(token);
  // Deleting needs no proof beyond the token itself: whoever holds it may end it.
  if (ref) await deps.sessions.delete(ref.partitionKey, ref.rowKey);

  const absoluteTarget = new URL(target, config.publicOrigin).href;
  // The session is already gone: a provider outage must not fail the sign-out, only skip the provider's own.
  const metadata = await deps.metadata.get().catch(() => undefined);
  if (!metadata?.end_session_endpoint) return { logoutUrl: absoluteTarget, clearCookie: SESSION_COOKIE };
  const url = new URL(metadata.end_session_endpoint);
  url.searchParams.set('client_id', config.clientId);
  url.searchParams.set('post_logout_redirect_uri', absoluteTarget);
  return { logoutUrl: url.href, clearCookie: SESSION_COOKIE };
}

// ------------------------------------------------------------------------------------------- helpers

function policyOf(config: AuthConfig) {
  return { publicOrigin: config.publicOrigin, allowedOrigins: config.allowedReturnOrigins };
}
