/** The TokenClient contract on the in-process fake provider (its twin runs the MSAL adapter on the Entra stand-in). */
import { describeTokenClientContract } from '../../_support/contracts/token-client';
import { FakeCredentialProvider } from '../../_support/fakes/fake-credential-provider';
import { FakeIdentityProvider } from '../../_support/fakes/fake-identity-provider';
import { AuthError } from '../../../shared/errors';

const CLIENT_ID = '11111111-2222-4333-8444-555555555555';
const REDIRECT_URI = 'https://auth.contoso.example/auth/callback';

describeTokenClientContract('FakeIdentityProvider', async () => {
  const now = Date.UTC(2026, 0, 15, 9, 0, 0);
  const provider = await FakeIdentityProvider.create({ clientId: CLIENT_ID, clock: { now: () => now } });
  const credentials = new FakeCredentialProvider('fake-client-secret');
  return {
    client: provider.tokenClient(credentials),
    clientId: CLIENT_ID,
    redirectUri: REDIRECT_URI,
    scopes: ['User.Read'],
    now: () => now,
    authorize: async (request) => provider.authorize({ ...request, redirectUri: REDIRECT_URI }),
    shortLivedAccessTokens: () => {
      provider.accessTokenLifetimeMs = 60_000;
    },
    revokeRefreshTokens: () => provider.revokeRefreshTokens(),
    tokenEndpointDown: (down) => {
      provider.outage = down
        ? new AuthError('upstream_unavailable', { logDetail: 'fake token endpoint down' })
        : undefined;
    },
    // The contract turns the credential off before first use, so nothing is cached yet.
    credentialDown: (down) => credentials.setDown(down),
  };
});
