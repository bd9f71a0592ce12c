import { app, type HttpHandler } from '@azure/functions';
import { readSession } from '../shared/core/flow';
import { endpoint, type ServicesProvider } from '../shared/http/endpoint';
import { identityHeaders } from '../shared/http/identity-headers';
import { ANY_METHOD, failFastOnBadConfiguration } from '../shared/http/registration';
import { emptyResponse } from '../shared/http/responses';
import { sessionCredential } from '../shared/http/session-credential';
import { getServices } from '../shared/services';

/**
 * GET /auth/verify: forward-auth for a reverse proxy in front of a site (nginx `auth_request`, Traefik
 * ForwardAuth). 204 with `X-Auth-Request-*` identity headers for a valid session (cookie or Bearer), 401
 * otherwise. One session read (and at most one write every few minutes to slide its idle expiry); never a call to
 * the identity provider, so it is cheap enough for every request of the proxied site. HEAD answers the same.
 */
export function createVerifyHandler(services: ServicesProvider): HttpHandler {
  return endpoint({ name: 'verify', methods: ['GET', 'HEAD'], kind: 'json' }, services, async (request, deps) => {
    const { token, kind } = sessionCredential(request);
    const session = await readSession(token, kind, deps);
    return emptyResponse(204, identityHeaders(session.user));
  });
}

failFastOnBadConfiguration();
app.http('verify', {
  methods: [...ANY_METHOD, 'HEAD'],
  route: 'auth/verify',
  authLevel: 'anonymous',
  handler: createVerifyHandler(getServices),
});
