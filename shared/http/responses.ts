/**
 * Response shapes. JSON endpoints answer errors as RFC 9457 problem+json with a stable `code`; browser
 * navigations (login, callback) answer a small static HTML page. Neither ever carries a stack, a secret, or
 * anything reflected from the request.
 * @see https://www.rfc-editor.org/rfc/rfc9457
 */
import type { Cookie, HttpResponseInit } from '@azure/functions';
import type { NativeAppIdentity } from '../core/native';
import type { AuthError, ErrorCode } from '../errors';

/** On every response: nothing here may be cached, sniffed, framed, or leak the URL (which may hold a code). */
const BASE_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  Pragma: 'no-cache',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

const PAGE_HEADERS: Record<string, string> = {
  ...BASE_HEADERS,
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Security-Policy':
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Frame-Options': 'DENY',
};

function errorHeaders(error: AuthError): Record<string, string> {
  const headers: Record<string, string> = {};
  if (error.retryAfterSeconds !== undefined) headers['Retry-After'] = String(error.retryAfterSeconds);
  if (error.status === 401) headers['WWW-Authenticate'] = 'Bearer realm="auth"';
  return headers;
}

export function jsonResponse(
  status: number,
  body: unknown,
  cookies: Cookie[] = [],
  headers: Record<string, string> = {},
): HttpResponseInit {
  return {
    status,
    headers: { ...BASE_HEADERS, 'Content-Type': 'application/json; charset=utf-8', ...headers },
    body: JSON.stringify(body),
    cookies,
  };
}

/** Our codes that mean "this grant is no good" to an OAuth client (RFC 6749 §5.2). */
const OAUTH_ERRORS: Partial<Record<ErrorCode, string>> = {
  grant_invalid: 'invalid_grant',
  invalid_grant: 'invalid_grant',
  session_required: 'invalid_grant',
  session_expired: 'invalid_grant',
  interaction_required: 'invalid_grant',
  session_revoked: 'invalid_grant',
  unsupported_grant_type: 'unsupported_grant_type',
  scope_not_allowed: 'invalid_scope',
};

/**
 * Token endpoint errors, RFC 6749 §5.2: `{ error, error_description }` with 400 for grant and request errors;
 * 405/413/415 keep their status; our outages keep theirs (with `Retry-After`) under a standard error name.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export function oauthErrorResponse(error: AuthError, allow?: string): HttpResponseInit {
  const mapped = OAUTH_ERRORS[error.code];
  const status = mapped !== undefined ? 400 : error.status;
  const name =
    mapped ??
    (status === 503 || status === 504 ? 'temporarily_unavailable' : status >= 500 ? 'server_error' : 'invalid_request');
  const headers: Record<string, string> = { ...BASE_HEADERS, 'Content-Type': 'application/json; charset=utf-8' };
  if (error.retryAfterSeconds !== undefined) headers['Retry-After'] = String(error.retryAfterSeconds);
  if (allow) headers.Allow = allow;
  // A claims challenge travels like Entra's own (`claims` beside the error), with where to sign in to meet it.
  const challenge =
    error.problem?.claims !== undefined ? { claims: error.problem.claims, login_url: error.problem.loginUrl } : {};
  return { status, headers, body: JSON.stringify({ error: name, error_description: error.message, ...challenge }) };
}

export function problemResponse(
  error: AuthError,
  cookies: Cookie[] = [],
  allow?: string,
  extensions: Record<string, unknown> = {},
): HttpResponseInit {
  const headers: Record<string, string> = {
    ...BASE_HEADERS,
    'Content-Type': 'application/problem+json; charset=utf-8',
    ...errorHeaders(error),
  };
  if (allow) headers.Allow = allow;
  return {
    status: error.status,
    headers,
    // RFC 9457 §3.2: extension members beside the standard ones.
    body: JSON.stringify({
      type: `urn:entra-signin:error:${error.code}`,
      title: error.message,
      status: error.status,
      code: error.code,
      ...error.problem,
      ...extensions,
    }),
    cookies,
  };
}

/** A body-less answer (204 for forward-auth) with the base headers and the given ones. */
export function emptyResponse(status: number, headers: Record<string, string> = {}): HttpResponseInit {
  return { status, headers: { ...BASE_HEADERS, ...headers } };
}

export function redirectResponse(location: string, cookies: Cookie[] = []): HttpResponseInit {
  return { status: 302, headers: { ...BASE_HEADERS, Location: location }, cookies };
}

/** A static page: the text comes from the error table, never from the request. */
export function errorPageResponse(error: AuthError, cookies: Cookie[] = [], allow?: string): HttpResponseInit {
  const headers = { ...PAGE_HEADERS, ...errorHeaders(error) };
  if (allow) headers.Allow = allow;
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sign-in problem</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1b1b1b}code{background:#f3f3f3;padding:.1rem .3rem}</style>
</head><body><h1>Sign-in problem</h1><p>${error.message}</p><p>Error code: <code>${error.code}</code></p></body></html>`;
  return { status: error.status, headers, body, cookies };
}

/**
 * The page that confirms a native sign-in (RFC 8252 §8.6): it names the app and goes on to the provider only on
 * the user's click. It cannot be framed (no clickjacking of the click) and a page elsewhere cannot read the link.
 */
export function nativeConfirmPageResponse(
  app: NativeAppIdentity,
  authorizeUrl: string,
  cookies: Cookie[],
): HttpResponseInit {
  const who =
    app.name !== undefined
      ? `<strong>${escapeHtml(app.name)}</strong>`
      : `the app that opens <code>${escapeHtml(app.redirectUri)}</code>`;
  const body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sign in to an app</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1b1b1b}code{background:#f3f3f3;padding:.1rem .3rem;word-break:break-all}a.button{display:inline-block;background:#0067b8;color:#fff;padding:.5rem 1.2rem;text-decoration:none;margin-right:1rem}</style>
</head><body><h1>Sign in to an app</h1>
<p>You are signing in to ${who}. Continue only if you just started this sign-in from that app on this device.</p>
<p>If you did not, cancel: another app may be trying to use your account.</p>
<p><a class="button" id="continue" href="${escapeHtml(authorizeUrl)}">Continue</a> <a id="cancel" href="${escapeHtml(app.cancelLocation)}">Cancel</a></p>
</body></html>`;
  return { status: 200, headers: PAGE_HEADERS, body, cookies };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The front-channel logout answer: a tiny static page the provider's sign-out page loads in an iframe, so it may
 * be framed by the provider's origin only, and must not be cached (OIDC Front-Channel Logout 1.0 §2: "the RP's
 * response SHOULD include Cache-Control directives keeping the response from being cached").
 * @see https://openid.net/specs/openid-connect-frontchannel-1_0.html#RPLogout
 */
export function frontChannelPageResponse(providerOrigin: string): HttpResponseInit {
  return {
    status: 200,
    headers: {
      ...BASE_HEADERS,
      'Cache-Control': 'no-cache, no-store',
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': `default-src 'none'; frame-ancestors ${providerOrigin}; base-uri 'none'; form-action 'none'`,
    },
    body: '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signed out</title></head><body></body></html>',
  };
}
