/**
 * CORS for the token flow's routes (`/auth/token`, `/auth/me`, `/auth/refresh`, `/auth/logout`), for exactly the
 * origins of the web redirect URIs in AUTH_NATIVE_REDIRECT_URIS: single-page apps on another site, which hold a
 * backend session token in memory and send it as `Authorization: Bearer`. No `Access-Control-Allow-Credentials`:
 * these callers use no cookies, so a page on such an origin can never make the browser send the session cookie.
 * Any origin that already receives the handoff code at its redirect URI could redeem it from its own server, so
 * letting its scripts read the answers adds no power.
 *
 * Cookie origins (AUTH_ALLOWED_RETURN_ORIGINS, same-site) keep the platform's CORS with credentials (Azure
 * `siteConfig.cors`; `Host.CORS` locally). Note: when the platform's CORS list is not empty, its middleware
 * answers every preflight itself (ASP.NET Core `CorsMiddleware`), so infra adds these origins to that list too.
 * @see https://fetch.spec.whatwg.org/#http-cors-protocol
 * @see https://learn.microsoft.com/azure/azure-functions/functions-how-to-use-azure-function-app-settings#cors
 */
import type { HttpResponseInit } from '@azure/functions';
import type { AuthConfig } from '../config';

/** Request headers a token-flow page may send: the Bearer token and a JSON or form body's type. */
const ALLOWED_REQUEST_HEADERS = ['authorization', 'content-type'] as const;
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/** `Access-Control-Allow-Origin` for an allowed token-flow origin; always `Vary: Origin` (the answer depends on it). */
export function tokenFlowCorsHeaders(config: AuthConfig, origin: string | undefined): Record<string, string> {
  if (!origin || !config.tokenClientOrigins.includes(origin)) return { Vary: 'Origin' };
  return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
}

export function isPreflight(method: string, headers: { get(name: string): string | null }): boolean {
  return (
    method === 'OPTIONS' && headers.get('origin') !== null && headers.get('access-control-request-method') !== null
  );
}

/**
 * The answer to a preflight: 204 always (as ASP.NET Core's middleware answers), with the CORS headers only when
 * the origin, the method and every requested header are allowed; otherwise the browser stops the request.
 */
export function preflightResponse(
  config: AuthConfig,
  methods: readonly string[],
  headers: { get(name: string): string | null },
): HttpResponseInit {
  const base = { 'Cache-Control': 'no-store', Vary: 'Origin' };
  const origin = headers.get('origin') ?? undefined;
  const method = headers.get('access-control-request-method') ?? '';
  const requested = (headers.get('access-control-request-headers') ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  const allowed =
    origin !== undefined &&
    config.tokenClientOrigins.includes(origin) &&
    methods.includes(method) &&
    requested.every((h) => (ALLOWED_REQUEST_HEADERS as readonly string[]).includes(h));
  if (!allowed) return { status: 204, headers: base };
  return {
    status: 204,
    headers: {
      ...base,
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Allow-Methods': methods.join(', '),
      'Access-Control-Allow-Headers': ALLOWED_REQUEST_HEADERS.join(', '),
      'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_SECONDS),
    },
  };
}
