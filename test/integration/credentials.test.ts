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
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
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
      clients: [{ clientId: CLIENT_ID, secrets: entraSecrets, redirectUris: [REDIRECT_URI, `${PUBLIC_ORIGIN}/`, `${APP_ORIGIN}/`] }],
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
  assert.deepEqual(h.leakedSecrets(), [], 'no state, code, cookie or Entra secret in the logs');
  const text = h.logs.join('\n');
  for (const value of secretValues) assert.ok(!text.includes(value), 'no vault secret value in the logs');
  // Bearer tokens (managed-identity, Key Vault) and ID/access tokens are JWTs.
  assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(text), 'no JWT in the logs');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tokenCalls = (h: Harness) => Object.values(h.standIn.counters.token).reduce((a, b) => a + b, 0);

let stack: CredentialStack | undefined;

before(async () => {
  stack = await startCredentialStack(APP_IDENTITY);
  ({ azurite, mi, vault } = stack);
});

after(async () => {
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
    assert.equal(first.status, 302);
    assert.equal(first.headers.location, '/app');
    assert.equal((await main.newBrowser().signIn()).status, 302);
    assert.equal(vault.counters.secretReads - reads, 1, 'one vault read for the instance');
    assert.ok(mi.requests.some((r) => r.resource.includes('vault.azure.net') && r.clientId === APP_IDENTITY), 'vault token for the user-assigned identity');
    assert.ok(main.logs.some((l) => l.includes('client credential loaded')));
    assertNoLeaks(main);
  });

  test('/auth/login never touches the vault', async () => {
    const requests = vault.counters.requests;
    for (let i = 0; i < 3; i++) assert.equal((await main.newBrowser().startSignIn()).response.status, 302);
    const cold = await start([newSecret('unused')]);
    assert.equal((await cold.newBrowser().startSignIn()).response.status, 302);
    assert.equal(vault.counters.requests, requests, 'no vault request, not even a challenge');
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
    assert.equal(codeRequests() - before, 6, 'all six redemptions are in flight');

    const rotated = newSecret('rotated');
    vault.setSecret(SECRET_NAME, rotated);
    main.standIn.setClientSecrets(CLIENT_ID, [rotated]); // the old secret is removed

    const results = await Promise.all(inflight);
    assert.deepEqual(results.map((r) => r.status), Array(6).fill(302), 'no failed sign-in');
    assert.equal(vault.counters.secretReads - reads, 1, 'exactly one extra vault read');
    assert.equal((await main.newBrowser().signIn()).status, 302);
    assert.equal(vault.counters.secretReads - reads, 1, 'later sign-ins use the renewed copy');
    assert.ok(main.logs.some((l) => l.includes('event credential_rotated')));
    assertNoLeaks(main);
  });

  test('vault down with a cached secret: sign-ins keep working without calling it', async () => {
    vault.injectFault({ kind: 'down' });
    try {
      const requests = vault.counters.requests;
      const results = await Promise.all(Array.from({ length: 3 }, () => main.newBrowser().signIn()));
      assert.deepEqual(results.map((r) => r.status), [302, 302, 302]);
      assert.equal(vault.counters.requests, requests);
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
    assert.equal(failed.status, 503);
    assert.ok(failed.body.includes('credential_unavailable'));
    assert.match(failed.headers['retry-after'] ?? '', /^\d+$/);
    assert.ok(await stateRowExists(state), 'the state row is not consumed');
    assert.equal(h.standIn.counters.codeRedemptions, redemptions, 'no code redeemed during the outage');
    assert.equal(tokenCalls(h), calls, 'no token request at all');
    assert.ok(h.logs.some((l) => l.includes('client credential unavailable') && l.includes('Key Vault')));

    // During the cool-down a retry answers 503 at once, without hammering the vault.
    const requests = vault.counters.requests;
    assert.equal((await browser.callback(callbackUrl)).status, 503);
    assert.equal(vault.counters.requests, requests);

    vault.clearFaults();
    h.clockOffsetMs += 3000; // past the failure cool-down
    const retried = await browser.callback(callbackUrl);
    assert.equal(retried.status, 302, 'the user can retry the same sign-in');
    assert.ok(!(await stateRowExists(state)));
    assert.equal(h.standIn.counters.codeRedemptions, redemptions + 1);
    assertNoLeaks(h);
  });

  test('20 concurrent cold callbacks (20 browsers) share one vault read', async () => {
    const secret = newSecret('cold');
    vault.setSecret(SECRET_NAME, secret);
    const h = await start([secret]);
    const pending = await Promise.all(Array.from({ length: 20 }, () => pendingSignIn(h)));
    const reads = vault.counters.secretReads;
    const results = await Promise.all(pending.map((p) => p.browser.callback(p.callbackUrl)));
    assert.deepEqual(results.map((r) => r.status), Array(20).fill(302));
    assert.equal(vault.counters.secretReads - reads, 1);
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
    assert.equal(response.status, 302);
    assert.equal(vault.counters.faultsServed - faults, 1);
    assert.equal(vault.counters.secretReads - reads, 1);
    assert.ok(elapsed >= 1000, `waited for Retry-After (${elapsed} ms)`);
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
      assert.equal(long.status, 503);
      assert.ok(long.body.includes('credential_unavailable'));
      assert.equal(long.headers['retry-after'], '30');
      assert.equal(vault.counters.requests - requests, 1);
      assert.ok(Date.now() - started < 2000, 'failed fast');

      // Throttled on every attempt with a short Retry-After: at most 4 attempts, within the 5 s budget.
      vault.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 1 });
      h.clockOffsetMs += 31_000;
      requests = vault.counters.requests;
      started = Date.now();
      const repeated = await browser.callback(callbackUrl);
      assert.equal(repeated.status, 503);
      assert.ok(vault.counters.requests - requests <= 4, `attempts: ${vault.counters.requests - requests}`);
      assert.ok(Date.now() - started < 6000, 'bounded by the budget');
      assert.ok(await stateRowExists(state));
    } finally {
      vault.clearFaults();
    }
    h.clockOffsetMs += 31_000;
    assert.equal((await browser.callback(callbackUrl)).status, 302);
    assertNoLeaks(h);
  });

  test('wrong secret in the vault: 503 credential_unavailable, a clear logged reason, no secret in the log; fixed in the vault → picked up without a restart', async () => {
    const right = newSecret('right');
    const wrong = newSecret('wrong');
    vault.setSecret(SECRET_NAME, wrong);
    const h = await start([right]);
    const reads = vault.counters.secretReads;
    const response = await h.newBrowser().signIn();
    assert.equal(response.status, 503);
    assert.ok(response.body.includes('credential_unavailable'));
    assert.ok(response.headers['retry-after']);
    const text = h.logs.join('\n');
    assert.ok(text.includes('invalid_client'), 'the log says the provider rejected the client credential');
    assert.ok(text.includes('the source holds no newer one'), 'and that the vault holds nothing newer');
    assert.equal(vault.counters.secretReads - reads, 2, 'the first read and one re-read');

    // Further sign-ins do not hammer the vault for the same rejected value.
    assert.equal((await h.newBrowser().signIn()).status, 503);
    assert.equal(vault.counters.secretReads - reads, 2);

    // The operator corrects the vault: picked up on the next rejection after the re-check interval.
    vault.setSecret(SECRET_NAME, right);
    h.clockOffsetMs += 31_000;
    assert.equal((await h.newBrowser().signIn()).status, 302);
    assert.equal(vault.counters.secretReads - reads, 3);
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
    assert.equal(child.status, 0, child.stderr);
    const report = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}');
    assert.deepEqual(report, { status: 302, keyVault: false, identity: false, msal: false });
    assert.equal(vault.counters.requests, requests);
    for (const value of secretValues) assert.ok(!child.stdout.includes(value) && !child.stderr.includes(value));
  });
});

function run(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<{ status: number | null; stdout: string; stderr: string }> {
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
