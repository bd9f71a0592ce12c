/**
 * Reads one secret from Key Vault through the real `SecretClient`, with a bounded retry budget.
 *
 * Loaded lazily by `credential.ts` (this module imports `@azure/keyvault-secrets` at the top).
 *
 * Retries are ours, not the SDK's (`retryOptions.maxRetries: 0`): the SDK's throttling policy sleeps for any
 * `Retry-After` a server sends (an hour, if asked) and its exponential policy adds its own attempts on top, so the
 * total time of a call could not be bounded. Here every attempt carries an AbortSignal (per-call timeout, never
 * past the total budget), 429/503/5xx and network failures are retried only while the wait fits in the budget,
 * and a `Retry-After` that does not fit ends the call at once with that hint as `retryAfterSeconds`.
 */
import type { TokenCredential } from '@azure/core-auth';
import { SecretClient } from '@azure/keyvault-secrets';
import { AuthError } from '../errors';
import type { Clock } from '../ports';
import { decideRetry, parseRetryAfterMs, shouldDisableChallengeResourceVerification } from './key-vault-policy';

export interface KeyVaultSecretValue {
  value: string;
  contentType: string | undefined;
  /** The secret version id (not secret): names the copy in logs. */
  version: string | undefined;
}

export interface KeyVaultReaderOptions {
  vaultUrl: string;
  credential: TokenCredential;
  clock: Clock;
  /** Upper bound of one HTTP attempt (challenge + token + read). */
  callTimeoutMs: number;
  /** Upper bound of one `read()`, every attempt and wait included. */
  totalBudgetMs: number;
  maxAttempts: number;
  /** First back-off when the server gives no Retry-After; doubles per attempt. */
  baseDelayMs: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface KeyVaultSecretReader {
  /** Latest enabled version of `name`. Throws AuthError('credential_unavailable') with a log-safe reason. */
  read(name: string): Promise<KeyVaultSecretValue>;
  /** Whether the SDK's challenge-resource check was turned off for this vault (a non-Azure host). */
  readonly challengeResourceVerificationDisabled: boolean;
}

export function createKeyVaultSecretReader(options: KeyVaultReaderOptions): KeyVaultSecretReader {
  const disableChallengeResourceVerification = shouldDisableChallengeResourceVerification(options.vaultUrl);
  const client = new SecretClient(options.vaultUrl, options.credential, {
    disableChallengeResourceVerification,
    retryOptions: { maxRetries: 0 },
  });
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const host = new URL(options.vaultUrl).host;

  async function read(name: string): Promise<KeyVaultSecretValue> {
    const { clock } = options;
    const deadline = clock.now() + options.totalBudgetMs;
    for (let attempt = 1; ; attempt += 1) {
      const remainingMs = deadline - clock.now();
      const timeoutMs = Math.min(options.callTimeoutMs, remainingMs);
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), timeoutMs);
      try {
        // Raced with the timer as well as aborted: the token step inside the pipeline may ignore the signal.
        const secret = await raceAbort(client.getSecret(name, { abortSignal: abort.signal }), abort.signal);
        if (secret.value === undefined || secret.value === '') {
          throw new AuthError('credential_unavailable', {
            retryAfterSeconds: 30,
            logDetail: `Key Vault ${host} secret "${name}" has no value`,
          });
        }
        return { value: secret.value, contentType: secret.properties.contentType, version: secret.properties.version };
      } catch (error) {
        if (error instanceof AuthError) throw error;
        const timedOut = abort.signal.aborted;
        const status = statusOf(error);
        const networkError = !timedOut && status === undefined && isNetworkError(error);
        const retryAfterMs = parseRetryAfterMs(retryAfterHeaders(error), clock.now());
        const reason = timedOut
          ? `timed out after ${timeoutMs} ms`
          : status !== undefined
            ? `HTTP ${status}${errorCodeOf(error) ? ` ${errorCodeOf(error)}` : ''}`
            : isTokenFailure(error)
              ? `no token for Key Vault (${(error as Error).name})`
              : `${(error as Error)?.name ?? 'error'}${codeOf(error) ? ` ${codeOf(error)}` : ''}`;
        const decision = timedOut
          ? { retry: false as const, retryAfterSeconds: 5 }
          : decideRetry({
              status,
              networkError,
              retryAfterMs,
              attempt,
              maxAttempts: options.maxAttempts,
              remainingMs: deadline - clock.now(),
              baseDelayMs: options.baseDelayMs,
            });
        if (!decision.retry) {
          throw new AuthError('credential_unavailable', {
            retryAfterSeconds: decision.retryAfterSeconds,
            logDetail: `Key Vault ${host} secret "${name}": ${reason} (attempt ${attempt}${hintFor(status)})`,
            cause: error,
          });
        }
        await sleep(decision.delayMs);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  return { read, challengeResourceVerificationDisabled: disableChallengeResourceVerification };
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(Object.assign(new Error('Key Vault call timed out'), { name: 'AbortError' }));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown })?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** Key Vault's own error code (`SecretNotFound`, `Forbidden`, `Throttled`…): safe to log, names no value. */
function errorCodeOf(error: unknown): string | undefined {
  const code =
    (error as { code?: unknown; details?: { error?: { code?: unknown } } })?.details?.error?.code ??
    (error as { code?: unknown })?.code;
  return typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : undefined;
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : undefined;
}

function isNetworkError(error: unknown): boolean {
  const code = codeOf(error);
  return (
    (error as { name?: string })?.name === 'RestError' ||
    (code !== undefined &&
      ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'REQUEST_SEND_ERROR'].includes(
        code,
      ))
  );
}

/** @azure/identity's failures (and our token timeout): the identity, not the vault, is what failed. */
function isTokenFailure(error: unknown): boolean {
  const name = (error as { name?: unknown })?.name;
  return (
    name === 'CredentialUnavailableError' ||
    name === 'AuthenticationError' ||
    name === 'AuthenticationRequiredError' ||
    name === 'TokenTimeoutError'
  );
}

function retryAfterHeaders(error: unknown): { retryAfter?: string | null; retryAfterMs?: string | null } {
  const headers = (error as { response?: { headers?: { get(name: string): string | undefined } } })?.response?.headers;
  if (!headers) return {};
  return {
    retryAfter: headers.get('retry-after') ?? null,
    retryAfterMs: headers.get('retry-after-ms') ?? headers.get('x-ms-retry-after-ms') ?? null,
  };
}

/** What an operator should check, for the statuses that mean "misconfigured", not "try later". */
function hintFor(status: number | undefined): string {
  if (status === 401 || status === 403)
    return '; check the identity has the "Key Vault Secrets User" role on the vault';
  if (status === 404) return '; check the secret name and that it has an enabled version';
  return '';
}
