/**
 * Sealing rows before they reach storage: JWE compact serialization, `dir` + A256GCM, with a key derived by HKDF
 * from a secret that storage never sees (the sign-in state, the session token's secret part, ...). The row key
 * travels as the protected header's `kid`, so a sealed blob moved to another row does not open.
 *
 * Sealed with `node:crypto` AES-256-GCM, synchronously: the same format jose's `CompactEncrypt` writes (rows
 * sealed before this change still open; jose opens ours: test/core/seal.test.ts), without WebCrypto's async job
 * and per-call `importKey`, the largest share of a login's own CPU (BENCHMARKS.md, CPU per login).
 * @see https://www.rfc-editor.org/rfc/rfc7516#section-7.1 JWE compact serialization,
 *   https://www.rfc-editor.org/rfc/rfc7518#section-4.5 `dir`, https://www.rfc-editor.org/rfc/rfc7518#section-5.3 A256GCM
 *   (96-bit IV, 128-bit tag, AAD = ASCII(BASE64URL(protected header))), https://www.rfc-editor.org/rfc/rfc5869 HKDF
 */
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import { secureRandomBytes } from './random';

export type SealPurpose = 'state' | 'session' | 'session-grace' | 'handoff' | 'session-index';

const IV_BYTES = 12;
const TAG_BYTES = 16;

const SALT = Buffer.from('entra-signin-functions', 'utf8');

/**
 * HKDF-SHA256 (RFC 5869) for one 32-byte output block: PRK = HMAC(salt, secret), key = HMAC(PRK, info || 0x01).
 * The same key `hkdfSync('sha256', secret, SALT, info, 32)` gives (tested against it and RFC 5869 §A.1), written out
 * because `hkdfSync` builds a KeyObject and a crypto job per call: a tenth of a login's own CPU, for two HMACs.
 */
export function hkdfSha256Block(ikm: Buffer, salt: Buffer, info: Buffer): Buffer {
  const prk = createHmac('sha256', salt).update(ikm).digest();
  return createHmac('sha256', prk).update(info).update(BLOCK_1).digest();
}
const BLOCK_1 = Buffer.from([1]);

function deriveKey(secret: string, purpose: SealPurpose): Buffer {
  return hkdfSha256Block(Buffer.from(secret, 'utf8'), SALT, Buffer.from(`row-seal:${purpose}:v1`, 'utf8'));
}

export function seal(value: unknown, secret: string, purpose: SealPurpose, rowKey: string): string {
  const header = Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A256GCM', kid: rowKey })).toString('base64url');
  const iv = secureRandomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', deriveKey(secret, purpose), iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(Buffer.from(header, 'ascii'));
  const ciphertext = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  // `dir`: the JWE Encrypted Key is the empty string (RFC 7518 §4.5).
  return `${header}..${Buffer.from(iv.buffer, iv.byteOffset, iv.byteLength).toString('base64url')}.${ciphertext.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Opens a sealed row; undefined when the key is wrong, the blob was tampered with or is not of this exact form
 * (`dir` + A256GCM, no other header parameter that would change its meaning), or it belongs to another row.
 */
export function open<T>(sealed: string, secret: string, purpose: SealPurpose, rowKey: string): T | undefined {
  const parts = sealed.split('.');
  if (parts.length !== 5 || parts[1] !== '' || !parts.every((part) => B64URL.test(part))) return undefined;
  const [header, , ivText, ciphertextText, tagText] = parts as [string, string, string, string, string];
  const iv = Buffer.from(ivText, 'base64url');
  const tag = Buffer.from(tagText, 'base64url');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return undefined;
  try {
    const fields = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Record<string, unknown>;
    // Exactly what we write: an unknown parameter (`zip`, `crit`, ...) could change how the content is read.
    const names = Object.keys(fields).sort().join(',');
    if (names !== 'alg,enc,kid' || fields['alg'] !== 'dir' || fields['enc'] !== 'A256GCM' || fields['kid'] !== rowKey)
      return undefined;
    const decipher = createDecipheriv('aes-256-gcm', deriveKey(secret, purpose), iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(header, 'ascii'));
    decipher.setAuthTag(tag);
    const plaintext = Buffer.concat([decipher.update(Buffer.from(ciphertextText, 'base64url')), decipher.final()]);
    return JSON.parse(plaintext.toString('utf8')) as T;
  } catch {
    return undefined; // a wrong key or a changed byte fails the tag check in final()
  }
}
