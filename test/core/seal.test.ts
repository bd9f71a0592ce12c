import { describe, expect, test } from '@jest/globals';
import { hkdfSync } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';
import { hkdfSha256Block, open, seal, type SealPurpose } from '../../shared/core/seal';

/** The key seal.ts derives, computed here independently: jose must agree with what it seals and opens. */
const keyOf = (secret: string, purpose: SealPurpose) =>
  new Uint8Array(hkdfSync('sha256', secret, 'entra-signin-functions', `row-seal:${purpose}:v1`, 32));
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

test('sealed rows open only with the same secret, purpose and row key', () => {
  const sealed = seal({ verifier: 'v', n: 1 }, 'secret-a', 'state', 'row-1');
  expect(sealed).not.toContain('verifier');
  expect(open(sealed, 'secret-a', 'state', 'row-1')).toStrictEqual({ verifier: 'v', n: 1 });
  expect(open(sealed, 'secret-b', 'state', 'row-1')).toBe(undefined);
  expect(open(sealed, 'secret-a', 'session', 'row-1')).toBe(undefined);
  expect(open(sealed, 'secret-a', 'state', 'row-2')).toBe(undefined);
});

test('every seal draws a fresh IV: the same value sealed twice differs', () => {
  const a = seal({ x: 1 }, 's', 'state', 'r').split('.');
  const b = seal({ x: 1 }, 's', 'state', 'r').split('.');
  expect(a[2]).not.toBe(b[2]);
  expect(a[3]).not.toBe(b[3]);
});

describe('the JWE compact format (RFC 7516 §7.1, dir + A256GCM) is what jose reads and writes', () => {
  test('jose opens what seal writes, with the row key as kid', async () => {
    const sealed = seal({ hello: 'wörld' }, 'secret', 'session', 'row-9');
    const { plaintext, protectedHeader } = await compactDecrypt(sealed, keyOf('secret', 'session'), {
      keyManagementAlgorithms: ['dir'],
      contentEncryptionAlgorithms: ['A256GCM'],
    });
    expect(protectedHeader).toStrictEqual({ alg: 'dir', enc: 'A256GCM', kid: 'row-9' });
    expect(JSON.parse(Buffer.from(plaintext).toString('utf8'))).toStrictEqual({ hello: 'wörld' });
  });

  test('rows sealed by jose (every row written before this format moved to node:crypto) still open', async () => {
    const sealed = await new CompactEncrypt(Buffer.from(JSON.stringify({ verifier: 'v', n: 2 })))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: 'row-1' })
      .encrypt(keyOf('secret', 'state'));
    expect(open(sealed, 'secret', 'state', 'row-1')).toStrictEqual({ verifier: 'v', n: 2 });
    expect(open(sealed, 'secret', 'state', 'row-2')).toBe(undefined);
  });

  test('a header that is not exactly dir + A256GCM + kid does not open, even under the right key', async () => {
    const encrypt = (header: Record<string, unknown>) =>
      new CompactEncrypt(Buffer.from('{"x":1}'))
        .setProtectedHeader(header as { alg: string; enc: string })
        .encrypt(keyOf('k', 'state'));
    expect(open(await encrypt({ alg: 'dir', enc: 'A256GCM', kid: 'r' }), 'k', 'state', 'r')).toStrictEqual({ x: 1 });
    expect(open(await encrypt({ alg: 'dir', enc: 'A256GCM', kid: 'r', cty: 'x' }), 'k', 'state', 'r')).toBe(undefined);
    expect(open(await encrypt({ alg: 'dir', enc: 'A256GCM' }), 'k', 'state', 'r')).toBe(undefined);
    const a128 = await new CompactEncrypt(Buffer.from('{"x":1}'))
      .setProtectedHeader({ alg: 'dir', enc: 'A128GCM', kid: 'r' })
      .encrypt(keyOf('k', 'state').slice(0, 16));
    expect(open(a128, 'k', 'state', 'r')).toBe(undefined);
  });
});

describe('tampered or malformed blobs open to undefined, never throw', () => {
  const sealed = seal({ verifier: 'v' }, 'secret', 'state', 'row-1');
  const parts = sealed.split('.');
  const flip = (text: string) => text.slice(0, -2) + (text.endsWith('AA') ? 'AB' : 'AA');
  const withPart = (i: number, value: string) => parts.map((p, j) => (j === i ? value : p)).join('.');
  test.each([
    ['a changed ciphertext byte', withPart(3, flip(parts[3]!))],
    ['a changed tag', withPart(4, flip(parts[4]!))],
    ['a changed IV', withPart(2, flip(parts[2]!))],
    [
      'a header swapped for another row (the AAD no longer matches)',
      withPart(0, b64({ alg: 'dir', enc: 'A256GCM', kid: 'row-1 ' })),
    ],
    [
      'a header naming the row with other JSON spacing',
      withPart(0, Buffer.from('{"alg":"dir", "enc":"A256GCM","kid":"row-1"}').toString('base64url')),
    ],
    ['an encrypted key (not dir)', withPart(1, 'AAAA')],
    ['a short IV', withPart(2, 'AAAA')],
    ['a short tag', withPart(4, parts[4]!.slice(0, 8))],
    ['four parts', parts.slice(0, 4).join('.')],
    ['six parts', `${sealed}.`],
    ['characters outside base64url', withPart(3, `${parts[3]!.slice(1)}+`)],
    ['a header that is not JSON', withPart(0, Buffer.from('not json').toString('base64url'))],
    ['a header that is JSON null', withPart(0, b64(null))],
    ['the empty string', ''],
  ])('%s', (_name, blob) => {
    expect(open(blob, 'secret', 'state', 'row-1')).toBe(undefined);
  });
});

describe('the key derivation is HKDF-SHA256 (RFC 5869), one 32-byte block', () => {
  test('RFC 5869 §A.1: the first block of the test vector', () => {
    const okm = hkdfSha256Block(
      Buffer.alloc(22, 0x0b),
      Buffer.from('000102030405060708090a0b0c', 'hex'),
      Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex'),
    );
    expect(okm.toString('hex')).toBe('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf');
  });

  test.each([
    ['a state', 'c-0005986547.Yk3f0rVx1W5Qm1m9Xo2cGZs0y0Ykq8QbQf9lJH1s0xY', 'state'],
    ['a session secret', 'n8r6p2yQW3k9c1T0h5Zx7V4b2L6m8J0s1D3f5G7h9Kq', 'session'],
    ['non-ASCII', 'sécret ünïcode ✓', 'session-index'],
    ['empty', '', 'handoff'],
  ] as const)('the same key as node:crypto hkdfSync for %s', (_name, secret, purpose) => {
    const sealed = seal({ ok: true }, secret, purpose, 'row');
    // keyOf (top of this file) is hkdfSync: jose opening with it proves the keys are equal.
    return compactDecrypt(sealed, keyOf(secret, purpose)).then(({ plaintext }) =>
      expect(JSON.parse(Buffer.from(plaintext).toString('utf8'))).toStrictEqual({ ok: true }),
    );
  });
});
