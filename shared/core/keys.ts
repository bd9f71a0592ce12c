/**
 * The shapes of the secrets this service hands out, and the storage keys derived from them.
 *
 * - A sign-in `state` is `<partition>.<43 base64url chars>` (256 random bits).
 * - A native app's one-time handoff code has the same shape as a state.
 * - A session token (cookie value, native app token) is `<partition>.<id>.<secret>`. Rotating a native
 *   session token keeps the partition and id (the row) and replaces the secret (the key the row is sealed with).
 *
 * The partition is the hour in which the row expires (sessions) or its 5-minute bucket (states, handoff codes),
 * so the purge job deletes whole expired partitions and its cost grows with the expired rows, not the table. Row keys are hashes: the raw state or session token is
 * never stored, so a copy of the tables alone gives no one a usable state or session.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { AuthError } from '../errors';

export type RandomBytes = (size: number) => Uint8Array;

const HOUR_MS = 3_600_000;
const PARTITION = /^\d{10}$/;
const B64URL_43 = /^[A-Za-z0-9_-]{43}$/;
const B64URL_22 = /^[A-Za-z0-9_-]{22}$/;

export function base64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64url');
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** The partition a row expiring at `expiresAt` lives in: the whole hour number, zero-padded to sort as text. */
export function expiryPartition(expiresAt: number): string {
  return String(Math.floor(expiresAt / HOUR_MS)).padStart(10, '0');
}

/** Every partition before this one holds only expired rows. */
export function firstLivePartition(now: number): string {
  return expiryPartition(now);
}

/**
 * Pending sign-ins and handoff codes live minutes, not hours: their partition is the 5-minute bucket they expire
 * in, so a purge every 5 minutes removes each within 10 minutes of its expiry (an hour bucket kept an abandoned
 * sign-in up to 70 minutes). Same 10-digit shape; the numbers are larger than hour numbers, so a row from the
 * older hour scheme sorts before every live bucket and is purged.
 */
export const STATE_BUCKET_MS = 5 * 60_000;

export function stateExpiryPartition(expiresAt: number): string {
  return String(Math.floor(expiresAt / STATE_BUCKET_MS)).padStart(10, '0');
}

/** Every AuthState partition before this one holds only expired rows. */
export function firstLiveStatePartition(now: number): string {
  return stateExpiryPartition(now);
}

export interface RowRef {
  partitionKey: string;
  rowKey: string;
}

export function newStateToken(random: RandomBytes, expiresAt: number): string {
  return `${stateExpiryPartition(expiresAt)}.${base64url(random(32))}`;
}

/** Checks the state's format before any storage call; a malformed state never reaches Table Storage. */
export function stateRowRef(state: string): RowRef {
  const ref = singleUseRowRef('state', state);
  if (!ref) throw new AuthError('state_malformed');
  return ref;
}

/** A handoff code has the state's shape: a fresh expiry partition and 256 random bits. */
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

export function newSessionToken(random: RandomBytes, expiresAt: number): string {
  return `${expiryPartition(expiresAt)}.${base64url(random(16))}.${base64url(random(32))}`;
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
