/**
 * The demo site: a static page on its own origin (http://localhost:3000 under `npm start`) that uses the sign-in
 * service the way a real static site or SPA would: a top-level navigation to /auth/login, then `fetch` with
 * `credentials: 'include'` (CORS with credentials) for /auth/me, /auth/refresh and /auth/logout, the latter two
 * with the `X-CSRF: 1` header. No build step: plain HTML, CSS and one script from dev/demo/public.
 *
 * `localhost:3000` and `localhost:7071` are different origins but the same site (ports do not make a site), so
 * the SameSite=Lax session cookie goes with these fetches; cookies are not isolated by port either, which is why
 * the page can show that `document.cookie` does not contain it (HttpOnly).
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { join } from 'node:path';

const PUBLIC_DIR = join(__dirname, 'public');

export interface DemoSite {
  /** e.g. http://localhost:3000 */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export class PortBusyError extends Error {
  override readonly name = 'PortBusyError';
  constructor(
    readonly port: number,
    readonly what: string,
  ) {
    super(`Port ${port} (${what}) is already in use.`);
  }
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export interface StaticFile {
  type: string;
  body: string;
}
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** The cookie demo's files, talking to the sign-in service at `functionsOrigin` (another origin, or this one). */
export function demoFiles(functionsOrigin: string): Record<string, StaticFile> {
  return {
    '/': {
      type: 'text/html; charset=utf-8',
      body: readFileSync(join(PUBLIC_DIR, 'index.html'), 'utf8').replaceAll(
        '{{FUNCTIONS_URL}}',
        escapeAttribute(functionsOrigin),
      ),
    },
    '/app.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(join(PUBLIC_DIR, 'app.js'), 'utf8') },
    '/style.css': { type: 'text/css; charset=utf-8', body: readFileSync(join(PUBLIC_DIR, 'style.css'), 'utf8') },
    '/favicon.svg': { type: 'image/svg+xml', body: readFileSync(join(PUBLIC_DIR, 'favicon.svg'), 'utf8') },
  };
}

/**
 * The single-page app on another site (token flow, no cookies): `/` is also its redirect URI, `redirectUri`,
 * which must be in AUTH_NATIVE_REDIRECT_URIS.
 */
export function spaFiles(functionsOrigin: string, redirectUri: string): Record<string, StaticFile> {
  const demo = demoFiles(functionsOrigin);
  return {
    '/': {
      type: 'text/html; charset=utf-8',
      body: readFileSync(join(PUBLIC_DIR, 'spa.html'), 'utf8')
        .replaceAll('{{FUNCTIONS_URL}}', escapeAttribute(functionsOrigin))
        .replaceAll('{{REDIRECT_URI}}', escapeAttribute(redirectUri)),
    },
    '/spa.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(join(PUBLIC_DIR, 'spa.js'), 'utf8') },
    '/style.css': demo['/style.css']!,
    '/favicon.svg': demo['/favicon.svg']!,
  };
}

/**
 * Serves `files` (GET/HEAD only) with a CSP that lets the page talk to `functionsOrigin` and nothing else;
 * `fallback` (e.g. a proxy for /auth/*) gets every other path.
 */
export function staticSite(
  files: Record<string, StaticFile>,
  functionsOrigin: string,
  fallback?: RequestListener,
): RequestListener {
  // Only this origin's files run; the page may talk to the sign-in service and nothing else.
  const csp =
    `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src ${functionsOrigin}; ` +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
  return (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const file = files[path === '/index.html' ? '/' : path];
    if (!file && fallback) return fallback(req, res);
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !file) {
      res.writeHead(file ? 405 : 404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(file ? 'Method not allowed\n' : 'Not found\n');
      return;
    }
    res.writeHead(200, {
      'Content-Type': file.type,
      'Content-Security-Policy': csp,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  };
}

/** Listens on 127.0.0.1:`port` (0: a free port). `functionsUrl` is the sign-in service's origin. */
export async function startDemoSite(options: {
  port: number;
  functionsUrl: string;
  /** Serve the token-flow SPA instead of the cookie demo; its redirect URI. */
  spaRedirectUri?: string;
  /** Serve HTTPS with this certificate (npm start -- --https). */
  tls?: { certPem: string; keyPem: string };
  /** The URL's host name (default localhost). */
  hostName?: string;
}): Promise<DemoSite> {
  const functionsOrigin = new URL(options.functionsUrl).origin;
  const files = options.spaRedirectUri ? spaFiles(functionsOrigin, options.spaRedirectUri) : demoFiles(functionsOrigin);
  const listener = staticSite(files, functionsOrigin);
  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.certPem, key: options.tls.keyPem }, listener)
    : createServer(listener);
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  const port = await new Promise<number>((resolvePromise, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new PortBusyError(options.port, options.spaRedirectUri ? 'SPA demo site' : 'demo site')
          : error,
      ),
    );
    server.listen({ port: options.port, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      resolvePromise(typeof address === 'object' && address ? address.port : options.port);
    });
  });

  return {
    url: `${options.tls ? 'https' : 'http'}://${options.hostName ?? 'localhost'}:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolvePromise) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolvePromise());
      }),
  };
}
