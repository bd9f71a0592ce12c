import { app, type HttpHandler } from '@azure/functions';
import { readSession } from '../shared/core/flow';
import { endpoint, type ServicesProvider } from '../shared/http/endpoint';
import { ANY_METHOD_AND_PREFLIGHT, failFastOnBadConfiguration } from '../shared/http/registration';
import { jsonResponse } from '../shared/http/responses';
import { sessionCredential } from '../shared/http/session-credential';
import { getServices } from '../shared/services';

/** GET /auth/me: the signed-in user's profile claims and session expiry (cookie or Bearer session). Never a token. */
export function createMeHandler(services: ServicesProvider): HttpHandler {
  return endpoint(
    { name: 'me', tokenFlowCors: true, methods: ['GET'], kind: 'json' },
    services,
    async (request, deps) => {
      const { token, kind } = sessionCredential(request);
      const session = await readSession(token, kind, deps);
      return jsonResponse(200, session);
    },
  );
}

failFastOnBadConfiguration();
app.http('me', {
  methods: [...ANY_METHOD_AND_PREFLIGHT],
  route: 'auth/me',
  authLevel: 'anonymous',
  handler: createMeHandler(getServices),
});
