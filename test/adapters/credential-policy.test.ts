/**
 * The pure decisions behind the Key Vault adapter: when the SDK's challenge-resource check is relaxed, which
 * token credential is used, how Retry-After is read, and when a failed attempt is retried.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  chooseAzureTokenCredential,
  decideRetry,
  isAzureVaultHost,
  parseRetryAfterMs,
  shouldDisableChallengeResourceVerification,
} from '../../shared/adapters/key-vault-policy';

describe('challenge-resource verification', () => {
  it('stays on for vaults under every Azure vault domain', () => {
    for (const url of [
      'https://contoso.vault.azure.net',
      'https://contoso.vault.azure.net/',
      'https://CONTOSO.Vault.Azure.Net',
      'https://contoso.vault.azure.cn',
      'https://contoso.vault.usgovcloudapi.net',
      'https://contoso.vault.microsoftazure.de',
      'https://contoso.managedhsm.azure.net',
      'https://contoso.vault.azure.net.',
    ]) {
      assert.equal(shouldDisableChallengeResourceVerification(url), false, url);
    }
  });

  it('is relaxed only for hosts outside them: loopback stand-ins, look-alikes', () => {
    for (const url of [
      'https://127.0.0.1:8443',
      'https://localhost:8443',
      'https://[::1]:8443',
      'https://vault.azure.net', // the bare domain is not a vault
      'https://contoso.vault.azure.net.evil.example',
      'https://contosovault.azure.net',
      'https://evilvault.azure.net.example',
    ]) {
      assert.equal(shouldDisableChallengeResourceVerification(url), true, url);
    }
    assert.equal(isAzureVaultHost('a.vault.azure.net'), true);
    assert.equal(isAzureVaultHost('xvault.azure.net'), false);
  });
});

describe('token credential choice', () => {
  it('uses managed identity when App Service / Functions announce it, with the user-assigned client id', () => {
    const env = { IDENTITY_ENDPOINT: 'http://127.0.0.1:4141/msi/token', IDENTITY_HEADER: 'h' };
    assert.deepEqual(chooseAzureTokenCredential(env, undefined), {
      kind: 'managed-identity',
      clientId: undefined,
      reason: 'IDENTITY_ENDPOINT and IDENTITY_HEADER are set (App Service / Functions)',
    });
    assert.equal(chooseAzureTokenCredential(env, ' 0f0e ').kind, 'managed-identity');
    assert.equal((chooseAzureTokenCredential(env, '0f0e') as { clientId?: string }).clientId, '0f0e');
  });

  it('uses managed identity for MSI_ENDPOINT, Arc, Service Fabric, or an explicit client id (IMDS)', () => {
    assert.equal(chooseAzureTokenCredential({ MSI_ENDPOINT: 'http://x' }, undefined).kind, 'managed-identity');
    assert.equal(chooseAzureTokenCredential({ IDENTITY_ENDPOINT: 'http://x', IMDS_ENDPOINT: 'http://y' }, undefined).kind, 'managed-identity');
    assert.equal(chooseAzureTokenCredential({ IDENTITY_SERVER_THUMBPRINT: 'ab' }, undefined).kind, 'managed-identity');
    assert.equal(chooseAzureTokenCredential({}, 'client-id').kind, 'managed-identity');
  });

  it('falls back to the developer sign-in only when no managed identity is present', () => {
    assert.equal(chooseAzureTokenCredential({}, undefined).kind, 'developer');
    assert.equal(chooseAzureTokenCredential({ IDENTITY_ENDPOINT: 'http://x' }, '  ').kind, 'developer', 'half an App Service environment is not one');
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it('reads delay-seconds, HTTP-dates and the Azure ms headers', () => {
    assert.equal(parseRetryAfterMs({ retryAfter: '3' }, now), 3000);
    assert.equal(parseRetryAfterMs({ retryAfter: 'Wed, 01 Jan 2025 00:00:10 GMT' }, now), 10_000);
    assert.equal(parseRetryAfterMs({ retryAfter: 'Tue, 31 Dec 2024 00:00:00 GMT' }, now), 0);
    assert.equal(parseRetryAfterMs({ retryAfter: '3', retryAfterMs: '250' }, now), 250);
    assert.equal(parseRetryAfterMs({ retryAfter: 'soon' }, now), undefined);
    assert.equal(parseRetryAfterMs({}, now), undefined);
  });
});

describe('retry decision', () => {
  const base = { networkError: false, retryAfterMs: undefined, attempt: 1, maxAttempts: 4, remainingMs: 5000, baseDelayMs: 250 };
  it('retries throttling and transient faults while the wait fits the budget', () => {
    assert.deepEqual(decideRetry({ ...base, status: 429, retryAfterMs: 1000 }), { retry: true, delayMs: 1000 });
    assert.deepEqual(decideRetry({ ...base, status: 503 }), { retry: true, delayMs: 250 });
    assert.deepEqual(decideRetry({ ...base, status: 500, attempt: 3 }), { retry: true, delayMs: 1000 });
    assert.deepEqual(decideRetry({ ...base, status: undefined, networkError: true }), { retry: true, delayMs: 250 });
  });
  it('stops when the wait does not fit, attempts run out, or the failure is not transient', () => {
    assert.deepEqual(decideRetry({ ...base, status: 429, retryAfterMs: 60_000 }), { retry: false, retryAfterSeconds: 60 });
    assert.deepEqual(decideRetry({ ...base, status: 429, retryAfterMs: 1000, remainingMs: 900 }), { retry: false, retryAfterSeconds: 1 });
    assert.equal(decideRetry({ ...base, status: 503, attempt: 4 }).retry, false);
    for (const status of [400, 401, 403, 404]) assert.equal(decideRetry({ ...base, status }).retry, false, String(status));
  });
});
