/**
 * The deployable build is what the host loads: build dist-like output into a temp dir (scripts/build.mjs), load
 * its main.js in a separate process through the local Functions host, and serve a whole sign-in with it against
 * Azurite and the Entra stand-in. Also checks the lazy layout: login loads the Table SDK only, the callback adds
 * MSAL, and nothing loads Key Vault / identity / node-forge with a client secret.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { functionNames } from '../_support/function-names';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { startEntraStandIn, type EntraStandIn } from '../../dev/entra-standin';
import {
  appEnv,
  Browser,
  buildBundle,
  buildLauncher,
  ROOT,
  standInClient,
  startApp,
  type AppProcess,
} from '../../bench/support';

let dir: string;
let azurite: AzuriteInstance;
let standIn: EntraStandIn;
let app: AppProcess | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'signin-build-'));
  const [az, si] = await Promise.all([
    startAzurite(),
    startEntraStandIn({ clients: [standInClient()] }),
    (async () => {
      buildBundle(join(dir, 'dist'));
      await buildLauncher(join(dir, 'launch-host.js'));
    })(),
  ]);
  azurite = az;
  standIn = si;
});

afterAll(async () => {
  await app?.stop();
  await standIn?.stop();
  await azurite?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('package.json main names the bundle the build writes', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { main: string };
  expect(pkg.main).toBe('dist/main.js');
  for (const f of ['main.js', 'main.js.map', 'vendor/azure-msal-node.js', 'vendor/azure-data-tables.js']) {
    expect(existsSync(join(dir, 'dist', f))).toBeTruthy();
  }
  const main = readFileSync(join(dir, 'dist', 'main.js'), 'utf8');
  expect(main).toMatch(/require\("\.\/vendor\/azure-msal-node\.js"\)/);
  expect(main).not.toMatch(/ConfidentialClientApplication\s*=\s*class|class ConfidentialClientApplication/);
  const bareRequires = [...main.matchAll(/require\("([^"]+)"\)/g)]
    .map((m) => m[1]!)
    .filter((id) => !id.startsWith('./') && !id.startsWith('node:'));
  const builtins = new Set(require('node:module').builtinModules as string[]);
  expect(bareRequires.filter((id) => !builtins.has(id))).toStrictEqual(['@azure/functions-core']);
});

test('the built bundle serves a whole sign-in through the Functions host (Azurite + Entra stand-in)', async () => {
  const host = await startApp(join(dir, 'launch-host.js'), join(dir, 'dist'), appEnv(azurite, standIn), [
    '--enable-source-maps',
  ]);
  app = host;
  expect([...host.functions].sort()).toStrictEqual(functionNames());
  const vendorLoaded = async () =>
    (await host.command<string[]>('modules')).map((p) => p.replace(/.*vendor[\\/]/, '')).sort();
  // At start only the Public Suffix List, for the configuration's site check (the return origin is on another host).
  expect(await vendorLoaded()).toStrictEqual(['tldts.js']);

  const browser = new Browser(host.url);
  const authorizeUrl = await browser.login();
  expect(authorizeUrl.startsWith(standIn.url)).toBeTruthy();
  expect(await vendorLoaded()).toStrictEqual(['azure-data-tables.js', 'tldts.js']);

  const callbackUrl = await standIn.signIn(authorizeUrl, standIn.users[0]!.username);
  await browser.callback(callbackUrl);
  // The callback adds MSAL and jose (ID token validation), nothing else.
  expect(await vendorLoaded()).toStrictEqual(['azure-data-tables.js', 'azure-msal-node.js', 'jose.js', 'tldts.js']);

  const me = await browser.get('/auth/me');
  expect(me.status).toBe(200);
  expect((JSON.parse(me.body) as { user: { username: string } }).user.username).toBe(standIn.users[0]!.username);
  expect(standIn.counters.codeRedemptions).toBe(1);
});
