/**
 * Topology 2, "one origin through the site's own proxy", as a tested example: the site's server answers its own
 * pages and forwards `/auth/*` to the sign-in functions, so the browser sees one origin (`https://www.contoso.com`)
 * and the session cookie is first-party. The same rules apply to a Front Door route, nginx `proxy_pass` or a
 * framework rewrite:
 *
 * - Forward the method, the path and the query unchanged, and the body as it comes.
 * - Forward the end-to-end request headers: `Cookie`, `Authorization`, `X-CSRF`, `Content-Type`, `Origin`,
 *   `Accept`, `User-Agent`, `Sec-Fetch-*`. Drop the hop-by-hop ones (RFC 9110 §7.6.1).
 * - `Host` is the upstream's own host name (what Azure routes by). The service never reads `Host` or
 *   `X-Forwarded-Host` to build a URL: its public origin comes from `AUTH_REDIRECT_URI`, which is
 *   `https://www.contoso.com/auth/callback` here (and a reply URL of the app registration). So a forged `Host`
 *   or `X-Forwarded-*` from a client changes nothing; this proxy does not add or trust them either.
 * - Return the status and every response header unchanged, each `Set-Cookie` separately (the cookies are
 *   `__Host-`: no `Domain`, so they bind to the site's host), `Location` included (the service only emits
 *   relative paths or absolute URLs it built from AUTH_REDIRECT_URI and the allowed origins).
 * - Do not cache anything under `/auth/` (the service answers `Cache-Control: no-store`).
 *
 * CORS is not involved: page and service are one origin. On Azure, lock the Function App to the proxy (access
 * restrictions) so that nothing reaches it around the site.
 */
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** RFC 9110 §7.6.1 hop-by-hop headers, plus `Host` (set to the upstream's) and `Proxy-*`. */
const NOT_FORWARDED = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

/** Forwards one request to `upstream` (an origin such as `https://func-x.azurewebsites.net`). */
export function forwardToSignIn(upstream: string, req: IncomingMessage, res: ServerResponse): void {
  const target = new URL(req.url ?? '/', upstream);
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (!NOT_FORWARDED.has(name) && !name.startsWith('proxy-')) headers[name] = value;
  }
  headers.host = target.host;
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const outgoing = send(target, { method: req.method, headers }, (answer) => {
    const responseHeaders: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !NOT_FORWARDED.has(name)) responseHeaders[name] = value;
    }
    res.writeHead(answer.statusCode ?? 502, responseHeaders);
    answer.pipe(res);
  });
  outgoing.on('error', () => {
    if (!res.headersSent)
      res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end('Bad gateway\n');
  });
  req.pipe(outgoing);
}

/** The site's request handler: `/auth/*` to the sign-in service, everything else to the site's own handler. */
export function sameOriginProxy(upstream: string, site: (req: IncomingMessage, res: ServerResponse) => void) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = new URL(req.url ?? '/', 'http://site.invalid').pathname;
    if (path === '/auth' || path.startsWith('/auth/')) forwardToSignIn(upstream, req, res);
    else site(req, res);
  };
}
