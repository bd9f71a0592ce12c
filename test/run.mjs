// `npm test`: Jest over every test project (jest.config.js), ending with one line "N passed, N failed" (the count
// reporter). The local stand-ins serve HTTPS from a CA made here, before Jest and its workers start, because Node
// reads NODE_EXTRA_CA_CERTS only at start-up. Arguments go to Jest: `npm test -- web-flow`,
// `npm test -- --selectProjects unit`, `npm test -- --coverage`.
import { spawnSync, spawn } from 'node:child_process';
import { mkdirSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const caDir = join(root, '.local', 'test-ca');
mkdirSync(caDir, { recursive: true });
const made = spawnSync(process.execPath, ['--import', 'tsx', 'dev/make-ca.ts', caDir], { cwd: root, stdio: 'inherit' });
if (made.status !== 0) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}

// Browser tests drive Debian's chromium (playwright-core, never a browser download). Install it when missing, the
// run may include them, and we may (root); otherwise those tests fail loudly, they are never skipped.
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const projects = args.flatMap((a, i) => (args[i - 1] === '--selectProjects' ? [a] : []));
const mayRunBrowser = projects.length === 0 || projects.includes('e2e');
if (mayRunBrowser && !existsSync(chromiumPath)) {
  if (process.getuid?.() === 0) {
    process.stderr.write('chromium is missing: apt-get install -y chromium\n');
    const installed = spawnSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq chromium >/dev/null'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (installed.status !== 0)
      process.stderr.write('apt-get could not install chromium: the browser tests will fail\n');
  } else {
    process.stderr.write(
      `chromium is missing at ${chromiumPath} and this is not root: install it (apt-get install chromium); the browser tests will fail\n`,
    );
  }
}

const jestBin = createRequire(import.meta.url).resolve('jest/bin/jest');
const countFile = join(root, '.local', 'test-count.txt');
rmSync(countFile, { force: true });
const child = spawn(process.execPath, [jestBin, ...args], {
  cwd: root,
  stdio: 'inherit',
  env: {
    ...process.env,
    DEV_CA_DIR: caDir,
    NODE_EXTRA_CA_CERTS: join(caDir, 'ca.pem'),
    NODE_ENV: 'test',
    TEST_COUNT_FILE: countFile,
  },
});
child.on('exit', (code, signal) => {
  // The closing line last: Jest prints its own summary after the reporters. A run that ended before the
  // reporter (a configuration error, a signal) still closes with a count.
  process.stdout.write(existsSync(countFile) ? readFileSync(countFile, 'utf8') : '0 passed, 1 failed\n');
  process.exit(code ?? (signal ? 1 : 0));
});
