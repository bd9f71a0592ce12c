import { expect, test } from '@jest/globals';
import { secureRandomBytes } from '../../shared/core/random';

test('pooled draws are of the size asked, and no two share a byte of the pool', () => {
  const draws = Array.from({ length: 2000 }, (_, i) => secureRandomBytes(1 + (i % 64)));
  draws.forEach((d, i) => expect(d.length).toBe(1 + (i % 64)));
  // Views into the same pool buffer never overlap (the pool is replaced when spent, never refilled in place).
  const byPool = new Map<ArrayBufferLike, [number, number][]>();
  for (const d of draws)
    byPool.set(d.buffer, [...(byPool.get(d.buffer) ?? []), [d.byteOffset, d.byteOffset + d.length]]);
  expect(byPool.size).toBeGreaterThan(1);
  for (const ranges of byPool.values()) {
    ranges.sort((a, b) => a[0] - b[0]);
    ranges.slice(1).forEach(([start], i) => expect(start).toBeGreaterThanOrEqual(ranges[i]![1]));
  }
});

test('a view handed out earlier does not change when the pool is spent and replaced', () => {
  const first = secureRandomBytes(32);
  const copy = Buffer.from(first);
  for (let i = 0; i < 1000; i++) secureRandomBytes(64);
  expect(Buffer.from(first)).toStrictEqual(copy);
});

test('draws look random: 32-byte values never repeat, and a draw larger than the pool is served whole', () => {
  const seen = new Set(Array.from({ length: 5000 }, () => Buffer.from(secureRandomBytes(32)).toString('hex')));
  expect(seen.size).toBe(5000);
  const big = secureRandomBytes(20_000);
  expect(big.length).toBe(20_000);
  expect(new Set(big).size).toBeGreaterThan(200);
});
