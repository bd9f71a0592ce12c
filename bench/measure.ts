/**
 * What every bench step shares: a row of the table, knobs, medians and their spread, load by autocannon in its
 * own process, CPU deltas from the `@@USAGE` line of a bench child. Medians of runs, min–max beside them; nothing
 * timed is asserted.
 */
import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { AzuriteInstance } from '../dev/azurite';
import type { EntraStandIn, StandInUser } from '../dev/entra-standin';
import { ROOT, type AppProcess } from './support';

/** What a bench step gets: Azurite, the Entra stand-in and its users (bench.ts `World` has more). */
export interface StepWorld {
  azurite: AzuriteInstance;
  standIn: EntraStandIn;
  users: StandInUser[];
}

/** One line of the bench's table. */
export interface Row {
  figure: string;
  runs: string;
  measured: string;
  baseline: string;
  ratio: number;
  ratioText?: string;
  goal: string;
  met: boolean;
}

/** What bench.ts builds before any step: the app's bundle, the host launcher, the CPU floors module. */
export const BENCH_DIR = join(ROOT, '.local', 'bench');
export const DIST = join(BENCH_DIR, 'dist');
export const LAUNCHER = join(BENCH_DIR, 'launch-host.js');
export const FLOORS = join(BENCH_DIR, 'floors.js');
/** bench/design-floor.ts, bundled beside DIST (it requires the app's vendor files from there). */
export const FLOOR_DIST = join(BENCH_DIR, 'floor');

/** A numeric knob from the environment (BENCHMARKS.md, Knobs). */
export const num = (name: string, fallback: number): number =>
  process.env[name] ? Number(process.env[name]) : fallback;
/** Knobs more than one step reads. */
export const COLD_RUNS = num('BENCH_COLD_RUNS', 15);
export const CPU_REQUESTS = num('BENCH_CPU_REQUESTS', 2000);
export const kib = (file: string): string => `${(statSync(file).size / 1024).toFixed(0)} KiB`;

const AUTOCANNON = join(ROOT, 'node_modules', 'autocannon', 'autocannon.js');

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
export const fmt = (x: number, digits = 1): string => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(digits));
export const spread = (xs: number[], unit: string, digits = 1): string =>
  xs.length > 1
    ? `${fmt(median(xs), digits)} ${unit} (${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`
    : `${fmt(xs[0] ?? NaN, digits)} ${unit}`;

/** What a bench child prints for `usage` (after global.gc when it runs with --expose-gc). */
export interface Usage {
  cpu: { user: number; system: number };
  heap: number;
}
/** CPU ms (user + system) between two usage readings. */
export const cpuMs = (a: Usage, b: Usage): number => (b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system) / 1000;

export interface Cannon {
  duration: number;
  total: number;
  ok3xx: number;
  errors: number;
  timeouts: number;
  non3xx: number;
}

/** autocannon in its own process, `connections` in flight: `-a amount` requests or `-d seconds`. */
export function autocannon(
  url: string,
  opts: { amount?: number; seconds?: number; connections?: number },
): Promise<Cannon> {
  const args = [AUTOCANNON, '-j', '-c', String(opts.connections ?? 10), '-t', '10'];
  if (opts.amount) args.push('-a', String(opts.amount));
  else args.push('-d', String(opts.seconds ?? 10));
  args.push(url);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('exit', (code) => {
      try {
        const r = JSON.parse(out) as Record<string, number>;
        const total = (r['1xx'] ?? 0) + (r['2xx'] ?? 0) + (r['3xx'] ?? 0) + (r['4xx'] ?? 0) + (r['5xx'] ?? 0);
        resolvePromise({
          duration: r['duration']!,
          total,
          ok3xx: r['3xx'] ?? 0,
          errors: r['errors'] ?? 0,
          timeouts: r['timeouts'] ?? 0,
          non3xx: total - (r['3xx'] ?? 0),
        });
      } catch {
        reject(new Error(`autocannon exited ${code}: ${err.slice(-500)}`));
      }
    });
  });
}

/** A load run is broken (not just slow) when redirects are missing or more than 1% of answers are anything else. */
export function checkCannon(what: string, r: Cannon): void {
  const bad = r.errors + r.timeouts + r.non3xx;
  if (r.ok3xx === 0 || bad > r.ok3xx * 0.01)
    throw new Error(
      `${what}: ${r.ok3xx} redirects, ${r.non3xx} other answers, ${r.errors} errors, ${r.timeouts} timeouts`,
    );
}

/** A progress line on stderr, as bench.ts prints its own. */
export const log = (line: string): void =>
  void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** Runs `task(i)` for i in [0, count) with at most `width` in flight. */
export async function inPool(count: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

/** Spawn → the first answer of `path`, a 302, from a fresh process `start` makes (it is stopped after). */
export async function firstAnswer(start: () => Promise<AppProcess>, path: string): Promise<number> {
  const child = await start();
  try {
    const t = performance.now();
    const res = await fetch(`${child.url}${path}`, { redirect: 'manual' });
    await res.arrayBuffer();
    if (res.status !== 302 || !res.headers.get('location')) throw new Error(`${path} answered ${res.status}`);
    return child.readyWallMs + performance.now() - t;
  } finally {
    await child.stop();
  }
}
