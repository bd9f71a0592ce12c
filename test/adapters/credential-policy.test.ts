/**
 * The pure decisions behind the Key Vault adapter: when the SDK's challenge-resource check is relaxed, which
 * token credential is used, how Retry-After is read, and when a failed attempt is retried.
 */
import { describe, expect, test } from '@jest/globals';
import {
  chooseAzureTokenCredential,
  decideRetry,
  isAzureVaultHost,
  parseRetryAfterMs,
  shouldDisableChallengeResourceVerification,
} from '../../shared/adapters/key-vault-policy';

describe('challenge-resource verification', () => {
  test('stays on for vaults under every Azure vault domain', () => {
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
      expect(shouldDisableChallengeResourceVerification(url)).toBe(false);
    }
  });

  test('is relaxed only for hosts outside them: loopback stand-ins, look-alikes', () => {
    for (const url of [
      'https://127.0.0.1:8443',
      'https://localhost:8443',
      'https://[::1]:8443',
      'https://vault.azure.net', // the bare domain is not a vault
      'https://contoso.vault.azure.net.evil.example',
      'https://contosovault.azure.net',
      'https://evilvault.azure.net.example',
    ]) {
      expect(shouldDisableChallengeResourceVerification(url)).toBe(true);
    }
    expect(isAzureVaultHost('a.vault.azure.net')).toBe(true);
    expect(isAzureVaultHost('xvault.azure.net')).toBe(false);
  });
});

describe('token credential choice', () => {
  test('uses managed identity when App Service / Functions announce it, with the user-assigned client id', () => {
    const env = { IDENTITY_ENDPOINT: 'http://127.0.0.1:4141/msi/token', IDENTITY_HEADER: 'h' };
    expect(chooseAzureTokenCredential(env, undefined)).toStrictEqual({
      kind: 'managed-identity',
      clientId: undefined,
      reason: 'IDENTITY_ENDPOINT and IDENTITY_HEADER are set (App Service / Functions)',
    });
    expect(chooseAzureTokenCredential(env, ' 0f0e ').kind).toBe('managed-identity');
    expect((chooseAzureTokenCredential(env, '0f0e') as { clientId?: string }).clientId).toBe('0f0e');
  });

  test('uses managed identity for MSI_ENDPOINT, Arc, Service Fabric, or an explicit client id (IMDS)', () => {
    expect(chooseAzureTokenCredential({ MSI_ENDPOINT: 'http://x' }, undefined).kind).toBe('managed-identity');
    expect(
      chooseAzureTokenCredential({ IDENTITY_ENDPOINT: 'http://x', IMDS_ENDPOINT: 'http://y' }, undefined).kind,
    ).toBe('managed-identity');
    expect(chooseAzureTokenCredential({ IDENTITY_SERVER_THUMBPRINT: 'ab' }, undefined).kind).toBe('managed-identity');
    expect(chooseAzureTokenCredential({}, 'client-id').kind).toBe('managed-identity');
  });

  test('falls back to the developer sign-in only when no managed identity is present', () => {
    expect(chooseAzureTokenCredential({}, undefined).kind).toBe('developer');
    expect(chooseAzureTokenCredential({ IDENTITY_ENDPOINT: 'http://x' }, '  ').kind).toBe('developer');
  });
});

describe('Retry-After', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  test('reads delay-seconds, HTTP-dates and the Azure ms headers', () => {
    expect(parseRetryAfterMs({ retryAfter: '3' }, now)).toBe(3000);
    expect(parseRetryAfterMs({ retryAfter: 'Wed, 01 Jan 2025 00:00:10 GMT' }, now)).toBe(10_000);
    expect(parseRetryAfterMs({ retryAfter: 'Tue, 31 Dec 2024 00:00:00 GMT' }, now)).toBe(0);
    expect(parseRetryAfterMs({ retryAfter: '3', retryAfterMs: '250' }, now)).toBe(250);
    expect(parseRetryAfterMs({ retryAfter: 'soon' }, now)).toBe(undefined);
    expect(parseRetryAfterMs({}, now)).toBe(undefined);
  });
});

describe('retry decision', () => {
  const base = {
    networkError: false,
    retryAfterMs: undefined,
    attempt: 1,
    maxAttempts: 4,
    remainingMs: 5000,
    baseDelayMs: 250,
  };
  test('retries throttling and transient faults while the wait fits the budget', () => {
    expect(decideRetry({ ...base, status: 429, retryAfterMs: 1000 })).toStrictEqual({ retry: true, delayMs: 1000 });
    expect(decideRetry({ ...base, status: 503 })).toStrictEqual({ retry: true, delayMs: 250 });
    expect(decideRetry({ ...base, status: 500, attempt: 3 })).toStrictEqual({ retry: true, delayMs: 1000 });
    expect(decideRetry({ ...base, status: undefined, networkError: true })).toStrictEqual({
      retry: true,
      delayMs: 250,
    });
  });
  test('stops when the wait does not fit, attempts run out, or the failure is not transient', () => {
    expect(decideRetry({ ...base, status: 429, retryAfterMs: 60_000 })).toStrictEqual({
      retry: false,
      retryAfterSeconds: 60,
    });
    expect(decideRetry({ ...base, status: 429, retryAfterMs: 1000, remainingMs: 900 })).toStrictEqual({
      retry: false,
      retryAfterSeconds: 1,
    });
    expect(decideRetry({ ...base, status: 503, attempt: 4 }).retry).toBe(false);
    for (const status of [400, 401, 403, 404]) expect(decideRetry({ ...base, status }).retry).toBe(false);
  });
});
