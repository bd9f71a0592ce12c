import { expect, test } from '@jest/globals';
import { open, seal } from '../../shared/core/seal';

test('sealed rows open only with the same secret, purpose and row key', async () => {
  const sealed = await seal({ verifier: 'v', n: 1 }, 'secret-a', 'state', 'row-1');
  expect(!sealed.includes('verifier')).toBeTruthy();
  expect(await open(sealed, 'secret-a', 'state', 'row-1')).toStrictEqual({ verifier: 'v', n: 1 });
  expect(await open(sealed, 'secret-b', 'state', 'row-1')).toBe(undefined);
  expect(await open(sealed, 'secret-a', 'session', 'row-1')).toBe(undefined);
  expect(await open(sealed, 'secret-a', 'state', 'row-2')).toBe(undefined);
  const parts = sealed.split('.');
  parts[3] = parts[3]!.slice(0, -2) + (parts[3]!.endsWith('AA') ? 'AB' : 'AA');
  expect(await open(parts.join('.'), 'secret-a', 'state', 'row-1')).toBe(undefined);
});
