/**
 * Cold-start cost of each credential mode: the time of the first /auth/callback of a fresh process, per mode,
 * against the secret-from-setting mode, on the same harness (Azurite + stand-ins). Opt-in, not part of `npm test`
 * (it only registers a skipped test there):
 *
 *   COLD_START_RUNS=5 npm test -- credential-coldstart
 *
 * Each measurement is a new child process (modules unloaded, nothing cached): the stand-ins start, one login runs
 * (same in every mode), the user signs in at the stand-in, then only the callback is timed. The first callback
 * includes what every mode pays (MSAL load, JWKS fetch, first Table Storage calls); the difference to `setting`
 * is the cost the mode adds (SDK loading, managed-identity token, Key Vault challenge + read, PFX parsing).
 */
import { expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import forge from 'node-forge';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { startKeyVaultStandIn } from '../../dev/keyvault-standin';
import { startManagedIdentityStandIn } from '../../dev/managed-identity-standin';
import { CLIENT_ID, CLIENT_SECRET, Harness, REDIRECT_URI } from '../_support/harness';

const MODES = ['setting', 'key-vault-secret', 'certificate-pem', 'certificate-pfx', 'managed-identity'] as const;
type Mode = (typeof MODES)[number];
const runs = Number(process.env.COLD_START_RUNS ?? 0);
const childMode = process.env.COLD_START_MODE as Mode | undefined;

if (childMode) {
  measure(childMode).then(
    (result) => {
      console.log(`COLD_START ${JSON.stringify(result)}`);
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  // Opt-in measurement (COLD_START_RUNS=n), skipped otherwise.
  (runs > 0 ? test : test.skip)('cold-start cost per credential mode (opt-in: COLD_START_RUNS=n)', async () => {
    const azurite = await startAzurite();
    const results: Record<Mode, number[]> = Object.fromEntries(MODES.map((m) => [m, []])) as unknown as Record<
      Mode,
      number[]
    >;
    try {
      for (let run = 0; run < runs; run++) {
        for (const mode of MODES) {
          const child = await runChild(mode, azurite.connectionString);
          expect(child.status).toBe(0);
          const line = child.stdout.split('\n').find((l) => l.startsWith('COLD_START '));
          const { firstMs } = JSON.parse(line!.slice('COLD_START '.length));
          results[mode].push(firstMs);
        }
      }
    } finally {
      await azurite.stop();
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const base = median(results.setting);
    for (const mode of MODES) {
      const line = `${mode.padEnd(18)} first callback ms: ${results[mode].map((x) => x.toFixed(0)).join(', ')}  median ${median(results[mode]).toFixed(0)}  added vs setting ${(median(results[mode]) - base).toFixed(0)}`;
      console.log(line);
    }
  });
}

function runChild(
  mode: Mode,
  connectionString: string,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', __filename], {
      env: { ...process.env, COLD_START_MODE: mode, COLD_START_AZURITE: connectionString },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

async function measure(mode: Mode): Promise<{ mode: Mode; firstMs: number; secondMs: number }> {
  const mi = await startManagedIdentityStandIn();
  Object.assign(process.env, mi.env);
  const vault = await startKeyVaultStandIn({ trust: mi });
  const azurite = {
    connectionString: process.env.COLD_START_AZURITE!,
    stop: async () => undefined,
  } as unknown as AzuriteInstance;
  const identity = randomUUID();
  const client = {
    clientId: CLIENT_ID,
    redirectUris: [REDIRECT_URI],
    secrets: [CLIENT_SECRET] as string[],
    certificates: [] as string[],
    federated: [] as object[],
  };
  let env: Record<string, string> = {};
  if (mode === 'key-vault-secret') {
    vault.setSecret('auth-client-secret', CLIENT_SECRET);
    env = { AUTH_CREDENTIAL: 'secret', AUTH_CLIENT_SECRET: '', AUTH_KEY_VAULT_URL: vault.url };
  } else if (mode === 'certificate-pem' || mode === 'certificate-pfx') {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const key = forge.pki.privateKeyFromPem(keyPem);
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
    cert.serialNumber = `01${randomBytes(8).toString('hex')}`;
    cert.validity.notBefore = new Date(Date.now() - 60_000);
    cert.validity.notAfter = new Date(Date.now() + 86_400_000);
    cert.setSubject([{ name: 'commonName', value: 'cold-start' }]);
    cert.setIssuer([{ name: 'commonName', value: 'cold-start' }]);
    cert.sign(key, forge.md.sha256.create());
    const certPem = forge.pki.certificateToPem(cert);
    client.certificates.push(certPem);
    if (mode === 'certificate-pem')
      vault.setSecret('auth-client-certificate', `${keyPem}${certPem}`, 'application/x-pem-file');
    else
      vault.setSecret(
        'auth-client-certificate',
        forge.util.encode64(
          forge.asn1.toDer(forge.pkcs12.toPkcs12Asn1(key, [cert], '', { algorithm: '3des' })).getBytes(),
        ),
        'application/x-pkcs12',
      );
    env = { AUTH_CREDENTIAL: 'certificate', AUTH_CLIENT_SECRET: '', AUTH_KEY_VAULT_URL: vault.url };
  } else if (mode === 'managed-identity') {
    client.federated.push({ issuer: mi.issuer, subject: mi.subjectFor(identity), publicKeyPem: mi.publicKeyPem });
    env = { AUTH_CREDENTIAL: 'managed-identity', AUTH_CLIENT_SECRET: '', AUTH_MANAGED_IDENTITY_CLIENT_ID: identity };
  }
  const h = await Harness.start({ azurite, env, standIn: { clients: [client as never] } });
  try {
    const time = async (): Promise<number> => {
      const browser = h.newBrowser();
      const { authorizeUrl } = await browser.startSignIn();
      const callbackUrl = await browser.signInAtProvider(authorizeUrl);
      const started = performance.now();
      const response = await browser.callback(callbackUrl);
      const ms = performance.now() - started;
      if (response.status !== 302)
        throw new Error(`${mode}: callback answered ${response.status}: ${h.logs.join('\n')}`);
      return ms;
    };
    const firstMs = await time();
    const secondMs = await time();
    return { mode, firstMs, secondMs };
  } finally {
    await h.stop();
    await vault.stop();
    await mi.stop();
  }
}
