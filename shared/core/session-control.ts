/**
 * Sessions the user controls: the list of their own sessions (`GET /auth/sessions`), ending one of them
 * (`DELETE /auth/sessions/{id}`), and the provider's front-channel logout (`GET /auth/frontchannel-logout`).
 * "Sign out everywhere" is `endSession(…, everywhere)` in `flow.ts`; the operator's revoke is `scripts/revoke.ts`.
 * All of them find sessions through the indexes in `session-index.ts`.
 */
import { AuthError } from '../errors';
import type { Clock } from '../ports';
import { securityEvent } from '../telemetry';
import type { CoreDeps } from './deps';
import { TokenBucket, type RateLimiter } from './rate-limit';
import { loadSession, type SessionKind } from './session';
import {
  endIndexedSession,
  endSidSessions,
  isWellFormedHandle,
  isWellFormedSid,
  listUserSessions,
  sessionHandle,
  userKeyOf,
  type IndexedKind,
} from './session-index';

/** One entry of `GET /auth/sessions` (design §3). `id` is the opaque handle: it names a session and opens nothing. */
export interface SessionListItem {
  id: string;
  kind: IndexedKind;
  createdAt: string;
  lastSeenAt: string;
  current: boolean;
  userAgent: string | null;
}

/** The caller's own live sessions, the current one included, most recently seen first. */
export async function listCallerSessions(
  token: string | undefined,
  kind: SessionKind,
  deps: CoreDeps,
): Promise<SessionListItem[]> {
  const caller = await loadSession(token, kind, deps);
  const current = sessionHandle(caller.ref.rowKey);
  const listed = await listUserSessions(userKeyOf(caller.record.user), deps);
  const items = listed.map((session) => ({
    id: session.handle,
    kind: session.kind,
    createdAt: new Date(session.createdAt).toISOString(),
    // The caller's own record is fresher than its index entry (touched at most every few minutes).
    lastSeenAt: new Date(
      session.handle === current ? Math.max(session.lastSeenAt, caller.record.lastSeenAt) : session.lastSeenAt,
    ).toISOString(),
    current: session.handle === current,
    userAgent: session.userAgent ?? null,
  }));
  if (!items.some((item) => item.current)) {
    // A session signed in before the index existed is not filed there; it still sees itself.
    const { record } = caller;
    items.push({
      id: current,
      kind: record.kind ?? 'web',
      createdAt: new Date(record.createdAt).toISOString(),
      lastSeenAt: new Date(record.lastSeenAt).toISOString(),
      current: true,
      userAgent: record.userAgent ?? null,
    });
  }
  return items.sort((a, b) => b.lastSeenAt.localeCompare(a.lastSeenAt));
}

/**
 * Ends one of the caller's sessions by its handle. A handle of someone else's session, an ended one, or one that
 * never existed are all the same 404: it is looked up only among the caller's own sessions.
 * Returns whether it was the caller's current session (the handler then clears the cookie).
 */
export async function endCallerSession(
  token: string | undefined,
  kind: SessionKind,
  handle: string,
  deps: CoreDeps,
): Promise<{ current: boolean }> {
  const caller = await loadSession(token, kind, deps);
  if (!isWellFormedHandle(handle)) throw new AuthError('session_not_found', { logDetail: 'malformed session id' });
  const listed = await listUserSessions(userKeyOf(caller.record.user), deps);
  const target = listed.find((session) => session.handle === handle);
  if (!target) throw new AuthError('session_not_found');
  await endIndexedSession(target, deps);
  const current = handle === sessionHandle(caller.ref.rowKey);
  securityEvent(deps.logger, 'session_ended_by_user', { kind: target.kind, current });
  return { current };
}

/** Front-channel calls one instance serves per second (bursts of twice that): each costs a storage query. */
const limiters = new WeakMap<CoreDeps['config'], RateLimiter>();

function frontChannelLimiter(deps: CoreDeps): RateLimiter {
  let limiter = limiters.get(deps.config);
  if (!limiter) {
    const rate = deps.config.signInRatePerSecond;
    limiter = rate === 0 ? { take: () => undefined } : new TokenBucket(rate, rate * 2, deps.clock as Clock);
    limiters.set(deps.config, limiter);
  }
  return limiter;
}

/**
 * OpenID Connect Front-Channel Logout 1.0 §2: the provider signed the user out of its session `sid`; end the
 * sessions signed in with it. `iss` is optional because Entra sends only `sid` (a known deviation from §2); when
 * present it must be the issuer of the ID token the session came from.
 *
 * Forged calls: the answer is the same whether anything was ended or not (no oracle to confirm a guess); the
 * sid is matched whole through a hash-keyed index (no prefix or partial match); sids shorter than 16 characters
 * are never indexed; each instance serves at most AUTH_SIGNIN_RATE_PER_SECOND calls per second. SECURITY.md
 * compares the cost of a guessed sid with that of a guessed session.
 * @see https://openid.net/specs/openid-connect-frontchannel-1_0.html#RPLogout
 * @see https://github.com/nginxinc/nginx-openid-connect/issues/117 (Entra calls with `sid` only)
 */
export async function frontChannelLogout(
  sid: string | undefined,
  iss: string | undefined,
  deps: CoreDeps,
): Promise<void> {
  if (sid === undefined || !isWellFormedSid(sid))
    throw new AuthError('invalid_request', { logDetail: 'front-channel logout without a well-formed sid' });
  if (iss !== undefined && !/^https?:\/\/[\x21-\x7e]{1,2000}$/.test(iss))
    throw new AuthError('invalid_request', { logDetail: 'front-channel logout iss' });
  const waitSeconds = frontChannelLimiter(deps).take();
  if (waitSeconds !== undefined) throw new AuthError('rate_limited', { retryAfterSeconds: waitSeconds });
  const ended = await endSidSessions(sid, iss, deps);
  securityEvent(deps.logger, 'frontchannel_logout', { sessionsEnded: ended, withIssuer: iss !== undefined });
}
