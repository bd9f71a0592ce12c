import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucket } from '../../shared/core/rate-limit';

test('a token bucket allows the burst, then the sustained rate, and says how long to wait', () => {
  let now = 0;
  const bucket = new TokenBucket(2, 3, { now: () => now });
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take()], [undefined, undefined, undefined]);
  assert.equal(bucket.take(), 1, 'empty: wait a second (at least 1, never 0)');
  now += 500; // half a second at 2/s: one token
  assert.equal(bucket.take(), undefined);
  assert.equal(bucket.take(), 1);
  now += 60_000; // refills to the burst, not beyond
  assert.deepEqual([bucket.take(), bucket.take(), bucket.take(), bucket.take()], [undefined, undefined, undefined, 1]);
});

test('a slow rate asks for a longer wait', () => {
  const bucket = new TokenBucket(0.1, 1, { now: () => 0 });
  assert.equal(bucket.take(), undefined);
  assert.equal(bucket.take(), 10);
});
