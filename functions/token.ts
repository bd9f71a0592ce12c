import { app, type HttpHandler } from '@azure/functions';
import { redeemHandoff, refreshGrant } from '../shared/core/native';
import { displayUserAgent } from '../shared/core/session-index';
import { AuthError } from '../shared/errors';
import { endpoint, type ServicesProvider } from '../shared/http/endpoint';
import { ANY_METHOD_AND_PREFLIGHT, failFastOnBadConfiguration } from '../shared/http/registration';
import { jsonResponse } from '../shared/http/responses';
import { getServices } from '../shared/services';

/**
 * POST /auth/token: the OAuth token endpoint for native apps (RFC 6749 §3.2), form-encoded.
 * - `grant_type=authorization_code`: the handoff `code`, `code_verifier`, `redirect_uri` (§4.1.3, RFC 7636 §4.5);
 * - `grant_type=refresh_token`: the backend session token, rotated on every use (§6, RFC 9700 §4.14.2).
 * Public clients: `client_id`, if sent, is not checked (RFC 8252 §8.4); PKCE and the redirect URI bind the code.
 * Errors are RFC 6749 §5.2 JSON; every answer is `Cache-Control: no-store`.
 */
export function createTokenHandler(services: ServicesProvider): HttpHandler {
  return endpoint(
    {
      name: 'token',
      tokenFlowCors: true,
      methods: ['POST'],
      kind: 'oauth',
      bodyTypes: ['application/x-www-form-urlencoded'],
    },
    services,
    async (request, deps) => {
      const form = new URLSearchParams(request.body);
      // RFC 6749 §3.2: parameters sent without a value are treated as omitted; none may be repeated.
      const param = (name: string): string | undefined => {
        const values = form.getAll(name);
        if (values.length > 1) throw new AuthError('invalid_request', { logDetail: `duplicate ${name}` });
        return values[0] || undefined;
      };
      const required = (name: string): string => {
        const value = param(name);
        if (value === undefined) throw new AuthError('invalid_request', { logDetail: `missing ${name}` });
        return value;
      };
      const grantType = required('grant_type');
      if (grantType === 'authorization_code') {
        const grant = {
          code: required('code'),
          codeVerifier: required('code_verifier'),
          redirectUri: required('redirect_uri'),
          userAgent: displayUserAgent(request.header('user-agent')),
        };
        return jsonResponse(200, await redeemHandoff(grant, deps));
      }
      if (grantType === 'refresh_token') {
        const scope = param('scope');
        return jsonResponse(
          200,
          await refreshGrant(required('refresh_token'), scope?.split(' ').filter(Boolean), deps),
        );
      }
      throw new AuthError('unsupported_grant_type');
    },
  );
}

failFastOnBadConfiguration();
app.http('token', {
  methods: [...ANY_METHOD_AND_PREFLIGHT],
  route: 'auth/token',
  authLevel: 'anonymous',
  handler: createTokenHandler(getServices),
});
