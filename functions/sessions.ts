import { app, type HttpHandler } from '@azure/functions';
import { SESSION_COOKIE } from '../shared/core/session';
import { endCallerSession, listCallerSessions } from '../shared/core/session-control';
import { AuthError } from '../shared/errors';
import { expiredHostCookie } from '../shared/http/cookies';
import { endpoint, type ParsedRequest, type ServicesProvider } from '../shared/http/endpoint';
import { ANY_METHOD, failFastOnBadConfiguration, requireCsrfHeader } from '../shared/http/registration';
import { jsonResponse } from '../shared/http/responses';
import { sessionCredential } from '../shared/http/session-credential';
import { getServices } from '../shared/services';

/**
 * GET /auth/sessions: the caller's own sessions (cookie or Bearer), `{ sessions: [{ id, kind, createdAt,
 * lastSeenAt, current, userAgent }] }`. DELETE /auth/sessions/{id}: ends one of them (a cookie caller sends
 * `X-CSRF: 1`); an id that is not one of the caller's sessions is 404, like an unknown one.
 */
export function createSessionsHandler(services: ServicesProvider): HttpHandler {
  return endpoint({ name: 'sessions', methods: ['GET', 'DELETE'], kind: 'json' }, services, async (request, deps) => {
    const { token, kind } = sessionCredential(request);
    const id = sessionIdOf(request);
    if (request.method === 'GET') {
      if (id !== undefined) throw new AuthError('session_not_found', { logDetail: 'GET of one session' });
      return jsonResponse(200, { sessions: await listCallerSessions(token, kind, deps) });
    }
    // A Bearer header is never sent by a browser on its own, so only the cookie needs the CSRF proof.
    if (kind === 'web') requireCsrfHeader(request);
    if (id === undefined) throw new AuthError('invalid_request', { logDetail: 'DELETE without a session id' });
    const { current } = await endCallerSession(token, kind, id, deps);
    return {
      status: 204,
      headers: jsonResponse(204, null).headers,
      cookies: current && kind === 'web' ? [expiredHostCookie(SESSION_COOKIE)] : [],
    };
  });
}

/** The `{id}` segment, read from the path so every host (Azure, Core Tools, the local one) agrees. */
function sessionIdOf(request: ParsedRequest): string | undefined {
  const match = /^\/auth\/sessions(?:\/([^/]*))?\/?$/i.exec(request.url.pathname);
  if (!match) throw new AuthError('session_not_found', { logDetail: 'unexpected sessions path' });
  return match[1] ? decodeURIComponent(match[1]) : undefined;
}

failFastOnBadConfiguration();
app.http('sessions', {
  methods: [...ANY_METHOD],
  route: 'auth/sessions/{id?}',
  authLevel: 'anonymous',
  handler: createSessionsHandler(getServices),
});
