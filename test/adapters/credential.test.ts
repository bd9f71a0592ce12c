/**
 * `AUTH_CREDENTIAL=secret` with Key Vault, through the real `SecretClient` and `ManagedIdentityCredential`
 * against the loopback stand-ins (vault over HTTPS with the challenge flow, managed identity via
 * IDENTITY_ENDPOINT / IDENTITY_HEADER). Every log line of the provider and of the Azure SDKs is captured and
 * scanned for the secret values and tokens at the end.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { AzureLogger, setLogLevel } from '@azure/logger';
import { startKeyVaultStandIn, type KeyVaultStandIn } from '../../dev/keyvault-standin';
import { startManagedIdentityStandIn, type ManagedIdentityStandIn } from '../../dev/managed-identity-standin';
import { createClientCredentialProvider, type CredentialProviderOptions } from '../../shared/adapters/credential';
import { AuthError, isAuthError } from '../../shared/errors';
import type { ClientCredential, ClientCredentialProvider, Logger } from '../../shared/ports';

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
  assert.equal(credential.kind, 'secret');
  return credential.clientSecret;
}

async function rejectsUnavailable(promise: Promise<unknown>): Promise<AuthError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isAuthError(error, 'credential_unavailable'), `expected credential_unavailable, got ${String(error)}`);
    return error;
  }
  assert.fail('expected credential_unavailable');
}

before(async () => {
  // One managed-identity stand-in for the whole process: @azure/identity fixes the endpoint at the first request.
  mi = await startManagedIdentityStandIn();
  Object.assign(process.env, mi.env);
  setLogLevel('verbose');
  AzureLogger.log = (...args: unknown[]) => {
    logLines.push(args.map(String).join(' '));
  };
});

after(async () => {
  await Promise.all(vaults.map((vault) => vault.stop()));
  await mi.stop();
});

describe('Key Vault secret provider', () => {
  it('reads the secret once and serves it from memory afterwards (challenge, token, read)', async () => {
    const value = newSecret('cached');
    const vault = await vaultWith(value);
    const credentials = provider(vault);
    for (let i = 0; i < 5; i += 1) assert.equal(secretOf(await credentials.get()), value);
    assert.equal(vault.counters.secretReads, 1);
    assert.equal(vault.counters.challenges, 1, 'the SDK probed without a token once, then used the bearer');
    assert.equal(vault.counters.unauthorized, 0);
  });

  it('shares one read among 20 concurrent cold callers', async () => {
    const value = newSecret('cold');
    const vault = await vaultWith(value);
    const credentials = provider(vault);
    const all = await Promise.all(Array.from({ length: 20 }, () => credentials.get()));
    assert.ok(all.every((c) => secretOf(c) === value));
    assert.equal(vault.counters.secretReads, 1);
  });

  it('keeps serving the cached secret when the vault goes down, and a failed refresh keeps the last good copy', async () => {
    const value = newSecret('stale');
    const vault = await vaultWith(value);
    let now = 1_000_000;
    const credentials = provider(vault, { clock: { now: () => now }, cache: { refreshAfterMs: 60_000 } });
    assert.equal(secretOf(await credentials.get()), value);
    vault.injectFault({ kind: 'down' });
    const warningsBefore = logLines.filter((l) => l.startsWith('warn client credential refresh failed')).length;
    now += 120_000; // past refreshAfterMs: get() answers from memory and refreshes in the background
    assert.equal(secretOf(await credentials.get()), value);
    await waitFor(() => logLines.filter((l) => l.startsWith('warn client credential refresh failed')).length > warningsBefore);
    assert.equal(secretOf(await credentials.get()), value, 'still served after the failed refresh');
    vault.clearFaults();
  });

  it('answers credential_unavailable (503, Retry-After) when the vault is down and nothing is cached, then recovers', async () => {
    const value = newSecret('down');
    const vault = await vaultWith(value);
    vault.injectFault({ kind: 'down' });
    const credentials = provider(vault, { cache: { failureCooldownMs: 300 }, keyVault: { baseDelayMs: 50, totalBudgetMs: 2000 } });
    const started = Date.now();
    const error = await rejectsUnavailable(credentials.get());
    assert.equal(error.status, 503);
    assert.ok(error.retryAfterSeconds !== undefined && error.retryAfterSeconds >= 1);
    assert.match(error.logDetail ?? '', /Key Vault 127\.0\.0\.1:\d+ secret "auth-client-secret"/);
    assert.ok(Date.now() - started < 2500, 'bounded by the budget');
    // During the cool-down no new read is attempted.
    const requestsAfterFailure = vault.counters.requests;
    await rejectsUnavailable(credentials.get());
    assert.equal(vault.counters.requests, requestsAfterFailure);
    vault.clearFaults();
    await sleep(350);
    assert.equal(secretOf(await credentials.get()), value);
  });

  it('honours 429 Retry-After and then succeeds', async () => {
    const value = newSecret('throttled');
    const vault = await vaultWith(value);
    vault.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 1 }, 1);
    const credentials = provider(vault);
    const started = Date.now();
    assert.equal(secretOf(await credentials.get()), value);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 950, `waited for Retry-After (${elapsed} ms)`);
    assert.equal(vault.counters.faultsServed, 1);
    assert.equal(vault.counters.secretReads, 1);
  });

  it('gives up on a permanent 429 within the total budget', async () => {
    const vault = await vaultWith(newSecret('always-throttled'));
    vault.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 1 });
    const credentials = provider(vault, { keyVault: { totalBudgetMs: 2500 } });
    const started = Date.now();
    const error = await rejectsUnavailable(credentials.get());
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 2500 + 300, `ended within the budget (${elapsed} ms)`);
    assert.ok(vault.counters.faultsServed >= 2 && vault.counters.faultsServed <= 3, `retried while it fit: ${vault.counters.faultsServed}`);
    assert.equal(error.retryAfterSeconds, 1);
    assert.match(error.logDetail ?? '', /HTTP 429 Throttled/);
  });

  it('does not sleep on a Retry-After longer than the budget: fails at once with that hint', async () => {
    const vault = await vaultWith(newSecret('long-throttle'));
    vault.injectFault({ kind: 'status', status: 503, retryAfterSeconds: 120 });
    const credentials = provider(vault);
    const started = Date.now();
    const error = await rejectsUnavailable(credentials.get());
    assert.ok(Date.now() - started < 1000);
    assert.equal(error.retryAfterSeconds, 120);
    assert.equal(vault.counters.faultsServed, 1);
  });

  it('times out a vault that never answers', async () => {
    const vault = await vaultWith(newSecret('hang'));
    vault.injectFault({ kind: 'hang' });
    const credentials = provider(vault, { keyVault: { callTimeoutMs: 700, totalBudgetMs: 3000 } });
    const started = Date.now();
    const error = await rejectsUnavailable(credentials.get());
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 650 && elapsed < 1500, `timed out after ~700 ms (${elapsed} ms)`);
    assert.match(error.logDetail ?? '', /timed out after 700 ms/);
  });

  it('rotation: renewAfterRejection(old) → true after exactly one extra read; again → no read', async () => {
    const oldValue = newSecret('old');
    const vault = await vaultWith(oldValue);
    const credentials = provider(vault);
    const old = await credentials.get();
    assert.equal(vault.counters.secretReads, 1);
    const newValue = newSecret('new');
    vault.setSecret(SECRET_NAME, newValue);
    // 20 sign-ins saw invalid_client with the old secret at the same time: one vault read between them.
    const renewed = await Promise.all(Array.from({ length: 20 }, () => credentials.renewAfterRejection(old)));
    assert.ok(renewed.every((r) => r === true));
    assert.equal(vault.counters.secretReads, 2);
    assert.equal(secretOf(await credentials.get()), newValue);
    assert.equal(await credentials.renewAfterRejection(old), true, 'the current secret already differs');
    assert.equal(vault.counters.secretReads, 2, 'no read for a value already renewed');
  });

  it('a rejected secret that the vault still holds → false after one read, never read again for it', async () => {
    const value = newSecret('wrong');
    const vault = await vaultWith(value);
    const credentials = provider(vault);
    const rejected = await credentials.get();
    assert.equal(await credentials.renewAfterRejection(rejected), false);
    assert.equal(await credentials.renewAfterRejection(rejected), false);
    assert.equal(vault.counters.secretReads, 2);
    assert.ok(logLines.some((l) => l.startsWith('warn client credential rejected by the identity provider and the source holds no newer one')));
  });

  it('renewAfterRejection during a vault outage answers credential_unavailable and keeps the old copy', async () => {
    const value = newSecret('renew-down');
    const vault = await vaultWith(value);
    const credentials = provider(vault, { keyVault: { baseDelayMs: 50, totalBudgetMs: 1000 } });
    const current = await credentials.get();
    vault.injectFault({ kind: 'status', status: 503 });
    await rejectsUnavailable(credentials.renewAfterRejection(current));
    assert.equal(secretOf(await credentials.get()), value);
  });

  it('a missing secret is a 503 with a reason naming the secret and what to check', async () => {
    const vault = await vaultWith();
    const error = await rejectsUnavailable(provider(vault).get());
    assert.match(error.logDetail ?? '', /secret "auth-client-secret": HTTP 404 SecretNotFound .*check the secret name/);
  });

  it('a managed identity outage is a 503 too (token step bounded by its timeout)', async () => {
    const vault = await vaultWith(newSecret('mi-down'));
    mi.injectFault({ kind: 'hang' });
    try {
      // A user-assigned client id never used before: no token for it in the process-wide MSAL cache.
      const credentials = provider(vault, { managedIdentityClientId: randomUUID(), tokenTimeoutMs: 600 });
      const started = Date.now();
      const error = await rejectsUnavailable(credentials.get());
      assert.ok(Date.now() - started < 2000);
      assert.match(error.logDetail ?? '', /no token for Key Vault \(TokenTimeoutError\)/);
      assert.equal(vault.counters.secretReads, 0);
    } finally {
      mi.clearFaults();
    }
  });

  it('uses a user-assigned managed identity when one is configured', async () => {
    const value = newSecret('user-assigned');
    const vault = await vaultWith(value);
    const clientId = randomUUID();
    assert.equal(secretOf(await provider(vault, { managedIdentityClientId: clientId }).get()), value);
    assert.ok(mi.requests.some((r) => r.clientId === clientId && r.resource === 'https://vault.azure.net'));
  });

  it('logs never carry a secret value or a token', () => {
    assert.ok(logLines.length > 20, 'logs were captured');
    const text = logLines.join('\n');
    for (const value of secretsUsed) assert.ok(!text.includes(value), 'a secret value reached the logs');
    // Any JWT-shaped string (an access token) in the logs is a leak too.
    assert.doesNotMatch(text, /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./);
    assert.doesNotMatch(text, /Bearer eyJ/);
    assert.match(text, /"authorization": "REDACTED"/i, "the SDK request log was captured (with the header redacted)");
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail('condition not met in time');
    await sleep(20);
  }
}
