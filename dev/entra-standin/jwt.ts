/**
 * Synchronous JWS compact signing for the stand-in's own tokens.
 *
 * The tests' `SignFn` hook (see `nextIdToken`) must return a token synchronously, and it must also be able to
 * produce deliberately broken tokens that jose refuses to make (`alg: none`, HS256 keyed with an RSA public
 * key). So issuing uses node:crypto directly; jose verifies what clients send us (client assertions).
 */
import { createHash, createHmac, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

export interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function newSigningKey(kid = randomBytes(20).toString('base64url')): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, publicKey };
}

/** The JWKS entry for a key: RS256 signing, as Entra publishes it. */
export function publicJwk(key: SigningKey): Record<string, unknown> {
  const jwk = key.publicKey.export({ format: 'jwk' });
  return { kty: 'RSA', use: 'sig', kid: key.kid, alg: 'RS256', n: jwk.n, e: jwk.e };
}

function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export type SignAlg = 'RS256' | 'none' | 'HS256';

export function signCompact(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  alg: SignAlg,
  key: SigningKey,
): string {
  const input = `${b64url({ ...header, alg })}.${b64url(claims)}`;
  switch (alg) {
    case 'none':
      return `${input}.`;
    case 'HS256': {
      // The classic algorithm-confusion attack: HMAC keyed with the verifier's own *public* key PEM.
      const secret = key.publicKey.export({ type: 'spki', format: 'pem' });
      return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
    }
    case 'RS256':
      return `${input}.${sign('sha256', Buffer.from(input), key.privateKey).toString('base64url')}`;
  }
}

/**
 * A Microsoft Graph-style access token: the header carries a `nonce`, and the signature covers the header with
 * that nonce's SHA-256 instead, so only Graph (which hashes it back) can verify it. Clients must treat Graph
 * tokens as opaque. https://learn.microsoft.com/entra/identity-platform/access-tokens#validate-tokens
 */
export function signGraphStyle(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  key: SigningKey,
): string {
  const nonce = randomBytes(32).toString('base64url');
  const signed = signCompact({ ...header, nonce: hashNonce(nonce) }, claims, 'RS256', key);
  const [, payload, signature] = signed.split('.');
  return `${b64url({ ...header, nonce, alg: 'RS256' })}.${payload}.${signature}`;
}

/** The token as it was signed: a Graph-style header nonce replaced by its hash (other tokens unchanged). */
export function unhashGraphNonce(token: string): string {
  const [header, payload, signature] = token.split('.');
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(Buffer.from(header ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return token;
  }
  if (typeof parsed.nonce !== 'string') return token;
  return `${b64url({ ...parsed, nonce: hashNonce(parsed.nonce) })}.${payload}.${signature}`;
}

function hashNonce(nonce: string): string {
  return createHash('sha256').update(nonce).digest('base64url');
}
