/**
 * The secretless mode Entra accepts: a federated identity credential trusts only a USER-ASSIGNED managed identity
 * (Learn "Configure an application to trust a managed identity", prerequisites), with the token-exchange audience of
 * the cloud. So the configuration requires AUTH_MANAGED_IDENTITY_CLIENT_ID and fails closed naming it; the audience
 * follows the authority's cloud unless AUTH_TOKEN_EXCHANGE_AUDIENCE says otherwise; and the stand-ins refuse a
 * system-assigned identity's token at the token endpoint, where Entra refuses it.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { decodeJwt } from 'jose';
import { startEntraStandIn, type EntraStandIn } from '../../dev/entra-standin';
import { startManagedIdentityStandIn, type ManagedIdentityStandIn } from '../../dev/managed-identity-standin';
import { createClientCredentialProvider } from '../../shared/adapters/credential';
import { parseConfig, tokenExchangeAudienceFor } from '../../shared/config';
import { isAuthError } from '../../shared/errors';
import { configProblems } from '../_support/config-problems';

const APP = 'c0ffee00-1111-4222-8333-444455556666';
const USER_ASSIGNED = '7d6c5b4a-3928-4716-9504-a3b2c1d0e9f8';
const BASE = {
  AUTH_CLIENT_ID: APP,
  AUTH_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  AUTH_REDIRECT_URI: 'https://auth.example.com/auth/callback',
  AUTH_STORAGE_ACCOUNT_URL: 'https://st.table.core.windows.net/',
  AUTH_CREDENTIAL: 'managed-identity',
};

const problems = configProblems;

describe('configuration', () => {
  test('managed-identity without AUTH_MANAGED_IDENTITY_CLIENT_ID fails closed, naming the setting', () => {
    expect(problems(BASE)).toEqual([
      expect.stringMatching(/^AUTH_MANAGED_IDENTITY_CLIENT_ID is required when AUTH_CREDENTIAL is "managed-identity"/),
    ]);
    expect(problems({ ...BASE, AUTH_MANAGED_IDENTITY_CLIENT_ID: '  ' })).toEqual([
      expect.stringContaining('AUTH_MANAGED_IDENTITY_CLIENT_ID is required'),
    ]);
    expect(problems({ ...BASE, AUTH_MANAGED_IDENTITY_CLIENT_ID: 'my-identity' })).toEqual([
      expect.stringContaining('AUTH_MANAGED_IDENTITY_CLIENT_ID must be the client id'),
    ]);
    expect(problems({ ...BASE, AUTH_MANAGED_IDENTITY_CLIENT_ID: USER_ASSIGNED })).toEqual([]);
  });

  test.each([
    [undefined, 'api://AzureADTokenExchange'],
    ['https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47', 'api://AzureADTokenExchange'],
    ['https://contoso.ciamlogin.com/contoso.onmicrosoft.com', 'api://AzureADTokenExchange'],
    ['https://login.microsoftonline.us/72f988bf-86f1-41af-91ab-2d7cd011db47', 'api://AzureADTokenExchangeUSGov'],
    ['https://login.chinacloudapi.cn/72f988bf-86f1-41af-91ab-2d7cd011db47', 'api://AzureADTokenExchangeChina'],
    [
      'https://login.partner.microsoftonline.cn/72f988bf-86f1-41af-91ab-2d7cd011db47',
      'api://AzureADTokenExchangeChina',
    ],
  ])('authority %s: the token-exchange audience is %s', (authority, audience) => {
    const config = parseConfig({
      ...BASE,
      AUTH_MANAGED_IDENTITY_CLIENT_ID: USER_ASSIGNED,
      ...(authority ? { AUTH_AUTHORITY: authority } : {}),
    });
    expect(config.credential).toEqual({
      kind: 'managed-identity',
      managedIdentityClientId: USER_ASSIGNED,
      tokenExchangeAudience: audience,
    });
    expect(tokenExchangeAudienceFor(config.authority)).toBe(audience);
  });

  test('AUTH_TOKEN_EXCHANGE_AUDIENCE overrides the derived audience; a malformed one is refused', () => {
    const env = { ...BASE, AUTH_MANAGED_IDENTITY_CLIENT_ID: USER_ASSIGNED };
    expect(
      parseConfig({ ...env, AUTH_TOKEN_EXCHANGE_AUDIENCE: 'api://AzureADTokenExchangeUSGov' }).credential,
    ).toMatchObject({ tokenExchangeAudience: 'api://AzureADTokenExchangeUSGov' });
    for (const bad of ['AzureADTokenExchange', 'api://AzureADTokenExchange/.default', 'api://x?y=1']) {
      expect(problems({ ...env, AUTH_TOKEN_EXCHANGE_AUDIENCE: bad })).toEqual([
        expect.stringContaining('AUTH_TOKEN_EXCHANGE_AUDIENCE'),
      ]);
    }
  });
});

describe('the stand-ins refuse what Entra refuses', () => {
  let mi: ManagedIdentityStandIn;
  let standIn: EntraStandIn;

  beforeAll(async () => {
    mi = await startManagedIdentityStandIn();
    Object.assign(process.env, mi.env);
    standIn = await startEntraStandIn({
      clients: [
        {
          clientId: APP,
          redirectUris: [BASE.AUTH_REDIRECT_URI],
          // One record for the user-assigned identity, one naming the system-assigned principal: Entra honours only
          // the first kind.
          federated: [
            { issuer: mi.issuer, subject: mi.subjectFor(USER_ASSIGNED), publicKeyPem: mi.publicKeyPem },
            { issuer: mi.issuer, subject: mi.subject, publicKeyPem: mi.publicKeyPem },
          ],
        },
      ],
    });
  });

  afterAll(async () => {
    await standIn?.stop();
    await mi?.stop();
  });

  /** A managed-identity token straight from the identity endpoint, as App Service answers it. */
  async function identityToken(resource: string, clientId?: string): Promise<string> {
    const url = new URL(mi.endpoint);
    url.searchParams.set('api-version', '2019-08-01');
    url.searchParams.set('resource', resource);
    if (clientId) url.searchParams.set('client_id', clientId);
    const res = await fetch(url, { headers: { 'X-IDENTITY-HEADER': mi.identityHeader } });
    expect(res.status).toBe(200);
    return ((await res.json()) as { access_token: string }).access_token;
  }

  /** The token endpoint with the token as client assertion: `invalid_grant` means the client was authenticated. */
  async function presentAssertion(assertion: string): Promise<{ status: number; error: unknown; codes: unknown }> {
    const res = await fetch(standIn.tokenEndpoint, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: APP,
        refresh_token: 'unknown',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      }),
    });
    const body = (await res.json()) as { error?: unknown; error_codes?: unknown };
    return { status: res.status, error: body.error, codes: body.error_codes };
  }

  test('tokens name the identity resource (xms_mirid): a user-assigned identity, or the site itself', async () => {
    expect(String(decodeJwt(await identityToken('api://AzureADTokenExchange', USER_ASSIGNED)).xms_mirid)).toMatch(
      /\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\//,
    );
    expect(String(decodeJwt(await identityToken('api://AzureADTokenExchange')).xms_mirid)).toMatch(
      /\/providers\/Microsoft\.Web\/sites\//,
    );
  });

  test('the user-assigned identity authenticates the app; the system-assigned one is refused with invalid_client', async () => {
    const accepted = await presentAssertion(await identityToken('api://AzureADTokenExchange', USER_ASSIGNED));
    expect(accepted).toMatchObject({ status: 400, error: 'invalid_grant' });
    const refused = await presentAssertion(await identityToken('api://AzureADTokenExchange'));
    expect(refused).toMatchObject({ status: 401, error: 'invalid_client', codes: [70021] });
  });

  test('the adapter asks the named identity for the configured audience, and refuses to run without an identity', async () => {
    const provider = createClientCredentialProvider(
      {
        kind: 'managed-identity',
        managedIdentityClientId: USER_ASSIGNED,
        tokenExchangeAudience: 'api://AzureADTokenExchangeUSGov',
      },
      { clientId: APP },
    );
    await provider.get();
    expect(mi.requests.at(-1)).toMatchObject({ resource: 'api://AzureADTokenExchangeUSGov', clientId: USER_ASSIGNED });

    const before = mi.counters.tokenRequests;
    const without = createClientCredentialProvider({ kind: 'managed-identity' }, { clientId: APP });
    await expect(without.get()).rejects.toSatisfyAuthError();
    expect(mi.counters.tokenRequests).toBe(before);
  });
});

expect.extend({
  toSatisfyAuthError(received: unknown) {
    const pass = isAuthError(received, 'credential_unavailable');
    return { pass, message: () => `expected credential_unavailable, got ${String(received)}` };
  },
});

declare module 'expect' {
  interface Matchers<R> {
    toSatisfyAuthError(): R;
  }
}
