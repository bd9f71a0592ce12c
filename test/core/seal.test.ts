import assert from 'node:assert/strict';
import { test } from 'node:test';
import { open, seal } from '../../shared/core/seal';

test('sealed rows open only with the same secret, purpose and row key', async () => {
  const sealed = await seal({ verifier: 'v', n: 1 }, 'secret-a', 'state', 'row-1');
  assert.ok(!sealed.includes('verifier'));
  assert.deepEqual(await open(sealed, 'secret-a', 'state', 'row-1'), { verifier: 'v', n: 1 });
  assert.equal(await open(sealed, 'secret-b', 'state', 'row-1'), undefined);
  assert.equal(await open(sealed, 'secret-a', 'session', 'row-1'), undefined);
  assert.equal(await open(sealed, 'secret-a', 'state', 'row-2'), undefined);
  const parts = sealed.split('.');
  parts[3] = parts[3]!.slice(0, -2) + (parts[3]!.endsWith('AA') ? 'AB' : 'AA');
  assert.equal(await open(parts.join('.'), 'secret-a', 'state', 'row-1'), undefined);
});
