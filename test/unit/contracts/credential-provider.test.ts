/** The ClientCredentialProvider contract on the fake (its twin runs the Key Vault provider on the stand-ins). */
import { describeCredentialProviderContract } from '../../_support/contracts/credential-provider';
import { FakeCredentialProvider } from '../../_support/fakes/fake-credential-provider';

describeCredentialProviderContract('FakeCredentialProvider', async () => {
  const provider = new FakeCredentialProvider('initial-secret');
  return {
    provider,
    initialSecret: 'initial-secret',
    rotate: (secret) => provider.setVaultValue(secret),
    vaultDown: (down) => provider.setDown(down),
  };
});
