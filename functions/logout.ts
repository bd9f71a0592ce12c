import { app, type HttpHandler } from '@azure/functions';
import { endSession } from '../shared/core/flow';
import { AuthError } from '../shared/errors';
import { expiredHostCookie } from '../shared/http/cookies';
import { endpoint, type ParsedRequest, type ServicesProvider } from '../shared/http/endpoint';
import { ANY_METHOD_AND_PREFLIGHT, failFastOnBadConfiguration } from '../shared/http/registration';
import { jsonResponse, redirectResponse } from '../shared/http/responses';
import { sessionCredential } from '../shared/http/session-credential';
import { getServices } from '../shared/services';

/**
 * POST /auth/logout: deletes the session (and the tokens in it), clears the cookie, and sends the user to the
 * provider's end-session endpoint. XHR callers (`X-CSRF: 1`) get `{ logoutUrl }` to navigate to themselves;
 * a plain HTML form post is accepted only from this service's own origin. A native app signs out with its
 * session token as `Authorization: Bearer` and gets the JSON answer.
 */
export function createLogoutHandler(services: ServicesProvider): HttpHandler {
  return endpoint(
    { name: 'logout', tokenFlowCors: true, methods: ['POST'], kind: 'json', bodyTypes: ['application/x-www-form-urlencoded', 'application/json'] },
    services,
    async (request, deps) => {
      const { token, kind } = sessionCredential(request);
      // Native apps (Bearer) and XHR callers get JSON; only a cookie-authenticated call needs CSRF proof.
      const xhr = kind === 'native' || request.header('x-csrf') === '1';
      if (!xhr && !isSameOriginFormPost(request, deps.config.publicOrigin)) throw new AuthError('csrf_required');
      const result = await endSession(token, kind, postLogoutRedirect(request), deps);
      const cookies = [expiredHostCookie(result.clearCookie)];
      return xhr ? jsonResponse(200, { logoutUrl: result.logoutUrl }, cookies) : redirectResponse(result.logoutUrl, cookies);
    },
  );
}

function isSameOriginFormPost(request: ParsedRequest, publicOrigin: string): boolean {
  if (request.contentType !== undefined && request.contentType !== 'application/x-www-form-urlencoded') return false;
  const origin = request.header('origin');
  if (origin !== undefined) return origin === publicOrigin;
  return request.header('sec-fetch-site') === 'same-origin';
}

function postLogoutRedirect(request: ParsedRequest): string | undefined {
  const fromQuery = request.query('post_logout_redirect_uri');
  if (fromQuery !== undefined || !request.body) return fromQuery;
  if (request.contentType === 'application/x-www-form-urlencoded') {
    const values = new URLSearchParams(request.body).getAll('post_logout_redirect_uri');
    if (values.length > 1) throw new AuthError('invalid_request', { logDetail: 'duplicate post_logout_redirect_uri' });
    return values[0];
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.body);
  } catch {
    throw new AuthError('invalid_request', { logDetail: 'body is not JSON' });
  }
  const value = (parsed as { post_logout_redirect_uri?: unknown } | null)?.post_logout_redirect_uri;
  if (value !== undefined && typeof value !== 'string') throw new AuthError('invalid_request', { logDetail: 'post_logout_redirect_uri type' });
  return value;
}

failFastOnBadConfiguration();
app.http('logout', { methods: [...ANY_METHOD_AND_PREFLIGHT], route: 'auth/logout', authLevel: 'anonymous', handler: createLogoutHandler(getServices) });
