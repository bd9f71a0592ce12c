/**
 * CORS as Core Tools applies `Host.CORS` / `Host.CORSCredentials` from local.settings.json (ASP.NET Core's CORS
 * middleware with `WithOrigins(...).AllowAnyMethod().AllowAnyHeader()` and optionally `AllowCredentials()`):
 * - a preflight (OPTIONS + Origin + Access-Control-Request-Method) is answered 204 by the middleware itself,
 *   with CORS headers only when the origin is allowed;
 * - other responses to an allowed origin get Access-Control-Allow-Origin (the origin itself) and, when configured,
 *   Access-Control-Allow-Credentials; disallowed origins get no CORS headers at all;
 * - `*` is accepted only without credentials (ASP.NET refuses the combination too, and so does the CORS spec).
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface CorsOptions {
  origins: string[];
  credentials: boolean;
}

export class CorsConfigError extends Error {
  override readonly name = 'CorsConfigError';
}

/** ASP.NET compares normalized origins: lower-case, no trailing slash. */
function normalizeOrigin(origin: string): string {
  return origin.trim().replace(/\/+$/, '').toLowerCase();
}

export class CorsPolicy {
  private readonly origins: Set<string>;
  private readonly anyOrigin: boolean;

  constructor(private readonly options: CorsOptions) {
    const list = options.origins.map((o) => o.trim()).filter(Boolean);
    this.anyOrigin = list.includes('*');
    if (this.anyOrigin && options.credentials) {
      throw new CorsConfigError('CORS: "*" cannot be combined with credentials; list the allowed origins instead.');
    }
    this.origins = new Set(list.filter((o) => o !== '*').map(normalizeOrigin));
  }

  /** The Access-Control-Allow-Origin value for this request's Origin, or undefined when it is not allowed. */
  allow(origin: string | undefined): string | undefined {
    if (!origin) return undefined;
    if (this.anyOrigin) return '*';
    return this.origins.has(normalizeOrigin(origin)) ? origin : undefined;
  }

  static isPreflight(method: string | undefined, headers: IncomingHttpHeaders): boolean {
    return (
      method === 'OPTIONS' &&
      typeof headers.origin === 'string' &&
      typeof headers['access-control-request-method'] === 'string'
    );
  }

  preflightHeaders(headers: IncomingHttpHeaders): Record<string, string> {
    const allowed = this.allow(headers.origin);
    if (!allowed) return {};
    const out = this.responseHeaders(headers.origin);
    out['access-control-allow-methods'] = String(headers['access-control-request-method']);
    const requested = headers['access-control-request-headers'];
    if (typeof requested === 'string' && requested.trim()) out['access-control-allow-headers'] = requested;
    return out;
  }

  responseHeaders(origin: string | undefined): Record<string, string> {
    const allowed = this.allow(origin);
    if (!allowed) return {};
    const out: Record<string, string> = { 'access-control-allow-origin': allowed };
    if (this.options.credentials) out['access-control-allow-credentials'] = 'true';
    if (allowed !== '*') out['vary'] = 'Origin';
    return out;
  }
}
