/** The local dev CA: creation, reuse, concurrent creation, leaf issuance and a real TLS handshake. */
import { afterAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEV_CA_COMMON_NAME, devCaFromEnvironment, issueServerCertificate, loadOrCreateDevCa } from '../../dev/ca';

const root = mkdtempSync(join(tmpdir(), 'dev-ca-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function runMakeCa(dir: string): Promise<number> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'dev/make-ca.ts', dir], {
      cwd: resolve(__dirname, '../..'),
      stdio: 'ignore',
    });
    child.on('error', fail);
    child.on('exit', (code) => done(code ?? 1));
  });
}

describe('dev CA', () => {
  test('creates a 10-day RSA-2048 CA with a private key file of mode 0600, then reuses it', () => {
    const dir = join(root, 'fresh');
    const ca = loadOrCreateDevCa(dir);
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBeTruthy();
    expect(cert.subject).toMatch(new RegExp(`CN=${DEV_CA_COMMON_NAME}`));
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    const days = (new Date(cert.validTo).getTime() - Date.now()) / 86_400_000;
    expect(days > 9.9 && days <= 10).toBeTruthy();
    expect(cert.checkPrivateKey(createPrivateKey(ca.keyPem))).toBeTruthy();
    expect(statSync(join(dir, 'ca.key.pem')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'ca.pem'), 'utf8')).toBe(ca.certPem);
    expect(loadOrCreateDevCa(dir).certPem).toBe(ca.certPem);
  });

  test('replaces an unusable CA (corrupt files, or key and certificate that do not match)', () => {
    const dir = join(root, 'corrupt');
    const first = loadOrCreateDevCa(dir);
    writeFileSync(join(dir, 'ca.pem'), 'garbage');
    const second = loadOrCreateDevCa(dir);
    expect(second.certPem).not.toBe(first.certPem);
    writeFileSync(join(dir, 'ca.key.pem'), first.keyPem);
    const third = loadOrCreateDevCa(dir);
    expect(new X509Certificate(third.certPem).checkPrivateKey(createPrivateKey(third.keyPem))).toBeTruthy();
  });

  test('concurrent make-ca processes agree on one consistent CA', async () => {
    const dir = join(root, 'race');
    const codes = await Promise.all([runMakeCa(dir), runMakeCa(dir), runMakeCa(dir)]);
    expect(codes).toStrictEqual([0, 0, 0]);
    const ca = loadOrCreateDevCa(dir);
    expect(new X509Certificate(ca.certPem).checkPrivateKey(createPrivateKey(ca.keyPem))).toBeTruthy();
  });

  test('devCaFromEnvironment follows DEV_CA_DIR', () => {
    const saved = process.env.DEV_CA_DIR;
    process.env.DEV_CA_DIR = join(root, 'from-env');
    try {
      expect(devCaFromEnvironment().dir).toBe(join(root, 'from-env'));
    } finally {
      if (saved === undefined) delete process.env.DEV_CA_DIR;
      else process.env.DEV_CA_DIR = saved;
    }
  });

  test('issues a cached serverAuth leaf with IP and DNS SANs that a TLS client trusting the CA accepts', async () => {
    const ca = loadOrCreateDevCa(join(root, 'leaf'));
    const leaf = issueServerCertificate(ca);
    expect(issueServerCertificate(ca)).toBe(leaf);
    const cert = new X509Certificate(leaf.certPem);
    expect(cert.verify(new X509Certificate(ca.certPem).publicKey)).toBeTruthy();
    expect(cert.ca).toBe(false);
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.keyUsage).toStrictEqual(['1.3.6.1.5.5.7.3.1']);
    const days = (new Date(cert.validTo).getTime() - Date.now()) / 86_400_000;
    expect(days > 1.9 && days <= 2).toBeTruthy();

    const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end('ok'));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as AddressInfo).port;
    try {
      for (const host of ['127.0.0.1', 'localhost']) {
        const body = await new Promise<string>((done, fail) => {
          https
            .get({ host, port, ca: ca.certPem, agent: false }, (res) => {
              let text = '';
              res.on('data', (c: Buffer) => (text += c));
              res.on('end', () => done(text));
            })
            .on('error', fail);
        });
        expect(body).toBe('ok');
      }
      // A client that does not trust this (fresh) CA refuses the certificate.
      await expect(
        new Promise((done, fail) => https.get({ host: '127.0.0.1', port, agent: false }, done).on('error', fail)),
      ).rejects.toThrow();
    } finally {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  });
});
