/**
 * The deployable build is what the host loads: build dist-like output into a temp dir (scripts/build.mjs), load
 * its main.js in a separate process through the local Functions host, and serve a whole sign-in with it against
 * Azurite and the Entra stand-in. Also checks the lazy layout: the login loads the Table SDK, MSAL and jose load
 * once its answer is out, the callback adds nothing, and nothing loads Key Vault / identity / node-forge with a
 * client secret; and the two build plugins against the libraries they change (scripts/vendor-plugins.mjs).
 */
import { afterAll, beforeAll, expect, jest, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
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
import { until } from '../_support/until';

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
  // The login loads the Table SDK; once its answer is out, the callback's code (MSAL, jose) loads while the user is
  // at the provider: no Key Vault, identity or node-forge (a client secret needs none of them).
  const callbackCode = ['azure-data-tables.js', 'azure-msal-node.js', 'jose.js', 'tldts.js'];
  await until(async () => (await vendorLoaded()).length === callbackCode.length);
  expect(await vendorLoaded()).toStrictEqual(callbackCode);

  const callbackUrl = await standIn.signIn(authorizeUrl, standIn.users[0]!.username);
  await browser.callback(callbackUrl);
  // The callback loads nothing more.
  expect(await vendorLoaded()).toStrictEqual(callbackCode);

  const me = await browser.get('/auth/me');
  expect(me.status).toBe(200);
  expect((JSON.parse(me.body) as { user: { username: string } }).user.username).toBe(standIn.users[0]!.username);
  expect(standIn.counters.codeRedemptions).toBe(1);
});

test('the Public Suffix List vendor file answers as tldts itself, from base64 tables instead of number literals', () => {
  const source = readFileSync(join(dir, 'dist', 'vendor', 'tldts.js'), 'utf8');
  expect(source).not.toMatch(/new (Uint8|Uint16|Uint32|Int32)Array\(\[\d/);
  expect(source.match(/__decodeTypedArray\("/g)?.length).toBeGreaterThanOrEqual(4);
  type Tldts = typeof import('tldts');
  const built = require(join(dir, 'dist', 'vendor', 'tldts.js')) as Tldts;
  const original = jest.requireActual<Tldts>('tldts');
  // ICANN and private rules, wildcards (*.kawasaki.jp) and their exceptions (!city.kawasaki.jp), IDNA mapping
  // (the IP-mapping tables), IPs and hosts no rule knows.
  const hosts = [
    'auth.contoso.example',
    'app.example.co.uk',
    'a.b.c.azurewebsites.net',
    'azurewebsites.net',
    'x.azurefd.net',
    'me.github.io',
    'www.ck',
    'a.b.kawasaki.jp',
    'city.kawasaki.jp',
    'b.city.kawasaki.jp',
    'bücher.example.de',
    'ＡＢＣ．example．com',
    'xn--bcher-kva.example',
    's3.dualstack.us-east-1.amazonaws.com',
    '127.0.0.1',
    '[::1]',
    'localhost',
    'unknown.tld-without-rule',
  ];
  for (const allowPrivateDomains of [true, false])
    for (const host of hosts) {
      const url = `https://${host}/x`;
      expect({ host, result: built.parse(url, { allowPrivateDomains }) }).toStrictEqual({
        host,
        result: original.parse(url, { allowPrivateDomains }),
      });
    }
});

test('the Table SDK vendor file loads the XML parser only when an XML call needs it, and then the real one', async () => {
  // In a child process: Jest's module registry is not Node's require cache.
  const script = `
    const { TableClient } = require(process.env.TABLES);
    const xmlLoaded = () => Object.keys(require.cache).some((k) => k.endsWith('azure-core-xml.js'));
    (async () => {
      const client = TableClient.fromConnectionString(process.env.CONN, 'XmlLazy', { allowInsecureConnection: true });
      await client.createTable();
      await client.createEntity({ partitionKey: 'p', rowKey: 'r', v: 1 });
      const afterEntities = xmlLoaded();
      const policy = [{ id: 'read-only', accessPolicy: { permission: 'r', start: new Date('2026-01-01T00:00:00Z'), expiry: new Date('2027-01-01T00:00:00Z') } }];
      await client.setAccessPolicy(policy); // serialized to XML
      const read = await client.getAccessPolicy(); // an XML answer, parsed
      console.log(JSON.stringify({ afterEntities, afterXml: xmlLoaded(), read }));
    })().catch((e) => { console.error(e); process.exit(1); });`;
  const result = spawnSync(process.execPath, ['-e', script], {
    env: {
      ...process.env,
      TABLES: join(dir, 'dist', 'vendor', 'azure-data-tables.js'),
      CONN: azurite.connectionString,
    },
    encoding: 'utf8',
  });
  expect(result.stderr).toBe('');
  expect(JSON.parse(result.stdout)).toStrictEqual({
    afterEntities: false,
    afterXml: true,
    read: [
      {
        id: 'read-only',
        accessPolicy: { permission: 'r', start: '2026-01-01T00:00:00.000Z', expiry: '2027-01-01T00:00:00.000Z' },
      },
    ],
  });
});
