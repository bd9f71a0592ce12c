import { app, type HttpHandler } from '@azure/functions';
import { endpoint, type ServicesProvider } from '../shared/http/endpoint';
import { ANY_METHOD } from '../shared/http/registration';
import { jsonResponse } from '../shared/http/responses';
import { getServices } from '../shared/services';

/**
 * GET /auth/health: 200 when the configuration is valid. Reports only non-secret shape (protocol, credential
 * kind); it deliberately makes no call to storage or the provider, so probes cost nothing and cannot be used
 * to amplify load onto them. An invalid configuration answers 503 `configuration_invalid`; when the problem is a
 * cross-site cookie origin (nothing secret), the body's `problems` names it and the three topologies that work.
 */
export function createHealthHandler(services: ServicesProvider): HttpHandler {
  return endpoint(
    { name: 'health', methods: ['GET'], kind: 'json', showPublicConfigProblems: true },
    services,
    async (_request, deps) => {
      const { config } = deps;
      return jsonResponse(200, {
        status: 'ok',
        protocol: config.protocol,
        credential: config.credential.kind,
        storage: 'accountUrl' in config.storage ? 'managed-identity' : 'connection-string',
      });
    },
  );
}

app.http('health', {
  methods: [...ANY_METHOD],
  route: 'auth/health',
  authLevel: 'anonymous',
  handler: createHealthHandler(getServices),
});
