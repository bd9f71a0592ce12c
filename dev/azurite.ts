/**
 * Azurite (Table service only) for local runs and tests: in memory (or on disk with `location`), on loopback, on a
 * free port, stopped by pid.
 *
 * Runs `azurite/dist/src/table/main.js` in a child node process behind a small wrapper that exits when its stdin
 * closes: stdin is a pipe from this process, so when the parent dies for any reason (even SIGKILL) the pipe closes
 * and Azurite goes with it instead of holding the port forever. A normal exit of the parent also kills it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** The well-known Azurite development account (public, documented by Microsoft; not a secret). */
export const DEV_ACCOUNT_NAME = 'devstoreaccount1';
export const DEV_ACCOUNT_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface AzuriteOptions {
  /** A fixed port (e.g. to restart on the same one after a stop); default a free port. */
  port?: number;
  /** Default true: no access log. With false, Azurite's output is forwarded to this process's stderr. */
  silent?: boolean;
  /** How long to wait for the port to accept connections; default 60 s (a loaded, shared machine starts it slowly). */
  startTimeoutMs?: number;
  /**
   * Keep the tables on disk in this directory instead of in memory (the caller creates and removes it). A stop and a
   * start on the same port and location then model an outage that loses nothing, as Azure's does: stop() has
   * Azurite flush its database before the process ends. Default: in memory, nothing on disk.
   */
  location?: string;
}

export interface AzuriteInstance {
  connectionString: string;
  tableEndpoint: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export class AzuriteStartError extends Error {
  override readonly name = 'AzuriteStartError';
}

/** A port that was free a moment ago (bind 0, read it, release it). */
export function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePromise(port));
    });
  });
}

/** True when something accepts TCP connections on host:port. */
export function isPortOpen(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = createConnection({ port, host });
    const done = (open: boolean) => {
      socket.destroy();
      resolvePromise(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tableMainPath(): string {
  return join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'table', 'main.js');
}

// Runs in the child: die with the parent (stdin EOF), remove the throwaway workspace (its cwd) on the way out,
// then hand over to Azurite with the argv it expects.
const WRAPPER = [
  'const workspace = process.cwd();',
  "process.on('exit', () => { try { require('fs').rmSync(workspace, { recursive: true, force: true }); } catch {} });",
  "process.on('SIGTERM', () => process.exit(0));",
  "process.stdin.on('end', () => process.exit(0)).on('error', () => process.exit(0)).resume();",
  'const main = process.argv[1];',
  'process.argv = [process.argv[0], main, ...process.argv.slice(2)];',
  'require(main);',
].join('\n');

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function killAllOnExit(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

export async function startAzurite(options: AzuriteOptions = {}): Promise<AzuriteInstance> {
  if (options.port !== undefined) return startAzuriteOn(options.port, options);
  // A free port can be taken by another process between the probe and Azurite's listen (parallel test workers):
  // then try another one, a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startAzuriteOn(await findFreePort(), options);
    } catch (error) {
      if (attempt >= 3 || !(error instanceof AzuriteStartError && /EADDRINUSE/.test(error.message))) throw error;
    }
  }
}

async function startAzuriteOn(port: number, options: AzuriteOptions): Promise<AzuriteInstance> {
  const silent = options.silent ?? true;
  // Azurite may write state into its workspace (the cwd: --location is refused with in-memory persistence),
  // so run it in a throwaway directory rather than the repository.
  const location = mkdtempSync(join(tmpdir(), 'azurite-'));
  const args = [
    '-e',
    WRAPPER,
    tableMainPath(),
    ...(options.location !== undefined ? ['--location', options.location] : ['--inMemoryPersistence']),
    '--tableHost',
    '127.0.0.1',
    '--tablePort',
    String(port),
    '--skipApiVersionCheck',
    '--disableProductStyleUrl',
    '--disableTelemetry',
  ];
  if (silent) args.push('--silent');

  const child = spawn(process.execPath, args, { cwd: location, stdio: ['pipe', 'pipe', 'pipe'], env: process.env });
  if (child.pid === undefined) {
    rmSync(location, { recursive: true, force: true });
    throw new AzuriteStartError('Azurite could not be spawned.');
  }
  const pid = child.pid;
  live.add(child);
  killAllOnExit();

  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
    if (!silent) process.stderr.write(chunk);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  // Keep the pipe open (that is the parent-death signal) but never let it hold our event loop open.
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  child.unref();

  const exited = new Promise<void>((resolvePromise) => {
    if (child.exitCode !== null || child.signalCode !== null) resolvePromise();
    else child.once('exit', () => resolvePromise());
  }).then(() => {
    live.delete(child);
    rmSync(location, { recursive: true, force: true });
  });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (options.location !== undefined && child.exitCode === null && child.signalCode === null) {
        // On disk: SIGINT is Azurite's own shutdown, which saves the database; the wrapper's SIGTERM would not wait.
        const flushDeadline = Date.now() + 5000;
        child.kill('SIGINT');
        while (!/successfully closed/.test(output) && child.exitCode === null && Date.now() < flushDeadline) {
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const forced = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(forced);
      } else {
        await exited;
      }
    })();
    return stopping;
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  let earlyExit = false;
  void exited.then(() => {
    earlyExit = true;
  });
  // The "successfully started" line is printed after listen; polling the port also covers --silent and races.
  while (!(await isPortOpen(port, '127.0.0.1', 500))) {
    if (earlyExit) {
      throw new AzuriteStartError(
        `Azurite exited before listening on 127.0.0.1:${port}: ${output.trim() || 'no output'}`,
      );
    }
    if (Date.now() > deadline) {
      await stop();
      throw new AzuriteStartError(`Azurite did not listen on 127.0.0.1:${port} within the timeout: ${output.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!/successfully started/.test(output)) {
    // The port is open but not by our child yet (or another process holds it): wait for Azurite's own word.
    while (!/successfully started/.test(output)) {
      if (earlyExit) throw new AzuriteStartError(`Azurite could not start on port ${port}: ${output.trim()}`);
      if (Date.now() > deadline) {
        await stop();
        throw new AzuriteStartError(`Azurite did not report a start on port ${port}: ${output.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  const tableEndpoint = `http://127.0.0.1:${port}/${DEV_ACCOUNT_NAME}`;
  return {
    connectionString:
      `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT_NAME};AccountKey=${DEV_ACCOUNT_KEY};` +
      `TableEndpoint=${tableEndpoint};`,
    tableEndpoint,
    port,
    pid,
    stop,
  };
}
