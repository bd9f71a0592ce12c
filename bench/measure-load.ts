/**
 * Cold start inside one process: the time to load a function bundle and register its functions, as the worker
 * does on start-up (`require` of package.json `main`), with `@azure/functions-core` answered by the local host's
 * shim. Bundled to plain JS by the bench; run once per fresh process: `node measure-load.js <bundle.js>`.
 * Prints `{"ms":…,"cpuMs":…,"functions":…}`: wall time, and the process's CPU time over the same span (less swayed
 * by other work on a shared machine).
 */
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadFunctionModules } from '../dev/host/registry';

const bundle = resolve(process.argv[2] ?? 'dist/main.js');
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const { functions } = loadFunctionModules([bundle]);
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(`${JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, functions: functions.length })}\n`);
