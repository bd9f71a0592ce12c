// The bench's protocol with a child process it starts (bench/support.ts startChild): the child prints one line
// `@@READY {"url":...}` once it listens, then answers lines on stdin: `usage` → `@@USAGE {cpu, heap}` (after a
// full gc when run with --expose-gc), `stop` → the child stops; other commands go to `commands`.
import { performance } from 'node:perf_hooks';

/**
 * @param {{ url: string, functions?: string[], hostLoadedMs?: number }} ready
 * @param {{ stop: () => Promise<void> | void, commands?: Record<string, () => unknown> }} handlers
 */
export function speakBenchProtocol(ready, { stop, commands = {} }) {
  process.stdout.write(`@@READY ${JSON.stringify({ functions: [], ...ready, readyMs: performance.now() })}\n`);
  const end = () => void Promise.resolve(stop()).finally(() => process.exit(0));
  let buffered = '';
  process.stdin.setEncoding('utf8').on('data', (chunk) => {
    buffered += chunk;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const command = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (command === 'usage') {
        globalThis.gc?.();
        const usage = { cpu: process.cpuUsage(), heap: process.memoryUsage().heapUsed };
        process.stdout.write(`@@USAGE ${JSON.stringify(usage)}\n`);
      } else if (command === 'stop') end();
      else if (commands[command])
        process.stdout.write(`@@${command.toUpperCase()} ${JSON.stringify(commands[command]())}\n`);
    }
  });
  process.stdin.on('end', end);
}
