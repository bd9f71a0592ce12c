/**
 * The deployable build is what the host loads: build dist-like output into a temp dir (scripts/build.mjs), load
 * its main.js in a separate process through the local Functions host, and serve a whole sign-in with it against
 * Azurite and the Entra stand-in. Also checks the lazy layout: login loads the Table SDK only, the callback adds
 * MSAL, and nothing loads Key Vault / identity / node-forge with a client secret.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { startEntraStandIn, type EntraStandIn } from '../../dev/entra-standin';
import { appEnv, Browser, buildBundle, buildLauncher, ROOT, standInClient, startApp, type AppProcess } from '../../bench/support';

let dir: string;
let azurite: AzuriteInstance;
let standIn: EntraStandIn;
let app: AppProcess | undefined;

before(async () => {
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

after(async () => {
  await app?.stop();
  await standIn?.stop();
  await azurite?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('package.json main names the bundle the build writes', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { main: string };
  assert.equal(pkg.main, 'dist/main.js');
  for (const f of ['main.js', 'main.js.map', 'vendor/azure-msal-node.js', 'vendor/azure-data-tables.js']) {
    assert.ok(existsSync(join(dir, 'dist', f)), f);
  }
  const main = readFileSync(join(dir, 'dist', 'main.js'), 'utf8');
  assert.match(main, /require\("\.\/vendor\/azure-msal-node\.js"\)/, 'MSAL is a separate, lazily required file');
  assert.doesNotMatch(main, /ConfidentialClientApplication\s*=\s*class|class ConfidentialClientApplication/, 'no MSAL copy inside main.js');
  const bareRequires = [...main.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]!).filter((id) => !id.startsWith('./') && !id.startsWith('node:'));
  const builtins = new Set(require('node:module').builtinModules as string[]);
  assert.deepEqual(bareRequires.filter((id) => !builtins.has(id)), ['@azure/functions-core'], 'self-contained: only the worker-injected module is external');
});

test('the built bundle serves a whole sign-in through the Functions host (Azurite + Entra stand-in)', async () => {
  app = await startApp(join(dir, 'launch-host.js'), join(dir, 'dist'), appEnv(azurite, standIn), ['--enable-source-maps']);
  assert.deepEqual([...app.functions].sort(), ['callback', 'frontchannel-logout', 'health', 'login', 'logout', 'me', 'metadata', 'purge', 'refresh', 'sessions', 'token']);
  assert.deepEqual(await app.command<string[]>('modules'), [], 'nothing heavy at load');

  const browser = new Browser(app.url);
  const authorizeUrl = await browser.login();
  assert.ok(authorizeUrl.startsWith(standIn.url), authorizeUrl);
  const afterLogin = (await app.command<string[]>('modules')).map((p) => p.replace(/.*vendor[\\/]/, ''));
  assert.deepEqual(afterLogin, ['azure-data-tables.js'], 'login loads the Table SDK only');

  const callbackUrl = await standIn.signIn(authorizeUrl, standIn.users[0]!.username);
  await browser.callback(callbackUrl);
  const afterCallback = (await app.command<string[]>('modules')).map((p) => p.replace(/.*vendor[\\/]/, '')).sort();
  assert.deepEqual(afterCallback, ['azure-data-tables.js', 'azure-msal-node.js'], 'callback adds MSAL, never Key Vault / identity / forge');

  const me = await browser.get('/auth/me');
  assert.equal(me.status, 200, me.body);
  assert.equal((JSON.parse(me.body) as { user: { username: string } }).user.username, standIn.users[0]!.username);
  assert.equal(standIn.counters.codeRedemptions, 1);
});
