/**
 * `AUTH_CREDENTIAL=secret` with `AUTH_KEY_VAULT_URL`, end to end through the real handlers, Azurite, the Entra
 * stand-in, the Key Vault stand-in (HTTPS, challenge auth) and the managed-identity stand-in (IDENTITY_ENDPOINT /
 * IDENTITY_HEADER), with the real SDK clients (`SecretClient`, `ManagedIdentityCredential`, MSAL).
 *
 * One managed-identity stand-in for the whole file, its env set before the first token request (@azure/identity
 * fixes the endpoint and caches tokens process-wide). The vault only lets the app's user-assigned identity in
 * (`allowedPrincipals`), so every passing sign-in also proves that `AUTH_MANAGED_IDENTITY_CLIENT_ID` reaches the
 * Key Vault credential. "Fresh services" = a new Harness, i.e. a cold instance with nothing cached.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import type { AzuriteInstance } from '../../dev/azurite';
import type { KeyVaultStandIn } from '../../dev/keyvault-standin';
import type { ManagedIdentityStandIn } from '../../dev/managed-identity-standin';
import { stateRowRef } from '../../shared/core/keys';
import { APP_ORIGIN, CLIENT_ID, Harness, PUBLIC_ORIGIN, REDIRECT_URI, type TestBrowser } from '../_support/harness';
import { startCredentialStack, type CredentialStack } from '../_support/credential-stack';
import { tableRows } from '../_support/tables';

const SECRET_NAME = 'auth-client-secret';
const APP_IDENTITY = '44444444-4444-4444-8444-444444444444'; // the Function App's user-assigned identity (client id)
const root = resolve(__dirname, '..', '..');

let azurite: AzuriteInstance;
let mi: ManagedIdentityStandIn;
let vault: KeyVaultStandIn;
let main: Harness;
/** Every secret value this file put in the vault or on the Entra stand-in: none may reach a log. */
const secretValues = new Set<string>();
const harnesses: Harness[] = [];

function newSecret(label: string): string {
  const value = `${label}~${randomUUID()}`;
  secretValues.add(value);
  return value;
}

/** A cold instance: new services (nothing cached), its own Entra stand-in whose client holds `entraSecrets`. */
async function start(entraSecrets: string[]): Promise<Harness> {
  const h = await Harness.start({
    azurite,
    env: {
      AUTH_CREDENTIAL: 'secret',
      AUTH_CLIENT_SECRET: '',
      AUTH_KEY_VAULT_URL: vault.url,
      AUTH_MANAGED_IDENTITY_CLIENT_ID: APP_IDENTITY,
    },
    standIn: {
      clients: [
        {
          clientId: CLIENT_ID,
          secrets: entraSecrets,
          redirectUris: [REDIRECT_URI, `${PUBLIC_ORIGIN}/`, `${APP_ORIGIN}/`],
        },
      ],
    },
    overrides: { providerTimeoutMs: 5000 },
  });
  harnesses.push(h);
  return h;
}

/** Login + the user signing in at the stand-in: the callback URL the browser is about to follow. */
async function pendingSignIn(h: Harness): Promise<{ browser: TestBrowser; callbackUrl: string; state: string }> {
  const browser = h.newBrowser();
  const { authorizeUrl, state } = await browser.startSignIn();
  return { browser, callbackUrl: await browser.signInAtProvider(authorizeUrl), state };
}

async function stateRowExists(state: string): Promise<boolean> {
  return (await tableRows(azurite.connectionString, 'AuthState')).some((r) => r.rowKey === stateRowRef(state).rowKey);
}

function assertNoLeaks(h: Harness): void {
  expect(h.leakedSecrets()).toStrictEqual([]);
  const text = h.logs.join('\n');
  for (const value of secretValues) expect(!text.includes(value)).toBeTruthy();
  // Bearer tokens (managed-identity, Key Vault) and ID/access tokens are JWTs.
  expect(!/eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(text)).toBeTruthy();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tokenCalls = (h: Harness) => Object.values(h.standIn.counters.token).reduce((a, b) => a + b, 0);

let stack: CredentialStack | undefined;

beforeAll(async () => {
  stack = await startCredentialStack(APP_IDENTITY);
  ({ azurite, mi, vault } = stack);
});

afterAll(async () => {
  for (const h of harnesses) await h.stop();
  await stack?.stop();
});

describe('AUTH_CREDENTIAL=secret from Key Vault', () => {
  test('signs in end to end: the secret comes from the vault through the app identity, read once', async () => {
    const secret = newSecret('main');
    vault.setSecret(SECRET_NAME, secret);
    main = await start([secret]);
    const reads = vault.counters.secretReads;
    const first = await main.newBrowser().signIn();
    expect(first.status).toBe(302);
    expect(first.headers.location).toBe('/app');
    expect((await main.newBrowser().signIn()).status).toBe(302);
    expect(vault.counters.secretReads - reads).toBe(1);
    expect(mi.requests.some((r) => r.resource.includes('vault.azure.net') && r.clientId === APP_IDENTITY)).toBeTruthy();
    expect(main.logs.some((l) => l.includes('client credential loaded'))).toBeTruthy();
    assertNoLeaks(main);
  });

  test('/auth/login never touches the vault', async () => {
    const requests = vault.counters.requests;
    for (let i = 0; i < 3; i++) expect((await main.newBrowser().startSignIn()).response.status).toBe(302);
    const cold = await start([newSecret('unused')]);
    expect((await cold.newBrowser().startSignIn()).response.status).toBe(302);
    expect(vault.counters.requests).toBe(requests);
    assertNoLeaks(cold);
  });

  test('secret rotated in the vault and on Entra while sign-ins are in flight: none fails, one extra vault read', async () => {
    const pending = await Promise.all(Array.from({ length: 6 }, () => pendingSignIn(main)));
    const reads = vault.counters.secretReads;
    const codeRequests = () => main.standIn.counters.token.authorization_code ?? 0;
    const before = codeRequests();
    // Hold the six redemptions at the token endpoint (they were sent with the old secret) while rotating.
    main.standIn.injectFault('token', { delayMs: 1500 }, 6);
    const inflight = pending.map((p) => p.browser.callback(p.callbackUrl));
    for (let waited = 0; codeRequests() - before < 6 && waited < 5000; waited += 10) await sleep(10);
    expect(codeRequests() - before).toBe(6);

    const rotated = newSecret('rotated');
    vault.setSecret(SECRET_NAME, rotated);
    main.standIn.setClientSecrets(CLIENT_ID, [rotated]); // the old secret is removed

    const results = await Promise.all(inflight);
    expect(results.map((r) => r.status)).toStrictEqual(Array(6).fill(302));
    expect(vault.counters.secretReads - reads).toBe(1);
    expect((await main.newBrowser().signIn()).status).toBe(302);
    expect(vault.counters.secretReads - reads).toBe(1);
    expect(main.logs.some((l) => l.includes('event credential_rotated'))).toBeTruthy();
    assertNoLeaks(main);
  });

  test('vault down with a cached secret: sign-ins keep working without calling it', async () => {
    vault.injectFault({ kind: 'down' });
    try {
      const requests = vault.counters.requests;
      const results = await Promise.all(Array.from({ length: 3 }, () => main.newBrowser().signIn()));
      expect(results.map((r) => r.status)).toStrictEqual([302, 302, 302]);
      expect(vault.counters.requests).toBe(requests);
    } finally {
      vault.clearFaults();
    }
    assertNoLeaks(main);
  });

  test('vault down with nothing cached: 503 credential_unavailable + Retry-After, state kept, no code redeemed; the same callback works once the vault is back', async () => {
    const secret = newSecret('outage');
    vault.setSecret(SECRET_NAME, secret);
    const h = await start([secret]);
    const { browser, callbackUrl, state } = await pendingSignIn(h);
    vault.injectFault({ kind: 'down' });
    const redemptions = h.standIn.counters.codeRedemptions;
    const calls = tokenCalls(h);

    const failed = await browser.callback(callbackUrl);
    expect(failed.status).toBe(503);
    expect(failed.body.includes('credential_unavailable')).toBeTruthy();
    expect(failed.headers['retry-after'] ?? '').toMatch(/^\d+$/);
    expect(await stateRowExists(state)).toBeTruthy();
    expect(h.standIn.counters.codeRedemptions).toBe(redemptions);
    expect(tokenCalls(h)).toBe(calls);
    expect(h.logs.some((l) => l.includes('client credential unavailable') && l.includes('Key Vault'))).toBeTruthy();

    // During the cool-down a retry answers 503 at once, without hammering the vault.
    const requests = vault.counters.requests;
    expect((await browser.callback(callbackUrl)).status).toBe(503);
    expect(vault.counters.requests).toBe(requests);

    vault.clearFaults();
    h.clockOffsetMs += 3000; // past the failure cool-down
    const retried = await browser.callback(callbackUrl);
    expect(retried.status).toBe(302);
    expect(!(await stateRowExists(state))).toBeTruthy();
    expect(h.standIn.counters.codeRedemptions).toBe(redemptions + 1);
    assertNoLeaks(h);
  });

  test('20 concurrent cold callbacks (20 browsers) share one vault read', async () => {
    const secret = newSecret('cold');
    vault.setSecret(SECRET_NAME, secret);
    const h = await start([secret]);
    const pending = await Promise.all(Array.from({ length: 20 }, () => pendingSignIn(h)));
    const reads = vault.counters.secretReads;
    const results = await Promise.all(pending.map((p) => p.browser.callback(p.callbackUrl)));
    expect(results.map((r) => r.status)).toStrictEqual(Array(20).fill(302));
    expect(vault.counters.secretReads - reads).toBe(1);
    assertNoLeaks(h);
  });

  test('429 from the vault: Retry-After honoured within the budget and the sign-in succeeds', async () => {
    const secret = newSecret('throttled');
    vault.setSecret(SECRET_NAME, secret);
    const h = await start([secret]);
    const { browser, callbackUrl } = await pendingSignIn(h);
    const faults = vault.counters.faultsServed;
    const reads = vault.counters.secretReads;
    vault.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 1 }, 1);
    const started = Date.now();
    const response = await browser.callback(callbackUrl);
    const elapsed = Date.now() - started;
    expect(response.status).toBe(302);
    expect(vault.counters.faultsServed - faults).toBe(1);
    expect(vault.counters.secretReads - reads).toBe(1);
    expect(elapsed >= 1000).toBeTruthy();
    assertNoLeaks(h);
  });

  test('429 that does not fit the budget: bounded attempts and time, 503 with the vault hint, then recovery', async () => {
    const secret = newSecret('throttled-long');
    vault.setSecret(SECRET_NAME, secret);
    const h = await start([secret]);
    const { browser, callbackUrl, state } = await pendingSignIn(h);
    try {
      // A Retry-After longer than the 5 s budget is not slept on: one attempt, the hint passed on.
      vault.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 30 });
      let requests = vault.counters.requests;
      let started = Date.now();
      const long = await browser.callback(callbackUrl);
      expect(long.status).toBe(503);
      expect(long.body.includes('credential_unavailable')).toBeTruthy();
      expect(long.headers['retry-after']).toBe('30');
      expect(vault.counters.requests - requests).toBe(1);
      expect(Date.now() - started < 2000).toBeTruthy();

      // Throttled on every attempt with a short Retry-After: at most 4 attempts, within the 5 s budget.
      vault.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 1 });
      h.clockOffsetMs += 31_000;
      requests = vault.counters.requests;
      started = Date.now();
      const repeated = await browser.callback(callbackUrl);
      expect(repeated.status).toBe(503);
      expect(vault.counters.requests - requests <= 4).toBeTruthy();
      expect(Date.now() - started < 6000).toBeTruthy();
      expect(await stateRowExists(state)).toBeTruthy();
    } finally {
      vault.clearFaults();
    }
    h.clockOffsetMs += 31_000;
    expect((await browser.callback(callbackUrl)).status).toBe(302);
    assertNoLeaks(h);
  });

  test('wrong secret in the vault: 503 credential_unavailable, a clear logged reason, no secret in the log; fixed in the vault → picked up without a restart', async () => {
    const right = newSecret('right');
    const wrong = newSecret('wrong');
    vault.setSecret(SECRET_NAME, wrong);
    const h = await start([right]);
    const reads = vault.counters.secretReads;
    const response = await h.newBrowser().signIn();
    expect(response.status).toBe(503);
    expect(response.body.includes('credential_unavailable')).toBeTruthy();
    expect(response.headers['retry-after']).toBeTruthy();
    const text = h.logs.join('\n');
    expect(text.includes('invalid_client')).toBeTruthy();
    expect(text.includes('the source holds no newer one')).toBeTruthy();
    expect(vault.counters.secretReads - reads).toBe(2);

    // Further sign-ins do not hammer the vault for the same rejected value.
    expect((await h.newBrowser().signIn()).status).toBe(503);
    expect(vault.counters.secretReads - reads).toBe(2);

    // The operator corrects the vault: picked up on the next rejection after the re-check interval.
    vault.setSecret(SECRET_NAME, right);
    h.clockOffsetMs += 31_000;
    expect((await h.newBrowser().signIn()).status).toBe(302);
    expect(vault.counters.secretReads - reads).toBe(3);
    assertNoLeaks(h);
  });

  test('login in a fresh process loads neither @azure/keyvault-secrets nor @azure/identity', async () => {
    const script = `
      const { HttpRequest, InvocationContext } = require('@azure/functions');
      const { createLoginHandler } = require('./functions/login.ts');
      const { getServices } = require('./shared/services.ts');
      const handler = createLoginHandler(getServices);
      handler(new HttpRequest({ method: 'GET', url: '${PUBLIC_ORIGIN}/auth/login?returnTo=%2Fapp' }),
              new InvocationContext({ functionName: 'login', logHandler: () => undefined }))
        .then((response) => {
          const keys = Object.keys(require.cache);
          console.log(JSON.stringify({
            status: response.status,
            keyVault: keys.some((k) => k.includes('/@azure/keyvault-secrets/')),
            identity: keys.some((k) => k.includes('/@azure/identity/')),
            msal: keys.some((k) => k.includes('/@azure/msal-node/')),
          }));
        });`;
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      AUTH_CLIENT_ID: CLIENT_ID,
      AUTH_TENANT_ID: main.standIn.tenantId,
      AUTH_AUTHORITY: main.standIn.authority,
      AUTH_REDIRECT_URI: REDIRECT_URI,
      AUTH_CREDENTIAL: 'secret',
      AUTH_KEY_VAULT_URL: vault.url,
      AUTH_MANAGED_IDENTITY_CLIENT_ID: APP_IDENTITY,
      AUTH_STORAGE_CONNECTION_STRING: azurite.connectionString,
      AUTH_ALLOWED_RETURN_ORIGINS: APP_ORIGIN,
    };
    delete env.AUTH_CLIENT_SECRET;
    const requests = vault.counters.requests;
    // Asynchronously: the Entra stand-in the child's login asks for discovery runs in this process.
    const child = await run(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, env });
    expect(child.status).toBe(0);
    const report = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}');
    expect(report).toStrictEqual({ status: 302, keyVault: false, identity: false, msal: false });
    expect(vault.counters.requests).toBe(requests);
    for (const value of secretValues)
      expect(!child.stdout.includes(value) && !child.stderr.includes(value)).toBeTruthy();
  });
});

function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill(), 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolvePromise({ status, stdout, stderr });
    });
  });
}
