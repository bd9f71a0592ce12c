import { app, type HttpHandler } from '@azure/functions';
import { beginSignIn } from '../shared/core/flow';
import { hostCookie } from '../shared/http/cookies';
import { endpoint, type ServicesProvider } from '../shared/http/endpoint';
import { ANY_METHOD, failFastOnBadConfiguration } from '../shared/http/registration';
import { redirectResponse } from '../shared/http/responses';
import { getServices } from '../shared/services';

/** GET /auth/login: starts a sign-in and sends the browser to the provider's authorize endpoint. */
export function createLoginHandler(services: ServicesProvider): HttpHandler {
  return endpoint({ name: 'login', methods: ['GET'], kind: 'page' }, services, async (request, deps) => {
    const started = await beginSignIn(
      {
        returnTo: request.query('returnTo'),
        prompt: request.query('prompt'),
        loginHint: request.query('login_hint'),
        domainHint: request.query('domain_hint'),
      },
      deps,
    );
    return redirectResponse(started.authorizeUrl, [hostCookie(started.transactionCookie)]);
  });
}

failFastOnBadConfiguration();
app.http('login', { methods: [...ANY_METHOD], route: 'auth/login', authLevel: 'anonymous', handler: createLoginHandler(getServices) });
