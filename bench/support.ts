/**
 * Shared by the bench and test/build: build the bundle (scripts/build.mjs) and the host launcher into a directory,
 * start the built app in its own process, and drive a sign-in over HTTP like a browser (cookie jar, no redirects
 * followed automatically).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import type { AzuriteInstance } from '../dev/azurite';
import type { EntraStandIn } from '../dev/entra-standin';

export const ROOT = resolve(__dirname, '..');
export const PUBLIC_ORIGIN = 'https://auth.contoso.example';
export const REDIRECT_URI = `${PUBLIC_ORIGIN}/auth/callback`;
export const CLIENT_ID = '11111111-2222-4333-8444-555555555555';
export const CLIENT_SECRET = 'bench-client-secret-value-0123456789abc';

/** `npm run build` without the type-check, into `outDir` (main.js + vendor/). */
export function buildBundle(outDir: string): void {
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'scripts/build.mjs'), '--out', outDir, '--no-typecheck', '--quiet'],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`build failed: ${r.stderr}${r.stdout}`);
}

/**
 * One bench script (or bench function module) as one plain JS file, so its start-up pays no tsx: bundled like
 * the app's main.js (CommonJS, node20, minified syntax), `@azure/functions-core` left to the host's shim.
 */
export async function bundleScript(entry: string, outFile: string, external: string[] = []): Promise<void> {
  await build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    outfile: outFile,
    external: ['@azure/functions-core', ...external],
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'error',
  });
}

/** bench/launch-host.ts as one JS file (the local host is dev tooling, bundled so start-up pays no tsx). */
export const buildLauncher = (outFile: string): Promise<void> => bundleScript('bench/launch-host.ts', outFile);

export function appEnv(
  azurite: AzuriteInstance,
  standIn: EntraStandIn,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    AUTH_CLIENT_ID: CLIENT_ID,
    AUTH_AUTHORITY: standIn.authority,
    AUTH_PROTOCOL: 'entra',
    AUTH_TENANT_ID: standIn.tenantId,
    AUTH_REDIRECT_URI: REDIRECT_URI,
    AUTH_CLIENT_SECRET: CLIENT_SECRET,
    AUTH_STORAGE_CONNECTION_STRING: azurite.connectionString,
    AUTH_ALLOWED_RETURN_ORIGINS: 'https://app.contoso.example',
    AUTH_SCOPES: 'User.Read',
    // The benchmarks measure the machine's limits, not the per-instance sign-in limit.
    AUTH_SIGNIN_RATE_PER_SECOND: '0',
    ...extra,
  };
}

export const standInClient = () => ({ clientId: CLIENT_ID, secrets: [CLIENT_SECRET], redirectUris: [REDIRECT_URI] });

export interface AppProcess {
  url: string;
  child: ChildProcess;
  /** ms from spawn() to the READY line (parent clock). */
  readyWallMs: number;
  /** performance.now() in the child at READY (child clock, from its process start). */
  readyChildMs: number;
  /** performance.now() in the child once the local host's code is evaluated, before the bundle loads. */
  hostLoadedChildMs: number;
  functions: string[];
  stderr(): string;
  /** A stdin command of the protocol; resolves with the JSON of its `@@NAME` answer line. */
  command<T>(name: 'usage' | 'modules' | 'sessions'): Promise<T>;
  stop(): Promise<void>;
}

/** Starts `node <launcher>` serving `<bundleDir>/main.js`; resolves on READY. */
export function startApp(
  launcher: string,
  bundleDir: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<AppProcess> {
  return startChild(launcher, { ...env, BUNDLE_MAIN: join(bundleDir, 'main.js'), BUNDLE_APP_ROOT: ROOT }, nodeArgs);
}

/** Starts `node <script>` that speaks the @@READY / stdin-command protocol of bench/launch-host.ts. */
export function startChild(
  script: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
  cwd = ROOT,
): Promise<AppProcess> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, script], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  const waiters = new Map<string, (value: unknown) => void>();
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-20000)));
  return new Promise((resolvePromise, reject) => {
    const exited = (code: number | null) => reject(new Error(`app exited (${code}) before READY: ${err}`));
    child.once('exit', exited);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const m = /^@@(\w+) (.*)$/.exec(line);
        if (!m) continue;
        if (m[1] === 'READY') {
          const ready = JSON.parse(m[2]!) as {
            url: string;
            readyMs: number;
            hostLoadedMs?: number;
            functions: string[];
          };
          child.off('exit', exited);
          resolvePromise({
            url: ready.url,
            child,
            readyWallMs: performance.now() - t0,
            readyChildMs: ready.readyMs,
            hostLoadedChildMs: ready.hostLoadedMs ?? 0,
            functions: ready.functions,
            stderr: () => err,
            command<T>(name: 'usage' | 'modules' | 'sessions') {
              return new Promise<T>((res) => {
                waiters.set(name.toUpperCase(), res as (v: unknown) => void);
                child.stdin!.write(`${name}\n`);
              });
            },
            stop() {
              return new Promise<void>((res) => {
                if (child.exitCode !== null || child.signalCode !== null) return res();
                const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
                child.once('exit', () => (clearTimeout(timer), res()));
                child.stdin!.end('stop\n');
              });
            },
          });
        } else {
          const w = waiters.get(m[1]!);
          waiters.delete(m[1]!);
          w?.(JSON.parse(m[2]!));
        }
      }
    });
  });
}

/**
 * A browser for the app: a cookie jar and manual redirects. Also drives a peer that serves the same two paths
 * (bench/peer-server.mjs) when told the name of its session cookie; a session cookie split into `<name>.0`,
 * `<name>.1`, … (as express-openid-connect chunks a large one) counts as present.
 */
/** Where a client signs in: the app's routes, or a bench module's copies of them. */
export interface SignInPaths {
  login: string;
  callback: string;
}
export const AUTH_PATHS: SignInPaths = { login: '/auth/login', callback: '/auth/callback' };

export class Browser {
  readonly jar = new Map<string, string>();
  constructor(
    readonly appUrl: string,
    readonly sessionCookie = '__Host-session',
    readonly paths = AUTH_PATHS,
  ) {}

  /** Whether the jar holds the session cookie (whole or chunked). */
  hasSession(): boolean {
    return [...this.jar.keys()].some((k) => k === this.sessionCookie || k.startsWith(`${this.sessionCookie}.`));
  }

  /** Bytes of the session cookie(s) a request carries (`name=value` pairs, chunks included). */
  sessionCookieBytes(): number {
    let bytes = 0;
    for (const [k, v] of this.jar)
      if (k === this.sessionCookie || k.startsWith(`${this.sessionCookie}.`)) bytes += k.length + 1 + v.length;
    return bytes;
  }

  async get(
    path: string,
    headers: Record<string, string> = {},
    method = 'GET',
  ): Promise<{ status: number; location: string; body: string }> {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(new URL(path, this.appUrl), {
      method,
      redirect: 'manual',
      headers: { ...(cookie ? { cookie } : {}), ...headers },
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      // Cleared by Max-Age=0 (our app) or an Expires date in the past (Express's res.clearCookie).
      const expired = attrs.some(
        (a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]!) <= Date.now()),
      );
      if (expired) this.jar.delete(name);
      else this.jar.set(name, pair!.slice(eq + 1).trim());
    }
    return { status: res.status, location: res.headers.get('location') ?? '', body: await res.text() };
  }

  /** GET /auth/login; returns the authorize URL. */
  async login(): Promise<string> {
    const r = await this.get(`${this.paths.login}?returnTo=%2Fapp`);
    if (r.status !== 302 || !r.location) throw new Error(`login answered ${r.status}: ${r.body.slice(0, 300)}`);
    return r.location;
  }

  /** GET /auth/callback with the provider's query; expects the 302 back to the app with a session. */
  async callback(callbackUrl: string): Promise<void> {
    const r = await this.get(`${this.paths.callback}${new URL(callbackUrl).search}`);
    if (r.status !== 302 || !this.hasSession())
      throw new Error(`callback answered ${r.status}: ${r.body.slice(0, 300)}`);
  }

  /** POST /auth/refresh (X-CSRF: 1); expects a fresh access token. */
  async refresh(): Promise<void> {
    const r = await this.get('/auth/refresh', { 'x-csrf': '1' }, 'POST');
    if (r.status !== 200 || !r.body.includes('access'))
      throw new Error(`refresh answered ${r.status}: ${r.body.slice(0, 300)}`);
  }
}
