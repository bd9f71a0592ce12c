/**
 * Sealing rows before they reach storage: JWE compact, `dir` + A256GCM (jose), with a key derived by HKDF from a
 * secret that storage never sees (the sign-in state, or the session token's secret part). The row key travels
 * as the protected header's `kid`, so a sealed blob moved to another row does not open.
 * @see https://www.rfc-editor.org/rfc/rfc7516 JWE, https://www.rfc-editor.org/rfc/rfc5869 HKDF
 */
import { hkdfSync } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';

export type SealPurpose = 'state' | 'session' | 'session-grace' | 'handoff' | 'session-index';

function deriveKey(secret: string, purpose: SealPurpose): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, 'entra-signin-functions', `row-seal:${purpose}:v1`, 32));
}

export async function seal(value: unknown, secret: string, purpose: SealPurpose, rowKey: string): Promise<string> {
  return new CompactEncrypt(Buffer.from(JSON.stringify(value), 'utf8'))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: rowKey })
    .encrypt(deriveKey(secret, purpose));
}

/** Opens a sealed row; undefined when the key is wrong, the blob was tampered with, or it belongs to another row. */
export async function open<T>(
  sealed: string,
  secret: string,
  purpose: SealPurpose,
  rowKey: string,
): Promise<T | undefined> {
  try {
    const { plaintext, protectedHeader } = await compactDecrypt(sealed, deriveKey(secret, purpose), {
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    if (protectedHeader.kid !== rowKey) return undefined;
    return JSON.parse(Buffer.from(plaintext).toString('utf8')) as T;
  } catch {
    return undefined;
  }
}
