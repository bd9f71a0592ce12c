/** Types of bench/child-protocol.mjs (plain JS, so the .mjs bench children load it without a build). */
export function speakBenchProtocol(
  ready: { url: string; functions?: string[]; hostLoadedMs?: number },
  handlers: { stop: () => Promise<void> | void; commands?: Record<string, () => unknown> },
): void;
