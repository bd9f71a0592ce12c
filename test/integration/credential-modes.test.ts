/**
 * `AUTH_CREDENTIAL=certificate` (Key Vault certificate as PEM and as PFX) and `AUTH_CREDENTIAL=managed-identity`
 * (federated assertion from the managed identity, no secret anywhere), end to end through the real handlers,
 * Azurite, the Entra stand-in, the Key Vault stand-in and the managed-identity stand-in with the real SDK clients.
 *
 * One managed-identity stand-in for the file, its env set before the first token request. A test that needs a
 * cold managed-identity token cache uses a user-assigned client id no other test used.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';
import type { AzuriteInstance } from '../../dev/azurite';
import type { StandInClient } from '../../dev/entra-standin';
import type { KeyVaultStandIn } from '../../dev/keyvault-standin';
import type { ManagedIdentityStandIn } from '../../dev/managed-identity-standin';
import { stateRowRef } from '../../shared/core/keys';
import { APP_ORIGIN, CLIENT_ID, Harness, PUBLIC_ORIGIN, REDIRECT_URI } from '../_support/harness';
import { startCredentialStack, type CredentialStack } from '../_support/credential-stack';
import { tableRows } from '../_support/tables';

const CERT_NAME = 'auth-client-certificate';
const APP_IDENTITY = '55555555-5555-4555-8555-555555555555';

let azurite: AzuriteInstance;
let mi: ManagedIdentityStandIn;
let vault: KeyVaultStandIn;
const harnesses: Harness[] = [];
/** Private key PEMs and vault values: none may reach a log. */
const secretTexts = new Set<string>();

interface TestCertificate {
  certPem: string;
  keyPem: string;
  /** Base64 PKCS#12 as Key Vault serves it (empty password). */
  pfxBase64: string;
}

function makeCertificate(commonName: string): TestCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 24 * 3600 * 1000);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.sign(forgeKey, forge.md.sha256.create());
  const certPem = forge.pki.certificateToPem(cert);
  const p12 = forge.pkcs12.toPkcs12Asn1(forgeKey, [cert], '', { algorithm: '3des' });
  const pfxBase64 = forge.util.encode64(forge.asn1.toDer(p12).getBytes());
  secretTexts.add(keyPem);
  secretTexts.add(pfxBase64);
  return { certPem, keyPem, pfxBase64 };
}

async function start(env: Record<string, string>, client: Partial<StandInClient>): Promise<Harness> {
  const h = await Harness.start({
    azurite,
    env: { AUTH_CLIENT_SECRET: '', ...env },
    standIn: {
      clients: [
        {
          clientId: CLIENT_ID,
          secrets: [],
          redirectUris: [REDIRECT_URI, `${PUBLIC_ORIGIN}/`, `${APP_ORIGIN}/`],
          ...client,
        },
      ],
    },
    overrides: { providerTimeoutMs: 5000 },
  });
  harnesses.push(h);
  return h;
}

const certificateEnv = (): Record<string, string> => ({
  AUTH_CREDENTIAL: 'certificate',
  AUTH_KEY_VAULT_URL: vault.url,
  AUTH_MANAGED_IDENTITY_CLIENT_ID: APP_IDENTITY,
});

function assertNoLeaks(h: Harness): void {
  expect(h.leakedSecrets()).toStrictEqual([]);
  const text = h.logs.join('\n');
  for (const value of secretTexts) {
    expect(!text.includes(value)).toBeTruthy();
    // Any 64-character line of a key's base64 body (a partial dump would show one).
    for (const line of value.split('\n').filter((l) => l.length === 64)) expect(!text.includes(line)).toBeTruthy();
  }
  expect(!/eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(text)).toBeTruthy();
}

let stack: CredentialStack | undefined;

beforeAll(async () => {
  stack = await startCredentialStack(APP_IDENTITY);
  ({ azurite, mi, vault } = stack);
});

afterAll(async () => {
  for (const h of harnesses) await h.stop();
  await stack?.stop();
});

describe('AUTH_CREDENTIAL=certificate', () => {
  test('PEM certificate from the vault: signs in end to end with a client assertion (x5t#S256), one vault read', async () => {
    const certificate = makeCertificate('entra-signin-pem');
    vault.setSecret(CERT_NAME, `${certificate.keyPem}${certificate.certPem}`, 'application/x-pem-file');
    const h = await start(certificateEnv(), { certificates: [certificate.certPem] });
    const reads = vault.counters.secretReads;
    expect((await h.newBrowser().signIn()).status).toBe(302);
    expect((await h.newBrowser().signIn()).status).toBe(302);
    expect(vault.counters.secretReads - reads).toBe(1);
    expect(h.logs.some((l) => l.includes('client credential loaded') && l.includes('thumbprintSha256'))).toBeTruthy();
    assertNoLeaks(h);
  });

  test('PFX certificate (application/x-pkcs12, as Key Vault serves it by default): signs in end to end', async () => {
    const certificate = makeCertificate('entra-signin-pfx');
    vault.setSecret(CERT_NAME, certificate.pfxBase64, 'application/x-pkcs12');
    const h = await start(certificateEnv(), { certificates: [certificate.certPem] });
    expect((await h.newBrowser().signIn()).status).toBe(302);
    assertNoLeaks(h);
  });

  test('a certificate Entra does not know: 503 credential_unavailable, the reason logged, no key in the log', async () => {
    const known = makeCertificate('entra-signin-known');
    const unknown = makeCertificate('entra-signin-unknown');
    vault.setSecret(CERT_NAME, `${unknown.keyPem}${unknown.certPem}`, 'application/x-pem-file');
    const h = await start(certificateEnv(), { certificates: [known.certPem] });
    const response = await h.newBrowser().signIn();
    expect(response.status).toBe(503);
    expect(response.body.includes('credential_unavailable')).toBeTruthy();
    expect(h.logs.join('\n').includes('invalid_client')).toBeTruthy();
    assertNoLeaks(h);
  });

  test('/auth/login makes no vault call in certificate mode', async () => {
    const certificate = makeCertificate('entra-signin-login');
    vault.setSecret(CERT_NAME, `${certificate.keyPem}${certificate.certPem}`, 'application/x-pem-file');
    const h = await start(certificateEnv(), { certificates: [certificate.certPem] });
    const requests = vault.counters.requests;
    expect((await h.newBrowser().startSignIn()).response.status).toBe(302);
    expect(vault.counters.requests).toBe(requests);
  });
});

describe('AUTH_CREDENTIAL=managed-identity (secretless)', () => {
  const federatedFor = (clientId: string) => ({
    issuer: mi.issuer,
    subject: mi.subjectFor(clientId),
    publicKeyPem: mi.publicKeyPem,
  });

  test('signs in end to end with a federated assertion from the managed identity; no vault, no secret', async () => {
    const vaultRequests = vault.counters.requests;
    const h = await start(
      { AUTH_CREDENTIAL: 'managed-identity', AUTH_MANAGED_IDENTITY_CLIENT_ID: APP_IDENTITY },
      { federated: [federatedFor(APP_IDENTITY)] },
    );
    expect((await h.newBrowser().signIn()).status).toBe(302);
    expect((await h.newBrowser().signIn()).status).toBe(302);
    expect(vault.counters.requests).toBe(vaultRequests);
    expect(
      mi.requests.some((r) => r.resource === 'api://AzureADTokenExchange' && r.clientId === APP_IDENTITY),
    ).toBeTruthy();
    assertNoLeaks(h);
  });

  test('a federated credential for another subject: 500 client_credential_rejected (AADSTS70021) with the reason logged', async () => {
    const h = await start(
      { AUTH_CREDENTIAL: 'managed-identity', AUTH_MANAGED_IDENTITY_CLIENT_ID: APP_IDENTITY },
      { federated: [{ ...federatedFor(APP_IDENTITY), subject: '99999999-9999-4999-8999-999999999999' }] },
    );
    const response = await h.newBrowser().signIn();
    expect(response.status).toBe(500);
    expect(response.body.includes('client_credential_rejected')).toBeTruthy();
    expect(h.logs.join('\n').includes('"aadsts":"70021"')).toBeTruthy();
    assertNoLeaks(h);
  });

  test('identity endpoint down with no token cached: 503 + Retry-After, state kept, no code redeemed; retry works', async () => {
    const coldIdentity = '66666666-6666-4666-8666-666666666666'; // never asked for before: a cold token cache
    const h = await start(
      { AUTH_CREDENTIAL: 'managed-identity', AUTH_MANAGED_IDENTITY_CLIENT_ID: coldIdentity },
      { federated: [federatedFor(coldIdentity)] },
    );
    const browser = h.newBrowser();
    const { authorizeUrl, state } = await browser.startSignIn();
    const callbackUrl = await browser.signInAtProvider(authorizeUrl);
    const redemptions = h.standIn.counters.codeRedemptions;
    mi.injectFault({ kind: 'status', status: 503 });
    let failed;
    try {
      failed = await browser.callback(callbackUrl);
    } finally {
      mi.clearFaults();
    }
    expect(failed.status).toBe(503);
    expect(failed.body.includes('credential_unavailable')).toBeTruthy();
    expect(failed.headers['retry-after'] ?? '').toMatch(/^\d+$/);
    expect(h.standIn.counters.codeRedemptions).toBe(redemptions);
    const rows = await tableRows(azurite.connectionString, 'AuthState');
    expect(rows.some((r) => r.rowKey === stateRowRef(state).rowKey)).toBeTruthy();
    expect((await browser.callback(callbackUrl)).status).toBe(302);
    assertNoLeaks(h);
  });
});
