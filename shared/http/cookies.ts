/**
 * Cookies: parsed with the `cookie` package (the one @azure/functions itself uses), set through the Functions
 * response's `cookies[]` (design: never hand-built Set-Cookie headers).
 *
 * Every cookie this service sets is `__Host-`-prefixed: Secure, Path=/, no Domain, so no sibling subdomain can
 * set or overwrite it. SameSite=Lax lets the provider's top-level redirect back to /auth/callback carry the
 * transaction cookie while cross-site subrequests carry nothing.
 * @see https://www.rfc-editor.org/rfc/rfc6265bis#name-the-__host-prefix
 */
import type { Cookie } from '@azure/functions';
import { parse } from 'cookie';
import type { CookieToSet } from '../core/deps';
import { SESSION_COOKIE } from '../core/session';
import { TRANSACTION_COOKIE } from '../core/keys';

/** The most cookies of ours one request can usefully carry: the session and five sign-ins in flight, with room. */
const MAX_OWN_COOKIES = 16;
/** Our values are ≤ 100 characters (session token, 43-char binding); a longer value is not one of ours. */
const MAX_OWN_VALUE_LENGTH = 256;

/**
 * Only this service's own cookies, by exact name pattern; everything else in the header is ignored.
 *
 * Sibling subdomains may set `Domain=` cookies that every request here then carries (RFC 6265 §5.3); their size
 * is theirs to choose, so refusing on the header's total size would let any sibling lock users out (cookie
 * bombing). The platform bounds the whole header (Kestrel, under the Functions host: 32 KB of request headers,
 * `KestrelServerLimits.MaxRequestHeadersTotalSize`); what we keep from it is bounded here. Names that are not ours
 * never reach a handler, so none can be echoed into a `Set-Cookie`.
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-5.3
 * @see https://learn.microsoft.com/dotnet/api/microsoft.aspnetcore.server.kestrel.core.kestrelserverlimits.maxrequestheaderstotalsize
 */
export function parseCookieHeader(header: string | null): Record<string, string | undefined> {
  if (!header) return {};
  // cookie.parse keeps the first of duplicate names; a duplicated session cookie is then simply the first one.
  const all = parse(header, { decode: (value) => value });
  const own: Record<string, string | undefined> = {};
  let kept = 0;
  for (const [name, value] of Object.entries(all)) {
    if (!isOwnCookieName(name) || value === undefined || value.length > MAX_OWN_VALUE_LENGTH) continue;
    if (++kept > MAX_OWN_COOKIES) break;
    own[name] = value;
  }
  return own;
}

/** `__Host-session` or a transaction cookie `__Host-signin-<16 hex>`: the only names this service reads or clears. */
export function isOwnCookieName(name: string): boolean {
  return name === SESSION_COOKIE || TRANSACTION_COOKIE.test(name);
}

export function hostCookie(cookie: CookieToSet): Cookie {
  return {
    name: cookie.name,
    value: cookie.value,
    path: '/',
    secure: true,
    httpOnly: true,
    sameSite: 'Lax',
    maxAge: cookie.maxAge,
  };
}

export function expiredHostCookie(name: string): Cookie {
  return hostCookie({ name, value: '', maxAge: 0 });
}
