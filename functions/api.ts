import { app, type HttpHandler } from '@azure/functions';
import { API_LIMITS, API_METHODS, apiTarget, proxyApiRequest } from '../shared/core/api-proxy';
import { endpoint, type ServicesProvider } from '../shared/http/endpoint';
import { failFastOnBadConfiguration, requireCsrfHeader } from '../shared/http/registration';
import { sessionCredential } from '../shared/http/session-credential';
import { getServices } from '../shared/services';

/**
 * ANY /auth/api/{name}/{*path}: the token-free API proxy. Forwards to the AUTH_APIS upstream `name` with the
 * session user's access token for its scopes; the page sends its cookie (plus `X-CSRF: 1`) or a native app its
 * session token as `Authorization: Bearer`, and never sees the access token. See shared/core/api-proxy.ts.
 */
export function createApiHandler(services: ServicesProvider): HttpHandler {
  return endpoint(
    { name: 'api', methods: API_METHODS, kind: 'json', rawBody: { maxBytes: API_LIMITS.requestBodyBytes } },
    services,
    async (request, deps) => {
      // The path first: a request that could go nowhere costs no storage read.
      const target = apiTarget(request.url.pathname, request.url.search, deps.config.apis);
      const session = sessionCredential(request);
      // Every method, GET included: an upstream GET may change state, and a cross-site page must not read it.
      if (session.kind === 'web') requireCsrfHeader(request);
      const answer = await proxyApiRequest(
        { method: request.method, target, header: request.header, body: request.bytes, session },
        deps,
      );
      return { status: answer.status, headers: answer.headers, body: answer.body };
    },
  );
}

failFastOnBadConfiguration();
app.http('api', {
  // OPTIONS too, so it gets our 405 rather than the host's 404. Not TRACE or CONNECT: the worker's request type
  // (undici's) cannot even represent them, so they stay the host's 404.
  methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
  route: 'auth/api/{name}/{*path}',
  authLevel: 'anonymous',
  handler: createApiHandler(getServices),
});
