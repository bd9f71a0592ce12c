import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = resolve(__dirname, '..', '..');

/**
 * `npm run serve` (dev/serve.ts) in `workDir`, which holds its local.settings.json: the environment's AUTH_* and
 * PORT are dropped so the file decides, and the dev CA paths are made absolute for the other folder. Resolves
 * once the host prints its listening line; its output collects into `output`.
 */
export async function startServeIn(workDir: string, output: string[], timeoutMs = 30_000): Promise<ChildProcess> {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('AUTH_') || name === 'PORT') delete env[name];
  if (env.NODE_EXTRA_CA_CERTS) env.NODE_EXTRA_CA_CERTS = resolve(env.NODE_EXTRA_CA_CERTS);
  if (env.DEV_CA_DIR) env.DEV_CA_DIR = resolve(env.DEV_CA_DIR);
  const child = spawn(
    process.execPath,
    ['--import', pathToFileURL(require.resolve('tsx')).href, join(ROOT, 'dev', 'serve.ts')],
    {
      cwd: workDir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout!.on('data', (chunk) => output.push(String(chunk)));
  child.stderr!.on('data', (chunk) => output.push(String(chunk)));
  const deadline = Date.now() + timeoutMs;
  while (!output.join('').includes('Functions listening on')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start:\n${output.join('')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return child;
}

/**
 * A fresh app folder as a user's would be (the repository's host.json and a local.settings.json with `settings`
 * and `LocalHttpPort`), then `npm run serve` in it. The caller removes `workDir`.
 */
export async function serveWithSettings(
  prefix: string,
  settings: Record<string, string>,
  port: number,
  output: string[],
): Promise<{ workDir: string; host: ChildProcess }> {
  const workDir = mkdtempSync(join(tmpdir(), prefix));
  copyFileSync(join(ROOT, 'host.json'), join(workDir, 'host.json'));
  const values = { FUNCTIONS_WORKER_RUNTIME: 'node', ...settings };
  writeFileSync(
    join(workDir, 'local.settings.json'),
    JSON.stringify({ IsEncrypted: false, Values: values, Host: { LocalHttpPort: port } }),
  );
  return { workDir, host: await startServeIn(workDir, output) };
}
