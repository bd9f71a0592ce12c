/**
 * A throw-away certificate authority for local HTTPS stand-ins (Entra, Key Vault, managed identity).
 *
 * The stand-ins must be reached over real TLS because the production code paths (MSAL, @azure/identity,
 * @azure/keyvault-secrets) insist on https authorities; the processes that talk to them trust this CA through
 * `NODE_EXTRA_CA_CERTS`, which Node reads only at start-up. So the CA is made once, on disk, before those
 * processes start (`dev/make-ca.ts`), and every stand-in issues its leaf certificate from it in memory.
 *
 * Keys come from node:crypto (OpenSSL: tens of ms) rather than node-forge's pure-JS RSA keygen (seconds); forge
 * only builds and signs the X.509 structures.
 */
import { createHash, generateKeyPairSync, randomBytes, X509Certificate, createPrivateKey } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  openSync,
  closeSync,
} from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import forge from 'node-forge';

export interface DevCa {
  certPem: string;
  keyPem: string;
  dir?: string;
}

export interface ServerCertificate {
  certPem: string;
  keyPem: string;
}

export const DEV_CA_COMMON_NAME = 'Entra Sign-in Functions local dev CA';
const CA_VALIDITY_DAYS = 10;
const LEAF_VALIDITY_DAYS = 2;
const DAY_MS = 24 * 3600 * 1000;
/** Backdate notBefore so a peer whose clock runs a little behind ours still accepts the certificate. */
const BACKDATE_MS = 3600 * 1000;
const LOCK_STALE_MS = 30_000;
const LOCK_WAIT_MS = 20_000;

/** The repository root (this file lives in `<repo>/dev`). */
const REPO_ROOT = resolve(__dirname, '..');

/**
 * Reads `<dir>/ca.pem` + `<dir>/ca.key.pem`, or makes and writes a fresh CA when they are missing, unusable or
 * too close to expiry to issue a full-length leaf. Safe to call from several processes at once: one of them
 * makes the CA under an exclusive lock file, the others wait for it; files are written to a temp name and
 * renamed, the key before the certificate, so a reader that sees `ca.pem` also sees its key.
 */
export function loadOrCreateDevCa(dir: string): DevCa {
  const absolute = resolve(dir);
  const existing = tryLoad(absolute);
  if (existing) return existing;

  mkdirSync(absolute, { recursive: true });
  const lockPath = join(absolute, '.ca.lock');
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    let lockFd: number | undefined;
    try {
      lockFd = openSync(lockPath, 'wx');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (lockFd !== undefined) {
      try {
        // Another process may have finished between our first look and taking the lock.
        const made = tryLoad(absolute);
        if (made) return made;
        const ca = createCa();
        writeAtomically(join(absolute, 'ca.key.pem'), ca.keyPem, 0o600);
        writeAtomically(join(absolute, 'ca.pem'), ca.certPem, 0o644);
        return { ...ca, dir: absolute };
      } finally {
        closeSync(lockFd);
        try {
          unlinkSync(lockPath);
        } catch {
          // already gone: nothing to release
        }
      }
    }
    // Someone else holds the lock: wait for their CA, or break a lock left by a process that died.
    const ready = tryLoad(absolute);
    if (ready) return ready;
    try {
      if (Date.now() - statSync(lockPath).mtimeMs > LOCK_STALE_MS) unlinkSync(lockPath);
    } catch {
      // the lock vanished meanwhile: loop and take it
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for the dev CA lock ${lockPath}`);
    sleepSync(50);
  }
}

/** The CA named by `DEV_CA_DIR`, else `<repo>/.local/dev-ca`, made on first use. */
export function devCaFromEnvironment(): DevCa {
  const dir = process.env.DEV_CA_DIR?.trim() || join(REPO_ROOT, '.local', 'dev-ca');
  return loadOrCreateDevCa(dir);
}

const leafCache = new Map<string, ServerCertificate>();

/**
 * A server certificate for `hosts` signed by `ca`: SANs (iPAddress for IP literals, dNSName otherwise),
 * serverAuth EKU, 2 days (never past the CA's own expiry). Cached per CA and host list for the process, since
 * each stand-in start would otherwise pay for an RSA keygen.
 */
export function issueServerCertificate(
  ca: DevCa,
  hosts: string[] = ['127.0.0.1', 'localhost', '::1'],
): ServerCertificate {
  if (hosts.length === 0) throw new Error('issueServerCertificate needs at least one host');
  const cacheKey = `${createHash('sha256').update(ca.certPem).digest('hex')}|${hosts.join(',')}`;
  const cached = leafCache.get(cacheKey);
  if (cached && !expiresWithin(cached.certPem, 3600 * 1000)) return cached;

  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const { keyPem, forgeKey } = newRsaKey();

  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  cert.serialNumber = randomSerial();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - BACKDATE_MS);
  const caNotAfter = caCert.validity.notAfter.getTime();
  cert.validity.notAfter = new Date(Math.min(now + LEAF_VALIDITY_DAYS * DAY_MS, caNotAfter));
  const firstDns = hosts.find((h) => isIP(h) === 0) ?? hosts[0]!;
  cert.setSubject([{ name: 'commonName', value: firstDns }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: hosts.map((host) => (isIP(host) ? { type: 7, ip: host } : { type: 2, value: host })),
    },
    { name: 'subjectKeyIdentifier' },
    // Links the leaf to the CA's key so OpenSSL picks the right issuer even if older dev CAs are also trusted.
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());

  const issued = { certPem: forge.pki.certificateToPem(cert), keyPem };
  leafCache.set(cacheKey, issued);
  return issued;
}

function createCa(): { certPem: string; keyPem: string } {
  const { keyPem, forgeKey } = newRsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  cert.serialNumber = randomSerial();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - BACKDATE_MS);
  cert.validity.notAfter = new Date(now + CA_VALIDITY_DAYS * DAY_MS);
  const name = [
    { name: 'commonName', value: DEV_CA_COMMON_NAME },
    { name: 'organizationName', value: 'Entra Sign-in Functions (local development only)' },
  ];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/** RSA-2048 from OpenSSL, as PKCS#1 PEM (which forge reads) plus forge's view of it. */
function newRsaKey(): { keyPem: string; forgeKey: forge.pki.rsa.PrivateKey } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  return { keyPem, forgeKey: forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey };
}

/** 16 random bytes, high bit cleared so the DER INTEGER stays positive (RFC 5280 §4.1.2.2). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

function tryLoad(dir: string): DevCa | undefined {
  const certPath = join(dir, 'ca.pem');
  const keyPath = join(dir, 'ca.key.pem');
  if (!existsSync(certPath) || !existsSync(keyPath)) return undefined;
  try {
    const certPem = readFileSync(certPath, 'utf8');
    const keyPem = readFileSync(keyPath, 'utf8');
    const x509 = new X509Certificate(certPem);
    // A CA that cannot outlive a fresh leaf, or whose key is not the certificate's, is replaced, not used.
    if (!x509.ca || !x509.checkPrivateKey(createPrivateKey(keyPem))) return undefined;
    if (expiresWithin(certPem, LEAF_VALIDITY_DAYS * DAY_MS)) return undefined;
    return { certPem, keyPem, dir };
  } catch {
    return undefined;
  }
}

function expiresWithin(certPem: string, ms: number): boolean {
  return new Date(new X509Certificate(certPem).validTo).getTime() - Date.now() < ms;
}

function writeAtomically(path: string, content: string, mode: number): void {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temp, content, { mode });
  renameSync(temp, path);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
