/**
 * Sessions: one `AuthSessions` row per signed-in user agent, sealed with a key derived from the secret part of
 * the session token, so only the token's holder can read it.
 *
 * Two kinds share the row format. A `web` session's token is the `__Host-session` cookie and never changes. A
 * `native` session's token is the app's refresh token (and its `Authorization: Bearer` credential); every
 * refresh grant rotates its secret. The row keeps, beside the record, a "grace" blob sealed with the previous
 * secret that names the successor for a short while, so a client retrying a lost response gets the same new
 * token. Any other token of the session that does not open the row was rotated away earlier: presenting it is
 * refresh token reuse, and the whole session is revoked.
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2 RFC 9700 §4.14.2 (refresh token rotation)
 */
import { AuthError } from '../errors';
import type { StoredRow } from '../ports';
import { securityEvent } from '../telemetry';
import type { SignedInUser } from './id-token';
import { newSessionToken, rotateSessionToken, sessionRowRef, type SessionRef } from './keys';
import type { CoreDeps } from './deps';
import { open, seal } from './seal';
import {
  deleteSessionRow,
  indexSession,
  sessionIndexLinks,
  touchIndexedSession,
  unindexSession,
} from './session-index';

/** What session handling uses of the core deps. */
export type SessionDeps = Pick<CoreDeps, 'config' | 'clock' | 'random' | 'logger' | 'sessions'>;

export const SESSION_COOKIE = '__Host-session';
/** A session's idle expiry is pushed forward at most this often, so reading /auth/me is not a write each time. */
export const SESSION_TOUCH_INTERVAL_MS = 5 * 60_000;
/** How long a just-rotated native token still yields its successor (a retry after a lost response, a race). */
export const ROTATION_GRACE_MS = 60_000;

/** `web`: cookie session of a browser. `native`: a mobile or desktop app holding the token itself. */
export type SessionKind = 'web' | 'native';

/** What the AuthSessions row holds, sealed with a key derived from the session token's secret. */
export interface SessionRecord {
  v: 1;
  /** Absent in rows written before native sessions existed: those are web sessions. */
  kind?: SessionKind;
  user: SignedInUser;
  homeAccountId: string;
  msalCache: string | undefined;
  createdAt: number;
  lastSeenAt: number;
  idleExpiresAt: number;
  absoluteExpiresAt: number;
  /** The provider's session (`sid` claim) this session was signed in with: front-channel logout ends it. */
  sid?: string;
  /** The signing-in client's User-Agent, shown in the user's session list. */
  userAgent?: string;
}

/**
 * Hand-overs a native row keeps (newest first): enough for a chain across the rotations of one grace window at
 * any sane refresh rate; a token rotated away more hand-overs ago than this is treated as reused.
 */
const MAX_GRACE_ENTRIES = 8;

/** Sealed with the previous secret after a rotation: only the holder of the rotated-away token can read it. */
interface RotationGrace {
  successor: string;
  until: number;
}

export interface LoadedSession {
  /** The token that opens the row now (after a grace hand-over, the successor of the one presented). */
  token: string;
  ref: SessionRef;
  record: SessionRecord;
  etag: string;
  /** The sealed hand-overs (`~`-separated), kept as is on writes that do not rotate. */
  grace: string | undefined;
  /** True when the presented token was rotated away moments ago and `token` is the current one it leads to. */
  handedOver: boolean;
}

/**
 * Row data: `<sealed record>` (web) or `<sealed record>~<sealed hand-overs, newest first, ~-separated, or nothing
 * yet>` (native: the separator itself marks a native row, so a wrong secret for a web row is never taken for native
 * token reuse).
 * JWE compact never contains `~`.
 */
const GRACE_SEPARATOR = '~';

export interface SignedIn {
  user: SignedInUser;
  homeAccountId: string;
  msalCache: string | undefined;
  /** The ID token's `sid`, when long enough to index (see `session-index.ts`). */
  sid?: string;
}

export interface NewSession {
  token: string;
  ref: SessionRef;
  record: SessionRecord;
}

/** A new session and its token, not yet stored (the native code redemption records the row it will use first). */
export function newSession(kind: SessionKind, signedIn: SignedIn, deps: SessionDeps, userAgent?: string): NewSession {
  const now = deps.clock.now();
  const { idleSeconds, absoluteSeconds } = deps.config.session;
  const absoluteExpiresAt = now + absoluteSeconds * 1000;
  const token = newSessionToken(deps.random, absoluteExpiresAt);
  const record: SessionRecord = {
    v: 1,
    kind,
    ...signedIn,
    createdAt: now,
    lastSeenAt: now,
    idleExpiresAt: Math.min(now + idleSeconds * 1000, absoluteExpiresAt),
    absoluteExpiresAt,
    ...(userAgent !== undefined ? { userAgent } : {}),
  };
  if (record.sid === undefined) delete record.sid;
  return { token, ref: sessionRowRef(token) as SessionRef, record };
}

/**
 * Index entries first, then the row: a session that exists can always be found to be ended (session-index.ts).
 * When a write fails, what may have been written goes, best effort: the entries, and the row itself (an insert
 * whose answer was lost may still have been applied, sealed tokens and all). Side by side: the session's token
 * never reached anyone, so no one needs to find it, and a store that is down costs one deadline, not two.
 */
export async function storeSession({ ref, record }: NewSession, deps: SessionDeps): Promise<void> {
  try {
    await indexSession(ref, record, deps);
    await deps.sessions.insert(sealedRow(ref, record, ref.secret, undefined));
  } catch (error) {
    await Promise.allSettled([deps.sessions.delete(ref.partitionKey, ref.rowKey), unindexSession(ref, record, deps)]);
    throw error;
  }
}

/**
 * The session a token belongs to. A web token that does not open its row is just "no session"; a native token
 * that does not open its row (and is not within its grace window) is a reused, rotated-away token, and the
 * session is revoked.
 */
export async function loadSession(
  token: string | undefined,
  kind: SessionKind,
  deps: SessionDeps,
): Promise<LoadedSession> {
  const presented = token === undefined ? undefined : sessionRowRef(token);
  if (!presented || token === undefined) throw new AuthError('session_required');
  const row = await deps.sessions.get(presented.partitionKey, presented.rowKey);
  if (!row) throw new AuthError('session_required');
  const [sealedRecord = '', ...graceEntries] = row.data.split(GRACE_SEPARATOR);
  const nativeRow = graceEntries.length > 0;
  const grace = nativeRow ? graceEntries.join(GRACE_SEPARATOR) : undefined;

  let current = { token, ref: presented };
  let record = open<SessionRecord>(sealedRecord, presented.secret, 'session', presented.rowKey);
  const now = deps.clock.now();
  if (!record && kind === 'native' && nativeRow) {
    // Follow the hand-overs from the presented token to the current one: with two refreshes in flight and the app
    // already using the newest token, the slower request presents a token rotated away two steps back.
    const entries = graceEntries.filter(Boolean);
    for (let hop = 0; hop < entries.length && !record; hop++) {
      const handover = openAny<RotationGrace>(entries, current.ref.secret, 'session-grace', current.ref.rowKey);
      const successor = handover && now < handover.until ? sessionRowRef(handover.successor) : undefined;
      if (!handover || !successor) break;
      current = { token: handover.successor, ref: successor };
      record = open<SessionRecord>(sealedRecord, successor.secret, 'session', successor.rowKey);
    }
    if (!record) {
      // Only tokens of this session carry its id: this one was rotated away before. RFC 9700 §4.14.2.
      await deleteSessionRow(row, deps);
      securityEvent(deps.logger, 'token_reuse_detected', { sessionRevoked: true });
      throw new AuthError('session_required', { logDetail: 'rotated session token reused: session revoked' });
    }
  }
  if (!record || (record.kind ?? 'web') !== kind)
    throw new AuthError('session_required', { logDetail: 'session row does not open with this token' });
  if (now >= record.idleExpiresAt || now >= record.absoluteExpiresAt) {
    await deleteSessionRow(row, deps);
    throw new AuthError('session_expired');
  }
  return { ...current, record, etag: row.etag, grace, handedOver: current.token !== token };
}

/** Writes the session back (same token) with its idle expiry pushed forward. False when a concurrent writer won. */
export async function saveSession(session: LoadedSession, deps: SessionDeps): Promise<boolean> {
  const record = touched(session.record, deps);
  const etag = await deps.sessions.replace(
    sealedRow(session.ref, record, session.ref.secret, session.grace),
    session.etag,
  );
  if (etag === false) return false;
  session.record = record;
  session.etag = etag;
  await touchIndex(session.ref, record, deps);
  return true;
}

/**
 * Rotates a native session's token: the row is re-sealed under a new secret, and the old token keeps only a
 * short grace hand-over to the new one. Returns the new token, or undefined when a concurrent rotation won.
 */
export async function rotateSession(session: LoadedSession, deps: SessionDeps): Promise<string | undefined> {
  const successor = rotateSessionToken(session.token, deps.random);
  const handover = seal(
    { successor, until: deps.clock.now() + ROTATION_GRACE_MS } satisfies RotationGrace,
    session.ref.secret,
    'session-grace',
    session.ref.rowKey,
  );
  // Newest first; older hand-overs stay (a chain from any token of the last minute to the current one), bounded.
  const kept = (session.grace ?? '')
    .split(GRACE_SEPARATOR)
    .filter(Boolean)
    .slice(0, MAX_GRACE_ENTRIES - 1);
  const grace = [handover, ...kept].join(GRACE_SEPARATOR);
  const record = touched(session.record, deps);
  const row = sealedRow(session.ref, record, (sessionRowRef(successor) as SessionRef).secret, grace);
  const etag = await deps.sessions.replace(row, session.etag);
  if (etag === false) return undefined;
  await touchIndex(session.ref, record, deps);
  return successor;
}

/** The session list's "last seen": a lost update of it must not fail the request that touched the session. */
async function touchIndex(ref: SessionRef, record: SessionRecord, deps: SessionDeps): Promise<void> {
  await touchIndexedSession(ref, record, deps).catch(() => deps.logger.info('session index touch failed'));
}

/** The first of `sealed` that opens with `secret`. */
function openAny<T>(
  sealed: readonly string[],
  secret: string,
  purpose: 'session-grace',
  rowKey: string,
): T | undefined {
  for (const blob of sealed) {
    const value = open<T>(blob, secret, purpose, rowKey);
    if (value) return value;
  }
  return undefined;
}

function touched(record: SessionRecord, deps: SessionDeps): SessionRecord {
  const now = deps.clock.now();
  return {
    ...record,
    lastSeenAt: now,
    idleExpiresAt: Math.min(now + deps.config.session.idleSeconds * 1000, record.absoluteExpiresAt),
  };
}

/** The row for `record` sealed under `secret`; a native row always carries the separator (see GRACE_SEPARATOR). */
function sealedRow(ref: SessionRef, record: SessionRecord, secret: string, grace: string | undefined): StoredRow {
  const sealed = seal(record, secret, 'session', ref.rowKey);
  return {
    partitionKey: ref.partitionKey,
    rowKey: ref.rowKey,
    expiresAt: record.absoluteExpiresAt,
    links: sessionIndexLinks(ref, record),
    data: record.kind === 'native' ? `${sealed}${GRACE_SEPARATOR}${grace ?? ''}` : sealed,
  };
}
