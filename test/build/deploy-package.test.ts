/**
 * The deploy package, proven runnable: build it exactly as azd would from azure.yaml (test/_support/azd-package.ts
 * replays azd's Build / Package / zip steps and its remote-build decision), copy what azd would zip into an empty
 * folder with no node_modules anywhere above it, serve that folder with the local Functions host and complete a
 * sign-in against Azurite and the Entra stand-in in the deployed default mode (secretless: the user-assigned managed
 * identity's token is the client assertion). Prints the package's size.
 *
 * The project is copied first (its tracked and unignored files, as a clone has them) so the build writes nothing
 * into the working tree; node_modules is linked in, standing for azd's `npm install` restore step.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { functionNames } from '../_support/function-names';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { startEntraStandIn, type EntraStandIn } from '../../dev/entra-standin';
import { startManagedIdentityStandIn, type ManagedIdentityStandIn } from '../../dev/managed-identity-standin';
import {
  appEnv,
  Browser,
  buildLauncher,
  CLIENT_ID,
  REDIRECT_URI,
  ROOT,
  startChild,
  type AppProcess,
} from '../../bench/support';
import {
  functionService,
  packageFolder,
  resolveRemoteBuild,
  runBuildScript,
  zipEntries,
  type AzdService,
} from '../_support/azd-package';

/** Client id of the app's user-assigned identity (AUTH_MANAGED_IDENTITY_CLIENT_ID in the Bicep). */
const APP_IDENTITY = '5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d';

const temp: string[] = [];
const tempDir = (label: string): string => {
  const dir = mkdtempSync(join(tmpdir(), `signin-${label}-`));
  temp.push(dir);
  return dir;
};

let service: AzdService;
let remoteBuild: boolean;
let entries: string[];
let packageDir: string;
let azurite: AzuriteInstance;
let standIn: EntraStandIn;
let mi: ManagedIdentityStandIn;
let app: AppProcess | undefined;
let launcher: string;

beforeAll(async () => {
  // 1. The project as a fresh clone has it, plus the restored node_modules.
  const project = tempDir('project');
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
    .split('\0')
    .filter((f) => f && existsSync(join(ROOT, f)) && statSync(join(ROOT, f)).isFile());
  for (const f of files) {
    mkdirSync(dirname(join(project, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(project, f));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(project, 'node_modules'), 'dir');

  // 2. azd: the remote-build decision, `npm run build`, the package folder, the zip's entries.
  service = functionService(project);
  remoteBuild = resolveRemoteBuild(project, service);
  const built = runBuildScript(project);
  if (built.status !== 0) throw new Error(`npm run build failed:\n${built.output}`);
  const folder = packageFolder(project, service);
  entries = zipEntries(folder, service);

  // 3. Unzipped into an empty folder: no node_modules there or above it.
  packageDir = tempDir('package');
  for (const entry of entries) {
    mkdirSync(dirname(join(packageDir, entry)), { recursive: true });
    copyFileSync(join(folder, entry), join(packageDir, entry));
  }

  const tools = tempDir('tools');
  launcher = join(tools, 'launch-host.js');
  const [az, identity] = await Promise.all([startAzurite(), startManagedIdentityStandIn(), buildLauncher(launcher)]);
  azurite = az;
  mi = identity;
  standIn = await startEntraStandIn({
    clients: [
      {
        clientId: CLIENT_ID,
        redirectUris: [REDIRECT_URI],
        // The federated credential infra/modules/app-registration.bicep creates: the user-assigned identity.
        federated: [{ issuer: mi.issuer, subject: mi.subjectFor(APP_IDENTITY), publicKeyPem: mi.publicKeyPem }],
      },
    ],
  });
}, 480_000);

afterAll(async () => {
  await app?.stop();
  await standIn?.stop();
  await mi?.stop();
  await azurite?.stop();
  for (const dir of temp) rmSync(dir, { recursive: true, force: true });
});

describe('the package azd builds from azure.yaml', () => {
  test('is built locally and deployed as is: remoteBuild false, from the dist folder', () => {
    expect(remoteBuild).toBe(false);
    expect(service.dist).toBe('.deploy');
  });

  test('holds host.json, package.json whose main is in it, and the bundle; no node_modules, no sources', () => {
    expect(entries).toEqual(expect.arrayContaining(['host.json', 'package.json', 'dist/main.js']));
    const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as {
      main: string;
      dependencies?: object;
      scripts?: object;
    };
    expect(entries).toContain(pkg.main);
    expect(pkg.dependencies).toBeUndefined(); // nothing to install on the server
    expect(pkg.scripts).toBeUndefined(); // nothing to build there either
    expect(entries.filter((e) => e.split('/').includes('node_modules'))).toEqual([]);
    expect(entries.filter((e) => /\.ts$|(^|\/)tsconfig[^/]*\.json$|(^|\/)local\.settings/.test(e))).toEqual([]);
    expect(entries.every((e) => e === 'host.json' || e === 'package.json' || e.startsWith('dist/'))).toBe(true);
    for (let dir = packageDir; dirname(dir) !== dir; dir = dirname(dir))
      expect(existsSync(join(dir, 'node_modules'))).toBe(false);

    const bytes = entries.reduce((n, e) => n + statSync(join(packageDir, e)).size, 0);
    const zipped = entries.reduce(
      (n, e) => n + deflateRawSync(readFileSync(join(packageDir, e)), { level: 9 }).length,
      0,
    );
    const code = entries.filter((e) => e.endsWith('.js')).reduce((n, e) => n + statSync(join(packageDir, e)).size, 0);
    console.log(
      `deploy package (${service.dist}): ${entries.length} files, ${(bytes / 1024).toFixed(0)} KiB ` +
        `(${(code / 1024).toFixed(0)} KiB JavaScript, the rest source maps and licences), about ${(zipped / 1024).toFixed(0)} KiB zipped`,
    );
    expect(bytes).toBeGreaterThan(0);
  });

  test('served from the empty folder, it completes a secretless sign-in (Azurite, Entra and managed-identity stand-ins)', async () => {
    const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { main: string };
    const env = {
      ...appEnv(azurite, standIn, {
        AUTH_CLIENT_SECRET: '',
        AUTH_CREDENTIAL: 'managed-identity',
        AUTH_MANAGED_IDENTITY_CLIENT_ID: APP_IDENTITY,
      }),
      ...mi.env,
      BUNDLE_MAIN: join(packageDir, pkg.main),
      BUNDLE_APP_ROOT: packageDir,
    };
    app = await startChild(launcher, env, ['--enable-source-maps'], packageDir);
    expect([...app.functions].sort()).toEqual(functionNames());

    const browser = new Browser(app.url);
    const authorizeUrl = await browser.login();
    expect(authorizeUrl.startsWith(standIn.url)).toBe(true);
    await browser.callback(await standIn.signIn(authorizeUrl, standIn.users[0]!.username));
    const me = await browser.get('/auth/me');
    expect(me.status).toBe(200);
    expect((JSON.parse(me.body) as { user: { username: string } }).user.username).toBe(standIn.users[0]!.username);
    expect(standIn.counters.codeRedemptions).toBe(1);
    expect(mi.requests.some((r) => r.clientId === APP_IDENTITY && r.resource === 'api://AzureADTokenExchange')).toBe(
      true,
    );

    // Everything the app loaded came from the package folder, not from the repository.
    const loaded = await app.command<string[]>('modules');
    expect(loaded.length).toBeGreaterThan(0);
    expect(loaded.filter((p) => !p.startsWith(packageDir))).toEqual([]);
  }, 120_000);
});
