/**
 * What every function file needs to register itself.
 */
import { getConfig } from '../config';
import { AuthError } from '../errors';

/** Methods each route is registered for, so a wrong method gets our 405 (the host would answer 404). */
export const ANY_METHOD = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
/** The token flow's routes also take OPTIONS: their CORS preflights are answered in the app (shared/http/cors.ts). */
export const ANY_METHOD_AND_PREFLIGHT = [...ANY_METHOD, 'OPTIONS'] as const;

/**
 * Inside a Functions host (`@azure/functions-core` resolvable: Azure, Core Tools, or dev/functions-host),
 * parse the configuration while the functions load, so a bad setting stops start-up with every problem named
 * instead of surfacing on the first request. Tests import the handler factories without a host and bring
 * their own configuration.
 */
export function failFastOnBadConfiguration(): void {
  try {
    require.resolve('@azure/functions-core');
  } catch {
    return;
  }
  getConfig();
}

/**
 * Cookie-authenticated state-changing requests need `X-CSRF: 1`: a custom header cannot be sent cross-site
 * without a CORS preflight, which only allowed origins pass.
 * @see https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html#employing-custom-request-headers-for-ajaxapi
 */
export function requireCsrfHeader(request: { header(name: string): string | undefined }): void {
  if (request.header('x-csrf') !== '1') throw new AuthError('csrf_required');
}
