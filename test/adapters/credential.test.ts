/**
 * `AUTH_CREDENTIAL=secret` with Key Vault, through the real `SecretClient` and `ManagedIdentityCredential`
 * against the loopback stand-ins (vault over HTTPS with the challenge flow, managed identity via
 * IDENTITY_ENDPOINT / IDENTITY_HEADER). Every log line of the provider and of the Azure SDKs is captured and
 * scanned for the secret values and tokens at the end.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { AzureLogger, setLogLevel } from '@azure/logger';
import { startKeyVaultStandIn, type KeyVaultStandIn } from '../../dev/keyvault-standin';
import { startManagedIdentityStandIn, type ManagedIdentityStandIn } from '../../dev/managed-identity-standin';
import { createClientCredentialProvider, type CredentialProviderOptions } from '../../shared/adapters/credential';
import { AuthError, isAuthError } from '../../shared/errors';
import type { ClientCredential, ClientCredentialProvider, Logger } from '../../shared/ports';
import { until } from '../_support/until';

const SECRET_NAME = 'auth-client-secret';
const logLines: string[] = [];
const secretsUsed = new Set<string>();
const logger: Logger = {
  info: (message, properties) => logLines.push(`info ${message} ${JSON.stringify(properties ?? {})}`),
  warn: (message, properties) => logLines.push(`warn ${message} ${JSON.stringify(properties ?? {})}`),
  error: (message, properties) => logLines.push(`error ${message} ${JSON.stringify(properties ?? {})}`),
};

let mi: ManagedIdentityStandIn;
const vaults: KeyVaultStandIn[] = [];

/** A fresh secret value, remembered so the final log scan can look for it. */
function newSecret(label: string): string {
  const value = `${label}~${randomUUID()}`;
  secretsUsed.add(value);
  return value;
}

async function vaultWith(value?: string): Promise<KeyVaultStandIn> {
  const vault = await startKeyVaultStandIn({ trust: mi });
  vaults.push(vault);
  if (value !== undefined) vault.setSecret(SECRET_NAME, value);
  return vault;
}

function provider(vault: KeyVaultStandIn, options: Partial<CredentialProviderOptions> = {}): ClientCredentialProvider {
  return createClientCredentialProvider(
    { kind: 'secret', source: 'key-vault', keyVaultUrl: vault.url, secretName: SECRET_NAME },
    { clientId: 'test-client', logger, ...options },
  );
}

function secretOf(credential: ClientCredential): string {
  if (credential.kind !== 'secret') throw new Error(`expected a secret credential, got ${credential.kind}`);
  return credential.clientSecret;
}

async function rejectsUnavailable(promise: Promise<unknown>): Promise<AuthError> {
  try {
    await promise;
  } catch (error) {
    expect(isAuthError(error, 'credential_unavailable')).toBeTruthy();
    return error as AuthError;
  }
  throw new Error('expected credential_unavailable');
}

beforeAll(async () => {
  // One managed-identity stand-in for the whole process: @azure/identity fixes the endpoint at the first request.
  mi = await startManagedIdentityStandIn();
  Object.assign(process.env, mi.env);
  setLogLevel('verbose');
  AzureLogger.log = (...args: unknown[]) => {
    logLines.push(args.map(String).join(' '));
  };
});

afterAll(async () => {
  await Promise.all(vaults.map((vault) => vault.stop()));
  await mi.stop();
});

describe('Key Vault secret provider', () => {
  test('reads the secret once and serves it from memory afterwards (challenge, token, read)', async () => {
    const value = newSecret('cached');
    const vault = await vaultWith(value);
    const credentials = provider(vault);
    for (let i = 0; i < 5; i += 1) expect(secretOf(await credentials.get())).toBe(value);
    expect(vault.counters.secretReads).toBe(1);
    expect(vault.counters.challenges).toBe(1);
    expect(vault.counters.unauthorized).toBe(0);
  });

  test('shares one read among 20 concurrent cold callers', async () => {
    const value = newSecret('cold');
    const vault = await vaultWith(value);
    const credentials = provider(vault);
    const all = await Promise.all(Array.from({ length: 20 }, () => credentials.get()));
    expect(all.every((c) => secretOf(c) === value)).toBeTruthy();
    expect(vault.counters.secretReads).toBe(1);
  });

  test('keeps serving the cached secret when the vault goes down, and a failed refresh keeps the last good copy', async () => {
    const value = newSecret('stale');
    const vault = await vaultWith(value);
    let now = 1_000_000;
    const credentials = provider(vault, { clock: { now: () => now }, cache: { refreshAfterMs: 60_000 } });
    expect(secretOf(await credentials.get())).toBe(value);
    vault.injectFault({ kind: 'down' });
    const warningsBefore = logLines.filter((l) => l.startsWith('warn client credential refresh failed')).length;
    now += 120_000; // past refreshAfterMs: get() answers from memory and refreshes in the background
    expect(secretOf(await credentials.get())).toBe(value);
    await until(
      () => logLines.filter((l) => l.startsWith('warn client credential refresh failed')).length > warningsBefore,
      { ms: 3000 },
    );
    expect(secretOf(await credentials.get())).toBe(value);
    vault.clearFaults();
  });

  test('answers credential_unavailable (503, Retry-After) when the vault is down and nothing is cached, then recovers', async () => {
    const value = newSecret('down');
    const vault = await vaultWith(value);
    vault.injectFault({ kind: 'down' });
    const credentials = provider(vault, {
      cache: { failureCooldownMs: 300 },
      keyVault: { baseDelayMs: 50, totalBudgetMs: 2000 },
    });
    const started = Date.now();
    const error = await rejectsUnavailable(credentials.get());
    expect(error.status).toBe(503);
    expect(error.retryAfterSeconds !== undefined && error.retryAfterSeconds >= 1).toBeTruthy();
    expect(error.logDetail ?? '').toMatch(/Key Vault 127\.0\.0\.1:\d+ secret "auth-client-secret"/);
    expect(Date.now() - started < 2500).toBeTruthy();
    // During the cool-down no new read is attempted.
    const requestsAfterFailure = vault.counters.requests;
    await rejectsUnavailable(credentials.get());
    expect(vault.counters.requests).toBe(requestsAfterFailure);
    vault.clearFaults();
    await sleep(350);
    expect(secretOf(await credentials.get())).toBe(value);
  });

  test('honours 429 Retry-After and then succeeds', async () => {
    const value = newSecret('throttled');
    const vault = await vaultWith(value);
    vault.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 1 }, 1);
    const credentials = provider(vault);
    const started = Date.now();
    expect(secretOf(await credentials.get())).toBe(value);
    const elapsed = Date.now() - started;
    expect(elapsed >= 950).toBeTruthy();
    expect(vault.counters.faultsServed).toBe(1);
    expect(vault.counters.secretReads).toBe(1);
  });

  test('gives up on a permanent 429 within the total budget', async () => {
    const vault = await vaultWith(newSecret('always-throttled'));
    vault.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 1 });
    const credentials = provider(vault, { keyVault: { totalBudgetMs: 2500 } });
    const started = Date.now();
    const error = await rejectsUnavailable(credentials.get());
    const elapsed = Date.now() - started;
    expect(elapsed < 2500 + 300).toBeTruthy();
    expect(vault.counters.faultsServed >= 2 && vault.counters.faultsServed <= 3).toBeTruthy();
    expect(error.retryAfterSeconds).toBe(1);
    expect(error.logDetail ?? '').toMatch(/HTTP 429 Throttled/);
  });

  test('does not sleep on a Retry-After longer than the budget: fails at once with that hint', async () => {
    const vault = await vaultWith(newSecret('long-throttle'));
    vault.injectFault({ kind: 'status', status: 503, retryAfterSeconds: 120 });
    const credentials = provider(vault);
    const started = Date.now();
    const error = await rejectsUnavailable(credentials.get());
    expect(Date.now() - started < 1000).toBeTruthy();
    expect(error.retryAfterSeconds).toBe(120);
    expect(vault.counters.faultsServed).toBe(1);
  });

  test('times out a vault that never answers', async () => {
    const vault = await vaultWith(newSecret('hang'));
    vault.injectFault({ kind: 'hang' });
    const credentials = provider(vault, { keyVault: { callTimeoutMs: 700, totalBudgetMs: 3000 } });
    const started = Date.now();
    const error = await rejectsUnavailable(credentials.get());
    const elapsed = Date.now() - started;
    expect(elapsed >= 650 && elapsed < 1500).toBeTruthy();
    expect(error.logDetail ?? '').toMatch(/timed out after 700 ms/);
  });

  test('rotation: renewAfterRejection(old) → true after exactly one extra read; again → no read', async () => {
    const oldValue = newSecret('old');
    const vault = await vaultWith(oldValue);
    const credentials = provider(vault);
    const old = await credentials.get();
    expect(vault.counters.secretReads).toBe(1);
    const newValue = newSecret('new');
    vault.setSecret(SECRET_NAME, newValue);
    // 20 sign-ins saw invalid_client with the old secret at the same time: one vault read between them.
    const renewed = await Promise.all(Array.from({ length: 20 }, () => credentials.renewAfterRejection(old)));
    expect(renewed.every((r) => r === true)).toBeTruthy();
    expect(vault.counters.secretReads).toBe(2);
    expect(secretOf(await credentials.get())).toBe(newValue);
    expect(await credentials.renewAfterRejection(old)).toBe(true);
    expect(vault.counters.secretReads).toBe(2);
  });

  test('a rejected secret that the vault still holds → false after one read, never read again for it', async () => {
    const value = newSecret('wrong');
    const vault = await vaultWith(value);
    const credentials = provider(vault);
    const rejected = await credentials.get();
    expect(await credentials.renewAfterRejection(rejected)).toBe(false);
    expect(await credentials.renewAfterRejection(rejected)).toBe(false);
    expect(vault.counters.secretReads).toBe(2);
    expect(
      logLines.some((l) =>
        l.startsWith('warn client credential rejected by the identity provider and the source holds no newer one'),
      ),
    ).toBeTruthy();
  });

  test('renewAfterRejection during a vault outage answers credential_unavailable and keeps the old copy', async () => {
    const value = newSecret('renew-down');
    const vault = await vaultWith(value);
    const credentials = provider(vault, { keyVault: { baseDelayMs: 50, totalBudgetMs: 1000 } });
    const current = await credentials.get();
    vault.injectFault({ kind: 'status', status: 503 });
    await rejectsUnavailable(credentials.renewAfterRejection(current));
    expect(secretOf(await credentials.get())).toBe(value);
  });

  test('a missing secret is a 503 with a reason naming the secret and what to check', async () => {
    const vault = await vaultWith();
    const error = await rejectsUnavailable(provider(vault).get());
    expect(error.logDetail ?? '').toMatch(
      /secret "auth-client-secret": HTTP 404 SecretNotFound .*check the secret name/,
    );
  });

  test('a managed identity outage is a 503 too (token step bounded by its timeout)', async () => {
    const vault = await vaultWith(newSecret('mi-down'));
    mi.injectFault({ kind: 'hang' });
    try {
      // A user-assigned client id never used before: no token for it in the process-wide MSAL cache.
      const credentials = provider(vault, { managedIdentityClientId: randomUUID(), tokenTimeoutMs: 600 });
      const started = Date.now();
      const error = await rejectsUnavailable(credentials.get());
      expect(Date.now() - started < 2000).toBeTruthy();
      expect(error.logDetail ?? '').toMatch(/no token for Key Vault \(TokenTimeoutError\)/);
      expect(vault.counters.secretReads).toBe(0);
    } finally {
      mi.clearFaults();
    }
  });

  test('uses a user-assigned managed identity when one is configured', async () => {
    const value = newSecret('user-assigned');
    const vault = await vaultWith(value);
    const clientId = randomUUID();
    expect(secretOf(await provider(vault, { managedIdentityClientId: clientId }).get())).toBe(value);
    expect(mi.requests.some((r) => r.clientId === clientId && r.resource === 'https://vault.azure.net')).toBeTruthy();
  });

  test('logs never carry a secret value or a token', () => {
    expect(logLines.length > 20).toBeTruthy();
    const text = logLines.join('\n');
    for (const value of secretsUsed) expect(!text.includes(value)).toBeTruthy();
    // Any JWT-shaped string (an access token) in the logs is a leak too.
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./);
    expect(text).not.toMatch(/Bearer eyJ/);
    expect(text).toMatch(/"authorization": "REDACTED"/i);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
