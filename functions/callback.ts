import { app, type HttpHandler } from '@azure/functions';
import { completeSignIn } from '../shared/core/flow';
import { displayUserAgent } from '../shared/core/session-index';
import { expiredHostCookie, hostCookie } from '../shared/http/cookies';
import { endpoint, type ServicesProvider } from '../shared/http/endpoint';
import { ANY_METHOD, failFastOnBadConfiguration } from '../shared/http/registration';
import { redirectResponse } from '../shared/http/responses';
import { getServices } from '../shared/services';

/**
 * GET /auth/callback: the redirect URI registered with the provider. Redeems the code and starts a session, or
 * sends a provider error (e.g. the user cancelled) back to the app as `auth_error`. A native app's sign-in ends
 * with a redirect to the app carrying a one-time handoff code (or an OAuth error), never a token. `error_description` is
 * never shown or logged: it is the provider's (or an attacker's) free text; only its leading AADSTS number is logged.
 */
export function createCallbackHandler(services: ServicesProvider): HttpHandler {
  return endpoint(
    { name: 'callback', methods: ['GET'], kind: 'page', signIn: true },
    services,
    async (request, deps) => {
      const result = await completeSignIn(
        {
          code: request.query('code'),
          state: request.query('state'),
          error: request.query('error'),
          errorAadsts: aadstsNumber(request.query('error_description')),
          cookies: request.cookies,
          userAgent: displayUserAgent(request.header('user-agent')),
        },
        deps,
      );
      const cleared = result.clearCookies.map(expiredHostCookie);
      if (result.kind === 'app-redirect') return redirectResponse(result.location, cleared);
      if (result.kind === 'provider-error') {
        return redirectResponse(
          withQuery(result.returnTo, deps.config.publicOrigin, 'auth_error', result.error),
          cleared,
        );
      }
      return redirectResponse(result.returnTo, [...cleared, hostCookie(result.session)]);
    },
  );
}

/**
 * Entra's `error_description` starts with `AADSTS<number>:`; that number (and nothing else of the free text) is
 * what its troubleshooting pages are keyed by, so it alone is logged.
 * @see https://learn.microsoft.com/entra/identity-platform/reference-error-codes
 */
function aadstsNumber(description: string | undefined): string | undefined {
  return /^AADSTS(\d{1,9}):/.exec(description ?? '')?.[1];
}

/** Adds one query parameter to a relative or absolute URL, keeping a relative one relative. */
function withQuery(target: string, base: string, name: string, value: string): string {
  const url = new URL(target, base);
  url.searchParams.set(name, value);
  return target.startsWith('/') ? `${url.pathname}${url.search}${url.hash}` : url.href;
}

failFastOnBadConfiguration();
app.http('callback', {
  methods: [...ANY_METHOD],
  route: 'auth/callback',
  authLevel: 'anonymous',
  handler: createCallbackHandler(getServices),
});
