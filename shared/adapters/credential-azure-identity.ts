/**
 * Token credentials from `@azure/identity`, loaded lazily by `credential.ts` (this module imports the SDK).
 *
 * - Key Vault access: `ManagedIdentityCredential` in Azure, the developer's Azure CLI / Azure Developer CLI
 *   sign-in locally (see `chooseAzureTokenCredential`). No `DefaultAzureCredential`: its probing chain would try
 *   environment, workload identity, IMDS and several developer tools in turn in production, each a delay and a
 *   surprise.
 * - Secretless client credential: a user-assigned managed identity's token for the cloud's token-exchange audience
 *   (`api://AzureADTokenExchange`, `…USGov`, `…China`), which a federated identity credential on the app
 *   registration trusts (the MSAL `clientAssertion`).
 *
 * Every `getToken` is bounded by a timeout: `ManagedIdentityCredential` does not pass an abort signal down to
 * MSAL's managed-identity request, and Key Vault's token cycler would keep every later caller waiting on one hung
 * token request, so the timeout is applied here, around the credential.
 */
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';
import {
  AzureCliCredential,
  AzureDeveloperCliCredential,
  ChainedTokenCredential,
  ManagedIdentityCredential,
} from '@azure/identity';
import { AuthError } from '../errors';
import type { Clock } from '../ports';
import type { AzureTokenCredentialChoice } from './key-vault-policy';

/** The scope that asks the managed identity for a token with `audience` (the resource's `/.default`). */
export function tokenExchangeScope(audience: string): string {
  return `${audience.replace(/\/+$/, '')}/.default`;
}
/** Reuse a token until this long before it expires (MSAL's own margin is 5 min too). */
const TOKEN_REFRESH_MARGIN_MS = 5 * 60 * 1000;

export function createManagedIdentityCredential(clientId: string | undefined): TokenCredential {
  return new ManagedIdentityCredential({
    ...(clientId ? { clientId } : {}),
    // Few, short retries: the caller's own timeout bounds the whole call anyway.
    retryOptions: { maxRetries: 2, retryDelayInMs: 200, maxRetryDelayInMs: 1000 },
  });
}

export function createAzureTokenCredential(choice: AzureTokenCredentialChoice, timeoutMs: number): TokenCredential {
  const inner =
    choice.kind === 'managed-identity'
      ? createManagedIdentityCredential(choice.clientId)
      : new ChainedTokenCredential(new AzureCliCredential(), new AzureDeveloperCliCredential());
  return withTokenTimeout(inner, timeoutMs);
}

/** Fails a `getToken` that takes longer than `timeoutMs` with a `TokenTimeoutError` (no token in it). */
export function withTokenTimeout(inner: TokenCredential, timeoutMs: number): TokenCredential {
  return {
    getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      return new Promise<AccessToken | null>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              Object.assign(new Error(`token request timed out after ${timeoutMs} ms`), { name: 'TokenTimeoutError' }),
            ),
          timeoutMs,
        );
        inner.getToken(scopes, options).then(
          (token) => {
            clearTimeout(timer);
            resolve(token);
          },
          (error: unknown) => {
            clearTimeout(timer);
            reject(error);
          },
        );
      });
    },
  };
}

export interface AssertionSource {
  /** A managed-identity token for the token-exchange audience, cached until near expiry; one request at a time. */
  getAssertion(): Promise<string>;
  /** Token requests made (cache misses), for tests and the cold-start note. */
  readonly requests: number;
}

/**
 * The MSAL `clientAssertion` for the secretless mode. Concurrent cold callers share one managed-identity request;
 * a failure is `credential_unavailable` (503 + Retry-After), so the sign-in can be retried.
 */
export function createManagedIdentityAssertionSource(options: {
  credential: TokenCredential;
  clock: Clock;
  timeoutMs: number;
  /** `api://AzureADTokenExchange` in the public cloud (AUTH_TOKEN_EXCHANGE_AUDIENCE). */
  audience: string;
}): AssertionSource {
  const scope = tokenExchangeScope(options.audience);
  const credential = withTokenTimeout(options.credential, options.timeoutMs);
  let cached: AccessToken | undefined;
  let inflight: Promise<string> | undefined;
  let requests = 0;

  const fresh = (token: AccessToken | undefined): token is AccessToken => {
    if (!token) return false;
    const now = options.clock.now();
    const refreshAt = Math.min(
      token.refreshAfterTimestamp ?? Infinity,
      token.expiresOnTimestamp - TOKEN_REFRESH_MARGIN_MS,
    );
    return now < refreshAt;
  };

  function getAssertion(): Promise<string> {
    if (fresh(cached)) return Promise.resolve(cached.token);
    if (inflight) return inflight;
    requests += 1;
    const request = credential.getToken(scope).then(
      (token) => {
        if (!token?.token) {
          throw new AuthError('credential_unavailable', {
            logDetail: `managed identity returned no token for ${options.audience}`,
          });
        }
        cached = token;
        return token.token;
      },
      (cause: unknown) => {
        // A still-valid token outlives a failed refresh; past expiry there is nothing to fall back on.
        if (cached && options.clock.now() < cached.expiresOnTimestamp - 60_000) return cached.token;
        throw new AuthError('credential_unavailable', {
          retryAfterSeconds: 5,
          logDetail: `managed identity token for ${options.audience} failed (${(cause as Error)?.name ?? 'error'})`,
          cause,
        });
      },
    );
    inflight = request;
    const clear = (): void => {
      if (inflight === request) inflight = undefined;
    };
    request.then(clear, clear);
    return request;
  }

  return {
    getAssertion,
    get requests() {
      return requests;
    },
  };
}
