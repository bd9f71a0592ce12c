/**
 * One ordered log of calls across several ports (`states.consume`, `token.prepare`, `metadata.get`, …), so a core
 * test can say what happened before what: a Proxy records each method call by name before passing it on.
 */
export type Journal = string[];

export function recorded<T extends object>(name: string, target: T, journal: Journal): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      const value = Reflect.get(object, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return (...args: unknown[]) => {
        journal.push(`${name}.${property}`);
        return (value as (...a: unknown[]) => unknown).apply(object, args);
      };
    },
  });
}
