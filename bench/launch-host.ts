/**
 * A Functions host process serving the BUILT bundle: the project's local host (dev/functions-host) loads the module
 * named by BUNDLE_MAIN (default dist/main.js) as the worker would load package.json `main`, then prints one line
 * `@@READY {"url":...,"readyMs":...}` on stdout. Configuration comes from the environment (AUTH_*).
 *
 * Bundled to plain JS by bench/support.ts (no tsx at start-up), so cold-start figures measure node + host + bundle.
 * Lines on stdin: "stop" ends the process; "usage" prints `@@USAGE {cpu, heap}`; "modules" prints `@@MODULES [...]`,
 * the vendor files loaded so far.
 */
import { startFunctionsHost } from '../dev/functions-host';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

async function main(): Promise<void> {
  const hostLoadedMs = performance.now(); // node bootstrap + this launcher (the local host) evaluated
  const bundle = resolve(process.env['BUNDLE_MAIN'] ?? 'dist/main.js');
  const host = await startFunctionsHost({
    port: 0,
    modules: [bundle],
    appRoot: process.env['BUNDLE_APP_ROOT'] ?? process.cwd(),
    log: process.env['BUNDLE_HOST_LOG'] ? (line) => void process.stderr.write(`${line}\n`) : () => undefined,
    runTimers: false,
  });
  process.stdout.write(
    `@@READY ${JSON.stringify({ url: host.url, readyMs: performance.now(), hostLoadedMs, functions: host.functions.map((f) => f.name) })}\n`,
  );
  let buffered = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const command = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (command === 'usage') {
        global.gc?.();
        process.stdout.write(
          `@@USAGE ${JSON.stringify({ cpu: process.cpuUsage(), heap: process.memoryUsage().heapUsed })}\n`,
        );
      } else if (command === 'modules') {
        const loaded = Object.keys(require.cache).filter((id) => id.includes('vendor'));
        process.stdout.write(`@@MODULES ${JSON.stringify(loaded)}\n`);
      } else if (command === 'stop') {
        void host.stop().finally(() => process.exit(0));
      }
    }
  });
  process.stdin.on('end', () => void host.stop().finally(() => process.exit(0)));
}

main().catch((error: unknown) => {
  process.stderr.write(`launch-host: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
