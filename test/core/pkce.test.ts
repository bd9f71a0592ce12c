import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPkcePair, s256Challenge } from '../../shared/core/pkce';
import { secureRandom } from '../../shared/services';

test('RFC 7636 Appendix B: S256 challenge of the published verifier', () => {
  assert.equal(s256Challenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
});

test('a verifier outside RFC 7636 §4.1 is refused', () => {
  assert.throws(() => s256Challenge('too-short'));
  assert.throws(() => s256Challenge('a'.repeat(129)));
  assert.throws(() => s256Challenge(`${'a'.repeat(42)}+`));
});

test('pairs are fresh, 256-bit, S256', () => {
  const a = createPkcePair(secureRandom);
  const b = createPkcePair(secureRandom);
  assert.equal(a.method, 'S256');
  assert.equal(a.verifier.length, 43);
  assert.notEqual(a.verifier, b.verifier);
  assert.equal(a.challenge, s256Challenge(a.verifier));
});
