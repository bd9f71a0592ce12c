/**
 * `npm run serve`: only the functions host, on PORT (default Host.LocalHttpPort, else 7071), configured by the
 * environment and local.settings.json (environment wins).
 *
 * With Azure Functions Core Tools on PATH this builds and runs `func start`; otherwise it runs the project's local
 * host (dev/functions-host.ts), which serves the same registrations. FUNCTIONS_HOST_MODULES (a list of module
 * paths separated by the platform path delimiter or commas) replaces the default functions/*.ts and always selects
 * the local host, since Core Tools cannot take a module list.
 *
 * Start-up failures a developer can fix (port in use, invalid configuration) print one message and exit 1,
 * without a stack trace.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { applyLocalSettings, loadLocalSettings } from './local-settings';
import {
  FunctionModuleLoadError,
  PortInUseError,
  startFunctionsHost,
  type FunctionsHost,
  type RegisteredFunction,
} from './functions-host';

const EXPECTED_ERRORS = new Set([
  'LocalSettingsError',
  'CorsConfigError',
  'ScheduleError',
  'RouteTemplateError',
  'ConfigError',
]);

function findOnPath(command: string): string | undefined {
  const exts = process.platform === 'win32' ? ['.cmd', '.exe', ''] : [''];
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = join(dir, command + ext);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

function parsePort(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw.trim() === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT must be a port number, got "${raw}".`);
  return port;
}

function describeFunction(fn: RegisteredFunction, baseUrl: string, routePrefix: string): string {
  if (fn.trigger.type.toLowerCase() !== 'httptrigger') return `        ${fn.name}: ${fn.trigger.type}`;
  const route = [routePrefix, fn.trigger.route ?? fn.name]
    .filter(Boolean)
    .join('/')
    .replace(/\/{2,}/g, '/');
  const methods = (fn.trigger.methods ?? ['GET', 'POST']).join(',');
  return `        ${fn.name}: [${methods}] ${baseUrl}/${route.replace(/^\//, '')}`;
}

function runCoreTools(func: string, port: number): void {
  process.stdout.write(`npm run serve: Azure Functions Core Tools (${func} start), after npm run build\n`);
  const build = spawnSync('npm', ['run', 'build'], { stdio: 'inherit', shell: process.platform === 'win32' });
  if (build.status !== 0) process.exit(build.status ?? 1);
  const child = spawn(func, ['start', '--port', String(port)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

async function runLocalHost(
  port: number,
  modules: string[] | undefined,
  cors: { origins: string[]; credentials: boolean } | undefined,
) {
  let host: FunctionsHost;
  try {
    host = await startFunctionsHost({
      port,
      host: '127.0.0.1',
      ...(modules ? { modules } : {}),
      ...(cors ? { cors } : {}),
    });
  } catch (error) {
    if (error instanceof PortInUseError) fail(error.message);
    if (error instanceof FunctionModuleLoadError) {
      const cause = error.cause as Error | undefined;
      // The app's configuration errors list every problem in their message; a stack would only hide it.
      if (cause && EXPECTED_ERRORS.has(cause.name)) fail(cause.message);
      fail(`${error.message}\n${cause?.stack ?? ''}`);
    }
    if (error instanceof Error && EXPECTED_ERRORS.has(error.name)) fail(error.message);
    throw error;
  }

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1); // a second Ctrl+C means "now"
    stopping = true;
    process.stdout.write(`Received ${signal}, stopping the functions host...\n`);
    host.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // Handlers first, then the banner: whoever waits for the banner may signal us right away.
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);

  const baseUrl = `http://localhost:${host.port}`;
  const routePrefix = readRoutePrefix();
  const lines = [
    "npm run serve: the project's local functions host (dev/functions-host.ts): Azure Functions Core Tools (func) is not on the PATH",
    `Functions listening on ${baseUrl}`,
    '',
    'Functions:',
    '',
  ];
  for (const fn of host.functions) lines.push(describeFunction(fn, baseUrl, routePrefix), '');
  process.stdout.write(`${lines.join('\n')}\n`);
}

function readRoutePrefix(): string {
  try {
    const hostJson = require(resolve('host.json')) as { extensions?: { http?: { routePrefix?: string } } };
    return hostJson.extensions?.http?.routePrefix ?? 'api';
  } catch {
    return 'api';
  }
}

async function main(): Promise<void> {
  let settings: ReturnType<typeof loadLocalSettings>;
  try {
    settings = loadLocalSettings();
  } catch (error) {
    fail((error as Error).message);
  }
  applyLocalSettings(settings.values);
  const port = parsePort(process.env['PORT'], settings.host.port ?? 7071);

  const moduleList = process.env['FUNCTIONS_HOST_MODULES'];
  const modules = moduleList
    ? moduleList
        .split(new RegExp(`[${delimiter === ';' ? ';' : ':'},]`))
        .map((m) => m.trim())
        .filter(Boolean)
        .map((m) => resolve(m))
    : undefined;

  const func = modules ? undefined : findOnPath('func');
  if (func) {
    runCoreTools(func, port);
    return;
  }
  const cors = settings.host.cors?.length
    ? { origins: settings.host.cors, credentials: settings.host.corsCredentials ?? false }
    : undefined;
  await runLocalHost(port, modules, cors);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
