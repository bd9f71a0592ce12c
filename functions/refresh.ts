import { app, type HttpHandler } from '@azure/functions';
import { refreshAccessToken } from '../shared/core/flow';
import { AuthError } from '../shared/errors';
import { endpoint, type ParsedRequest, type ServicesProvider } from '../shared/http/endpoint';
import { ANY_METHOD_AND_PREFLIGHT, failFastOnBadConfiguration, requireCsrfHeader } from '../shared/http/registration';
import { jsonResponse } from '../shared/http/responses';
import { sessionCredential } from '../shared/http/session-credential';
import { getServices } from '../shared/services';

/**
 * POST /auth/refresh: a fresh access token for the session's user (from the session's own MSAL cache, using
 * the Entra refresh token server-side). The refresh token itself never leaves the server. A native app may use
 * its session token as `Authorization: Bearer` instead of the cookie; that does not rotate it (`/auth/token` does).
 */
export function createRefreshHandler(services: ServicesProvider): HttpHandler {
  return endpoint(
    { name: 'refresh', tokenFlowCors: true, methods: ['POST'], kind: 'json', bodyTypes: ['application/json'] },
    services,
    async (request, deps) => {
      const { token, kind } = sessionCredential(request);
      // A Bearer header is never sent by a browser on its own, so only the cookie needs the CSRF proof.
      if (kind === 'web') requireCsrfHeader(request);
      return jsonResponse(200, await refreshAccessToken(token, kind, requestedScopes(request), deps));
    },
  );
}

/** Optional JSON body `{ "scopes": ["..."] }`; anything else is a 400. */
function requestedScopes(request: ParsedRequest): string[] | undefined {
  if (!request.body) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(request.body);
  } catch {
    throw new AuthError('invalid_request', { logDetail: 'body is not JSON' });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new AuthError('invalid_request', { logDetail: 'body is not an object' });
  const scopes = (parsed as { scopes?: unknown }).scopes;
  if (scopes === undefined) return undefined;
  if (
    !Array.isArray(scopes) ||
    scopes.length === 0 ||
    scopes.length > 20 ||
    !scopes.every((s) => typeof s === 'string' && s.length <= 256)
  ) {
    throw new AuthError('invalid_request', { logDetail: 'scopes must be a non-empty array of strings' });
  }
  return scopes as string[];
}

failFastOnBadConfiguration();
app.http('refresh', {
  methods: [...ANY_METHOD_AND_PREFLIGHT],
  route: 'auth/refresh',
  authLevel: 'anonymous',
  handler: createRefreshHandler(getServices),
});
