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
 * POST /auth/logout: deletes the session (with JSON `{ "everywhere": true }`: every session of the user) (and the tokens in it), clears the cookie, and sends the user to the
 * provider's end-session endpoint. XHR callers (`X-CSRF: 1`) get `{ logoutUrl }` to navigate to themselves;
 * a plain HTML form post is accepted only from this service's own origin. A native app signs out with its
 * session token as `Authorization: Bearer` and gets the JSON answer.
 */
export function createLogoutHandler(services: ServicesProvider): HttpHandler {
  return endpoint(
    {
      name: 'logout',
      tokenFlowCors: true,
      methods: ['POST'],
      kind: 'json',
      bodyTypes: ['application/x-www-form-urlencoded', 'application/json'],
    },
    services,
    async (request, deps) => {
      const { token, kind } = sessionCredential(request);
      // Native apps (Bearer) and XHR callers get JSON; only a cookie-authenticated call needs CSRF proof.
      const xhr = kind === 'native' || request.header('x-csrf') === '1';
      if (!xhr && !isSameOriginFormPost(request, deps.config.publicOrigin)) throw new AuthError('csrf_required');
      const options = logoutOptions(request);
      const result = await endSession(token, kind, options.postLogoutRedirect, deps, options.everywhere);
      const cookies = [expiredHostCookie(result.clearCookie)];
      return xhr
        ? jsonResponse(200, { logoutUrl: result.logoutUrl }, cookies)
        : redirectResponse(result.logoutUrl, cookies);
    },
  );
}

function isSameOriginFormPost(request: ParsedRequest, publicOrigin: string): boolean {
  if (request.contentType !== undefined && request.contentType !== 'application/x-www-form-urlencoded') return false;
  const origin = request.header('origin');
  if (origin !== undefined) return origin === publicOrigin;
  return request.header('sec-fetch-site') === 'same-origin';
}

/**
 * `post_logout_redirect_uri` (query, form or JSON; the query wins) and `everywhere` (JSON `true`, or form
 * `everywhere=true`): end every session of the user, web and native, not only this one.
 */
function logoutOptions(request: ParsedRequest): { postLogoutRedirect: string | undefined; everywhere: boolean } {
  const fromQuery = request.query('post_logout_redirect_uri');
  if (!request.body) return { postLogoutRedirect: fromQuery, everywhere: false };
  if (request.contentType === 'application/x-www-form-urlencoded') {
    const form = new URLSearchParams(request.body);
    const single = (name: string): string | undefined => {
      const values = form.getAll(name);
      if (values.length > 1) throw new AuthError('invalid_request', { logDetail: `duplicate ${name}` });
      return values[0];
    };
    const everywhere = single('everywhere');
    if (everywhere !== undefined && everywhere !== 'true' && everywhere !== 'false')
      throw new AuthError('invalid_request', { logDetail: 'everywhere' });
    return { postLogoutRedirect: fromQuery ?? single('post_logout_redirect_uri'), everywhere: everywhere === 'true' };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.body);
  } catch {
    throw new AuthError('invalid_request', { logDetail: 'body is not JSON' });
  }
  const body = (parsed ?? {}) as { post_logout_redirect_uri?: unknown; everywhere?: unknown };
  const value = body.post_logout_redirect_uri;
  if (value !== undefined && typeof value !== 'string')
    throw new AuthError('invalid_request', { logDetail: 'post_logout_redirect_uri type' });
  if (body.everywhere !== undefined && typeof body.everywhere !== 'boolean')
    throw new AuthError('invalid_request', { logDetail: 'everywhere type' });
  return { postLogoutRedirect: fromQuery ?? value, everywhere: body.everywhere === true };
}

failFastOnBadConfiguration();
app.http('logout', {
  methods: [...ANY_METHOD_AND_PREFLIGHT],
  route: 'auth/logout',
  authLevel: 'anonymous',
  handler: createLogoutHandler(getServices),
});
