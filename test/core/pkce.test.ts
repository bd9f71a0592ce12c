import { expect, test } from '@jest/globals';
import { createPkcePair, s256Challenge } from '../../shared/core/pkce';
import { secureRandom } from '../../shared/services';

test('RFC 7636 Appendix B: S256 challenge of the published verifier', () => {
  expect(s256Challenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
    'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
  );
});

test('a verifier outside RFC 7636 §4.1 is refused', () => {
  expect(() => s256Challenge('too-short')).toThrow();
  expect(() => s256Challenge('a'.repeat(129))).toThrow();
  expect(() => s256Challenge(`${'a'.repeat(42)}+`)).toThrow();
});

test('pairs are fresh, 256-bit, S256', () => {
  const a = createPkcePair(secureRandom);
  const b = createPkcePair(secureRandom);
  expect(a.method).toBe('S256');
  expect(a.verifier.length).toBe(43);
  expect(a.verifier).not.toBe(b.verifier);
  expect(a.challenge).toBe(s256Challenge(a.verifier));
});
