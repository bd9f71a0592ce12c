import { expect, test } from '@jest/globals';
import { TokenBucket } from '../../shared/core/rate-limit';

test('a token bucket allows the burst, then the sustained rate, and says how long to wait', () => {
  let now = 0;
  const bucket = new TokenBucket(2, 3, { now: () => now });
  expect([bucket.take(), bucket.take(), bucket.take()]).toStrictEqual([undefined, undefined, undefined]);
  expect(bucket.take()).toBe(1);
  now += 500; // half a second at 2/s: one token
  expect(bucket.take()).toBe(undefined);
  expect(bucket.take()).toBe(1);
  now += 60_000; // refills to the burst, not beyond
  expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toStrictEqual([
    undefined,
    undefined,
    undefined,
    1,
  ]);
});

test('a slow rate asks for a longer wait', () => {
  const bucket = new TokenBucket(0.1, 1, { now: () => 0 });
  expect(bucket.take()).toBe(undefined);
  expect(bucket.take()).toBe(10);
});
