/**
 * The shapes of the secrets this service hands out, and the storage keys derived from them.
 *
 * - A sign-in `state` is `<partition>.<43 base64url chars>` (256 random bits).
 * - A native app's one-time handoff code has the same shape as a state.
 * - A session token (cookie value, native app token) is `<partition>.<id>.<secret>`. Rotating a native
 *   session token keeps the partition and id (the row) and replaces the secret (the key the row is sealed with).
 *
 * A partition is `<shard>-<bucket>`: the bucket is when the row expires (the hour for sessions, the 5-minute bucket
 * for states and handoff codes), so the purge job deletes whole expired partitions and its cost grows with the
 * expired rows, not the table; the shard (`a`..`p`, drawn at random per row) spreads one bucket's rows over
 * 16 partitions, so no single partition takes every sign-in of the moment (see SHARDS). Tokens issued before the
 * shards carry a bare 10-digit bucket as their partition; they are still accepted, and their rows are still found
 * and purged. Row keys are hashes: the raw state or session token is never stored, so a copy of the tables alone
 * gives no one a usable state or session.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { AuthError } from '../errors';
import type { PartitionRange } from '../ports';

export type RandomBytes = (size: number) => Uint8Array;

const HOUR_MS = 3_600_000;
/** A sharded partition (`c-0005912345`) or one from before the shards (`0005912345`, still in flight). */
const PARTITION = /^(?:[a-p]-)?\d{10}$/;
const B64URL_43 = /^[A-Za-z0-9_-]{43}$/;
const B64URL_22 = /^[A-Za-z0-9_-]{22}$/;

/**
 * The shards of every expiry bucket: 16, one lowercase letter each.
 *
 * Why a prefix: Table Storage serves a table as key RANGES, each range from one partition server, and a key that
 * grows with time puts every new row at the end of the last range (the "prepend/append anti-pattern"); a shard in
 * front of the bucket makes the live keys 16 separate ranges the service can serve apart.
 * @see https://learn.microsoft.com/azure/storage/tables/table-storage-design-patterns#prepend-append-anti-pattern
 * @see https://learn.microsoft.com/azure/storage/blobs/storage-performance-blob-partitions (a hash prefix first)
 *
 * Why 16: Azure's targets are 2,000 entities/s per partition and 20,000 transactions/s per storage account
 * (https://learn.microsoft.com/azure/storage/tables/scalability-targets). Even if every transaction the account can
 * take went to one table's one bucket (a flood of logins, or of session reads), 20,000 / 16 = 1,250/s per shard
 * stays under 2,000: the account limit binds before any partition. A web sign-in costs 6 transactions (3 of them
 * on AuthState), so one account takes ~3,300 sign-ins/s, ~625 AuthState operations/s per shard (BENCHMARKS.md).
 * 10 would be the least that holds; 16 leaves room for the random spread and is one letter. More shards would only
 * cost the purge: one more range query per shard per run, and at low volume smaller transactions.
 *
 * Why letters: they sort after the digits of the partitions from before the shards, so those are one key range
 * below every shard (`PartitionKey lt '<bucket>'` still finds them and nothing else), and before the session
 * index partitions (`s.`, `u.`), which no purge range reaches.
 */
export const SHARDS = [...'abcdefghijklmnop'] as const;

export function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** The shard of a random byte: its low 4 bits (256 is a multiple of 16, so each shard is equally likely). */
export function shardOf(randomByte: number): string {
  return SHARDS[randomByte & 0x0f]!;
}

/** A row's partition: its shard, then its expiry bucket. */
export function shardedPartition(shard: string, bucket: string): string {
  return `${shard}-${bucket}`;
}

/** The expiry bucket of a partition, sharded or from before the shards. */
export function bucketOf(partitionKey: string): string {
  return partitionKey.slice(-10);
}

/** The hour a session expiring at `expiresAt` expires in: the whole hour number, zero-padded to sort as text. */
export function expiryBucket(expiresAt: number): string {
  return String(Math.floor(expiresAt / HOUR_MS)).padStart(10, '0');
}

/** Every session bucket before this one holds only expired rows. */
export function firstLiveBucket(now: number): string {
  return expiryBucket(now);
}

/**
 * Pending sign-ins and handoff codes live minutes, not hours: their bucket is the 5-minute bucket they expire
 * in, so a purge every 5 minutes removes each within 10 minutes of its expiry (an hour bucket kept an abandoned
 * sign-in up to 70 minutes). Same 10-digit shape; the numbers are larger than hour numbers, so a row from the
 * older hour scheme sorts before every live bucket and is purged.
 */
export const STATE_BUCKET_MS = 5 * 60_000;

export function stateExpiryBucket(expiresAt: number): string {
  return String(Math.floor(expiresAt / STATE_BUCKET_MS)).padStart(10, '0');
}

/** Every AuthState bucket before this one holds only expired rows. */
export function firstLiveStateBucket(now: number): string {
  return stateExpiryBucket(now);
}

/**
 * The partitions that hold only expired rows when `liveBucket` is the first live bucket: one range per shard
 * (`a-` ≤ key < `a-<liveBucket>`, ...) and the partitions from before the shards (key < `<liveBucket>`: digits sort
 * before the shard letters, so this range holds only those). No range reaches a live partition or an index one.
 */
export function expiredPartitionRanges(liveBucket: string): PartitionRange[] {
  return [
    { from: '', to: liveBucket },
    ...SHARDS.map((shard) => ({ from: `${shard}-`, to: shardedPartition(shard, liveBucket) })),
  ];
}

/** AuthState's expired partitions at `now`. */
export function expiredStateRanges(now: number): PartitionRange[] {
  return expiredPartitionRanges(firstLiveStateBucket(now));
}

/** AuthSessions' expired partitions at `now`. */
export function expiredSessionRanges(now: number): PartitionRange[] {
  return expiredPartitionRanges(firstLiveBucket(now));
}

export interface RowRef {
  partitionKey: string;
  rowKey: string;
}

/** A fresh state (or handoff code): one draw of 33 bytes, 32 for the secret and one for the shard. */
export function newStateToken(random: RandomBytes, expiresAt: number): string {
  const bytes = random(33);
  return `${shardedPartition(shardOf(bytes[32]!), stateExpiryBucket(expiresAt))}.${base64url(bytes.subarray(0, 32))}`;
}

/** Checks the state's format before any storage call; a malformed state never reaches Table Storage. */
export function stateRowRef(state: string): RowRef {
  const ref = singleUseRowRef('state', state);
  if (!ref) throw new AuthError('state_malformed');
  return ref;
}

/** A handoff code has the state's shape: a fresh shard and expiry bucket, and 256 random bits. */
export const newHandoffCode = newStateToken;

/** The row of a handoff code; undefined when the code is not of the exact shape (it never reaches storage). */
export function handoffRowRef(code: string): RowRef | undefined {
  return singleUseRowRef('handoff', code);
}

function singleUseRowRef(kind: 'state' | 'handoff', value: string): RowRef | undefined {
  const [partitionKey, secret, extra] = value.split('.');
  if (extra !== undefined || !partitionKey || !PARTITION.test(partitionKey) || !secret || !B64URL_43.test(secret))
    return undefined;
  return { partitionKey, rowKey: sha256Hex(`${kind}:${value}`) };
}

export const TRANSACTION_COOKIE_PREFIX = '__Host-signin-';
/** The exact shape of a transaction cookie's name (see transactionCookieName). */
export const TRANSACTION_COOKIE = /^__Host-signin-[0-9a-f]{16}$/;

/** Name of the transaction cookie for one sign-in: one per sign-in, so two tabs can sign in at once. */
export function transactionCookieName(stateRowKey: string): string {
  return `${TRANSACTION_COOKIE_PREFIX}${stateRowKey.slice(0, 16)}`;
}

/** A fresh session token: 17 bytes for the id (16) and the shard (1), then 32 for the secret. */
export function newSessionToken(random: RandomBytes, expiresAt: number): string {
  const id = random(17);
  const partition = shardedPartition(shardOf(id[16]!), expiryBucket(expiresAt));
  return `${partition}.${base64url(id.subarray(0, 16))}.${base64url(random(32))}`;
}

/** The same session (partition and id, so the same row) under a new secret: a rotated native session token. */
export function rotateSessionToken(token: string, random: RandomBytes): string {
  const [partitionKey, id] = token.split('.');
  return `${partitionKey}.${id}.${base64url(random(32))}`;
}

export interface SessionRef extends RowRef {
  /** The part of the token that only the holder knows: the session's encryption key is derived from it. */
  secret: string;
}

/** Parses a session token; anything not of the exact shape is simply "no session". */
export function sessionRowRef(token: string): SessionRef | undefined {
  const [partitionKey, id, secret, extra] = token.split('.');
  if (extra !== undefined || !partitionKey || !PARTITION.test(partitionKey) || !id || !B64URL_22.test(id))
    return undefined;
  if (!secret || !B64URL_43.test(secret)) return undefined;
  return { partitionKey, rowKey: sha256Hex(`session:${id}`), secret };
}

/** Hash of the per-browser binding secret kept in the transaction cookie. */
export function bindingHash(binding: string): string {
  return sha256Hex(`binding:${binding}`);
}

/** Constant-time comparison of two hex digests of equal length. */
export function sameDigest(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}
