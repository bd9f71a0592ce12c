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
import { startKeyVaultStandIn, type KeyVaultStandIn } from '../../dev/keyvault-standin';
import { startManagedIdentityStandIn, type ManagedIdentityStandIn } from '../../dev/managed-identity-standin';

const APP_IDENTITY = '44444444-4444-4444-8444-444444444444';
const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
let mi: ManagedIdentityStandIn;
let vault: KeyVaultStandIn;
let names = 0;

// The credential stack of test/_support/credential-stack.ts without its Azurite, which nothing here needs.
beforeAll(async () => {
  mi = await startManagedIdentityStandIn();
  // @azure/identity picks the managed-identity endpoint at its first token request, once per process: set it first.
  Object.assign(process.env, mi.env);
  vault = await startKeyVaultStandIn({ trust: mi, allowedPrincipals: [mi.subjectFor(APP_IDENTITY)] });
});

afterAll(async () => {
  await vault?.stop();
  await mi?.stop();
});

describeCredentialProviderContract('Key Vault provider on the stand-ins', async () => {
  vault.clearFaults();
  const secretName = `contract-secret-${++names}`;
  const initialSecret = `initial~${randomUUID()}`;
  vault.setSecret(secretName, initialSecret);
  const provider = createClientCredentialProvider(
    { kind: 'secret', source: 'key-vault', keyVaultUrl: vault.url, secretName },
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
    rotate: (secret) => vault.setSecret(secretName, secret),
    vaultDown: (down) => (down ? vault.injectFault({ kind: 'down' }) : vault.clearFaults()),
  };
});
