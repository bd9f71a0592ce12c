/**
 * Pure decisions for the Key Vault and managed-identity adapters: no SDK import here, so `credential.ts` can use
 * them while the SDKs stay unloaded, and tests can check every decision as a plain function.
 */

/**
 * DNS suffixes of Azure Key Vault and Managed HSM in every public and sovereign cloud.
 * @see https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates#dns-suffixes-for-object-identifiers
 * @see https://aka.ms/azsdk/blog/vault-uri
 */
export const AZURE_VAULT_DOMAINS = [
  'vault.azure.net',
  'vault.azure.cn',
  'vault.usgovcloudapi.net',
  'vault.microsoftazure.de',
  'managedhsm.azure.net',
  'managedhsm.azure.cn',
  'managedhsm.usgovcloudapi.net',
  'managedhsm.microsoftazure.de',
] as const;

/** True when `hostname` is a vault under one of the Azure vault domains (`<name>.vault.azure.net`, …). */
export function isAzureVaultHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return AZURE_VAULT_DOMAINS.some((domain) => host.endsWith(`.${domain}`) && host.length > domain.length + 1);
}

/**
 * Whether the Key Vault client's challenge-resource check must be relaxed for this vault URL.
 *
 * The SDK refuses a 401 challenge whose `resource` (`https://vault.azure.net`) is not a parent domain of the
 * request host: that stops a look-alike host from collecting a token meant for Key Vault. A loopback stand-in
 * (`https://127.0.0.1:port`) can never pass that check, so the check is turned off for hosts outside the Azure
 * vault domains only. A real vault keeps the check.
 */
export function shouldDisableChallengeResourceVerification(vaultUrl: string): boolean {
  return !isAzureVaultHost(new URL(vaultUrl).hostname);
}

/** Which token credential authenticates to Key Vault. */
export type AzureTokenCredentialChoice =
  { kind: 'managed-identity'; clientId?: string; reason: string } | { kind: 'developer'; reason: string };

/**
 * Managed identity when the platform announces one (App Service / Functions / Container Apps set
 * `IDENTITY_ENDPOINT` + `IDENTITY_HEADER`; Cloud Shell and older hosts `MSI_ENDPOINT`; Azure Arc `IMDS_ENDPOINT`;
 * Service Fabric `IDENTITY_SERVER_THUMBPRINT`) or when a user-assigned identity is named explicitly (a VM using
 * IMDS); otherwise the developer's own sign-in (Azure CLI, then Azure Developer CLI) for local work against a
 * real vault. No probing chain runs in Azure: the choice is made once from the environment and logged.
 */
export function chooseAzureTokenCredential(
  env: Readonly<Record<string, string | undefined>>,
  managedIdentityClientId: string | undefined,
): AzureTokenCredentialChoice {
  const has = (name: string): boolean => !!env[name]?.trim();
  const clientId = managedIdentityClientId?.trim() || undefined;
  if (has('IDENTITY_ENDPOINT') && has('IDENTITY_HEADER')) {
    return {
      kind: 'managed-identity',
      clientId,
      reason: 'IDENTITY_ENDPOINT and IDENTITY_HEADER are set (App Service / Functions)',
    };
  }
  if (has('MSI_ENDPOINT')) return { kind: 'managed-identity', clientId, reason: 'MSI_ENDPOINT is set' };
  if (has('IDENTITY_ENDPOINT') && has('IMDS_ENDPOINT'))
    return { kind: 'managed-identity', clientId, reason: 'Azure Arc identity endpoint is set' };
  if (has('IDENTITY_SERVER_THUMBPRINT'))
    return { kind: 'managed-identity', clientId, reason: 'Service Fabric identity endpoint is set' };
  if (clientId) return { kind: 'managed-identity', clientId, reason: 'AUTH_MANAGED_IDENTITY_CLIENT_ID is set (IMDS)' };
  return {
    kind: 'developer',
    reason: 'no managed identity in the environment: using Azure CLI / Azure Developer CLI sign-in',
  };
}

/**
 * Parses an HTTP `Retry-After` value (delay-seconds or an HTTP-date, RFC 9110 §10.2.3) into milliseconds.
 * Also accepts the `retry-after-ms` / `x-ms-retry-after-ms` forms Azure services send. Undefined when absent or
 * unreadable.
 */
export function parseRetryAfterMs(
  headers: { retryAfter?: string | null; retryAfterMs?: string | null },
  now: number,
): number | undefined {
  const ms = headers.retryAfterMs?.trim();
  if (ms && /^\d+$/.test(ms)) return Number(ms);
  const value = headers.retryAfter?.trim();
  if (!value) return undefined;
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** What to do after one failed Key Vault attempt. */
export type RetryDecision = { retry: true; delayMs: number } | { retry: false; retryAfterSeconds: number };

/** HTTP statuses worth another attempt: throttling and transient server faults. */
const RETRYABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/**
 * The bounded retry rule: retry throttling (honouring `Retry-After`) and transient faults only while the wait
 * still fits in the remaining budget; otherwise give up and tell the caller how long to wait. A Retry-After longer
 * than the budget is never slept on: the request fails fast with that hint instead of holding a sign-in open.
 */
export function decideRetry(input: {
  status: number | undefined;
  networkError: boolean;
  retryAfterMs: number | undefined;
  attempt: number;
  maxAttempts: number;
  remainingMs: number;
  baseDelayMs: number;
}): RetryDecision {
  const hintSeconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));
  const retryable = input.networkError || (input.status !== undefined && RETRYABLE_STATUSES.has(input.status));
  const backoff = input.baseDelayMs * 2 ** Math.max(0, input.attempt - 1);
  const delayMs = input.retryAfterMs ?? backoff;
  if (!retryable || input.attempt >= input.maxAttempts || delayMs >= input.remainingMs) {
    return { retry: false, retryAfterSeconds: hintSeconds(input.retryAfterMs ?? Math.max(backoff, 1000)) };
  }
  return { retry: true, delayMs };
}
