/**
 * The ProviderMetadataSource contract on the discovery adapter (`shared/adapters/provider-metadata.ts`) against the
 * Entra stand-in over HTTPS; the unreachable source asks a loopback port where nothing listens.
 */
import { afterAll, beforeAll } from '@jest/globals';
import { findFreePort } from '../../dev/azurite';
import { startEntraStandIn, type EntraStandIn } from '../../dev/entra-standin';
import { createProviderMetadataSource } from '../../shared/adapters/provider-metadata';
import { describeProviderMetadataContract } from '../_support/contracts/provider-metadata';

const clock = { now: () => Date.now() };
let standIn: EntraStandIn;

beforeAll(async () => {
  standIn = await startEntraStandIn({
    clients: [{ clientId: 'contract-client', redirectUris: ['https://auth.contoso.example/auth/callback'] }],
  });
});

afterAll(async () => {
  await standIn?.stop();
});

describeProviderMetadataContract(
  'discovery adapter on the Entra stand-in',
  () => createProviderMetadataSource(standIn.discoveryUrl, clock, 5_000),
  {
    makeUnreachableSource: async () => {
      const closed = await findFreePort();
      return createProviderMetadataSource(
        `https://127.0.0.1:${closed}/${standIn.tenantId}/v2.0/.well-known/openid-configuration`,
        clock,
        2_000,
      );
    },
    expectedIssuer: () => standIn.issuer,
  },
);
