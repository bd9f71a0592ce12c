/** Waits until `check` holds (polling every 20 ms); fails after `ms` with `what` in the message. */
export async function until(
  check: () => boolean | Promise<boolean>,
  { ms = 5000, what = 'condition' }: { ms?: number; what?: string } = {},
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not met in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
