/**
 * The functions host as a child process of `npm start` (and of the browser and scale-out tests): the project's
 * local host (dev/functions-host.ts) with every functions/*.ts, configured only by the environment the parent
 * hands over. Unlike `npm run serve` it reads no local.settings.json, so the demo's settings are exactly what the
 * parent chose, and it takes CORS from FUNCTIONS_HOST_CORS / FUNCTIONS_HOST_CORS_CREDENTIALS (local.settings.json's
 * Host.CORS is the only other way to give it to the local host).
 *
 * Talks to the parent over the IPC channel: `{ type: 'ready', port }` once it listens, `{ type: 'failed', message }`
 * (one line, no stack) when it cannot start. It exits when the parent goes away (IPC disconnect), even after a
 * SIGKILL of the parent, so it never holds port 7071 on its own.
 */
// First import: the shim for @azure/functions-core must exist before @azure/functions is loaded.
import { FunctionModuleLoadError, PortInUseError, startFunctionsHost, type FunctionsHost } from '../functions-host';

type ParentMessage = { type: 'ready'; port: number } | { type: 'failed'; message: string };

function send(message: ParentMessage, then?: () => void): void {
  if (process.send) process.send(message, undefined, {}, () => then?.());
  else {
    process.stdout.write(`${JSON.stringify(message)}\n`);
    then?.();
  }
}

/** Errors whose message already tells the developer what to fix; a stack would only hide it. */
const EXPECTED = new Set(['ConfigError', 'CorsConfigError', 'ScheduleError', 'RouteTemplateError', 'PortInUseError']);

function oneLine(error: unknown): string {
  const cause = error instanceof FunctionModuleLoadError ? (error.cause as Error | undefined) : undefined;
  const shown = cause && EXPECTED.has(cause.name) ? cause : error;
  if (shown instanceof Error) return EXPECTED.has(shown.name) ? shown.message : (shown.stack ?? shown.message);
  return String(error);
}

async function main(): Promise<void> {
  const port = Number(process.env['PORT'] ?? '7071');
  const origins = (process.env['FUNCTIONS_HOST_CORS'] ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  const credentials = process.env['FUNCTIONS_HOST_CORS_CREDENTIALS'] === 'true';
  let host: FunctionsHost;
  try {
    host = await startFunctionsHost({
      port,
      host: '127.0.0.1',
      ...(origins.length ? { cors: { origins, credentials } } : {}),
      // Keep timers out of short-lived test hosts; `npm start` runs them (FUNCTIONS_HOST_RUN_TIMERS unset).
      runTimers: process.env['FUNCTIONS_HOST_RUN_TIMERS'] !== 'false',
    });
  } catch (error) {
    send({ type: 'failed', message: error instanceof PortInUseError ? error.message : oneLine(error) }, () =>
      process.exit(1),
    );
    return;
  }

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    host.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
  send({ type: 'ready', port: host.port });
}

void main();
