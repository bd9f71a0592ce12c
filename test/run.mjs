// `npm test`: every test file under test/, each in its own process (node:test + tsx), ending with one line
// "N passed, N failed". The local stand-ins serve HTTPS from a CA made here, before any test process starts,
// because Node reads NODE_EXTRA_CA_CERTS only at start-up.
import { spawnSync, spawn } from 'node:child_process';
import { readdirSync, statSync, mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve, relative } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const caDir = join(root, '.local', 'test-ca');
mkdirSync(caDir, { recursive: true });
const made = spawnSync(process.execPath, ['--import', 'tsx', 'dev/make-ca.ts', caDir], { cwd: root, stdio: 'inherit' });
if (made.status !== 0) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}

function findTests(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : findTests(path);
    return name.endsWith('.test.ts') ? [path] : [];
  });
}
const filter = process.argv.slice(2);
const files = findTests(join(root, 'test'))
  .map((f) => relative(root, f))
  .filter((f) => filter.length === 0 || filter.some((part) => f.includes(part)))
  .sort();

// Browser tests drive Debian's chromium (playwright-core, never a browser download). Install it when missing
// and we may (root); otherwise those tests fail loudly, they are never skipped.
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (files.some((f) => readFileSync(join(root, f), 'utf8').includes('_support/browser')) && !existsSync(chromiumPath)) {
  if (process.getuid?.() === 0) {
    process.stderr.write('chromium is missing: apt-get install -y chromium\n');
    const installed = spawnSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq chromium >/dev/null'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (installed.status !== 0) process.stderr.write('apt-get could not install chromium: the browser tests will fail\n');
  } else {
    process.stderr.write(`chromium is missing at ${chromiumPath} and this is not root: install it (apt-get install chromium); the browser tests will fail\n`);
  }
}

const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2',
   '--test-reporter=spec', '--test-reporter-destination=stderr',
   '--test-reporter=./test/_support/count-reporter.mjs', '--test-reporter-destination=stdout', ...files],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, DEV_CA_DIR: caDir, NODE_EXTRA_CA_CERTS: join(caDir, 'ca.pem'), NODE_ENV: 'test' },
  },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
