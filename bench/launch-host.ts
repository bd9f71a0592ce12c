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
import { speakBenchProtocol } from './child-protocol.mjs';

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
  speakBenchProtocol(
    { url: host.url, hostLoadedMs, functions: host.functions.map((f) => f.name) },
    {
      stop: () => host.stop(),
      // The vendor files (bundled SDKs) loaded so far: what each step of a sign-in pulls in.
      commands: { modules: () => Object.keys(require.cache).filter((id) => id.includes('vendor')) },
    },
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`launch-host: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
