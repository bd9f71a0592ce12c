import { expect } from '@jest/globals';

/** `expect(value).toBeTruthy()` that also narrows the value's type for the lines after it, as Jest's `expect` cannot. */
export function expectPresent<T>(value: T): asserts value is NonNullable<T> {
  expect(value).toBeTruthy();
}
