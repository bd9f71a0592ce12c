/**
 * A stand-in for `@azure/functions-core`, the module the Azure Functions Node.js worker injects into the app.
 *
 * `@azure/functions` (v4 model) never talks to the host itself: `app.http(...)` / `app.timer(...)` call
 * `require('@azure/functions-core').setProgrammingModel(...)` and `.registerFunction(metadata, handler)`, and
 * `app.hook.*` calls `.registerHook(...)`. Outside the real worker that require fails and the library drops
 * into "test mode" (registrations are skipped with a warning). We answer that require with this shim through a
 * `Module._resolveFilename` hook (CommonJS), so the project's function modules register exactly as in Azure and
 * the local host serves those registrations: there is no second list of routes to keep in sync.
 *
 * The library caches the core API the first time it asks for it (`tryGetCoreApiLazy`), so the hook has to be
 * installed before anything calls `app.*`: importing this module installs it.
 */
import Module from 'node:module';
import { join } from 'node:path';

/** Trigger and binding metadata as produced by `toCoreFunctionMetadata` in `@azure/functions`. */
export interface CoreBinding {
  type: string;
  direction: 'in' | 'out';
  name?: string;
  [key: string]: unknown;
}

export interface CoreFunctionMetadata {
  name: string;
  bindings: Record<string, CoreBinding>;
  retryOptions?: unknown;
}

/** The slice of `@azure/functions`'s ProgrammingModel the host needs (see `ProgrammingModel.ts` there). */
export interface ProgrammingModel {
  name: string;
  version: string;
  getInvocationModel(coreCtx: unknown): InvocationModel;
}

export interface InvocationModel {
  getArguments(): Promise<{ context: unknown; inputs: unknown[] }>;
  invokeFunction(context: unknown, inputs: unknown[], handler: FunctionCallback): Promise<unknown>;
  getResponse(context: unknown, result: unknown): Promise<{ returnValue?: unknown; outputData?: unknown[] }>;
}

export type FunctionCallback = (...args: unknown[]) => unknown;
export type HookName = 'appStart' | 'appTerminate' | 'preInvocation' | 'postInvocation' | 'log';
export type HookCallback = (coreContext: Record<string, unknown>) => unknown;

/** One function as the app registered it. */
export interface RegisteredFunction {
  name: string;
  /** The trigger binding, flattened: `type` is e.g. `httpTrigger` or `timerTrigger`. */
  trigger: {
    type: string;
    name: string;
    methods?: string[];
    route?: string;
    authLevel?: string;
    schedule?: string;
    runOnStartup?: boolean;
  };
  /** Every binding, as the real host would receive it. */
  bindings: Record<string, CoreBinding>;
  handler: FunctionCallback;
  /** Absolute path of the module whose top level registered this function. */
  modulePath: string;
}

/** Internal: a registration plus the programming model that was current when it was made. */
export interface CapturedFunction extends RegisteredFunction {
  metadata: CoreFunctionMetadata;
  model: ProgrammingModel;
}

export interface CapturedHook {
  name: HookName;
  callback: HookCallback;
  disposed: boolean;
}

interface Capture {
  modulePath: string;
  functions: CapturedFunction[];
  hooks: CapturedHook[];
}

/** Thrown while loading a function module; `cause` is what the module threw (e.g. a `ConfigError`). */
export class FunctionModuleLoadError extends Error {
  override readonly name = 'FunctionModuleLoadError';
  constructor(
    readonly modulePath: string,
    override readonly cause: unknown,
  ) {
    super(`Failed to load function module ${modulePath}: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

const CORE_MODULE = '@azure/functions-core';
// Shared through globalThis so that two copies of this file (tsx source and a build) still share one shim:
// the library caches whichever core API it saw first.
const STATE_KEY = Symbol.for('entra-signin-functions.dev.functions-core-shim');

interface ShimState {
  installed: boolean;
  model: ProgrammingModel | undefined;
  capture: Capture | undefined;
  /** Hooks registered outside module loading (e.g. lazily): they apply to every host in this process. */
  globalHooks: CapturedHook[];
  systemLog: (level: string, message: string) => void;
}

const globalState = globalThis as unknown as Record<symbol, ShimState | undefined>;
const state: ShimState = (globalState[STATE_KEY] ??= {
  installed: false,
  model: undefined,
  capture: undefined,
  globalHooks: [],
  systemLog: () => {},
});

function flattenTrigger(metadata: CoreFunctionMetadata): RegisteredFunction['trigger'] {
  const entry = Object.entries(metadata.bindings).find(([, b]) => /trigger$/i.test(b.type));
  if (!entry) throw new Error(`Function "${metadata.name}" has no trigger binding.`);
  const [bindingName, b] = entry;
  const trigger: RegisteredFunction['trigger'] = { type: b.type, name: bindingName };
  if (Array.isArray(b['methods'])) trigger.methods = (b['methods'] as string[]).map((m) => m.toUpperCase());
  if (typeof b['route'] === 'string') trigger.route = b['route'];
  if (typeof b['authLevel'] === 'string') trigger.authLevel = b['authLevel'];
  if (typeof b['schedule'] === 'string') trigger.schedule = b['schedule'];
  if (typeof b['runOnStartup'] === 'boolean') trigger.runOnStartup = b['runOnStartup'];
  return trigger;
}

/** The object `require('@azure/functions-core')` returns. Mirrors the worker's API surface used by the library. */
export const functionsCoreApi = {
  version: '3.10.1-local',
  get hostVersion(): string {
    return '4.1000.0-local';
  },
  setProgrammingModel(model: ProgrammingModel): void {
    state.model = model;
  },
  getProgrammingModel(): ProgrammingModel | undefined {
    return state.model;
  },
  registerFunction(metadata: CoreFunctionMetadata, handler: FunctionCallback): { dispose(): void } {
    const capture = state.capture;
    // The worker only accepts registrations while it indexes the app (module top level); later ones are a bug.
    if (!capture) throw new Error(`A function can only be registered during app startup ("${metadata.name}").`);
    if (!state.model) throw new Error('registerFunction called before setProgrammingModel.');
    const fn: CapturedFunction = {
      name: metadata.name,
      trigger: flattenTrigger(metadata),
      bindings: metadata.bindings,
      handler,
      modulePath: capture.modulePath,
      metadata,
      model: state.model,
    };
    capture.functions.push(fn);
    return {
      dispose() {
        const i = capture.functions.indexOf(fn);
        if (i >= 0) capture.functions.splice(i, 1);
      },
    };
  },
  registerHook(name: HookName, callback: HookCallback): { dispose(): void } {
    const hook: CapturedHook = { name, callback, disposed: false };
    (state.capture ? state.capture.hooks : state.globalHooks).push(hook);
    return {
      dispose() {
        hook.disposed = true;
      },
    };
  },
  log(level: string, _category: string, message: string): void {
    state.systemLog(level, message);
  },
};

type ModuleInternals = typeof Module & {
  _resolveFilename(request: string, parent: unknown, isMain: boolean, options?: unknown): string;
  _cache: Record<string, Module>;
};

/** Makes `require('@azure/functions-core')` return the shim. Idempotent; installed on import of this module. */
export function installFunctionsCoreShim(): void {
  if (state.installed) return;
  const M = Module as ModuleInternals;
  // A path-looking id that cannot exist on disk: Module._load finds it in the cache and never touches the disk.
  const shimId = join(__dirname, '__virtual__', '@azure-functions-core.js');
  const shimModule = new Module(shimId);
  shimModule.filename = shimId;
  shimModule.loaded = true;
  shimModule.exports = functionsCoreApi;
  M._cache[shimId] = shimModule;
  const original = M._resolveFilename;
  M._resolveFilename = function resolveWithShim(request, parent, isMain, options) {
    if (request === CORE_MODULE) return shimId;
    return original.call(this, request, parent, isMain, options);
  };
  state.installed = true;
}

/** Where the library's own system logs (`coreApi.log`) go; the host points this at its log sink. */
export function setSystemLog(sink: (level: string, message: string) => void): void {
  state.systemLog = sink;
}

export function globalHooks(): CapturedHook[] {
  return state.globalHooks;
}

/** Evaluates one function module (its top level registers the functions). */
export type ModuleLoader = (modulePath: string) => void;

/** Node's loader: evict the module from the require cache, then require it afresh. */
function evictAndRequire(modulePath: string): void {
  const resolved = require.resolve(modulePath);
  delete require.cache[resolved];
  require(resolved);
}

/**
 * Loads function modules and returns what they registered. Each module is evicted from the require cache first,
 * so a second host in the same process (tests: two hosts sharing one Azurite) gets its own registrations; the
 * modules' dependencies stay cached, as they would in one worker process.
 */
export function loadFunctionModules(
  modulePaths: readonly string[],
  loadModule: ModuleLoader = evictAndRequire,
): { functions: CapturedFunction[]; hooks: CapturedHook[] } {
  installFunctionsCoreShim();
  if (state.capture) throw new Error('Function modules are already being loaded (re-entrant loadFunctionModules).');
  const functions: CapturedFunction[] = [];
  const hooks: CapturedHook[] = [];
  for (const modulePath of modulePaths) {
    const capture: Capture = { modulePath, functions: [], hooks: [] };
    state.capture = capture;
    try {
      loadModule(modulePath);
    } catch (error) {
      throw new FunctionModuleLoadError(modulePath, error);
    } finally {
      state.capture = undefined;
    }
    functions.push(...capture.functions);
    hooks.push(...capture.hooks);
  }
  return { functions, hooks };
}

installFunctionsCoreShim();
