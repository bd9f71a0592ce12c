// Runs before every test file: generous timeouts (these tests start Azurite, stand-ins and Chromium on a shared
// 2-core machine; speed is measured by `npm run bench`, never here) and two matchers node:assert had.
import { expect, jest } from '@jest/globals';

jest.setTimeout(120_000);

expect.extend({
  /** The value satisfies the predicate (it returns true), as node:assert's validation functions. */
  toSatisfy(received: unknown, predicate: (value: unknown) => boolean) {
    const pass = predicate(received) === true;
    return {
      pass,
      message: () => `expected ${this.utils.printReceived(received)} ${pass ? 'not ' : ''}to satisfy the predicate`,
    };
  },
  /** The function throws, and what it throws satisfies the predicate. */
  toThrowSatisfying(received: () => unknown, predicate: (error: unknown) => boolean) {
    try {
      received();
    } catch (error) {
      const pass = predicate(error) === true;
      return {
        pass,
        message: () =>
          `expected the thrown ${this.utils.printReceived(error)} ${pass ? 'not ' : ''}to satisfy the predicate`,
      };
    }
    return { pass: false, message: () => 'expected the function to throw' };
  },
});

declare module 'expect' {
  interface Matchers<R> {
    toSatisfy(predicate: (value: any) => boolean): R;
    toThrowSatisfying(predicate: (error: any) => boolean): R;
  }
}
