/**
 * The client credential MSAL presents to the token endpoint, chosen by `AUTH_CREDENTIAL`.
 *
 * Key Vault and managed-identity modes load their SDKs lazily (require inside the branch), so that functions
 * which never redeem a code (`/auth/login`) never load `@azure/keyvault-secrets` or `@azure/identity`.
 */
import type { CredentialConfig } from '../config';
import type { ClientCredential, ClientCredentialProvider, Logger } from '../ports';

export interface CredentialProviderOptions {
  clientId: string;
  logger?: Logger;
}

export function createClientCredentialProvider(
  config: CredentialConfig,
  _options: CredentialProviderOptions,
): ClientCredentialProvider {
  if (config.kind === 'secret' && config.source === 'setting') {
    const credential: ClientCredential = { kind: 'secret', clientSecret: config.clientSecret };
    return {
      get: async () => credential,
      // A secret from app settings cannot be re-read at run time: a rotation needs a restart.
      renewAfterRejection: async () => false,
    };
  }
  throw new Error(`AUTH_CREDENTIAL=${config.kind} with Key Vault is not available yet`);
}
