/**
 * The project's local Azure Functions host (Core Tools cannot be installed here).
 *
 * It loads the app's function modules with `@azure/functions-core` answered by a shim (see host/registry.ts), so
 * `app.http(...)` / `app.timer(...)` register exactly as they do in Azure, and then drives each invocation through
 * the library's own ProgrammingModel / InvocationModel, the path the real Node.js worker takes: the handler gets a
 * real `HttpRequest` (built by the library from the same RPC-shaped data the host sends) and a real
 * `InvocationContext`, and its result goes through the library's `toRpcHttp` before we write it the way the
 * Functions host does. Behaviour that differs from a naive node:http server and is reproduced on purpose:
 * - a method that is not in `methods` is a 404 (HTTP method is a route constraint in the host), not a 405;
 * - repeated query keys arrive joined with "," (ASP.NET StringValues), repeated headers joined with ", ";
 * - a handler that throws (or returns something that is not an HTTP response) is a 500 with an empty body;
 * - a handler that returns nothing is a 204;
 * - a Set-Cookie given in `headers` survives only once (the library keeps headers in a record); use `cookies`;
 * - auth levels are not enforced (Core Tools does not enforce them locally either);
 * - request bodies are capped (default 1 MiB → 413) and headers at 32 KiB in total (→ 431), Kestrel's default
 *   `MaxRequestHeadersTotalSize`, which the Functions host runs on (node:http's own default would be 16 KiB).
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
  type Server,
} from 'node:http';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  loadFunctionModules,
  type ModuleLoader,
  globalHooks,
  setSystemLog,
  type CapturedFunction,
  type CapturedHook,
  type FunctionCallback,
  type HookName,
  type RegisteredFunction,
} from './host/registry';
import { compileRoute, RouteTable, splitPath, stripPrefix } from './host/routes';
import { serializeRpcCookie, type RpcHttpCookie } from './host/cookies';
import { CorsPolicy, type CorsOptions } from './host/cors';
import { parseSchedule, type Schedule } from './host/schedule';

export { FunctionModuleLoadError, installFunctionsCoreShim, type RegisteredFunction } from './host/registry';
export { CorsConfigError, type CorsOptions } from './host/cors';
export { ScheduleError } from './host/schedule';
export { RouteTemplateError } from './host/routes';

/** The repository root (this file lives in dev/). */
export const PROJECT_ROOT = resolve(__dirname, '..');

export interface FunctionsHostOptions {
  /** 0 or unset: a free port. */
  port?: number;
  /** Default 127.0.0.1: the host is for local use only. */
  host?: string;
  /** Absolute paths of function modules; default every functions/*.ts (or dist/functions/*.js when built). */
  modules?: string[];
  /** Default: host.json `extensions.http.routePrefix`, else "api" (the Functions default). */
  routePrefix?: string;
  cors?: CorsOptions;
  /** Where log lines go; default stdout. */
  log?: (line: string) => void;
  /** Directory holding host.json; default the repository root. */
  appRoot?: string;
  /** Request body limit; default 1 MiB. */
  maxRequestBodyBytes?: number;
  /** Run timer functions on their schedules (default true); `invokeTimer` and the admin endpoint always work. */
  runTimers?: boolean;
  /**
   * How a function module is evaluated; default: evicted from Node's require cache and required afresh. A test
   * runner with a module registry of its own (Jest) passes its own isolating loader.
   */
  loadModule?: ModuleLoader;
}

export interface FunctionsHost {
  /** e.g. http://127.0.0.1:7071 (no trailing slash). */
  url: string;
  port: number;
  functions: RegisteredFunction[];
  /** Runs a timer function once, as its schedule would; rejects with the handler's error. */
  invokeTimer(name: string): Promise<void>;
  stop(): Promise<void>;
}

export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  readonly code = 'EADDRINUSE';
  constructor(readonly port: number) {
    super(`Port ${port} is unavailable. Close the process using that port, or choose another port (PORT=<number>).`);
  }
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;
const LOG_RANKS: Record<string, number> = {
  trace: 0,
  debug: 1,
  information: 2,
  warning: 3,
  error: 4,
  critical: 5,
  none: 6,
};
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'trailer']);
const MAX_TIMER_DELAY = 2 ** 31 - 1;

interface HostJson {
  extensions?: { http?: { routePrefix?: string } };
  logging?: { logLevel?: Record<string, string> };
}

function readHostJson(appRoot: string): HostJson {
  const path = join(appRoot, 'host.json');
  if (!existsSync(path)) return {};
  return JSON.parse(readFileSync(path, 'utf8')) as HostJson;
}

/** Every functions/*.ts of the app, or dist/functions/*.js when only the build is there (as `main` says). */
export function defaultFunctionModules(appRoot = PROJECT_ROOT): string[] {
  const list = (dir: string, ext: string) =>
    existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => f.endsWith(ext) && !f.endsWith('.d.ts') && !f.includes('.test.'))
          .sort()
          .map((f) => join(dir, f))
      : [];
  const sources = list(join(appRoot, 'functions'), '.ts');
  return sources.length ? sources : list(join(appRoot, 'dist', 'functions'), '.js');
}

function timestamp(): string {
  return `[${new Date().toISOString()}]`;
}

/** Paths only, never query strings: they carry authorization codes and state. Long paths are cut. */
function safePath(pathname: string): string {
  return pathname.length > 200 ? `${pathname.slice(0, 200)}…` : pathname;
}

function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** ASP.NET hands the worker one value per key, repeated keys joined with ",". */
function queryRecord(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of new Set(params.keys())) out[key] = params.getAll(key).join(',');
  return out;
}

function isValidHostHeader(value: string | undefined): value is string {
  return typeof value === 'string' && /^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/.test(value);
}

type BodyResult = { ok: true; body: Buffer } | { ok: false };

function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.resolve({ ok: false });
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        resolvePromise({ ok: false });
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) resolvePromise({ ok: true, body: Buffer.concat(chunks) });
    });
    req.on('error', reject);
  });
}

interface RpcHttpResponse {
  statusCode?: string;
  headers?: Record<string, string>;
  cookies?: RpcHttpCookie[];
  body?: { bytes?: Uint8Array; string?: string } | null;
}

export async function startFunctionsHost(options: FunctionsHostOptions = {}): Promise<FunctionsHost> {
  const appRoot = options.appRoot ?? PROJECT_ROOT;
  const hostJson = readHostJson(appRoot);
  const routePrefix = options.routePrefix ?? hostJson.extensions?.http?.routePrefix ?? 'api';
  const bindHost = options.host ?? '127.0.0.1';
  const bodyLimit = options.maxRequestBodyBytes ?? DEFAULT_BODY_LIMIT;
  const write = options.log ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const cors = options.cors ? new CorsPolicy(options.cors) : undefined;
  const logLevels = hostJson.logging?.logLevel ?? {};
  const levelFor = (fn: string) =>
    LOG_RANKS[
      (logLevels[`Function.${fn}`] ?? logLevels['Function'] ?? logLevels['default'] ?? 'information').toLowerCase()
    ] ?? 2;

  // Library system messages (e.g. "discarding the body of a GET") are worth seeing; its debug chatter is not.
  setSystemLog((level, message) => {
    if ((LOG_RANKS[level] ?? 2) >= LOG_RANKS['warning']!) write(`${timestamp()} [system] ${level}: ${message}`);
  });

  const modulePaths = options.modules ?? defaultFunctionModules(appRoot);
  const loaded = loadFunctionModules(modulePaths, options.loadModule);
  const functions: CapturedFunction[] = loaded.functions;
  if (modulePaths.length > 0 && functions.length === 0) {
    // Most likely cause: app.* ran in this process before the shim existed, so @azure/functions cached
    // "no core API" and is in test mode for good (it prints a WARNING when that happens).
    throw new Error(
      `No functions were registered by ${modulePaths.length} module(s). If @azure/functions was used before ` +
        'dev/functions-host was imported, it is in test mode for this process: import dev/functions-host first.',
    );
  }
  const byName = new Map<string, CapturedFunction>();
  for (const fn of functions) {
    if (byName.has(fn.name.toLowerCase())) throw new Error(`Function "${fn.name}" is registered more than once.`);
    byName.set(fn.name.toLowerCase(), fn);
  }
  const hooksOf = (name: HookName): CapturedHook[] =>
    [...loaded.hooks, ...globalHooks()].filter((h) => h.name === name && !h.disposed);

  const httpFunctions = functions.filter((f) => f.trigger.type.toLowerCase() === 'httptrigger');
  const routes = new RouteTable(
    httpFunctions.map((f) => compileRoute(f.trigger.route ?? f.name, f.trigger.methods ?? ['GET', 'POST'], f)),
  );
  for (const problem of routes.ambiguities()) write(`${timestamp()} [host] warning: ${problem}`);

  const timers = new Map<string, { fn: CapturedFunction; schedule: Schedule; lastRun?: Date }>();
  for (const fn of functions) {
    if (fn.trigger.type.toLowerCase() !== 'timertrigger') continue;
    const schedule = parseSchedule(fn.trigger.schedule ?? '', fn.name);
    // A host that runs its timers checks their cron fields now, before it listens (a ScheduleError fails the start).
    if (options.runTimers !== false) schedule.next(new Date());
    timers.set(fn.name.toLowerCase(), { fn, schedule });
  }

  const appHookData: Record<string, unknown> = {};
  for (const hook of hooksOf('appStart')) await hook.callback({ hookData: appHookData, functionAppDirectory: appRoot });

  /** One invocation, the way the worker runs it: arguments → preInvocation hooks → handler → postInvocation → response. */
  async function invoke(fn: CapturedFunction, data: unknown): Promise<{ returnValue?: unknown }> {
    const invocationId = randomUUID();
    const threshold = levelFor(fn.name);
    const coreCtx = {
      invocationId,
      request: { invocationId, functionId: fn.name, inputData: [{ name: fn.trigger.name, data }], triggerMetadata: {} },
      metadata: fn.metadata,
      state: 'preInvocationHooks' as string,
      log(level: string, category: string, message: string) {
        const rank = LOG_RANKS[level] ?? 2;
        if (category === 'system' ? rank < LOG_RANKS['warning']! : rank < threshold) return;
        const tag = level === 'information' ? '' : ` ${level}:`;
        write(`${timestamp()} [${fn.name}]${tag} ${message}`);
      },
    };
    const model = fn.model.getInvocationModel(coreCtx);
    const { context, inputs } = await model.getArguments();
    const hookData: Record<string, unknown> = {};
    const pre = {
      invocationContext: context,
      inputs,
      functionCallback: fn.handler as FunctionCallback,
      hookData,
      appHookData,
    };
    for (const hook of hooksOf('preInvocation')) await hook.callback(pre);
    coreCtx.state = 'invocation';
    const post: Record<string, unknown> = { invocationContext: context, inputs: pre.inputs, hookData, appHookData };
    try {
      post['result'] = await model.invokeFunction(context, pre.inputs, pre.functionCallback);
    } catch (error) {
      post['error'] = error;
    }
    coreCtx.state = 'postInvocationHooks';
    for (const hook of hooksOf('postInvocation')) await hook.callback(post);
    if (post['error'] !== undefined) throw post['error'];
    return model.getResponse(context, post['result']);
  }

  const runningTimers = new Set<Promise<unknown>>();
  async function runTimer(name: string, reason: string): Promise<void> {
    const entry = timers.get(name.toLowerCase());
    if (!entry) throw new Error(`No timer function named "${name}".`);
    const now = new Date();
    const last = entry.lastRun ?? entry.schedule.previous(now) ?? now;
    entry.lastRun = now;
    // The host sends the timer as PascalCase JSON; the library camel-cases it into the `Timer` type.
    const timerInfo = {
      Schedule: { AdjustForDST: true },
      ScheduleStatus: {
        Last: last.toISOString(),
        Next: entry.schedule.next(now).toISOString(),
        LastUpdated: now.toISOString(),
      },
      IsPastDue: false,
    };
    const started = performance.now();
    const run = invoke(entry.fn, { json: JSON.stringify(timerInfo) });
    runningTimers.add(run);
    try {
      await run;
      write(
        `${timestamp()} Executed 'Functions.${entry.fn.name}' (${reason}, Succeeded, Duration=${Math.round(performance.now() - started)}ms)`,
      );
    } catch (error) {
      write(
        `${timestamp()} Executed 'Functions.${entry.fn.name}' (${reason}, Failed, Duration=${Math.round(performance.now() - started)}ms): ${describe(error)}`,
      );
      throw error;
    } finally {
      runningTimers.delete(run);
    }
  }

  function describe(error: unknown): string {
    return error instanceof Error ? (error.stack ?? error.message) : String(error);
  }

  function send(res: ServerResponse, status: number, headers: Record<string, string> = {}, body?: string): void {
    const bytes = body === undefined ? undefined : Buffer.from(body);
    res.writeHead(status, { ...headers, 'content-length': String(bytes?.length ?? 0) });
    res.end(bytes);
  }

  async function writeFunctionResponse(
    req: IncomingMessage,
    res: ServerResponse,
    returnValue: unknown,
    extra: Record<string, string>,
  ) {
    const http = (returnValue as { http?: RpcHttpResponse } | undefined | null)?.http;
    if (!http) {
      send(res, 204, extra);
      return 204;
    }
    const status = Number(http.statusCode ?? 200) || 200;
    const setCookies: string[] = [];
    for (const [name, value] of Object.entries(http.headers ?? {})) {
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower)) continue;
      if (lower === 'set-cookie') setCookies.push(value);
      else res.setHeader(name, value);
    }
    for (const cookie of http.cookies ?? []) setCookies.push(serializeRpcCookie(cookie));
    if (setCookies.length) res.setHeader('set-cookie', setCookies);
    for (const [name, value] of Object.entries(extra)) {
      if (name === 'vary' && res.hasHeader('vary')) res.setHeader('vary', `${String(res.getHeader('vary'))}, ${value}`);
      else res.setHeader(name, value);
    }
    const raw = http.body?.bytes ?? (http.body?.string !== undefined ? Buffer.from(http.body.string) : undefined);
    const noBody = status === 204 || status === 304 || (status >= 100 && status < 200);
    const body = noBody || !raw ? Buffer.alloc(0) : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    if (!noBody) res.setHeader('content-length', String(body.length));
    res.writeHead(status);
    res.end(req.method === 'HEAD' ? undefined : body);
    return status;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    const logLine = (path: string, status: number, fn?: string) =>
      write(
        `${timestamp()} ${method} ${safePath(path)} -> ${status} (${Math.round(performance.now() - started)}ms${fn ? `, ${fn}` : ''})`,
      );

    const hostHeader = isValidHostHeader(req.headers.host) ? req.headers.host : `${bindHost}:${actualPort}`;
    let url: URL;
    try {
      if (!rawUrl.startsWith('/')) throw new Error('not origin-form');
      url = new URL(`http://${hostHeader}${rawUrl}`);
    } catch {
      send(res, 400);
      logLine('(invalid)', 400);
      return;
    }
    const segments = splitPath(url.pathname);
    if (!segments) {
      send(res, 400);
      logLine('(invalid path)', 400);
      return;
    }
    const corsHeaders = cors?.responseHeaders(req.headers.origin) ?? {};

    if (cors && CorsPolicy.isPreflight(method, req.headers)) {
      send(res, 204, cors.preflightHeaders(req.headers));
      logLine(url.pathname, 204, 'CORS preflight');
      return;
    }

    // Core Tools' admin API: trigger a non-HTTP function by hand, and a readiness probe.
    if (segments[0]?.toLowerCase() === 'admin') {
      if (method === 'POST' && segments[1]?.toLowerCase() === 'functions' && segments.length === 3) {
        await readBody(req, bodyLimit);
        const entry = timers.get(segments[2]!.toLowerCase());
        if (!entry) {
          const known = byName.get(segments[2]!.toLowerCase());
          send(res, known ? 400 : 404);
          logLine(url.pathname, known ? 400 : 404);
          return;
        }
        runTimer(entry.fn.name, 'admin API').catch(() => {});
        send(res, 202);
        logLine(url.pathname, 202, entry.fn.name);
        return;
      }
      if (method === 'GET' && segments[1]?.toLowerCase() === 'host' && segments[2]?.toLowerCase() === 'status') {
        send(res, 200, { 'content-type': 'application/json; charset=utf-8' }, JSON.stringify({ state: 'Running' }));
        return;
      }
    }

    const routed = stripPrefix(segments, routePrefix);
    const match = routed && routes.find(method, routed);
    if (!match) {
      send(res, 404, corsHeaders);
      // A path no function serves is the client's free text: not worth a log line's worth of attacker input.
      logLine('(no route)', 404);
      return;
    }
    const fn = match.route.target;

    const body = await readBody(req, bodyLimit);
    if (!body.ok) {
      // Answer now and close: reading on would let a client stream an unbounded body into us.
      res.shouldKeepAlive = false;
      send(res, 413, { ...corsHeaders, connection: 'close' });
      req.resume();
      logLine(url.pathname, 413, fn.name);
      return;
    }

    const rpcHttp: Record<string, unknown> = {
      method,
      url: url.href,
      headers: flattenHeaders(req.headers),
      query: queryRecord(url.searchParams),
      params: match.params,
    };
    if (body.body.length) rpcHttp['body'] = { bytes: body.body };

    let status: number;
    try {
      const response = await invoke(fn, { http: rpcHttp });
      status = await writeFunctionResponse(req, res, response.returnValue, corsHeaders);
    } catch (error) {
      // Azure answers an unhandled exception with an empty 500; the details belong in the log only.
      write(`${timestamp()} [${fn.name}] error: Executed 'Functions.${fn.name}' (Failed): ${describe(error)}`);
      if (!res.headersSent) send(res, 500, corsHeaders);
      else res.destroy();
      status = 500;
    }
    logLine(url.pathname, status, fn.name);
  }

  let inFlight = 0;
  const idleWaiters: (() => void)[] = [];
  // https://learn.microsoft.com/dotnet/api/microsoft.aspnetcore.server.kestrel.core.kestrelserverlimits.maxrequestheaderstotalsize
  const server: Server = createServer({ maxHeaderSize: 32 * 1024 }, (req, res) => {
    inFlight++;
    res.on('close', () => {
      inFlight--;
      if (inFlight === 0) idleWaiters.splice(0).forEach((w) => w());
    });
    handle(req, res).catch((error: unknown) => {
      write(`${timestamp()} [host] error: ${describe(error)}`);
      if (!res.headersSent) send(res, 500);
      else res.destroy();
    });
  });

  let actualPort = options.port ?? 0;
  await new Promise<void>((resolvePromise, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(options.port ?? 0) : error);
    };
    server.once('error', onError);
    server.listen({ port: options.port ?? 0, host: bindHost, exclusive: true }, () => {
      server.off('error', onError);
      resolvePromise();
    });
  });
  const address = server.address();
  actualPort = typeof address === 'object' && address ? address.port : actualPort;
  const displayHost = bindHost.includes(':') ? `[${bindHost}]` : bindHost;

  // Timers: run on their NCRONTAB schedules while the host is up; never overlapping themselves, like the
  // singleton lock Azure takes for a timer function.
  let stopped = false;
  const pendingTimeouts = new Set<NodeJS.Timeout>();
  function scheduleNext(name: string): void {
    if (stopped) return;
    const entry = timers.get(name)!;
    const due = entry.schedule.next(new Date());
    const arm = () => {
      const delay = due.getTime() - Date.now();
      const handle = setTimeout(
        () => {
          pendingTimeouts.delete(handle);
          if (stopped) return;
          if (due.getTime() > Date.now()) return arm();
          runTimer(entry.fn.name, 'Timer fired')
            .catch(() => {})
            .finally(() => scheduleNext(name));
        },
        Math.min(Math.max(delay, 0), MAX_TIMER_DELAY),
      );
      handle.unref();
      pendingTimeouts.add(handle);
    };
    arm();
  }
  if (options.runTimers !== false) {
    for (const [name, entry] of timers) {
      if (entry.fn.trigger.runOnStartup) runTimer(entry.fn.name, 'Run on startup').catch(() => {});
      scheduleNext(name);
    }
  }

  let stopping: Promise<void> | undefined;
  return {
    url: `http://${displayHost}:${actualPort}`,
    port: actualPort,
    functions: [...functions],
    invokeTimer: (name) => runTimer(name, 'Manual'),
    stop() {
      stopping ??= (async () => {
        stopped = true;
        pendingTimeouts.forEach((t) => clearTimeout(t));
        const closed = new Promise<void>((r) => server.close(() => r()));
        server.closeIdleConnections();
        if (inFlight > 0) {
          await Promise.race([
            new Promise<void>((r) => idleWaiters.push(r)),
            new Promise((r) => setTimeout(r, 5000).unref()),
          ]);
        }
        server.closeAllConnections();
        await closed;
        await Promise.race([Promise.allSettled([...runningTimers]), new Promise((r) => setTimeout(r, 5000).unref())]);
        for (const hook of hooksOf('appTerminate')) await hook.callback({ hookData: appHookData });
      })();
      return stopping;
    },
  };
}
