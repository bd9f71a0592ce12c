/**
 * Coded errors, in the style of panva's oauth4webapi: one small class, a stable `code`, the HTTP status it maps
 * to, and the underlying failure kept as `cause` (never shown to the caller, never logged with secrets).
 *
 * The codes are part of the public contract: clients branch on them. Add codes; do not rename them.
 */

/** Every stable error code, with the status it answers and the one-line text shown to the caller. */
export const ERROR_CODES = {
  invalid_request: [400, 'The request is malformed.'],
  invalid_parameter: [400, 'A parameter has a value that is not allowed.'],
  method_not_allowed: [405, 'This method is not allowed here.'],
  unsupported_media_type: [415, 'This content type is not accepted here.'],
  request_too_large: [413, 'The request is too large.'],
  invalid_return_url: [400, 'The return URL is not allowed.'],
  state_missing: [400, 'The sign-in response has no state.'],
  state_malformed: [400, 'The sign-in state is malformed.'],
  state_unknown: [400, 'This sign-in is unknown or was already completed. Start again.'],
  state_mismatch: [400, 'This sign-in was not started in this browser. Start again.'],
  state_expired: [400, 'This sign-in took too long. Start again.'],
  provider_error: [400, 'The identity provider did not complete the sign-in.'],
  invalid_redirect_uri: [400, 'This redirect URI is not registered for a native app.'],
  grant_invalid: [400, 'The code or refresh token is invalid, expired or already used.'],
  unsupported_grant_type: [400, 'This grant type is not supported.'],
  invalid_grant: [400, 'The identity provider rejected the sign-in code. Start again.'],
  id_token_invalid: [502, 'The identity provider returned an ID token that failed validation.'],
  session_required: [401, 'Sign-in required.'],
  session_expired: [401, 'The session has expired. Sign in again.'],
  interaction_required: [401, 'The identity provider requires the user to sign in again.'],
  session_revoked: [
    401,
    'The identity provider ended this sign-in (revoked, expired or disabled account). Sign in again.',
  ],
  tenant_not_allowed: [403, 'Accounts from this organization may not sign in to this app.'],
  role_required: [403, 'Your account has none of the roles this app requires.'],
  consent_required: [403, 'An administrator must grant consent to this app before you can sign in.'],
  csrf_required: [403, 'This request needs the X-CSRF: 1 header.'],
  session_not_found: [404, 'There is no such session among yours.'],
  scope_not_allowed: [400, 'A requested scope is not in the allowed list.'],
  upstream_unavailable: [502, 'The identity provider is unavailable.'],
  upstream_timeout: [504, 'The identity provider did not answer in time.'],
  upstream_throttled: [503, 'The identity provider is throttling requests. Try again shortly.'],
  provider_rejected: [502, 'The identity provider refused the request. The logs name its AADSTS code.'],
  app_registration_mismatch: [
    500,
    "The app registration does not match this service's settings. The logs name the AADSTS code.",
  ],
  client_credential_rejected: [
    500,
    "The identity provider rejected this service's client credential. The logs name the AADSTS code.",
  ],
  api_not_found: [404, 'No API is configured under this name.'],
  api_path_invalid: [400, 'This API path is not allowed.'],
  api_unavailable: [502, 'The API is unavailable.'],
  api_timeout: [504, 'The API did not answer in time.'],
  rate_limited: [429, 'Too many sign-ins are being started. Try again shortly.'],
  storage_unavailable: [503, 'Storage is unavailable. Try again shortly.'],
  credential_unavailable: [503, 'The client credential is unavailable. Try again shortly.'],
  configuration_invalid: [503, 'The service is not configured correctly.'],
  internal_error: [500, 'Unexpected error.'],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * What the identity provider said about a failed token request, safe to log: the OAuth error word, Entra's
 * AADSTS number, `suberror`, and its correlation and trace ids. Never `error_description` (free text that may
 * quote request values).
 * @see https://learn.microsoft.com/entra/identity-platform/reference-error-codes
 */
export interface ProviderErrorInfo {
  error: string;
  aadsts?: string;
  suberror?: string;
  correlationId?: string;
  traceId?: string;
  /** HTTP status of the provider's answer. */
  status?: number;
}

export interface AuthErrorOptions {
  cause?: unknown;
  /** The provider's own error, when it refused a request: logged by the endpoint (never shown to the caller). */
  provider?: ProviderErrorInfo;
  /**
   * Extension members of the problem+json body (RFC 9457 §3.2), e.g. a claims challenge and the `loginUrl` that
   * satisfies it. Only values the service built or validated; never request echoes.
   */
  problem?: Readonly<Record<string, string>>;
  /** For 503s: how long the caller should wait (RFC 9110 §10.2.3). */
  retryAfterSeconds?: number;
  /** Detail for the logs only: must never carry a code, token, state, secret or cookie value. */
  logDetail?: string;
}

export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly status: number;
  readonly retryAfterSeconds?: number;
  readonly logDetail?: string;
  readonly provider?: ProviderErrorInfo;
  readonly problem?: Readonly<Record<string, string>>;

  constructor(
    readonly code: ErrorCode,
    options: AuthErrorOptions = {},
  ) {
    super(ERROR_CODES[code][1], { cause: options.cause });
    this.status = ERROR_CODES[code][0];
    this.retryAfterSeconds = options.retryAfterSeconds ?? (this.status === 503 || this.status === 429 ? 5 : undefined);
    this.logDetail = options.logDetail;
    this.provider = options.provider;
    this.problem = options.problem;
  }
}

/** A fetch to the identity provider that threw: past its deadline (504) or otherwise failed (502). */
export function upstreamTransportError(cause: unknown, what: string): AuthError {
  // By name, not `instanceof Error`: fetch's DOMException may come from another realm (a worker, a test VM).
  const name = typeof cause === 'object' && cause !== null ? (cause as { name?: unknown }).name : undefined;
  const timedOut = name === 'TimeoutError' || name === 'AbortError';
  return new AuthError(timedOut ? 'upstream_timeout' : 'upstream_unavailable', {
    cause,
    logDetail: `${what} ${timedOut ? 'timed out' : 'failed'}`,
  });
}

export function isAuthError(value: unknown, code?: ErrorCode): value is AuthError {
  return value instanceof AuthError && (code === undefined || value.code === code);
}

/** Thrown once at start-up with every configuration problem found, so one fix-and-retry is enough. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /**
   * @param problems every problem, for the start-up log.
   * @param publicProblems the subset that names only public values (origins), safe for /auth/health to show.
   */
  constructor(
    readonly problems: readonly string[],
    readonly publicProblems: readonly string[] = [],
  ) {
    super(`Invalid configuration:\n - ${problems.join('\n - ')}`);
  }
}
