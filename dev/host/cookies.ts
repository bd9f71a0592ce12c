/**
 * Set-Cookie serialization for `HttpResponseInit.cookies`, following the path a cookie takes in Azure:
 * `@azure/functions` turns each Cookie into an RpcHttpCookie (`toRpcHttpCookie`), and the Functions host turns that
 * into ASP.NET Core `CookieOptions` and calls `Response.Cookies.Append(name, value, options)`. Consequences that
 * this reproduces because they change behaviour, not just spelling:
 * - no `path` → `Path=/` (CookieOptions' default);
 * - the value is escaped with `Uri.EscapeDataString` (standard base64 `+/=` arrive at the browser as `%2B%2F%3D`);
 * - `sameSite` unset → no SameSite attribute; `'None'` → `SameSite=None`;
 * - `expires` at or before the epoch (e.g. `new Date(0)`) is dropped by the library, use `maxAge: 0` to clear;
 * - `partitioned` is not part of the library's Cookie type and is dropped.
 * Attribute names are written in canonical case (`Path`, `Secure`, ...); ASP.NET writes them lower-case, which is
 * equivalent (RFC 6265 §5.2: attribute names are case-insensitive, order is irrelevant).
 */

/** An RpcHttpCookie as produced by `toRpcHttpCookie` in `@azure/functions`. */
export interface RpcHttpCookie {
  name: string;
  value: string;
  domain?: { value: string };
  path?: { value: string };
  expires?: { value: { seconds: number } };
  secure?: { value: boolean };
  httpOnly?: { value: boolean };
  sameSite?: 'none' | 'lax' | 'strict' | 'explicitNone';
  maxAge?: { value: number };
}

/** .NET `Uri.EscapeDataString`: RFC 3986 unreserved characters stay, everything else is %-encoded (UTF-8). */
export function escapeDataString(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function serializeRpcCookie(cookie: RpcHttpCookie): string {
  const parts = [`${cookie.name}=${escapeDataString(cookie.value)}`];
  if (cookie.expires) parts.push(`Expires=${new Date(cookie.expires.value.seconds * 1000).toUTCString()}`);
  if (cookie.maxAge) parts.push(`Max-Age=${Math.trunc(cookie.maxAge.value)}`);
  if (cookie.domain?.value) parts.push(`Domain=${cookie.domain.value}`);
  parts.push(`Path=${cookie.path?.value || '/'}`);
  if (cookie.secure?.value) parts.push('Secure');
  if (cookie.httpOnly?.value) parts.push('HttpOnly');
  switch (cookie.sameSite) {
    case 'lax':
      parts.push('SameSite=Lax');
      break;
    case 'strict':
      parts.push('SameSite=Strict');
      break;
    case 'explicitNone':
      parts.push('SameSite=None');
      break;
    default:
      break;
  }
  return parts.join('; ');
}
