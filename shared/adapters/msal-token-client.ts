/**
 * TokenClient on `@azure/msal-node`.
 *
 * One ConfidentialClientApplication per call, with a cache plugin bound to that one session's serialized cache:
 * there is no process-wide MSAL cache that accumulates every user the instance has seen, so a token call costs
 * the same with 10 or 100,000 users (design §6). The provider metadata this instance already fetched is handed
 * to MSAL (`authorityMetadata`), so a fresh MSAL instance makes no discovery call of its own.
 *
 * MSAL's HTTP goes through `DeadlineNetworkClient`: every request has a deadline, a body that is not JSON is an
 * upstream fault (not a crash), and an authorization code is never posted twice (MSAL's internal retries off).
 */
import {
  ConfidentialClientApplication,
  InteractionRequiredAuthError,
  LogLevel,
  ProtocolMode,
  ServerError,
  type Configuration,
  type ICachePlugin,
  type INetworkModule,
  type NetworkRequestOptions,
  type NetworkResponse,
} from '@azure/msal-node';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { AuthConfig } from '../config';
import { OIDC_SCOPES } from '../config';
import { AuthError, upstreamTransportError, type ErrorCode, type ProviderErrorInfo } from '../errors';
import type {
  ClientCredential,
  ClientCredentialProvider,
  Logger,
  ProviderMetadataSource,
  TokenCacheBox,
  TokenClient,
} from '../ports';

const TOKEN_CALL_TIMEOUT_MS = 10_000;

export interface MsalTokenClientDeps {
  config: AuthConfig;
  metadata: ProviderMetadataSource;
  credentials: ClientCredentialProvider;
  logger: Logger;
  timeoutMs?: number;
}

export function createMsalTokenClient(deps: MsalTokenClientDeps): TokenClient {
  const { config, logger } = deps;
  const timeoutMs = deps.timeoutMs ?? TOKEN_CALL_TIMEOUT_MS;

  async function application(credential: ClientCredential, cache: TokenCacheBox, network: DeadlineNetworkClient) {
    const metadata = await deps.metadata.get();
    const authorityHost = new URL(config.authority).host;
    const configuration: Configuration = {
      auth: {
        clientId: config.clientId,
        authority: config.authority,
        knownAuthorities: [authorityHost],
        authorityMetadata: JSON.stringify(metadata),
        // `cp1`: this client handles claims challenges, so Entra may send Continuous Access Evaluation ones (and
        // long-lived, revocable access tokens). MSAL sends it as `claims` on every token request.
        // https://learn.microsoft.com/entra/identity-platform/app-resilience-continuous-access-evaluation
        ...(config.protocol === 'entra' ? { clientCapabilities: [...CLIENT_CAPABILITIES] } : {}),
        ...credentialOptions(credential),
      },
      cache: { cachePlugin: cachePluginFor(cache) },
      system: {
        networkClient: network,
        disableInternalRetries: true,
        protocolMode: config.protocol === 'oidc' ? ProtocolMode.OIDC : ProtocolMode.AAD,
        loggerOptions: {
          piiLoggingEnabled: false,
          logLevel: LogLevel.Warning,
          // MSAL's own warnings carry no PII with piiLoggingEnabled off; keep them, trimmed.
          loggerCallback: (level, message, containsPii) => {
            if (!containsPii && level <= LogLevel.Warning) logger.warn('msal', { message: message.slice(0, 300) });
          },
        },
      },
    };
    return new ConfidentialClientApplication(configuration);
  }

  /** Runs one MSAL call, renewing the credential once when the provider says `invalid_client` (rotation). */
  async function withCredential<T>(run: (credential: ClientCredential) => Promise<T>): Promise<T> {
    const credential = await deps.credentials.get();
    try {
      return await run(credential);
    } catch (error) {
      if (!isCredentialRejection(error)) throw error;
      if (!(await deps.credentials.renewAfterRejection(credential))) throw error;
      logger.warn('client credential rejected by the provider; retrying once with the renewed credential');
      return run(await deps.credentials.get());
    }
  }

  return {
    async prepare() {
      await deps.credentials.get();
    },

    async redeemCode(request, cache) {
      return withCredential(async (credential) => {
        const network = new DeadlineNetworkClient(timeoutMs);
        const app = await application(credential, cache, network);
        try {
          const result = await app.acquireTokenByCode({
            code: request.code,
            codeVerifier: request.codeVerifier,
            redirectUri: request.redirectUri,
            nonce: request.nonce,
            scopes: [...OIDC_SCOPES, ...request.scopes],
          });
          if (!result.idToken || !result.account) {
            throw new AuthError('upstream_unavailable', { logDetail: 'token response without ID token' });
          }
          return { idToken: result.idToken, homeAccountId: result.account.homeAccountId };
        } catch (error) {
          throw translate(error, network);
        }
      });
    },

    async acquireSilent(request, cache) {
      return withCredential(async (credential) => {
        const network = new DeadlineNetworkClient(timeoutMs);
        const app = await application(credential, cache, network);
        try {
          const account = await app.getTokenCache().getAccountByHomeId(request.homeAccountId);
          if (!account) throw new AuthError('interaction_required', { logDetail: 'no account in session cache' });
          const scopes = request.scopes.length ? [...request.scopes] : [...OIDC_SCOPES];
          const result = await app.acquireTokenSilent({ account, scopes });
          if (!result.accessToken)
            throw new AuthError('upstream_unavailable', { logDetail: 'token response without access token' });
          return {
            accessToken: result.accessToken,
            expiresOn: result.expiresOn?.getTime() ?? Date.now(),
            scopes: result.scopes,
          };
        } catch (error) {
          const translated = translate(error, network);
          // A terminal invalid_grant (no suberror: AADSTS700082 expired, 50173 revoked or password reset, 50057
          // disabled account): the refresh token is dead and only a new sign-in helps; the session is over.
          if (translated instanceof AuthError && translated.code === 'invalid_grant') {
            throw new AuthError('session_revoked', {
              cause: translated.cause,
              provider: translated.provider,
              logDetail: 'provider refused the refresh token',
            });
          }
          throw translated;
        }
      });
    },
  };
}

function credentialOptions(credential: ClientCredential): Partial<Configuration['auth']> {
  switch (credential.kind) {
    case 'secret':
      return { clientSecret: credential.clientSecret };
    case 'certificate':
      return {
        clientCertificate: {
          thumbprintSha256: credential.thumbprintSha256,
          privateKey: credential.privateKey,
          x5c: credential.x5c,
        },
      };
    case 'assertion':
      return { clientAssertion: () => credential.getAssertion() };
  }
}

/** The session's cache partition in and out of MSAL, around every cache access. */
function cachePluginFor(box: TokenCacheBox): ICachePlugin {
  return {
    async beforeCacheAccess(context) {
      if (box.serialized) context.tokenCache.deserialize(box.serialized);
    },
    async afterCacheAccess(context) {
      if (context.cacheHasChanged) {
        box.serialized = context.tokenCache.serialize();
        box.changed = true;
      }
    },
  };
}

/** The capabilities this client declares: `cp1` = "can handle claims challenges" (CAE). */
export const CLIENT_CAPABILITIES = ['cp1'] as const;

/**
 * The provider refused the client credential itself (a rotated, expired or wrongly pasted secret or certificate):
 * the one case worth re-reading Key Vault for, since a fix there must be picked up without a restart.
 */
function isCredentialRejection(error: unknown): boolean {
  return (
    error instanceof AuthError &&
    error.code === 'credential_unavailable' &&
    error.cause instanceof ServerError &&
    CLIENT_REJECTED.has(error.cause.errorCode)
  );
}
const CLIENT_REJECTED = new Set(['invalid_client', 'unauthorized_client']);

/**
 * AADSTS codes that mean a setting or the app registration is wrong: no retry, no Key Vault re-read, and not
 * "the provider is unavailable". The README's troubleshooting table names the fix for each.
 * @see https://learn.microsoft.com/entra/identity-platform/reference-error-codes
 */
const AADSTS_CODES: Readonly<Record<string, ErrorCode>> = {
  '9002327': 'app_registration_mismatch', // redirect URI registered under "Single-page application", not "Web"
  '9002326': 'app_registration_mismatch', // cross-origin redemption: the redirect URI is a SPA one
  '700016': 'app_registration_mismatch', // application not found in the tenant (client id or tenant wrong, not provisioned)
  '700025': 'app_registration_mismatch', // redirect URI under "Mobile and desktop": a public client, no secret expected
  '28000': 'app_registration_mismatch', // scopes of more than one resource in one token request
  '70011': 'app_registration_mismatch', // invalid scope
  '50011': 'app_registration_mismatch', // redirect URI not registered / not the one used at authorize
  '7000112': 'app_registration_mismatch', // application disabled
  '70021': 'client_credential_rejected', // no federated identity credential matches the assertion
  '700211': 'client_credential_rejected', // federated assertion: issuer not trusted
  '700212': 'client_credential_rejected', // federated assertion: no matching audience
  '700213': 'client_credential_rejected', // federated assertion: no matching subject
  '65001': 'consent_required', // the user or an administrator has not consented
  '90094': 'consent_required', // admin consent required
};

/** The provider's error, reduced to what may be logged: words, numbers and GUIDs, never its description. */
function providerInfo(error: ServerError | InteractionRequiredAuthError): ProviderErrorInfo {
  const guid = (value: unknown): string | undefined =>
    typeof value === 'string' && /^[0-9a-f]{8}-[0-9a-f-]{27}$/i.test(value) ? value : undefined;
  const word = (value: unknown): string | undefined =>
    typeof value === 'string' && /^[a-z_]{1,64}$/.test(value) ? value : undefined;
  const errorNo = String((error as { errorNo?: unknown }).errorNo ?? '');
  // MSAL keeps Entra's trace id only on InteractionRequiredAuthError; a ServerError has it in its message.
  const traceId =
    guid((error as { traceId?: unknown }).traceId) ?? guid(/Trace ID: ([0-9a-f-]{36})/i.exec(error.errorMessage)?.[1]);
  const status = (error as { status?: unknown }).status;
  return {
    error: word(error.errorCode) ?? 'unknown',
    aadsts: /^\d{1,9}$/.test(errorNo) ? errorNo : undefined,
    suberror: word(error.subError),
    correlationId: guid(error.correlationId),
    traceId,
    status: typeof status === 'number' ? status : undefined,
  };
}

/** MSAL and transport failures → the service's coded errors. Never includes a token or code in the detail. */
function translate(error: unknown, network: DeadlineNetworkClient): unknown {
  if (error instanceof AuthError) return error;
  // MSAL wraps what the network client throws; the network client remembers what really happened.
  if (network.failure) return network.failure;
  if (error instanceof InteractionRequiredAuthError) {
    const provider = providerInfo(error);
    // `bad_token`: the refresh token itself is unusable, like a suberror-less invalid_grant.
    if (provider.suberror === 'bad_token')
      return new AuthError('invalid_grant', { cause: error, provider, logDetail: 'provider answered bad_token' });
    // A claims challenge (Conditional Access, consent, step-up): a new sign-in with these claims satisfies it.
    const claims = error.claims && isJsonObject(error.claims) ? error.claims : undefined;
    return new AuthError('interaction_required', {
      cause: error,
      provider,
      logDetail: `msal ${error.errorCode}`,
      problem: claims ? { claims } : undefined,
    });
  }
  if (error instanceof ServerError) {
    const code = error.errorCode;
    const provider = providerInfo(error);
    const mapped = provider.aadsts !== undefined ? AADSTS_CODES[provider.aadsts] : undefined;
    if (mapped)
      return new AuthError(mapped, {
        cause: error,
        provider,
        logDetail: `provider error ${code} AADSTS${provider.aadsts}`,
      });
    if (code === 'invalid_grant')
      return new AuthError('invalid_grant', { cause: error, provider, logDetail: 'provider answered invalid_grant' });
    if (CLIENT_REJECTED.has(code)) {
      return new AuthError('credential_unavailable', {
        cause: error,
        provider,
        logDetail: `provider rejected the client credential (${code})`,
        retryAfterSeconds: 30,
      });
    }
    // The network client already answered 429 and 5xx; what MSAL reads as an error here is a refusal (a 4xx):
    // the provider is up and said no. Say so, with the AADSTS in the log — unless it says it is unavailable.
    if (code === 'server_error' || code === 'temporarily_unavailable') {
      return new AuthError('upstream_unavailable', { cause: error, provider, logDetail: `provider error ${code}` });
    }
    return new AuthError('provider_rejected', { cause: error, provider, logDetail: `provider error ${code}` });
  }
  const code = (error as { errorCode?: unknown })?.errorCode;
  // MSAL's own ID token checks (it checks the nonce too): the token is untrustworthy, as jose would find.
  if (code === 'nonce_mismatch')
    return new AuthError('id_token_invalid', { cause: error, logDetail: 'ID token rejected: nonce mismatch (msal)' });
  if (code === 'token_parsing_error')
    return new AuthError('id_token_invalid', { cause: error, logDetail: 'ID token is not a JWT (msal)' });
  return new AuthError('upstream_unavailable', {
    cause: error,
    logDetail: `msal ${typeof code === 'string' ? code : 'error'}`,
  });
}

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  } catch {
    return false;
  }
}

/** RFC 9110 §10.2.3 `Retry-After`: delay-seconds or an HTTP-date; bounded to [1 s, 1 h], default 5 s. */
export function retryAfterSeconds(value: string | null, now = Date.now()): number {
  if (value === null) return 5;
  const trimmed = value.trim();
  const seconds = /^\d+$/.test(trimmed) ? Number(trimmed) : Math.ceil((Date.parse(trimmed) - now) / 1000);
  return Number.isFinite(seconds) ? Math.min(3600, Math.max(1, seconds)) : 5;
}

/**
 * MSAL's network module on fetch, with a deadline per request. Remembers the first transport failure so the
 * caller can answer 502/504 precisely even though MSAL wraps the error.
 */
export class DeadlineNetworkClient implements INetworkModule {
  failure: AuthError | undefined;
  private readonly postedCodes = new Set<string>();

  constructor(private readonly timeoutMs: number) {}

  sendGetRequestAsync<T>(url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
    return this.send<T>('GET', url, options, timeout);
  }

  sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    const code = options?.body ? new URLSearchParams(options.body).get('code') : null;
    if (code !== null) {
      // An authorization code is single use at the provider: a second post could only fail or, worse, succeed twice.
      if (this.postedCodes.has(code))
        return Promise.reject(this.fail('upstream_unavailable', 'refused to post a code twice'));
      this.postedCodes.add(code);
    }
    return this.send<T>('POST', url, options);
  }

  private fail(code: 'upstream_unavailable' | 'upstream_timeout', detail: string, cause?: unknown): AuthError {
    this.failure ??= new AuthError(code, { logDetail: detail, cause });
    return this.failure;
  }

  private transportFailure(cause: unknown, what: string): AuthError {
    this.failure ??= upstreamTransportError(cause, what);
    return this.failure;
  }

  private async send<T>(
    method: string,
    url: string,
    options?: NetworkRequestOptions,
    timeout?: number,
  ): Promise<NetworkResponse<T>> {
    const path = new URL(url).pathname;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: options?.headers,
        body: method === 'POST' ? options?.body : undefined,
        signal: AbortSignal.timeout(Math.min(timeout ?? this.timeoutMs, this.timeoutMs)),
      });
    } catch (cause) {
      throw this.transportFailure(cause, `${method} ${path}`);
    }
    let text: string;
    try {
      // The same deadline covers the body: headers on time and a body that stalls is still a timeout.
      text = await response.text();
    } catch (cause) {
      throw this.transportFailure(cause, `${method} ${path} body`);
    }
    // undici frees the connection a tick after the body has ended; the callback's JWKS request comes right after
    // the token answer, and without this tick it opened a second TLS connection to the provider.
    await nextTurn();
    if (response.status === 429) {
      // Entra throttles with 429 + Retry-After: pass its wait on (503), so clients back off as long as it asks.
      // https://learn.microsoft.com/entra/identity-platform/msal-error-handling-js#retrying-after-errors-and-exceptions
      this.failure ??= new AuthError('upstream_throttled', {
        logDetail: `${method} ${path} answered 429`,
        retryAfterSeconds: retryAfterSeconds(response.headers.get('retry-after')),
      });
      throw this.failure;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (cause) {
      throw this.fail('upstream_unavailable', `${method} ${path} answered ${response.status} without JSON`, cause);
    }
    if (response.status >= 500) {
      throw this.fail('upstream_unavailable', `${method} ${path} answered ${response.status}`);
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    return { headers, body: body as T, status: response.status };
  }
}
