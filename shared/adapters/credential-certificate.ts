/**
 * Turns a Key Vault certificate, read through the secret of the same name, into an MSAL client certificate.
 *
 * Key Vault serves a certificate's private key only through its backing secret, in the content type chosen in
 * the certificate policy: `application/x-pkcs12` (base64 PFX without a password, the default) or
 * `application/x-pem-file` (private key and certificate chain as PEM).
 * @see https://learn.microsoft.com/azure/key-vault/certificates/about-certificates#composition-of-a-certificate
 *
 * PEM needs only node:crypto. PKCS#12 is read with node-forge, loaded only when a PFX actually arrives.
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';

export const PKCS12_CONTENT_TYPE = 'application/x-pkcs12';
export const PEM_CONTENT_TYPE = 'application/x-pem-file';

export interface CertificateCredential {
  kind: 'certificate';
  /** Hex SHA-256 of the leaf certificate's DER (MSAL sends it as `x5t#S256`). */
  thumbprintSha256: string;
  /** PKCS#8 PEM private key. */
  privateKey: string;
  /** The certificate chain as PEM, leaf first (MSAL sends it as `x5c`, for subject-name/issuer validation). */
  x5c: string;
}

/** Non-secret facts about the certificate, for log lines. */
export interface CertificateFacts {
  thumbprintSha256: string;
  subject: string;
  notAfter: string;
}

/** A certificate that cannot be used. `message` names the problem, never the key or the secret value. */
export class CertificateFormatError extends Error {
  override readonly name = 'CertificateFormatError';
}

export function certificateCredentialFromSecret(
  value: string,
  contentType: string | undefined,
): { credential: CertificateCredential; facts: CertificateFacts } {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  const looksPem = value.trimStart().startsWith('-----BEGIN');
  if (type === PEM_CONTENT_TYPE || (type !== PKCS12_CONTENT_TYPE && looksPem)) {
    return fromPem(value);
  }
  if (type === PKCS12_CONTENT_TYPE || type === undefined || type === '') {
    return fromPkcs12(value);
  }
  throw new CertificateFormatError(
    `unsupported content type "${type}" (expected ${PKCS12_CONTENT_TYPE} or ${PEM_CONTENT_TYPE})`,
  );
}

function fromPem(pem: string): { credential: CertificateCredential; facts: CertificateFacts } {
  const keyBlock =
    /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.exec(
      pem,
    )?.[0];
  if (!keyBlock) throw new CertificateFormatError('the PEM holds no private key (export the certificate with its key)');
  if (keyBlock.includes('ENCRYPTED')) throw new CertificateFormatError('the PEM private key is encrypted');
  const certBlocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (certBlocks.length === 0) throw new CertificateFormatError('the PEM holds no certificate');
  let key: KeyObject;
  try {
    key = createPrivateKey(keyBlock);
  } catch {
    throw new CertificateFormatError('the PEM private key cannot be read');
  }
  return assemble(key, certBlocks.map(parseCertificate));
}

function fromPkcs12(base64: string): { credential: CertificateCredential; facts: CertificateFacts } {
  // Lazy: node-forge is needed only for PFX, and only once per rotation.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const forge = require('node-forge') as typeof import('node-forge');
  const compact = base64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw new CertificateFormatError('the PKCS#12 value is not base64');
  let p12: import('node-forge').pkcs12.Pkcs12Pfx | undefined;
  const der = forge.util.decode64(compact);
  // Key Vault exports with the empty password (MAC keyed with ""); other tools write a PFX with no password at
  // all (MAC keyed with nothing). forge tells them apart only by trying.
  for (const password of ['', null]) {
    try {
      p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(der), false, password as string);
      break;
    } catch {
      // try the next form
    }
  }
  if (!p12)
    throw new CertificateFormatError('the PKCS#12 value cannot be read (a password-protected PFX is not supported)');
  const keyBags = [
    ...(p12.getBags({ bagType: forge.pki.oids.pkcs8ShroudedKeyBag! })[forge.pki.oids.pkcs8ShroudedKeyBag!] ?? []),
    ...(p12.getBags({ bagType: forge.pki.oids.keyBag! })[forge.pki.oids.keyBag!] ?? []),
  ];
  const keyBag = keyBags.find((bag) => bag.key || bag.asn1);
  if (!keyBag) throw new CertificateFormatError('the PKCS#12 holds no private key');
  let key: KeyObject;
  try {
    // Through DER, not forge's RSA-only PEM writer, so a wrong key type is reported as such below.
    const keyDer = keyBag.key
      ? forge.asn1.toDer(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(keyBag.key))).getBytes()
      : forge.asn1.toDer(keyBag.asn1!).getBytes();
    key = createPrivateKey({ key: Buffer.from(keyDer, 'binary'), format: 'der', type: 'pkcs8' });
  } catch {
    throw new CertificateFormatError('the PKCS#12 private key cannot be read (RSA keys only)');
  }
  const certBags = p12.getBags({ bagType: forge.pki.oids.certBag! })[forge.pki.oids.certBag!] ?? [];
  const certs = certBags.flatMap((bag) => {
    if (!bag.cert) return [];
    const der = forge.asn1.toDer(forge.pki.certificateToAsn1(bag.cert)).getBytes();
    return [new X509Certificate(Buffer.from(der, 'binary'))];
  });
  if (certs.length === 0) throw new CertificateFormatError('the PKCS#12 holds no certificate');
  return assemble(key, certs);
}

function parseCertificate(pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new CertificateFormatError('a PEM certificate cannot be read');
  }
}

/** Picks the leaf (the certificate of this key), puts it first, and checks the key type. */
function assemble(
  key: KeyObject,
  certs: X509Certificate[],
): { credential: CertificateCredential; facts: CertificateFacts } {
  if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'rsa-pss') {
    // Entra accepts RS256/PS256 client assertions only.
    throw new CertificateFormatError(
      `the certificate key is ${key.asymmetricKeyType ?? 'unknown'}; Entra client certificates must be RSA`,
    );
  }
  const leaf = certs.find((cert) => cert.checkPrivateKey(key));
  if (!leaf) throw new CertificateFormatError('no certificate in the chain matches the private key');
  const chain = [leaf, ...certs.filter((cert) => cert !== leaf)];
  const thumbprintSha256 = createHash('sha256').update(leaf.raw).digest('hex').toUpperCase();
  return {
    credential: {
      kind: 'certificate',
      thumbprintSha256,
      privateKey: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
      x5c: chain.map((cert) => toPem(cert.raw)).join(''),
    },
    facts: {
      thumbprintSha256,
      subject: leaf.subject.replace(/\n/g, ', '),
      notAfter: new Date(leaf.validTo).toISOString(),
    },
  };
}

function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
