/**
 * Security telemetry: named, structured events written through the Functions logger, so they reach Application
 * Insights as traces (`traces | where message startswith "event "`; the JSON after the name is in
 * `parse_json(substring(message, indexof(message, "{")))`). The invocation logger adds a `correlationId` (the W3C
 * trace id, App Insights' `operation_Id`) to every event.
 *
 * Properties are codes, counts, durations and kinds — never a token, code, state, cookie, name or address. The one
 * identifier allowed is `userHash`, a truncated SHA-256 of the user's stable id (pseudonymous, not reversible
 * without the id itself).
 */
import { createHash } from 'node:crypto';
import type { Logger } from './ports';

export type SecurityEventName =
  | 'signin_started'
  | 'signin_completed'
  | 'signin_failed'
  | 'replay_detected'
  | 'token_reuse_detected'
  | 'credential_rotated'
  | 'signed_out_everywhere'
  | 'session_ended_by_user'
  | 'frontchannel_logout';

export type EventProperties = Record<string, string | number | boolean | undefined>;

/** Detections are warnings, so an alert on the warning level catches them without a query. */
const WARNINGS = new Set<SecurityEventName>(['replay_detected', 'token_reuse_detected']);

export function securityEvent(logger: Logger, name: SecurityEventName, properties: EventProperties = {}): void {
  (WARNINGS.has(name) ? logger.warn : logger.info)(`event ${name}`, { event: name, ...properties });
}

/** A stable pseudonym for a user id (tenant + object id, or issuer + subject): 128 bits of its SHA-256. */
export function userHash(userId: string): string {
  return createHash('sha256').update(`user:${userId}`).digest('hex').slice(0, 32);
}
