/**
 * Indexes of sessions, so "every session of this user" and "the sessions of this provider `sid`" cost reads in
 * proportion to those sessions, never a scan of the table.
 *
 * Both live in `AuthSessions` beside the session rows, in their own partitions:
 * - user index: partition `u.<sha256(user key)>`, one entry per session, row key `<session bucket>.<handle>`;
 * - sid index: partition `s.<sha256(sid)>`, one entry per session signed in with that provider session.
 * `u.`/`s.` sort after the session partitions (`<shard>-<bucket>` with shards `a`..`p`, and the ten-digit ones from
 * before the shards), so no purge range reads them; the purge deletes a session's entries through the session
 * row's `links` (plain keys) instead. An entry's row key starts with its session's expiry bucket (the hour, without
 * the shard: the handle alone names the session), so a listing from the first live bucket on skips expired ones;
 * entries written before the shards have the same shape.
 *
 * A copy of the tables names no user and no sid (partition keys are hashes) and opens nothing: an entry holds
 * the session's row key, never its token, and is sealed with a key derived from the user key (the sid, for the
 * sid index), so only someone who already knows the user (or the sid) can read what it lists.
 *
 * A session's `handle` (the `id` of `GET /auth/sessions`) is a hash of its row key: it names the session to its
 * owner and opens nothing; a handle is looked up only inside the caller's own user partition.
 */
import type { RowKeyPair, StoredRow } from '../ports';
import type { SignedInUser } from './id-token';
import { bucketOf, firstLiveBucket, sha256Hex } from './keys';
import type { CoreDeps } from './deps';
import { open, seal } from './seal';

export type IndexedKind = 'web' | 'native';

/** All the index needs: the AuthSessions store and the clock (so the revoke script runs without the rest). */
export type IndexDeps = Pick<CoreDeps, 'sessions' | 'clock'>;

/** What the index needs from a session record (a structural subset of `SessionRecord`). */
export interface IndexedRecord {
  kind?: IndexedKind;
  user: SignedInUser;
  sid?: string;
  userAgent?: string;
  createdAt: number;
  lastSeenAt: number;
  idleExpiresAt: number;
  absoluteExpiresAt: number;
}

/** The user index entry, sealed with a key derived from the user key. */
interface UserIndexEntry {
  v: 1;
  session: RowKeyPair;
  kind: IndexedKind;
  createdAt: number;
  lastSeenAt: number;
  idleExpiresAt: number;
  userAgent?: string;
  /** The session's sid index partition, so ending the session from here removes that entry too. */
  sidPartition?: string;
}

/** The sid index entry, sealed with a key derived from the sid. */
interface SidIndexEntry {
  v: 1;
  session: RowKeyPair;
  userPartition: string;
  /** The ID token's `iss`: a front-channel call naming another issuer ends nothing. */
  iss: string;
}

/** One of a user's sessions as the index knows it. */
export interface IndexedSession {
  handle: string;
  kind: IndexedKind;
  createdAt: number;
  lastSeenAt: number;
  idleExpiresAt: number;
  /** The session's absolute expiry. */
  expiresAt: number;
  userAgent?: string;
  session: RowKeyPair;
  /** The index entries to delete with the session. */
  entries: RowKeyPair[];
}

/**
 * A `sid` is indexed only when it is at least this long: a short one could be guessed, and a front-channel call
 * with a guessed sid would sign someone out. Entra's is a GUID (36 characters).
 * @see https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference (`sid`: "String, a GUID")
 */
const MIN_SID_LENGTH = 16;
/** OIDC Front-Channel Logout 1.0 §3: `sid` has the syntax of an OAuth client id (VSCHAR), bounded here. */
const SID = /^[\x20-\x7e]{1,255}$/;
/** A handle: 128 bits of a SHA-256, hex. */
const HANDLE = /^[0-9a-f]{32}$/;
const USER_AGENT_MAX = 256;

/** The stable id a user's sessions are filed under: tenant and object id (Entra), or subject (`AUTH_PROTOCOL=oidc`). */
export function userKeyOf(user: Pick<SignedInUser, 'id' | 'tenantId'>): string {
  return `${user.tenantId ?? ''}/${user.id}`;
}

export function isWellFormedSid(sid: string): boolean {
  return SID.test(sid);
}

export function isWellFormedHandle(handle: string): boolean {
  return HANDLE.test(handle);
}

/** The sid worth indexing, if any (well-formed and long enough not to be guessed). */
export function indexableSid(sid: unknown): string | undefined {
  return typeof sid === 'string' && SID.test(sid) && sid.length >= MIN_SID_LENGTH ? sid : undefined;
}

/** A `User-Agent` header as the session list shows it: printable ASCII, bounded. */
export function displayUserAgent(header: string | undefined): string | undefined {
  const cleaned = header
    ?.replace(/[^\x20-\x7e]/g, '')
    .trim()
    .slice(0, USER_AGENT_MAX);
  return cleaned ? cleaned : undefined;
}

export function userIndexPartition(userKey: string): string {
  return `u.${sha256Hex(`user-index:${userKey}`)}`;
}

export function sidIndexPartition(sid: string): string {
  return `s.${sha256Hex(`sid-index:${sid}`)}`;
}

export function sessionHandle(sessionRowKey: string): string {
  return sha256Hex(`session-handle:${sessionRowKey}`).slice(0, 32);
}

/** `<bucket>.<handle>`: ordered by expiry whatever the session's shard (a sharded partition would sort after all). */
function entryRowKey(session: RowKeyPair): string {
  return `${bucketOf(session.partitionKey)}.${sessionHandle(session.rowKey)}`;
}

/** The index entries a session has: the session row carries these as `links`, so the purge removes them. */
export function sessionIndexLinks(session: RowKeyPair, record: IndexedRecord): RowKeyPair[] {
  const rowKey = entryRowKey(session);
  const links = [{ partitionKey: userIndexPartition(userKeyOf(record.user)), rowKey }];
  if (record.sid !== undefined) links.push({ partitionKey: sidIndexPartition(record.sid), rowKey });
  return links;
}

function userEntryRow(session: RowKeyPair, record: IndexedRecord): StoredRow {
  const userKey = userKeyOf(record.user);
  const partitionKey = userIndexPartition(userKey);
  const rowKey = entryRowKey(session);
  const entry: UserIndexEntry = {
    v: 1,
    session: { partitionKey: session.partitionKey, rowKey: session.rowKey },
    kind: record.kind ?? 'web',
    createdAt: record.createdAt,
    lastSeenAt: record.lastSeenAt,
    idleExpiresAt: record.idleExpiresAt,
    userAgent: record.userAgent,
    sidPartition: record.sid === undefined ? undefined : sidIndexPartition(record.sid),
  };
  return {
    partitionKey,
    rowKey,
    expiresAt: record.absoluteExpiresAt,
    data: seal(entry, userKey, 'session-index', rowKey),
  };
}

/**
 * Files a new session in the indexes. Called before the session row is written: a session that exists is always
 * findable by "sign out everywhere" (an entry whose session was never written is harmless and goes with `unindex`).
 */
export async function indexSession(session: RowKeyPair, record: IndexedRecord, deps: IndexDeps): Promise<void> {
  const rows = [userEntryRow(session, record)];
  if (record.sid !== undefined) {
    const sid = record.sid;
    const rowKey = entryRowKey(session);
    const entry: SidIndexEntry = {
      v: 1,
      session: { partitionKey: session.partitionKey, rowKey: session.rowKey },
      userPartition: userIndexPartition(userKeyOf(record.user)),
      iss: record.user.issuer,
    };
    rows.push({
      partitionKey: sidIndexPartition(sid),
      rowKey,
      expiresAt: record.absoluteExpiresAt,
      data: seal(entry, sid, 'session-index', rowKey),
    });
  }
  // Side by side (one storage round trip, not two); the call ends only when both have: when one fails, the
  // caller removes whatever was written, and no insert still in flight can land after that.
  const written = await Promise.allSettled(rows.map((row) => deps.sessions.insert(row)));
  const failed = written.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Removes a session's index entries (best effort on a failed sign-in; a missing entry is not an error). */
export async function unindexSession(session: RowKeyPair, record: IndexedRecord, deps: IndexDeps): Promise<void> {
  await Promise.all(
    sessionIndexLinks(session, record).map((link) => deps.sessions.delete(link.partitionKey, link.rowKey)),
  );
}

/**
 * Keeps the user index's `lastSeenAt` in step when the session is touched. Replaces only an entry that still
 * exists (`*` etag): an entry removed by "sign out everywhere" meanwhile is never written back.
 */
export async function touchIndexedSession(session: RowKeyPair, record: IndexedRecord, deps: IndexDeps): Promise<void> {
  await deps.sessions.replace(userEntryRow(session, record), '*');
}

/**
 * Deletes a session row, then its index entries. In that order: if storage fails in between, the entries remain,
 * so a retried "everywhere" still finds the session (already gone) and finishes removing what is left.
 */
export async function deleteSessionRow(
  row: RowKeyPair & { links?: readonly RowKeyPair[] },
  deps: IndexDeps,
): Promise<void> {
  await deps.sessions.delete(row.partitionKey, row.rowKey);
  await Promise.all((row.links ?? []).map((link) => deps.sessions.delete(link.partitionKey, link.rowKey)));
}

/** A session known only by its row (a handoff code's replay): read its links, then delete it with them. */
export async function deleteSessionByRef(ref: RowKeyPair, deps: IndexDeps): Promise<void> {
  const row = await deps.sessions.get(ref.partitionKey, ref.rowKey);
  if (row) await deleteSessionRow(row, deps);
}

/**
 * The user's sessions from the index: one single-partition query. `includeExpired` also returns entries whose
 * sessions have expired (so "everywhere" removes them too); the list view leaves them to the purge.
 */
export async function listUserSessions(
  userKey: string,
  deps: IndexDeps,
  includeExpired = false,
): Promise<IndexedSession[]> {
  const now = deps.clock.now();
  const partitionKey = userIndexPartition(userKey);
  const rows = await deps.sessions.listPartition(partitionKey, includeExpired ? '' : firstLiveBucket(now));
  const listed: IndexedSession[] = [];
  for (const row of rows) {
    const entry = open<UserIndexEntry>(row.data, userKey, 'session-index', row.rowKey);
    if (!entry) continue;
    if (!includeExpired && (now >= entry.idleExpiresAt || now >= row.expiresAt)) continue;
    const entries = [{ partitionKey, rowKey: row.rowKey }];
    if (entry.sidPartition) entries.push({ partitionKey: entry.sidPartition, rowKey: row.rowKey });
    listed.push({
      handle: row.rowKey.slice(row.rowKey.indexOf('.') + 1),
      kind: entry.kind,
      createdAt: entry.createdAt,
      lastSeenAt: entry.lastSeenAt,
      idleExpiresAt: entry.idleExpiresAt,
      expiresAt: row.expiresAt,
      userAgent: entry.userAgent,
      session: entry.session,
      entries,
    });
  }
  return listed;
}

/** Ends one listed session: its row first, then its index entries (see `deleteSessionRow`). */
export async function endIndexedSession(listed: IndexedSession, deps: IndexDeps): Promise<void> {
  await deleteSessionRow({ ...listed.session, links: listed.entries }, deps);
}

/**
 * Ends every session of a user (web and native). Returns how many live sessions it ended.
 *
 * `last`, the caller's own session, goes after all the others: if storage fails halfway, the caller still holds a
 * working session and can simply retry, and the retry finds through the index whatever is left.
 */
export async function endUserSessions(userKey: string, deps: IndexDeps, last?: RowKeyPair): Promise<number> {
  const now = deps.clock.now();
  const listed = await listUserSessions(userKey, deps, true);
  const isLast = (session: IndexedSession) => last !== undefined && session.session.rowKey === last.rowKey;
  await Promise.all(listed.filter((session) => !isLast(session)).map((session) => endIndexedSession(session, deps)));
  for (const session of listed.filter(isLast)) await endIndexedSession(session, deps);
  return listed.filter((session) => now < session.idleExpiresAt && now < session.expiresAt).length;
}

/**
 * Ends the sessions signed in with provider session `sid` (of issuer `iss`, when the caller names one).
 * Returns how many it ended. A sid never seen, or of another issuer, ends nothing and costs one query.
 */
export async function endSidSessions(sid: string, iss: string | undefined, deps: IndexDeps): Promise<number> {
  const partitionKey = sidIndexPartition(sid);
  const rows = await deps.sessions.listPartition(partitionKey, '');
  let ended = 0;
  for (const row of rows) {
    const entry = open<SidIndexEntry>(row.data, sid, 'session-index', row.rowKey);
    if (!entry || (iss !== undefined && entry.iss !== iss)) continue;
    await deleteSessionRow(
      {
        ...entry.session,
        links: [
          { partitionKey: entry.userPartition, rowKey: row.rowKey },
          { partitionKey, rowKey: row.rowKey },
        ],
      },
      deps,
    );
    ended++;
  }
  return ended;
}
