/**
 * The identity headers of forward-auth (`/auth/verify`), named as oauth2-proxy's `/oauth2/auth` names them so
 * nginx and Traefik configurations written for it carry over.
 *
 * Values are UTF-8 with every byte outside printable ASCII (and `%` itself) percent-encoded: a name like
 * "Zoë" would otherwise be sent as Latin-1 or refused by the HTTP stack, and CR/LF could never split a header.
 * Roles are comma-separated, a comma inside a role encoded as `%2C`.
 * @see https://oauth2-proxy.github.io/oauth2-proxy/features/endpoints#auth
 */
import type { SignedInUser } from '../core/id-token';

export const IDENTITY_HEADERS = {
  user: 'X-Auth-Request-User',
  email: 'X-Auth-Request-Email',
  name: 'X-Auth-Request-Name',
  tenant: 'X-Auth-Request-Tenant',
  roles: 'X-Auth-Request-Roles',
} as const;

export function identityHeaders(user: SignedInUser): Record<string, string> {
  const headers: Record<string, string> = {};
  const set = (name: string, value: string | undefined) => {
    if (value) headers[name] = headerSafe(value);
  };
  // The stable id: Entra object id (with the tenant beside it), or the OIDC subject.
  set(IDENTITY_HEADERS.user, user.id);
  set(IDENTITY_HEADERS.email, user.email);
  set(IDENTITY_HEADERS.name, user.name);
  set(IDENTITY_HEADERS.tenant, user.tenantId);
  if (user.roles?.length)
    headers[IDENTITY_HEADERS.roles] = user.roles.map((role) => headerSafe(role).replaceAll(',', '%2C')).join(',');
  return headers;
}

function headerSafe(value: string): string {
  return Array.from(Buffer.from(value, 'utf8'), (byte) =>
    byte >= 0x20 && byte < 0x7f && byte !== 0x25
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
  ).join('');
}
