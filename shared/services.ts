/**
 * Composition root: builds the process's services from the configuration once, on first use.
 *
 * Everything heavy is lazy: the client credential (and with it any Key Vault or identity SDK) loads on the first
 * callback or refresh, never for /auth/login; the MSAL token client's code loads on the first callback, or just
 * after a login's answer has gone out (preloadCallback).
 */
import type { JWTVerifyGetKey } from 'jose';
import { getConfig, type AuthConfig } from './config';
import type { CoreDeps } from './core/deps';
import { TokenBucket, type RateLimiter } from './core/rate-limit';
import { API_LIMITS } from './core/api-proxy';
import type { ApiClient, Clock, Logger, ProviderMetadataSource, RowStore, TokenClient } from './ports';

export const STATE_TABLE = 'AuthState';
export const SESSION_TABLE = 'AuthSessions';

/** How long after a sign-in goes to the provider its callback's code starts loading (see preloadCallback). */
const CALLBACK_PRELOAD_DELAY_MS = 20;

export const systemClock: Clock = { now: () => Date.now() };
export const secureRandom = secureRandomBytes;
import { secureRandomBytes } from './core/random';

/** Logs through the console: the Functions host forwards it to Application Insights. */
export const consoleLogger: Logger = {
  info: (message, properties) => console.info(message, properties ? JSON.stringify(properties) : ''),
  warn: (message, properties) => console.warn(message, properties ? JSON.stringify(properties) : ''),
  error: (message, properties) => console.error(message, properties ? JSON.stringify(properties) : ''),
};

export interface ServiceOverrides {
  clock?: Clock;
  random?: (size: number) => Uint8Array;
  logger?: Logger;
  states?: RowStore;
  sessions?: RowStore;
  metadata?: ProviderMetadataSource;
  tokenClient?: () => Promise<TokenClient>;
  signInRate?: RateLimiter;
  /** Deadline for each call to the identity provider (default 10 s; tests shorten it). */
  providerTimeoutMs?: number;
  apiClient?: ApiClient;
  /** Deadline of one proxied API call, answer body included (default API_LIMITS.timeoutMs; tests shorten it). */
  apiTimeoutMs?: number;
}

export function createServices(config: AuthConfig, overrides: ServiceOverrides = {}): CoreDeps {
  const clock = overrides.clock ?? systemClock;
  const logger = overrides.logger ?? consoleLogger;

  /* eslint-disable @typescript-eslint/no-require-imports -- lazy loading keeps cold starts small */
  const { createProviderMetadataSource, createSigningKeys } =
    require('./adapters/provider-metadata') as typeof import('./adapters/provider-metadata');
  const metadata =
    overrides.metadata ?? createProviderMetadataSource(config.discoveryUrl, clock, overrides.providerTimeoutMs);

  const [states, sessions] =
    overrides.states && overrides.sessions ? [overrides.states, overrides.sessions] : createStores(config);

  let signingKeys: Promise<JWTVerifyGetKey> | undefined;
  let callbackPreloaded = overrides.tokenClient !== undefined; // fakes: nothing to load
  let tokenClient: Promise<TokenClient> | undefined;
  let apiClient: ApiClient | undefined = overrides.apiClient;

  return {
    config,
    clock,
    random: overrides.random ?? secureRandom,
    logger,
    signInRate: overrides.signInRate ?? signInRate(config.signInRatePerSecond, clock),
    states,
    sessions,
    metadata,
    idTokenKeys() {
      // Created once; a failed discovery is forgotten so the next callback tries again.
      signingKeys ??= metadata
        .get()
        .then((m) => createSigningKeys(m.jwks_uri, overrides.providerTimeoutMs))
        .catch((error: unknown) => {
          signingKeys = undefined;
          throw error;
        });
      return signingKeys;
    },
    tokenClient() {
      if (overrides.tokenClient) return overrides.tokenClient();
      tokenClient ??= Promise.resolve().then(() => {
        const { createMsalTokenClient } =
          require('./adapters/msal-token-client') as typeof import('./adapters/msal-token-client');
        const { createClientCredentialProvider } =
          require('./adapters/credential') as typeof import('./adapters/credential');
        const credentials = createClientCredentialProvider(config.credential, {
          clientId: config.clientId,
          logger,
          clock,
          // The app's user-assigned identity reads Key Vault too (secret and certificate modes), not only storage.
          managedIdentityClientId: config.managedIdentityClientId,
        });
        return createMsalTokenClient({ config, metadata, credentials, logger, timeoutMs: overrides.providerTimeoutMs });
      });
      return tokenClient;
    },
    preloadCallback() {
      if (callbackPreloaded) return;
      callbackPreloaded = true;
      // On a timer, so the login's answer goes out first; the user then spends seconds at the provider's page.
      // MSAL and jose are ~25 ms of CPU to load, the largest part of an instance's first callback. Code only:
      // no Key Vault read (design §7: a login needs no secret), no discovery or JWKS request.
      setTimeout(() => {
        try {
          require('./adapters/msal-token-client');
          require('jose');
        } catch {
          // The callback loads them itself and reports what fails there.
        }
      }, CALLBACK_PRELOAD_DELAY_MS).unref();
    },
    apiClient() {
      apiClient ??= (require('./adapters/api-client') as typeof import('./adapters/api-client')).createApiClient({
        timeoutMs: overrides.apiTimeoutMs ?? API_LIMITS.timeoutMs,
        maxResponseBytes: API_LIMITS.responseBodyBytes,
      });
      return apiClient;
    },
  };
}

/**
 * Pending sign-ins one instance accepts from anonymous callers (AUTH_SIGNIN_RATE_PER_SECOND, bursts of twice
 * that). With the 10-minute state lifetime, at most rate × 600 AuthState rows of < 4 KB per instance exist at a
 * time: a bound on what anonymous traffic can cost. Per-client limits belong to the WAF in front (SECURITY.md).
 */
function signInRate(perSecond: number, clock: Clock): RateLimiter {
  return perSecond === 0 ? { take: () => undefined } : new TokenBucket(perSecond, perSecond * 2, clock);
}

function createStores(config: AuthConfig): [RowStore, RowStore] {
  const { createTableClient, createTableRowStore } =
    require('./adapters/table-store') as typeof import('./adapters/table-store');
  let credential: import('@azure/core-auth').TokenCredential | undefined;
  if ('accountUrl' in config.storage) {
    // Managed identity in Azure; the developer's own sign-in when run locally against a real account.
    const identity = require('@azure/identity') as typeof import('@azure/identity');
    const clientId = config.managedIdentityClientId;
    credential =
      process.env.IDENTITY_ENDPOINT || process.env.MSI_ENDPOINT
        ? new identity.ManagedIdentityCredential(clientId ? { clientId } : {})
        : new identity.DefaultAzureCredential();
  }
  return [
    createTableRowStore(createTableClient(config.storage, STATE_TABLE, { credential })),
    createTableRowStore(createTableClient(config.storage, SESSION_TABLE, { credential })),
  ];
  /* eslint-enable @typescript-eslint/no-require-imports */
}

let current: CoreDeps | undefined;

/** The process's services, built from `process.env` on first use. Throws ConfigError when misconfigured. */
export function getServices(): CoreDeps {
  current ??= createServices(getConfig());
  return current;
}
