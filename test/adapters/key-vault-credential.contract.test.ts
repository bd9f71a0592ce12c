/**
 * The ClientCredentialProvider contract on the Key Vault provider (`shared/adapters/credential.ts`, secret mode):
 * the real SecretClient and ManagedIdentityCredential against the Key Vault and managed-identity stand-ins, the
 * vault admitting only the app's user-assigned identity. Each test gets a secret name of its own, so providers
 * (and their caches) never share a value.
 */
import { afterAll, beforeAll } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { createClientCredentialProvider } from '../../shared/adapters/credential';
import type { Logger } from '../../shared/ports';
import { describeCredentialProviderContract } from '../_support/contracts/credential-provider';
import { startCredentialStack, type CredentialStack } from '../_support/credential-stack';

const APP_IDENTITY = '44444444-4444-4444-8444-444444444444';
const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
let stack: CredentialStack;
let names = 0;

beforeAll(async () => {
  stack = await startCredentialStack(APP_IDENTITY);
});

afterAll(async () => {
  await stack?.stop();
});

describeCredentialProviderContract('Key Vault provider on the stand-ins', async () => {
  stack.vault.clearFaults();
  const secretName = `contract-secret-${++names}`;
  const initialSecret = `initial~${randomUUID()}`;
  stack.vault.setSecret(secretName, initialSecret);
  const provider = createClientCredentialProvider(
    { kind: 'secret', source: 'key-vault', keyVaultUrl: stack.vault.url, secretName },
    {
      clientId: 'contract-client',
      logger: quiet,
      managedIdentityClientId: APP_IDENTITY,
      keyVault: { totalBudgetMs: 1_500, baseDelayMs: 50 },
    },
  );
  return {
    provider,
    initialSecret,
    rotate: (secret) => stack.vault.setSecret(secretName, secret),
    vaultDown: (down) => (down ? stack.vault.injectFault({ kind: 'down' }) : stack.vault.clearFaults()),
  };
});
