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
import type { CookieToSet } from '../core/flow';

export function parseCookieHeader(header: string | null): Record<string, string | undefined> {
  if (!header) return {};
  // cookie.parse keeps the first of duplicate names; a duplicated session cookie is then simply the first one.
  return parse(header, { decode: (value) => value });
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
