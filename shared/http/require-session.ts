/**
 * `requireSession(request)`: for functions a team adds to this Function App. It answers "who is calling?" from
 * the same session the /auth/* endpoints use (the `__Host-session` cookie, or a native app's session token as
 * `Authorization: Bearer`): the signed-in user, or a ready 401 / 403 problem+json response to return.
 *
 * Cookie requests that can change state (anything but GET / HEAD / OPTIONS) need `X-CSRF: 1`, as the built-in
 * endpoints do. The request body is not read: the function still has it. One session read, no provider call.
 *
 *   const auth = await requireSession(request);
 *   if (!auth.ok) return auth.response;
 *   // auth.user.id, auth.user.tenantId, auth.user.roles, …
 */
import type { HttpRequest, HttpResponseInit } from '@azure/functions';
import { readSession } from '../core/flow';
import type { SignedInUser } from '../core/id-token';
import type { SessionKind } from '../core/session';
import { AuthError } from '../errors';
import { getServices } from '../services';
import { parseCookieHeader } from './cookies';
import { LIMITS, toAuthError, type ServicesProvider } from './endpoint';
import { requireCsrfHeader } from './registration';
import { problemResponse } from './responses';
import { sessionCredential } from './session-credential';

export type SessionCheck =
  { ok: true; user: SignedInUser; kind: SessionKind; expiresAt: string } | { ok: false; response: HttpResponseInit };

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export async function requireSession(
  request: HttpRequest,
  services: ServicesProvider = getServices,
): Promise<SessionCheck> {
  const deps = services();
  try {
    const headers = { header: (name: string) => request.headers.get(name) ?? undefined };
    const cookieHeader = request.headers.get('cookie');
    if (cookieHeader && Buffer.byteLength(cookieHeader) > LIMITS.cookieHeaderBytes)
      throw new AuthError('request_too_large', { logDetail: 'cookie header' });
    const { token, kind } = sessionCredential({ ...headers, cookies: parseCookieHeader(cookieHeader) });
    if (kind === 'web' && !SAFE_METHODS.has(request.method)) requireCsrfHeader(headers);
    const session = await readSession(token, kind, deps);
    return { ok: true, user: session.user, kind, expiresAt: session.expiresAt };
  } catch (error) {
    return { ok: false, response: problemResponse(toAuthError(error, deps.logger)) };
  }
}
