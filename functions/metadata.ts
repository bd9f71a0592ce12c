import { app, type HttpHandler } from '@azure/functions';
import { authorizationServerMetadata } from '../shared/core/native';
import { endpoint, type ServicesProvider } from '../shared/http/endpoint';
import { ANY_METHOD, failFastOnBadConfiguration } from '../shared/http/registration';
import { jsonResponse } from '../shared/http/responses';
import { getServices } from '../shared/services';

/**
 * GET /.well-known/oauth-authorization-server: RFC 8414 metadata for native apps (AppAuth's
 * `discoverConfiguration(forIssuer:)` / `fetchFromIssuer`). The issuer is this service's public origin.
 */
export function createMetadataHandler(services: ServicesProvider): HttpHandler {
  return endpoint({ name: 'metadata', methods: ['GET'], kind: 'json' }, services, async (_request, deps) =>
    // Changes only with the configuration: clients may cache it for an hour.
    jsonResponse(200, authorizationServerMetadata(deps.config), [], { 'Cache-Control': 'public, max-age=3600' }),
  );
}

failFastOnBadConfiguration();
app.http('metadata', {
  methods: [...ANY_METHOD],
  route: '.well-known/oauth-authorization-server',
  authLevel: 'anonymous',
  handler: createMetadataHandler(getServices),
});
