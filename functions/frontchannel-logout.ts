import { app, type HttpHandler } from '@azure/functions';
import { frontChannelLogout } from '../shared/core/session-control';
import { endpoint, type ServicesProvider } from '../shared/http/endpoint';
import { ANY_METHOD, failFastOnBadConfiguration } from '../shared/http/registration';
import { frontChannelPageResponse } from '../shared/http/responses';
import { getServices } from '../shared/services';

/**
 * GET /auth/frontchannel-logout?sid=…[&iss=…]: OpenID Connect Front-Channel Logout 1.0, the app registration's
 * *front-channel logout URL*. The provider's sign-out page loads it in a cross-site iframe, where the SameSite
 * session cookie is absent: the sessions signed in with that provider session are found by `sid` alone. The answer
 * is the same tiny cache-less page whether or not anything was ended.
 * @see https://openid.net/specs/openid-connect-frontchannel-1_0.html
 * @see https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#single-sign-out
 */
export function createFrontChannelLogoutHandler(services: ServicesProvider): HttpHandler {
  return endpoint({ name: 'frontchannel-logout', methods: ['GET'], kind: 'page' }, services, async (request, deps) => {
    await frontChannelLogout(request.query('sid'), request.query('iss'), deps);
    return frontChannelPageResponse(new URL(deps.config.authority).origin);
  });
}

failFastOnBadConfiguration();
app.http('frontchannel-logout', {
  methods: [...ANY_METHOD],
  route: 'auth/frontchannel-logout',
  authLevel: 'anonymous',
  handler: createFrontChannelLogoutHandler(getServices),
});
