/**
 * `npm run bench`: performance figures for the deployable bundle, each a ratio against a baseline measured in the
 * same run on the same machine (BENCHMARKS.md; goals: design §10). About 20 minutes on 2 cores at the default knobs
 * (most of it is sign-ins through the stand-in: (d), (q)); `BENCH_ONLY` picks steps.
 * Exits non-zero only when a run is broken (errors, wrong answers), never on a missed goal.
 *
 * The stand-ins serve HTTPS from a dev CA that every process must trust from start-up (NODE_EXTRA_CA_CERTS), so
 * this makes the CA in .local/bench-ca and re-runs itself with it set; the children inherit it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const CA_DIR = join(ROOT, '.local', 'bench-ca');

if (!process.env['NODE_EXTRA_CA_CERTS'] || !process.env['DEV_CA_DIR']) {
  mkdirSync(CA_DIR, { recursive: true });
  const made = spawnSync(process.execPath, ['--import', 'tsx', 'dev/make-ca.ts', CA_DIR], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (made.status !== 0) process.exit(1);
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, DEV_CA_DIR: CA_DIR, NODE_EXTRA_CA_CERTS: join(CA_DIR, 'ca.pem') },
  });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  Promise.resolve()
    .then(() => (require('./bench') as typeof import('./bench')).main())
    .then(
      (code) => process.exit(code),
      (error: unknown) => {
        console.error(`bench: broken run: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        process.exit(1);
      },
    );
}
