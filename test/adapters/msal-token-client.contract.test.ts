/**
 * The TokenClient contract on the MSAL adapter (`shared/adapters/msal-token-client.ts`) talking to the Entra
 * stand-in over HTTPS (dev CA, NODE_EXTRA_CA_CERTS from test/run.mjs: run with `npm test -- <path>`). The user signs
 * in at the stand-in's authorize endpoint like a browser; the client credential comes through the credential port
 * (its fake, so the "credential down" case needs no vault here; the Key Vault provider has its own contract run).
 */
import { afterAll, beforeAll } from '@jest/globals';
import { startEntraStandIn, type EntraStandIn } from '../../dev/entra-standin';
import { createMsalTokenClient } from '../../shared/adapters/msal-token-client';
import { createProviderMetadataSource } from '../../shared/adapters/provider-metadata';
import { OIDC_SCOPES, parseConfig } from '../../shared/config';
import type { Logger } from '../../shared/ports';
import { describeTokenClientContract } from '../_support/contracts/token-client';
import { FakeCredentialProvider } from '../_support/fakes/fake-credential-provider';

const CLIENT_ID = '11111111-2222-4333-8444-555555555555';
const CLIENT_SECRET = 'stand-in-client-secret-value-0123456789';
const REDIRECT_URI = 'https://auth.contoso.example/auth/callback';
const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

let standIn: EntraStandIn;

beforeAll(async () => {
  standIn = await startEntraStandIn({
    clients: [{ clientId: CLIENT_ID, secrets: [CLIENT_SECRET], redirectUris: [REDIRECT_URI] }],
  });
});

afterAll(async () => {
  await standIn?.stop();
});

describeTokenClientContract('MSAL adapter on the Entra stand-in', async () => {
  standIn.clearFaults();
  standIn.setAccessTokenLifetime(3600);
  const config = parseConfig({
    AUTH_CLIENT_ID: CLIENT_ID,
    AUTH_AUTHORITY: standIn.authority,
    AUTH_TENANT_ID: standIn.tenantId,
    AUTH_REDIRECT_URI: REDIRECT_URI,
    AUTH_CLIENT_SECRET: CLIENT_SECRET,
    AUTH_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
    AUTH_SCOPES: 'User.Read',
  });
  const metadata = createProviderMetadataSource(config.discoveryUrl, { now: () => Date.now() });
  const credentials = new FakeCredentialProvider(CLIENT_SECRET);
  return {
    client: createMsalTokenClient({ config, metadata, credentials, logger: quiet, timeoutMs: 5_000 }),
    clientId: CLIENT_ID,
    redirectUri: REDIRECT_URI,
    scopes: config.scopes,
    now: () => standIn.now(),
    async authorize({ codeChallenge, nonce }) {
      const authorize = new URL((await metadata.get()).authorization_endpoint);
      const params = {
        client_id: CLIENT_ID,
        response_type: 'code',
        redirect_uri: REDIRECT_URI,
        scope: [...OIDC_SCOPES, ...config.scopes].join(' '),
        state: 'contract-state',
        nonce,
        code_challenge: codeChallenge,
        code_challenge_method: 'S256',
        response_mode: 'query',
      };
      for (const [name, value] of Object.entries(params)) authorize.searchParams.set(name, value);
      const callback = new URL(await standIn.signIn(authorize.href, standIn.users[0]!.username));
      const code = callback.searchParams.get('code');
      if (!code)
        throw new Error(`the stand-in sent no code: ${callback.searchParams.get('error') ?? 'no error either'}`);
      return code;
    },
    // Inside MSAL's five-minute renewal margin: every silent call goes to the token endpoint.
    shortLivedAccessTokens: () => standIn.setAccessTokenLifetime(60),
    revokeRefreshTokens: () => standIn.revokeRefreshTokens({ clientId: CLIENT_ID }),
    tokenEndpointDown: (down) => {
      if (down)
        standIn.injectFault(
          'token',
          { status: 500, body: '{"error":"server_error"}', contentType: 'application/json' },
          1_000,
        );
      else standIn.clearFaults();
    },
    credentialDown: (down) => credentials.setDown(down),
  };
});
