/**
 * Errors a person can act on (issue 15 §4): Entra's refusals of a misconfigured deployment are not "the provider
 * is unavailable", do not re-read Key Vault, and are logged with their AADSTS number and Entra's correlation and
 * trace ids — never the free-text description. Entra's throttling answers 503 with its own Retry-After. The client
 * secret comes from the Key Vault stand-in through the real @azure/identity + @azure/keyvault-secrets clients.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CLIENT_ID, CLIENT_SECRET, Harness, PUBLIC_ORIGIN, REDIRECT_URI } from '../_support/harness';
import { startCredentialStack, type CredentialStack } from '../_support/credential-stack';

const APP_IDENTITY = '45454545-4545-4545-8545-454545454545';
const SECRET_NAME = 'auth-client-secret';
/** Text only Entra's error_description carries: it must never reach a log. */
const FREE_TEXT = 'FREE-TEXT-that-may-quote-request-values';

let stack: CredentialStack;
let h: Harness;
beforeAll(async () => {
  stack = await startCredentialStack(APP_IDENTITY);
  stack.vault.setSecret(SECRET_NAME, CLIENT_SECRET);
  h = await Harness.start({
    azurite: stack.azurite,
    env: { AUTH_CLIENT_SECRET: '', AUTH_KEY_VAULT_URL: stack.vault.url, AUTH_MANAGED_IDENTITY_CLIENT_ID: APP_IDENTITY },
    standIn: {
      clients: [{ clientId: CLIENT_ID, secrets: [CLIENT_SECRET], redirectUris: [REDIRECT_URI, `${PUBLIC_ORIGIN}/`] }],
    },
    overrides: { providerTimeoutMs: 5000 },
  });
  // Warm the credential: one vault read, as any instance makes once.
  expect((await h.newBrowser().signIn()).status).toBe(302);
});
afterAll(async () => {
  await h?.stop();
  await stack?.stop();
});

/** A sign-in whose code redemption meets `fault`; the callback's response and what it cost. */
async function callbackMeeting(fault: Parameters<Harness['standIn']['injectFault']>[1]) {
  const browser = h.newBrowser();
  const { authorizeUrl } = await browser.startSignIn();
  const callbackUrl = await browser.signInAtProvider(authorizeUrl);
  const reads = stack.vault.counters.secretReads;
  const redemptions = h.standIn.counters.token.authorization_code ?? 0;
  const logsFrom = h.logs.length;
  h.standIn.injectFault('token', fault);
  try {
    const response = await browser.callback(callbackUrl);
    return {
      response,
      vaultReads: stack.vault.counters.secretReads - reads,
      tokenPosts: (h.standIn.counters.token.authorization_code ?? 0) - redemptions,
      log: h.logs.slice(logsFrom).join('\n'),
    };
  } finally {
    h.standIn.clearFaults();
  }
}

describe('configuration mistakes Entra reports at code redemption', () => {
  test.each([
    [
      'redirect URI registered under "Single-page application"',
      9002327,
      'invalid_request',
      400,
      'app_registration_mismatch',
    ],
    [
      'app not found in the tenant (wrong client id, or not provisioned there)',
      700016,
      'unauthorized_client',
      400,
      'app_registration_mismatch',
    ],
    [
      'redirect URI registered under "Mobile and desktop" (public client)',
      700025,
      'invalid_client',
      401,
      'app_registration_mismatch',
    ],
    ['scopes of two resources in one token request', 28000, 'invalid_scope', 400, 'app_registration_mismatch'],
    ['redirect URI not registered', 50011, 'invalid_request', 400, 'app_registration_mismatch'],
    ['federated credential does not match', 70021, 'invalid_client', 401, 'client_credential_rejected'],
    ['admin consent required', 65001, 'invalid_grant', 400, 'consent_required'],
  ] as const)(
    '%s (AADSTS%i): a clear code, no retry, no Key Vault re-read, AADSTS + ids logged, no free text',
    async (_name, aadsts, error, status, code) => {
      const met = await callbackMeeting({ aadsts, error, status, description: FREE_TEXT });
      expect(met.response.body).toContain(code);
      expect(met.response.status).not.toBe(502);
      expect(met.response.status).not.toBe(503);
      expect(met.vaultReads).toBe(0);
      expect(met.tokenPosts).toBe(1);
      expect(met.log).toContain(`"aadsts":"${aadsts}"`);
      expect(met.log).toMatch(/"correlationId":"[0-9a-f-]{36}"/);
      expect(met.log).toMatch(/"traceId":"[0-9a-f-]{36}"/);
      expect(met.log).not.toContain(FREE_TEXT);
      expect(h.leakedSecrets()).toEqual([]);
    },
  );

  test('an unknown 4xx refusal is provider_rejected (502) with its AADSTS logged, not "unavailable"', async () => {
    const met = await callbackMeeting({ aadsts: 90009, error: 'invalid_request', status: 400, description: FREE_TEXT });
    expect(met.response.status).toBe(502);
    expect(met.response.body).toContain('provider_rejected');
    expect(met.log).toContain('"aadsts":"90009"');
    expect(met.log).not.toContain(FREE_TEXT);
  });

  test('a secret Entra no longer accepts (AADSTS7000215) re-reads Key Vault once — a fix there is picked up without a restart', async () => {
    const met = await callbackMeeting({
      aadsts: 7000215,
      error: 'invalid_client',
      status: 401,
      description: FREE_TEXT,
    });
    expect(met.response.body).toContain('credential_unavailable');
    expect(met.vaultReads).toBeLessThanOrEqual(1);
    expect(met.log).toContain('"aadsts":"7000215"');
  });
});

describe("Entra's throttling", () => {
  test('429 + Retry-After at code redemption → 503 upstream_throttled with the same Retry-After', async () => {
    const met = await callbackMeeting({
      status: 429,
      body: '{"error":"temporarily_unavailable"}',
      contentType: 'application/json',
      headers: { 'Retry-After': '47' },
    });
    expect(met.response.status).toBe(503);
    expect(met.response.body).toContain('upstream_throttled');
    expect(met.response.headers['retry-after']).toBe('47');
    expect(met.vaultReads).toBe(0);
  });
});

describe('errors Entra sends back to the callback', () => {
  test('only the AADSTS number of error_description is logged (after the state is validated)', async () => {
    const browser = h.newBrowser();
    const { state } = await browser.startSignIn();
    const logsFrom = h.logs.length;
    const description = `AADSTS50105: ${FREE_TEXT} is not assigned to a role for the application.`;
    const response = await browser.call('callback', {
      url: `/auth/callback?error=access_denied&error_description=${encodeURIComponent(description)}&state=${encodeURIComponent(state)}`,
    });
    expect(response.status).toBe(302);
    expect(response.headers.location).toContain('auth_error=access_denied');
    const log = h.logs.slice(logsFrom).join('\n');
    expect(log).toContain('"aadsts":"50105"');
    expect(log).not.toContain(FREE_TEXT);
  });
});
