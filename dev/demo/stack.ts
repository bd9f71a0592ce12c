/**
 * The whole local stack, as one function: what `npm start` runs (on 7071 / 3000) and what the browser and
 * scale-out tests run (on free ports).
 *
 * - Azurite (Table, in memory) — a child process (dev/azurite.ts).
 * - The Entra stand-in, in this process: the protocol endpoints (discovery, token, JWKS) over HTTPS from the dev
 *   CA, the browser-facing authorize / logout pages on a separate plain-HTTP loopback port (`frontChannel: 'http'`),
 *   so a browser sees no certificate warning while MSAL's back channel stays trusted TLS.
 * - The functions host — a child process (dev/demo/functions-process.ts) with NODE_EXTRA_CA_CERTS set to the dev
 *   CA (Node reads it only at start-up) and every AUTH_* setting chosen here; nothing from local.settings.json or
 *   from AUTH_* variables of the calling shell.
 * - The demo site, in this process (dev/demo/site.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startAzurite, type AzuriteInstance } from '../azurite';
import { issueServerCertificate, type DevCa } from '../ca';
import { DEMO_PASSWORD, startEntraStandIn, type EntraStandIn, type StandInUser } from '../entra-standin';
import { startHttpsFront, type HttpsFront } from '../https-front';
import { forwardToSignIn } from '../same-origin-proxy';
import { PortBusyError, startDemoSite, type DemoSite } from './site';

const PROJECT_ROOT = join(__dirname, '..', '..');
const FUNCTIONS_ENTRY = join(__dirname, 'functions-process.ts');

/** The demo app registration at the stand-in (a fixed id, so bookmarks and logs stay readable across runs). */
export const DEMO_CLIENT_ID = '0d7f3c52-8a4e-4b6f-9c1d-3e5a7b9d2f60';
export const DEMO_APP_NAME = 'Contoso demo site (local)';
/** Redirect URIs of a demo native app: a private-use scheme (iOS/Android) and a loopback one (desktop, any port). */
export const DEMO_NATIVE_REDIRECT_URIS = [
  'com.contoso.signin.demo:/oauth2redirect',
  'http://127.0.0.1/callback',
] as const;
export { DEMO_PASSWORD, PortBusyError };

export interface StackOptions {
  /** Dev CA (with `dir`): the stand-in's certificate comes from it and the functions host trusts its ca.pem. */
  ca: DevCa & { dir: string };
  /** Default 7071; 0 = a free port. */
  functionsPort?: number;
  /** Default 3000; 0 = a free port. */
  demoPort?: number;
  /** Append the functions host's output to this file; default: kept in memory (the last 16 KB, see `functionsOutput`). */
  functionsLogFile?: string;
  /** Run the purge timer on its schedule in the functions host (default true). */
  runTimers?: boolean;
  /**
   * The token-flow SPA demo on a cross-site origin, `http(s)://127.0.0.1:<spaPort>` (127.0.0.1 and localhost are two
   * sites). Default 3001, or a free port when `demoPort` is 0.
   */
  spaPort?: number;
  /**
   * Serve the demo, the SPA and the functions over HTTPS with certificates from the dev CA (`npm start -- --https`):
   * Safari keeps no `Secure` cookie on http://localhost. The functions host then listens on a free internal port
   * behind a TLS front on `functionsPort`.
   */
  https?: boolean;
}

export interface FunctionsProcess {
  url: string;
  port: number;
  pid: number;
  /** The last 16 KB the process wrote (for test failure messages). */
  output(): string;
  /** Resolves when the process has exited, with its code. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export interface Stack {
  demo: DemoSite;
  /** The single-page app on another site (token flow, no cookies). */
  spa: DemoSite;
  functions: FunctionsProcess;
  standIn: EntraStandIn;
  azurite: AzuriteInstance;
  users: readonly StandInUser[];
  password: string;
  /** Milliseconds each part took to start; `azurite` and `standIn` start in parallel. */
  timings: { azurite: number; standIn: number; functions: number; demo: number; total: number };
  /** The environment the functions host got, with PORT=`port`, for more hosts on the same stack (holds the client secret: never log it). */
  functionsEnv(port: number): NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export class StackStartError extends Error {
  override readonly name = 'StackStartError';
}

/** Fails with one message naming every busy port before anything starts. */
export async function assertPortsFree(ports: { port: number; what: string }[]): Promise<void> {
  const busy: string[] = [];
  for (const { port, what } of ports) {
    if (port === 0) continue;
    const free = await new Promise<boolean>((resolvePromise) => {
      const server = createServer();
      server.once('error', () => resolvePromise(false));
      server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolvePromise(true)));
    });
    if (!free) busy.push(`${port} (${what})`);
  }
  if (busy.length === 1) throw new StackStartError(`Port ${busy[0]} is already in use`);
  if (busy.length > 1) throw new StackStartError(`Ports ${busy.join(' and ')} are already in use`);
}

const since = (start: number) => Math.round(performance.now() - start);

/**
 * Starts the functions host as a child process with exactly `env` (plus PATH/HOME etc. from this process, minus
 * any AUTH_* / FUNCTIONS_HOST_* of ours) and waits until it listens.
 */
export async function startFunctionsProcess(
  env: NodeJS.ProcessEnv,
  options: { logFile?: string; timeoutMs?: number } = {},
): Promise<FunctionsProcess> {
  const base: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(AUTH_|FUNCTIONS_HOST_)/.test(name) && name !== 'PORT') base[name] = value;
  }
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', FUNCTIONS_ENTRY], {
    cwd: PROJECT_ROOT,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let output = '';
  let log: import('node:fs').WriteStream | undefined;
  if (options.logFile) {
    const { createWriteStream, mkdirSync } = await import('node:fs');
    mkdirSync(join(options.logFile, '..'), { recursive: true });
    log = createWriteStream(options.logFile, { flags: 'a' });
  }
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-16_384);
    log?.write(chunk);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | null>((resolvePromise) => child.once('exit', (code) => resolvePromise(code)));
  void exited.then(() => log?.end());

  const port = await new Promise<number>((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new StackStartError(
          `the functions host did not start within ${(options.timeoutMs ?? 60_000) / 1000} s: ${output.trim().slice(-2000)}`,
        ),
      );
    }, options.timeoutMs ?? 60_000);
    child.on('message', (message: { type?: string; port?: number; message?: string }) => {
      if (message?.type === 'ready' && typeof message.port === 'number') {
        clearTimeout(timer);
        resolvePromise(message.port);
      } else if (message?.type === 'failed') {
        clearTimeout(timer);
        reject(new StackStartError(String(message.message)));
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(
        new StackStartError(
          `the functions host exited (code ${code}) before it listened: ${output.trim().slice(-2000) || 'no output'}`,
        ),
      );
    });
  });

  let stopping: Promise<void> | undefined;
  return {
    url: `http://localhost:${port}`,
    port,
    pid: child.pid!,
    output: () => output,
    exited,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        const forced = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(forced);
      })();
      return stopping;
    },
  };
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const started = performance.now();
  const wantFunctionsPort = options.functionsPort ?? 7071;
  const wantDemoPort = options.demoPort ?? 3000;
  const wantSpaPort = options.spaPort ?? (wantDemoPort === 0 ? 0 : 3001);
  await assertPortsFree([
    { port: wantFunctionsPort, what: 'functions host' },
    { port: wantDemoPort, what: 'demo site' },
    { port: wantSpaPort, what: 'SPA demo site' },
  ]);

  const parts: {
    demo?: DemoSite;
    spa?: DemoSite;
    standIn?: EntraStandIn;
    azurite?: AzuriteInstance;
    functions?: FunctionsProcess;
    tlsFront?: HttpsFront;
  } = {};
  const stopAll = async () => {
    await parts.tlsFront?.stop();
    await parts.functions?.stop();
    await Promise.allSettled([parts.demo?.stop(), parts.spa?.stop(), parts.standIn?.stop(), parts.azurite?.stop()]);
  };

  try {
    // The functions port must be known before the stand-in registers the redirect URI, the SPA's port before the
    // functions host registers the SPA's redirect URI.
    const functionsPort = wantFunctionsPort || (await freePort());
    const scheme = options.https ? 'https' : 'http';
    const functionsUrl = `${scheme}://localhost:${functionsPort}`;
    const tls = options.https ? issueServerCertificate(options.ca, ['localhost', '127.0.0.1', '::1']) : undefined;

    let t = performance.now();
    parts.demo = await startDemoSite({ port: wantDemoPort, functionsUrl, tls });
    const spaPort = wantSpaPort || (await freePort());
    const spaRedirectUri = `${scheme}://127.0.0.1:${spaPort}/`;
    parts.spa = await startDemoSite({ port: spaPort, functionsUrl, tls, spaRedirectUri, hostName: '127.0.0.1' });
    const demoMs = since(t);
    const demoUrl = parts.demo.url;
    const spaUrl = parts.spa.url;

    const clientSecret = randomBytes(32).toString('base64url');
    let azuriteMs = 0;
    let standInMs = 0;
    t = performance.now();
    const [azurite, standIn] = await Promise.all([
      startAzurite().then((a) => {
        azuriteMs = since(t);
        return (parts.azurite = a);
      }),
      startEntraStandIn({
        protocol: 'entra',
        ca: options.ca,
        frontChannel: 'http',
        clients: [
          {
            clientId: DEMO_CLIENT_ID,
            displayName: DEMO_APP_NAME,
            secrets: [clientSecret],
            // Entra returns after sign-out only to a registered redirect (reply) URI: register the demo page too.
            redirectUris: [`${functionsUrl}/auth/callback`, `${demoUrl}/`, `${functionsUrl}/`],
          },
        ],
      }).then((s) => {
        standInMs = since(t);
        return (parts.standIn = s);
      }),
    ]);

    const functionsEnv = (port: number): NodeJS.ProcessEnv => ({
      AUTH_CLIENT_ID: DEMO_CLIENT_ID,
      AUTH_TENANT_ID: standIn.tenantId,
      AUTH_AUTHORITY: standIn.authority,
      AUTH_PROTOCOL: 'entra',
      AUTH_REDIRECT_URI: `${functionsUrl}/auth/callback`,
      AUTH_SCOPES: 'User.Read',
      AUTH_CREDENTIAL: 'secret',
      AUTH_STORAGE_CONNECTION_STRING: azurite.connectionString,
      AUTH_ALLOWED_RETURN_ORIGINS: demoUrl,
      AUTH_POST_LOGOUT_REDIRECT_URI: `${demoUrl}/`,
      // Each redirect URI with the app name our confirmation page shows. The SPA's redirect URI: its origin gets
      // CORS from the app on the token flow's routes.
      AUTH_NATIVE_REDIRECT_URIS: [
        `${DEMO_NATIVE_REDIRECT_URIS[0]} Contoso Demo`,
        `${DEMO_NATIVE_REDIRECT_URIS[1]} Contoso Desktop Demo`,
        `${spaRedirectUri} Contoso SPA Demo`,
      ].join(','),
      // The platform's CORS answers every preflight once it lists any origin, so the SPA's origin is listed too
      // (as infra/modules/function-app.bicep does).
      FUNCTIONS_HOST_CORS: `${demoUrl},${spaUrl}`,
      FUNCTIONS_HOST_CORS_CREDENTIALS: 'true',
      FUNCTIONS_HOST_RUN_TIMERS: options.runTimers === false ? 'false' : 'true',
      PORT: String(port),
      NODE_EXTRA_CA_CERTS: join(options.ca.dir, 'ca.pem'),
      DEV_CA_DIR: options.ca.dir,
    });

    t = performance.now();
    // HTTPS: the host listens on a free internal port behind a TLS front on the public one (as Front Door would).
    const host = await startFunctionsProcess(
      { ...functionsEnv(options.https ? 0 : functionsPort), AUTH_CLIENT_SECRET: clientSecret },
      { logFile: options.functionsLogFile },
    );
    parts.functions = host;
    if (tls) {
      parts.tlsFront = await startHttpsFront({
        certificate: tls,
        hostName: 'localhost',
        port: functionsPort,
        listener: (req, res) => forwardToSignIn(host.url, req, res),
      });
      const front = parts.tlsFront;
      parts.functions = {
        ...host,
        url: functionsUrl,
        port: functionsPort,
        stop: async () => (await front.stop(), await host.stop()),
      };
    }
    const functionsMs = since(t);

    const { demo, spa, functions } = parts as Required<typeof parts>;
    return {
      demo,
      spa,
      functions,
      standIn,
      azurite,
      users: standIn.users,
      password: DEMO_PASSWORD,
      timings: { azurite: azuriteMs, standIn: standInMs, functions: functionsMs, demo: demoMs, total: since(started) },
      functionsEnv: (port) => ({ ...functionsEnv(port), AUTH_CLIENT_SECRET: clientSecret }),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePromise(port));
    });
  });
}
