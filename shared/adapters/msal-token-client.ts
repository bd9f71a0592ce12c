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
import type { AuthConfig } from '../config';
import { OIDC_SCOPES } from '../config';
import { AuthError, upstreamTransportError } from '../errors';
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
          if (!result.accessToken) throw new AuthError('upstream_unavailable', { logDetail: 'token response without access token' });
          return {
            accessToken: result.accessToken,
            expiresOn: result.expiresOn?.getTime() ?? Date.now(),
            scopes: result.scopes,
          };
        } catch (error) {
          const translated = translate(error, network);
          // The session's Entra refresh token was revoked or expired: only a new sign-in helps (not a "bad code").
          if (translated instanceof AuthError && translated.code === 'invalid_grant') {
            throw new AuthError('interaction_required', { cause: translated.cause, logDetail: 'provider refused the refresh token' });
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
        clientCertificate: { thumbprintSha256: credential.thumbprintSha256, privateKey: credential.privateKey, x5c: credential.x5c },
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

/** The provider refused the client credential itself (a rotated or expired secret): the one case worth renewing. */
function isCredentialRejection(error: unknown): boolean {
  return error instanceof AuthError && error.code === 'credential_unavailable' && error.cause instanceof ServerError && CLIENT_REJECTED.has(error.cause.errorCode);
}
const CLIENT_REJECTED = new Set(['invalid_client', 'unauthorized_client']);

/** MSAL and transport failures → the service's coded errors. Never includes a token or code in the detail. */
function translate(error: unknown, network: DeadlineNetworkClient): unknown {
  if (error instanceof AuthError) return error;
  // MSAL wraps what the network client throws; the network client remembers what really happened.
  if (network.failure) return network.failure;
  if (error instanceof InteractionRequiredAuthError) {
    return new AuthError('interaction_required', { cause: error, logDetail: `msal ${error.errorCode}` });
  }
  if (error instanceof ServerError) {
    const code = error.errorCode;
    if (code === 'invalid_grant') return new AuthError('invalid_grant', { cause: error, logDetail: 'provider answered invalid_grant' });
    if (CLIENT_REJECTED.has(code)) {
      return new AuthError('credential_unavailable', { cause: error, logDetail: `provider rejected the client credential (${code})`, retryAfterSeconds: 30 });
    }
    return new AuthError('upstream_unavailable', { cause: error, logDetail: `provider error ${code}` });
  }
  const code = (error as { errorCode?: unknown })?.errorCode;
  // MSAL's own ID token checks (it checks the nonce too): the token is untrustworthy, as jose would find.
  if (code === 'nonce_mismatch') return new AuthError('id_token_invalid', { cause: error, logDetail: 'ID token rejected: nonce mismatch (msal)' });
  if (code === 'token_parsing_error') return new AuthError('id_token_invalid', { cause: error, logDetail: 'ID token is not a JWT (msal)' });
  return new AuthError('upstream_unavailable', { cause: error, logDetail: `msal ${typeof code === 'string' ? code : 'error'}` });
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
      if (this.postedCodes.has(code)) return Promise.reject(this.fail('upstream_unavailable', 'refused to post a code twice'));
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

  private async send<T>(method: string, url: string, options?: NetworkRequestOptions, timeout?: number): Promise<NetworkResponse<T>> {
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
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (cause) {
      throw this.fail('upstream_unavailable', `${method} ${path} answered ${response.status} without JSON`, cause);
    }
    if (response.status === 429 || response.status >= 500) {
      throw this.fail('upstream_unavailable', `${method} ${path} answered ${response.status}`);
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    return { headers, body: body as T, status: response.status };
  }
}
