import { app, type Cookie, type HttpHandler } from '@azure/functions';
import { beginSignIn } from '../shared/core/flow';
import { TRANSACTION_COOKIE } from '../shared/core/keys';
import { expiredHostCookie, hostCookie } from '../shared/http/cookies';
import type { NativeAuthorizeParams } from '../shared/core/native';
import { endpoint, type ParsedRequest, type ServicesProvider } from '../shared/http/endpoint';
import { ANY_METHOD, failFastOnBadConfiguration } from '../shared/http/registration';
import { nativeConfirmPageResponse, redirectResponse } from '../shared/http/responses';
import { getServices } from '../shared/services';

/**
 * GET /auth/login: starts a sign-in and sends the browser to the provider's authorize endpoint. A native app adds
 * its registered `redirect_uri`, S256 `code_challenge` and `state` (see shared/core/native.ts); its sign-in first
 * shows a page naming the app, whose Continue link goes on to the provider (RFC 8252 §8.6).
 */
export function createLoginHandler(services: ServicesProvider): HttpHandler {
  return endpoint({ name: 'login', methods: ['GET'], kind: 'page', signIn: true }, services, async (request, deps) => {
    const started = await beginSignIn(
      {
        returnTo: request.query('returnTo'),
        prompt: request.query('prompt'),
        loginHint: request.query('login_hint'),
        domainHint: request.query('domain_hint'),
        claims: request.query('claims'),
        native: nativeParams(request),
      },
      deps,
    );
    if (started.kind === 'app-redirect') return redirectResponse(started.location);
    deps.preloadCallback?.();
    const cookies = [...abandonedSignIns(request), hostCookie(started.transactionCookie)];
    if (started.kind === 'confirm-app') return nativeConfirmPageResponse(started.app, started.authorizeUrl, cookies);
    return redirectResponse(started.authorizeUrl, cookies);
  });
}

/** Sign-ins one browser keeps in flight; beyond it, starting one forgets the others (whose tabs must start again). */
export const MAX_SIGN_INS_PER_BROWSER = 5;

/**
 * Without a cap, every abandoned sign-in would leave a cookie for ten minutes, and a browser that keeps starting
 * sign-ins would soon send a cookie header over the 8 KB bound and be refused everywhere.
 */
function abandonedSignIns(request: ParsedRequest): Cookie[] {
  // Only names of our exact shape: a request's cookie names are never echoed into Set-Cookie otherwise.
  const pending = Object.keys(request.cookies).filter((name) => TRANSACTION_COOKIE.test(name));
  return pending.length >= MAX_SIGN_INS_PER_BROWSER ? pending.map(expiredHostCookie) : [];
}

/**
 * A native app's authorization request (RFC 6749 §4.1.1 + RFC 7636): present when any of its own parameters is.
 * `client_id`, `scope` and `nonce`, which AppAuth-style libraries also send, are not needed and not used.
 */
function nativeParams(request: ParsedRequest): NativeAuthorizeParams | undefined {
  const params: NativeAuthorizeParams = {
    redirectUri: request.query('redirect_uri'),
    codeChallenge: request.query('code_challenge'),
    codeChallengeMethod: request.query('code_challenge_method'),
    state: request.query('state'),
    responseType: request.query('response_type'),
  };
  return Object.values(params).some((value) => value !== undefined) ? params : undefined;
}

failFastOnBadConfiguration();
app.http('login', {
  methods: [...ANY_METHOD],
  route: 'auth/login',
  authLevel: 'anonymous',
  handler: createLoginHandler(getServices),
});
