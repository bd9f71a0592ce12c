/**
 * PKCE, S256 only.
 * @see https://www.rfc-editor.org/rfc/rfc7636 RFC 7636 (§4.1 verifier, §4.2 S256 challenge, Appendix B vector)
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { base64url, type RandomBytes } from './keys';

/** RFC 7636 §4.1: 43-128 characters of [A-Z a-z 0-9 - . _ ~]. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

export interface PkcePair {
  verifier: string;
  challenge: string;
  method: 'S256';
}

/** A verifier of 32 random bytes (256 bits), base64url: 43 characters. */
export function createPkcePair(random: RandomBytes): PkcePair {
  const verifier = base64url(random(32));
  return { verifier, challenge: s256Challenge(verifier), method: 'S256' };
}

export function s256Challenge(verifier: string): string {
  if (!VERIFIER.test(verifier)) throw new TypeError('PKCE verifier must be 43-128 unreserved characters');
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** RFC 7636 §4.6: does `verifier` hash to `challenge`? Constant time; a malformed verifier simply does not match. */
export function verifierMatchesChallenge(verifier: string, challenge: string): boolean {
  if (!VERIFIER.test(verifier)) return false;
  const computed = Buffer.from(s256Challenge(verifier));
  const expected = Buffer.from(challenge);
  return computed.length === expected.length && timingSafeEqual(computed, expected);
}
