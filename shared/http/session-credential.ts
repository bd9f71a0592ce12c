/**
 * Which session a request speaks for: the `__Host-session` cookie of a browser, or a native app's session token
 * in `Authorization: Bearer` (RFC 6750 §2.1). A Bearer header wins over a cookie: it is what the caller chose.
 */
import { SESSION_COOKIE } from '../core/session';
import type { SessionKind } from '../core/session';
import { AuthError } from '../errors';
import type { ParsedRequest } from './endpoint';

export interface SessionCredential {
  kind: SessionKind;
  token: string | undefined;
}

/** RFC 6750 §2.1 `b64token`, bounded. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]{1,512}=*) *$/i;

export function sessionCredential(request: Pick<ParsedRequest, 'header' | 'cookies'>): SessionCredential {
  const authorization = request.header('authorization');
  if (authorization === undefined) return { kind: 'web', token: request.cookies[SESSION_COOKIE] };
  const match = BEARER.exec(authorization);
  if (!match) throw new AuthError('session_required', { logDetail: 'Authorization is not a Bearer token' });
  return { kind: 'native', token: match[1] };
}
