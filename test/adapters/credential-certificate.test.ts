/**
 * `AUTH_CREDENTIAL=certificate`: the Key Vault certificate read through its backing secret, as PKCS#12 (base64
 * PFX, Key Vault's default) and as PEM, through the real SDK clients and the stand-ins.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { startKeyVaultStandIn, type KeyVaultStandIn } from '../../dev/keyvault-standin';
import { startManagedIdentityStandIn, type ManagedIdentityStandIn } from '../../dev/managed-identity-standin';
import { createClientCredentialProvider } from '../../shared/adapters/credential';
import { certificateCredentialFromSecret, CertificateFormatError } from '../../shared/adapters/credential-certificate';
import { isAuthError, type AuthError } from '../../shared/errors';
import type { ClientCredential, Logger } from '../../shared/ports';

const NAME = 'auth-client-certificate';
const logLines: string[] = [];
const logger: Logger = {
  info: (m, p) => logLines.push(`info ${m} ${JSON.stringify(p ?? {})}`),
  warn: (m, p) => logLines.push(`warn ${m} ${JSON.stringify(p ?? {})}`),
  error: (m, p) => logLines.push(`error ${m} ${JSON.stringify(p ?? {})}`),
};

interface TestCertificate {
  certPem: string;
  keyPem: string;
  caPem: string;
  /** Hex SHA-256 of the leaf DER, computed independently of the code under test. */
  thumbprint: string;
  /** Key Vault style: empty password, encrypted bags, MAC. */
  pfxBase64: string;
  /** No password at all (openssl -nodes -passout pass: style varies; forge's null password). */
  pfxNoPasswordBase64: string;
  pemBundle: string;
}

/** A leaf signed by a small CA (so the chain has two certificates), as Key Vault would export it. */
function makeCertificate(cn: string): TestCertificate {
  const rsa = () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    return { pem, key: forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey };
  };
  const build = (
    subject: string,
    key: forge.pki.rsa.PrivateKey,
    issuer: forge.pki.Certificate | undefined,
    signer: forge.pki.rsa.PrivateKey,
    ca: boolean,
  ) => {
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
    cert.serialNumber = ca ? '01' : '02';
    cert.validity.notBefore = new Date(Date.now() - 3600_000);
    cert.validity.notAfter = new Date(Date.now() + 86_400_000);
    cert.setSubject([{ name: 'commonName', value: subject }]);
    cert.setIssuer(issuer ? issuer.subject.attributes : [{ name: 'commonName', value: subject }]);
    cert.setExtensions([{ name: 'basicConstraints', cA: ca }]);
    cert.sign(signer, forge.md.sha256.create());
    return cert;
  };
  const caKey = rsa();
  const ca = build(`${cn} CA`, caKey.key, undefined, caKey.key, true);
  const leafKey = rsa();
  const leaf = build(cn, leafKey.key, ca, caKey.key, false);
  const certPem = forge.pki.certificateToPem(leaf);
  const caPem = forge.pki.certificateToPem(ca);
  // Key Vault exports PFX with the empty password (3DES-encrypted bags and a MAC).
  const pfx = (password: string | null) =>
    forge.util.encode64(
      forge.asn1
        .toDer(forge.pkcs12.toPkcs12Asn1(leafKey.key, [leaf, ca], password as string, { algorithm: '3des' }))
        .getBytes(),
    );
  const pfxBase64 = pfx('');
  const pfxNoPasswordBase64 = pfx(null);
  const thumbprint = new X509Certificate(certPem).fingerprint256.replace(/:/g, '');
  return {
    certPem,
    keyPem: leafKey.pem,
    caPem,
    thumbprint,
    pfxBase64,
    pfxNoPasswordBase64,
    pemBundle: `${leafKey.pem}${certPem}${caPem}`,
  };
}

function asCertificate(credential: ClientCredential) {
  if (credential.kind !== 'certificate') throw new Error(`expected a certificate credential, got ${credential.kind}`);
  return credential;
}

let mi: ManagedIdentityStandIn;
let vault: KeyVaultStandIn;

beforeAll(async () => {
  mi = await startManagedIdentityStandIn();
  Object.assign(process.env, mi.env);
  vault = await startKeyVaultStandIn({ trust: mi });
});

afterAll(async () => {
  await vault.stop();
  await mi.stop();
});

describe('certificate parsing (pure)', () => {
  const cert = makeCertificate('parse.example');

  test('reads a PKCS#12 (base64 PFX) into thumbprint, PKCS#8 key and a leaf-first x5c chain', () => {
    const { credential, facts } = certificateCredentialFromSecret(cert.pfxBase64, 'application/x-pkcs12');
    expect(credential.thumbprintSha256).toBe(cert.thumbprint);
    expect(credential.thumbprintSha256).toBe(
      createHash('sha256').update(new X509Certificate(cert.certPem).raw).digest('hex').toUpperCase(),
    );
    expect(credential.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const x5c = credential.x5c.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    expect(x5c.length).toBe(2);
    expect(new X509Certificate(x5c[0]!).fingerprint256).toBe(new X509Certificate(cert.certPem).fingerprint256);
    expect(new X509Certificate(x5c[0]!).checkPrivateKey(createPrivateKey(credential.privateKey))).toBeTruthy();
    expect(facts.subject).toMatch(/parse\.example/);
    expect(
      certificateCredentialFromSecret(cert.pfxNoPasswordBase64, 'application/x-pkcs12').credential.thumbprintSha256,
    ).toBe(cert.thumbprint);
    // Key Vault's content type is advisory for old secrets: no content type means PKCS#12.
    expect(certificateCredentialFromSecret(cert.pfxBase64, undefined).credential.thumbprintSha256).toBe(
      cert.thumbprint,
    );
  });

  test('reads a PEM bundle whatever the order of key and certificates', () => {
    const shuffled = `${cert.caPem}${cert.keyPem}${cert.certPem}`;
    const { credential } = certificateCredentialFromSecret(shuffled, 'application/x-pem-file');
    expect(credential.thumbprintSha256).toBe(cert.thumbprint);
    expect(new X509Certificate(credential.x5c).fingerprint256).toBe(new X509Certificate(cert.certPem).fingerprint256);
  });

  test('refuses a key without its certificate, a non-RSA key, and garbage, naming the problem only', () => {
    expect(() => certificateCredentialFromSecret(cert.keyPem, 'application/x-pem-file')).toThrow(
      CertificateFormatError,
    );
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    expect(() => certificateCredentialFromSecret(`${ec}${cert.certPem}`, 'application/x-pem-file')).toThrow(
      /must be RSA/,
    );
    expect(() => certificateCredentialFromSecret('bm90IGEgcGZ4', 'application/x-pkcs12')).toThrow(/cannot be read/);
    expect(() => certificateCredentialFromSecret('x', 'text/plain')).toThrow(/unsupported content type/);
    // A key from another certificate: no certificate matches.
    const other = makeCertificate('other.example');
    expect(() => certificateCredentialFromSecret(`${other.keyPem}${cert.certPem}`, 'application/x-pem-file')).toThrow(
      /matches the private key/,
    );
  });
});

describe('certificate provider through Key Vault', () => {
  test('yields the certificate with the right SHA-256 thumbprint from a PFX secret, read once', async () => {
    const cert = makeCertificate('pfx.example');
    vault.setSecret(NAME, cert.pfxBase64, 'application/x-pkcs12');
    const before = vault.counters.secretReads;
    const provider = createClientCredentialProvider(
      { kind: 'certificate', keyVaultUrl: vault.url, certificateName: NAME },
      { clientId: 'c', logger },
    );
    const all = await Promise.all(Array.from({ length: 20 }, () => provider.get()));
    expect(all.every((c) => asCertificate(c).thumbprintSha256 === cert.thumbprint)).toBeTruthy();
    expect(vault.counters.secretReads - before).toBe(1);
  });

  test('yields the certificate from a PEM secret and renews once after a rotation', async () => {
    const first = makeCertificate('pem-1.example');
    vault.setSecret(NAME, first.pemBundle, 'application/x-pem-file');
    const provider = createClientCredentialProvider(
      { kind: 'certificate', keyVaultUrl: vault.url, certificateName: NAME },
      { clientId: 'c', logger },
    );
    const old = await provider.get();
    expect(asCertificate(old).thumbprintSha256).toBe(first.thumbprint);
    const second = makeCertificate('pem-2.example');
    vault.setSecret(NAME, second.pfxBase64, 'application/x-pkcs12');
    const reads = vault.counters.secretReads;
    const results = await Promise.all(Array.from({ length: 10 }, () => provider.renewAfterRejection(old)));
    expect(results.every(Boolean)).toBeTruthy();
    expect(vault.counters.secretReads - reads).toBe(1);
    expect(asCertificate(await provider.get()).thumbprintSha256).toBe(second.thumbprint);
    expect(await provider.renewAfterRejection(old)).toBe(true);
    expect(vault.counters.secretReads - reads).toBe(1);
  });

  test('an unusable certificate secret is credential_unavailable with the reason, never the key', async () => {
    const cert = makeCertificate('broken.example');
    vault.setSecret('broken-certificate', cert.keyPem, 'application/x-pem-file');
    const provider = createClientCredentialProvider(
      { kind: 'certificate', keyVaultUrl: vault.url, certificateName: 'broken-certificate' },
      { clientId: 'c', logger },
    );
    await expect(provider.get()).rejects.toSatisfy((error: AuthError) => {
      expect(isAuthError(error, 'credential_unavailable')).toBeTruthy();
      expect(error.logDetail ?? '').toMatch(
        /certificate "broken-certificate" \(version [0-9a-f]{32}\): the PEM holds no certificate/,
      );
      return true;
    });
    const text = logLines.join('\n');
    expect(!text.includes('PRIVATE KEY')).toBeTruthy();
    expect(!text.includes(cert.keyPem.split('\n')[1]!)).toBeTruthy();
  });
});
