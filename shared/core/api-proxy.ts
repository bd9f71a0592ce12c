/**
 * The token-free API proxy (a BFF's "remote APIs"): `/auth/api/{name}/<path>` goes to `<base URL of name><path>`
 * with the session user's access token for that API attached server-side, so the page never holds a token.
 * The OAuth browser-apps guidance ranks this pattern above handing tokens to the page.
 * @see https://datatracker.ietf.org/doc/html/draft-ietf-oauth-browser-based-apps#name-backend-for-frontend-bff
 *
 * What reaches the upstream is built, not copied: the path below the configured base path only (no dot segment,
 * no encoded separator, no empty segment, so it can neither climb out of the base path nor smuggle one past a
 * front end that decodes again), the query as received, and a short allow-list of request headers. What comes
 * back is the upstream's status and body with an allow-list of its headers, plus headers that keep an upstream
 * answer served from this origin from running script here (this origin can mint tokens through /auth/refresh).
 */
import type { ApiUpstream } from '../config';
import { AuthError } from '../errors';
import type { ApiAnswer } from '../ports';
import { apiClaimsChallenge, claimsChallengeError } from './claims-challenge';
import { sessionAccessToken } from './flow';
import type { CoreDeps } from './deps';
import type { SessionKind } from './session';

/** Request body, answer body and deadline of one proxied call. */
export const API_LIMITS = {
  requestBodyBytes: 1024 * 1024,
  responseBodyBytes: 8 * 1024 * 1024,
  timeoutMs: 30_000,
} as const;

/** Methods the proxy forwards (CONNECT, TRACE and OPTIONS are answered 405 here: CORS preflights never reach it). */
export const API_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export const API_ROUTE_PREFIX = '/auth/api/';

/**
 * Request headers passed on: content negotiation, conditional and range requests, tracing. Not: Cookie,
 * Authorization (replaced), X-CSRF, Host, Origin, Referer, Forwarded / X-Forwarded-*, X-MS-* (platform and
 * Easy Auth identity headers an attacker could forge), or any hop-by-hop header (RFC 9110 §7.6.1).
 */
export const FORWARDED_REQUEST_HEADERS = [
  'accept',
  'accept-language',
  'content-type',
  'content-encoding',
  'content-language',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'if-range',
  'range',
  'prefer',
  'traceparent',
  'tracestate',
  'x-request-id',
  'x-correlation-id',
] as const;

/**
 * Answer headers passed back. Not: Set-Cookie (an upstream must not set cookies on this origin), WWW-Authenticate
 * (its challenge is for this proxy, not the page), Content-Length / Content-Encoding (the body is decoded and
 * re-framed), Cache-Control (replaced: every answer here is per user), CORS or security policy headers.
 */
export const RETURNED_RESPONSE_HEADERS = [
  'content-type',
  'content-language',
  'content-disposition',
  'content-range',
  'accept-ranges',
  'allow',
  'etag',
  'last-modified',
  'expires',
  'retry-after',
  'x-request-id',
  'x-correlation-id',
] as const;

/** Added to every proxied answer: per-user (no shared caching), and inert if it is HTML or SVG. */
const PROXIED_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; sandbox",
  'x-frame-options': 'DENY',
};

export interface ApiTarget {
  api: ApiUpstream;
  /** The upstream URL: the API's base URL, the checked path below it, the query as received. */
  url: string;
}

/**
 * Where a proxied request goes. `pathname` and `search` are the request URL's (percent-encoding intact);
 * throws `api_not_found` for a name not in AUTH_APIS and `api_path_invalid` for a path that could leave the base.
 */
export function apiTarget(pathname: string, search: string, apis: ReadonlyMap<string, ApiUpstream>): ApiTarget {
  if (pathname.slice(0, API_ROUTE_PREFIX.length).toLowerCase() !== API_ROUTE_PREFIX)
    throw invalidPath('not under /auth/api/');
  const rest = pathname.slice(API_ROUTE_PREFIX.length);
  const slash = rest.indexOf('/');
  const name = slash < 0 ? rest : rest.slice(0, slash);
  // Exact, undecoded match: `%61pi` is not `api`, and a name is never looked up through the prototype chain.
  const api = apis.get(name);
  if (!api) throw new AuthError('api_not_found', { logDetail: 'no AUTH_APIS entry of that name' });

  const segments = slash < 0 ? [] : rest.slice(slash + 1).split('/');
  segments.forEach((segment, i) => checkSegment(segment, i === segments.length - 1));
  const url = new URL(`${api.baseUrl}${segments.join('/')}${search}`);
  // Belt and braces over the segment rules: whatever the URL parser made of it is still below the base URL.
  if (!url.href.startsWith(api.baseUrl) || url.origin !== new URL(api.baseUrl).origin)
    throw invalidPath('resolved outside the base URL');
  return { api, url: url.href };
}

/**
 * RFC 3986 §5.2.4 removes `.` and `..` segments, and WHATWG URL treats `%2e` as a dot: either would climb out of
 * the base path. An encoded `/` or `\` (or one encoded twice) becomes a separator at any hop that decodes again
 * (request smuggling past a front end's path rules). An empty segment lets `//host`-shaped paths through, which
 * some frameworks read as a new authority. Control characters (CR, LF, NUL) never belong in a path.
 */
function checkSegment(segment: string, last: boolean): void {
  if (segment === '') {
    if (last) return; // a trailing slash is part of the upstream path
    throw invalidPath('empty segment');
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    throw invalidPath('bad percent-encoding');
  }
  if (decoded === '.' || decoded === '..') throw invalidPath('dot segment');

  if (/[/\\\u0000-\u001f\u007f]/.test(decoded)) throw invalidPath('encoded separator or control character');
  if (/%(?:2e|2f|5c|00|0a|0d)/i.test(decoded)) throw invalidPath('double-encoded dot, separator or control character');
}

function invalidPath(why: string): AuthError {
  return new AuthError('api_path_invalid', { logDetail: why });
}

export interface ApiProxyRequest {
  method: string;
  target: ApiTarget;
  header(name: string): string | undefined;
  body: Uint8Array | undefined;
  session: { token: string | undefined; kind: SessionKind };
}

export interface ApiProxyResponse {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | undefined;
}

/**
 * Forwards one request with the session's access token for the API (through the same single-flight refresh as
 * /auth/refresh). An upstream claims challenge becomes `interaction_required`; any other answer passes back.
 */
export async function proxyApiRequest(request: ApiProxyRequest, deps: CoreDeps): Promise<ApiProxyResponse> {
  const { api, url } = request.target;
  const token = await sessionAccessToken(request.session.token, request.session.kind, api.scopes, deps);
  const bodyless = request.method === 'GET' || request.method === 'HEAD';
  const answer = await deps.apiClient().send({
    method: request.method,
    url,
    accessToken: token.access_token,
    headers: forwardedHeaders(request.header),
    body: bodyless ? undefined : request.body,
  });
  deps.logger.info('api upstream answered', { api: api.name, status: answer.status });
  if (answer.status === 401) {
    const claims = apiClaimsChallenge(answer.challenges);
    if (claims !== undefined)
      throw claimsChallengeError(claims, deps.config, `API ${api.name} answered a claims challenge`);
  }
  return {
    status: answer.status,
    headers: returnedHeaders(answer, request.target),
    body: request.method === 'HEAD' ? undefined : answer.body,
  };
}

/** The allow-listed request headers, minus any the client named in `Connection` (hop-by-hop by declaration). */
export function forwardedHeaders(header: (name: string) => string | undefined): Record<string, string> {
  const hopByHop = new Set((header('connection') ?? '').split(',').map((name) => name.trim().toLowerCase()));
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = header(name);
    if (value !== undefined && !hopByHop.has(name)) headers[name] = value;
  }
  return headers;
}

/** The allow-listed answer headers, a Location only when it stays below the base URL (rewritten to the proxy). */
export function returnedHeaders(answer: Pick<ApiAnswer, 'headers'>, target: ApiTarget): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of RETURNED_RESPONSE_HEADERS) {
    const value = answer.headers[name];
    if (value !== undefined) headers[name] = value;
  }
  const location = answer.headers.location;
  if (location !== undefined) {
    const resolved = URL.canParse(location, target.url) ? new URL(location, target.url) : undefined;
    // Anywhere else would send the browser to the upstream itself (without a token) or off-site: drop it.
    if (resolved?.href.startsWith(target.api.baseUrl)) {
      headers.location = `${API_ROUTE_PREFIX}${target.api.name}/${resolved.href.slice(target.api.baseUrl.length)}`;
    }
  }
  return { ...headers, ...PROXIED_RESPONSE_HEADERS };
}
