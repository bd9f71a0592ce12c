/**
 * The client credential MSAL presents to the token endpoint, chosen by `AUTH_CREDENTIAL`.
 *
 * - `secret` from the `AUTH_CLIENT_SECRET` setting: local development only; fixed for the process.
 * - `secret` from Key Vault (`AUTH_KEY_VAULT_URL` + `AUTH_CLIENT_SECRET_NAME`): read once, cached in memory,
 *   re-read once per rejected value when Entra answers `invalid_client` (rotation).
 * - `certificate`: the Key Vault certificate's key and chain, read through its backing secret, cached and renewed
 *   the same way.
 * - `managed-identity`: no secret anywhere; MSAL's `clientAssertion` is a token of the app's user-assigned managed
 *   identity for the cloud's token-exchange audience (`api://AzureADTokenExchange` in the public cloud), trusted by
 *   a federated identity credential on the app registration.
 *
 * Lazy loading: the Key Vault and identity SDKs (and node-forge) are `require`d inside the branches that need
 * them, and only on the first `get()`, so that a function that never redeems a code (`/auth/login`) never
 * loads them even when the provider is built at start-up. `test/adapters/credential-lazy.test.ts` checks it.
 *
 * Contract for the caller (the sign-in flow): call `get()` before consuming the state row, so a vault or
 * identity outage answers 503 with Retry-After and leaves the sign-in retryable; on `invalid_client` call
 * `renewAfterRejection(rejected)` and retry once when it resolves true.
 */
import type { TokenCredential } from '@azure/core-auth';
import type { CredentialConfig, Environment } from '../config';
import { AuthError } from '../errors';
import type { ClientCredential, ClientCredentialProvider, Clock, Logger } from '../ports';
import { CredentialCache } from './credential-cache';
import { chooseAzureTokenCredential } from './key-vault-policy';

export interface CredentialProviderOptions {
  clientId: string;
  logger?: Logger;
  clock?: Clock;
  /** Where the managed-identity environment is looked up (default `process.env`). */
  env?: Environment;
  /** Key Vault read limits. Defaults: 5 s per call, 5 s in total, 4 attempts, 250 ms first back-off. */
  keyVault?: { callTimeoutMs?: number; totalBudgetMs?: number; maxAttempts?: number; baseDelayMs?: number };
  /**
   * Cache behaviour. `refreshAfterMs`: re-read in the background once the copy is this old (default: never; a
   * rotation is picked up through `renewAfterRejection`). `failureCooldownMs`: after a failed read, answer 503 at
   * once for this long instead of reading again (default 2 s).
   */
  cache?: { refreshAfterMs?: number; failureCooldownMs?: number };
  /** Upper bound of one managed-identity token request (default 5 s). */
  tokenTimeoutMs?: number;
  /**
   * User-assigned managed identity (client id) for Key Vault access in the secret and certificate modes. Falls
   * back to `AUTH_MANAGED_IDENTITY_CLIENT_ID` in `env`, since `CredentialConfig` carries it only for the
   * managed-identity mode.
   */
  managedIdentityClientId?: string;
  /** Use this credential for Key Vault instead of the one chosen from the environment (other hosts, tests). */
  tokenCredential?: TokenCredential;
}

const DEFAULTS = {
  callTimeoutMs: 5000,
  totalBudgetMs: 5000,
  maxAttempts: 4,
  baseDelayMs: 250,
  failureCooldownMs: 2000,
  tokenTimeoutMs: 5000,
} as const;

const systemClock: Clock = { now: () => Date.now() };

export function createClientCredentialProvider(
  config: CredentialConfig,
  options: CredentialProviderOptions,
): ClientCredentialProvider {
  switch (config.kind) {
    case 'secret':
      if (config.source === 'setting') {
        const credential: ClientCredential = { kind: 'secret', clientSecret: config.clientSecret };
        return {
          get: async () => credential,
          // A secret from app settings cannot be re-read at run time: a rotation needs a restart.
          renewAfterRejection: async () => false,
        };
      }
      return keyVaultProvider(config.keyVaultUrl, config.secretName, 'secret', options);
    case 'certificate':
      return keyVaultProvider(config.keyVaultUrl, config.certificateName, 'certificate', options);
    case 'managed-identity':
      return managedIdentityProvider(config.managedIdentityClientId, config.tokenExchangeAudience, options);
  }
}

type VaultMaterial = {
  credential: ClientCredential & { kind: 'secret' | 'certificate' };
  facts: Record<string, unknown>;
};

function keyVaultProvider(
  vaultUrl: string,
  name: string,
  mode: 'secret' | 'certificate',
  options: CredentialProviderOptions,
): ClientCredentialProvider {
  const clock = options.clock ?? systemClock;
  const host = new URL(vaultUrl).host;
  const description = `Key Vault ${host} ${mode === 'secret' ? 'secret' : 'certificate'} "${name}"`;
  let reader: import('./key-vault-secrets').KeyVaultSecretReader | undefined;

  // Built on the first read, not here: this is where the SDKs load.
  const getReader = (): import('./key-vault-secrets').KeyVaultSecretReader => {
    if (reader) return reader;
    const choice = chooseAzureTokenCredential(options.env ?? process.env, managedIdentityClientIdFrom(options));
    let tokenCredential = options.tokenCredential;
    if (!tokenCredential) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const identity = require('./credential-azure-identity') as typeof import('./credential-azure-identity');
      tokenCredential = identity.createAzureTokenCredential(choice, options.tokenTimeoutMs ?? DEFAULTS.tokenTimeoutMs);
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const keyVault = require('./key-vault-secrets') as typeof import('./key-vault-secrets');
    reader = keyVault.createKeyVaultSecretReader({
      vaultUrl,
      credential: tokenCredential,
      clock,
      callTimeoutMs: options.keyVault?.callTimeoutMs ?? DEFAULTS.callTimeoutMs,
      totalBudgetMs: options.keyVault?.totalBudgetMs ?? DEFAULTS.totalBudgetMs,
      maxAttempts: options.keyVault?.maxAttempts ?? DEFAULTS.maxAttempts,
      baseDelayMs: options.keyVault?.baseDelayMs ?? DEFAULTS.baseDelayMs,
    });
    options.logger?.info('Key Vault client created', {
      vault: host,
      tokenCredential: options.tokenCredential ? 'injected' : choice.kind,
      tokenCredentialReason: options.tokenCredential ? undefined : choice.reason,
      challengeResourceVerification: reader.challengeResourceVerificationDisabled
        ? 'relaxed (vault outside the Azure vault domains)'
        : 'on',
    });
    return reader;
  };

  const fetch = async (): Promise<VaultMaterial> => {
    const secret = await getReader().read(name);
    if (mode === 'secret') {
      return { credential: { kind: 'secret', clientSecret: secret.value }, facts: { version: secret.version } };
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const certificates = require('./credential-certificate') as typeof import('./credential-certificate');
    try {
      const { credential, facts } = certificates.certificateCredentialFromSecret(secret.value, secret.contentType);
      return { credential, facts: { version: secret.version, ...facts } };
    } catch (cause) {
      throw new AuthError('credential_unavailable', {
        retryAfterSeconds: 30,
        logDetail: `${description} (version ${secret.version ?? '?'}): ${cause instanceof certificates.CertificateFormatError ? cause.message : 'unreadable'}`,
        cause,
      });
    }
  };

  const cache = new CredentialCache<VaultMaterial>({
    description,
    fetch,
    isSame: (a, b) => sameCredential(a.credential, b.credential),
    describe: (material) => material.facts,
    clock,
    logger: options.logger,
    refreshAfterMs: options.cache?.refreshAfterMs,
    failureCooldownMs: options.cache?.failureCooldownMs ?? DEFAULTS.failureCooldownMs,
  });

  return {
    get: async () => (await cache.get()).credential,
    renewAfterRejection: async (rejected) => {
      if (rejected.kind !== mode) return false;
      // The material compared is the credential itself; the facts are log decoration.
      return cache.renewAfterRejection({ credential: rejected as VaultMaterial['credential'], facts: {} });
    },
  };
}

function managedIdentityProvider(
  clientId: string | undefined,
  audience: string | undefined,
  options: CredentialProviderOptions,
): ClientCredentialProvider {
  const clock = options.clock ?? systemClock;
  let source: import('./credential-azure-identity').AssertionSource | undefined;
  const getSource = (): import('./credential-azure-identity').AssertionSource => {
    if (source) return source;
    // shared/config.ts refuses the mode without a user-assigned identity; a config built by hand fails the same way
    // here (a system-assigned identity's token is never a credential Entra accepts), and nothing is requested.
    if (!clientId?.trim()) {
      throw new AuthError('credential_unavailable', {
        logDetail:
          'managed-identity credential without AUTH_MANAGED_IDENTITY_CLIENT_ID: a federated credential trusts only a user-assigned identity',
      });
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const identity = require('./credential-azure-identity') as typeof import('./credential-azure-identity');
    source = identity.createManagedIdentityAssertionSource({
      credential: options.tokenCredential ?? identity.createManagedIdentityCredential(clientId),
      clock,
      timeoutMs: options.tokenTimeoutMs ?? DEFAULTS.tokenTimeoutMs,
      audience: audience ?? 'api://AzureADTokenExchange',
    });
    options.logger?.info('managed identity client assertion configured', {
      managedIdentity: 'user-assigned',
      audience: audience ?? 'api://AzureADTokenExchange',
    });
    return source;
  };
  return {
    get: async () => {
      const assertions = getSource();
      // Fetch (or reuse) the token now, before the caller consumes the sign-in state: an identity outage then
      // answers 503 and the user can retry. MSAL's later callback is answered from the same cache.
      await assertions.getAssertion().catch((error: unknown) => {
        if (error instanceof AuthError)
          options.logger?.error('client credential unavailable', { reason: error.logDetail });
        throw error;
      });
      return { kind: 'assertion', getAssertion: () => assertions.getAssertion() };
    },
    // A federated assertion is minted fresh from the managed identity; there is nothing older to replace.
    renewAfterRejection: async () => false,
  };
}

function managedIdentityClientIdFrom(options: CredentialProviderOptions): string | undefined {
  return (
    options.managedIdentityClientId?.trim() ||
    (options.env ?? process.env).AUTH_MANAGED_IDENTITY_CLIENT_ID?.trim() ||
    undefined
  );
}

/** Same credential material: the secret value, or the certificate thumbprint. */
function sameCredential(a: ClientCredential, b: ClientCredential): boolean {
  if (a.kind === 'secret' && b.kind === 'secret') return a.clientSecret === b.clientSecret;
  if (a.kind === 'certificate' && b.kind === 'certificate')
    return a.thumbprintSha256.toUpperCase() === b.thumbprintSha256.toUpperCase();
  return false;
}
