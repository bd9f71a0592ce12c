/** The ProviderMetadataSource contract on the static fake (its twin runs the discovery adapter on the stand-in). */
import { describeProviderMetadataContract } from '../../_support/contracts/provider-metadata';
import { FAKE_TENANT_ID, FakeIdentityProvider } from '../../_support/fakes/fake-identity-provider';

const provider = FakeIdentityProvider.create({
  clientId: 'contract-client',
  clock: { now: () => Date.UTC(2026, 0, 15) },
});

describeProviderMetadataContract('StaticMetadataSource', async () => (await provider).metadataSource(), {
  makeUnreachableSource: async () => {
    const source = (await provider).metadataSource();
    source.outage();
    return source;
  },
  expectedIssuer: () => `https://login.microsoftonline.com/${FAKE_TENANT_ID}/v2.0`,
});
