/**
 * Secure random bytes from a pool: one `randomFillSync` of 8 KiB serves about fifty sign-ins, where a draw per
 * value cost a third of a login's own CPU (BENCHMARKS.md, CPU per login). Node's `crypto.randomUUID` caches its
 * entropy the same way. Every byte is handed out once; a spent pool is replaced, never refilled in place, so a
 * view handed out earlier never changes under its holder.
 * @see https://nodejs.org/api/crypto.html#cryptorandomuuidoptions (disableEntropyCache)
 */
import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 8192;
let pool = Buffer.alloc(0);
let offset = 0;

export function secureRandomBytes(size: number): Uint8Array {
  if (size > POOL_BYTES) return randomFillSync(Buffer.alloc(size));
  if (offset + size > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafeSlow(POOL_BYTES));
    offset = 0;
  }
  const bytes = pool.subarray(offset, offset + size);
  offset += size;
  return bytes;
}
