/**
 * The stand-ins the credential tests share: a managed-identity endpoint, Azurite, and a Key Vault that admits only
 * the app's user-assigned identity.
 */
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { startKeyVaultStandIn, type KeyVaultStandIn } from '../../dev/keyvault-standin';
import { startManagedIdentityStandIn, type ManagedIdentityStandIn } from '../../dev/managed-identity-standin';

export interface CredentialStack {
  azurite: AzuriteInstance;
  mi: ManagedIdentityStandIn;
  vault: KeyVaultStandIn;
  stop(): Promise<void>;
}

export async function startCredentialStack(appIdentity: string): Promise<CredentialStack> {
  const mi = await startManagedIdentityStandIn();
  // @azure/identity picks the managed-identity endpoint at its first token request, once per process: set it first.
  Object.assign(process.env, mi.env);
  const azurite = await startAzurite();
  const vault = await startKeyVaultStandIn({ trust: mi, allowedPrincipals: [mi.subjectFor(appIdentity)] });
  return {
    azurite,
    mi,
    vault,
    async stop() {
      await vault.stop();
      await azurite.stop();
      await mi.stop();
    },
  };
}
