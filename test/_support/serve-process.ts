import { spawn, type ChildProcess } from 'node:child_process';
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
