/**
 * Bench step (q), issue 19 item 4: a peer measured beside us. `express-openid-connect` (the Node library a team
 * would otherwise use for sign-in on a small site; bench/peer-server.mjs) against the same Entra stand-in, the same
 * app registration (client id, secret, redirect URI) and the same machine, in the same run as the built app:
 *
 *   1. CPU per login redirect: `process.cpuUsage()` delta in the server over BENCH_CPU_REQUESTS autocannon requests
 *      (10 in flight), 3 rounds alternated, as step (c); ours on its real Azurite store, and for reference the
 *      storage-stubbed login and the host's bare 302 function of step (c).
 *   2. CPU per callback: a batch of sign-ins whose authorize step (login + the provider's sign-in page) was done
 *      beforehand; the server's CPU over the batch's callbacks only (4 in flight), 3 rounds alternated.
 *   3. Cold start to first login answered: spawn → READY, then the first GET of the login path until its 302, as step
 *      (a) measures "first login answered"; BENCH_COLD_RUNS runs each, alternated, after one warm-up run each.
 *   4. Memory per 1,000 sessions: heap after gc before and after BENCH_PEER_SESSIONS distinct users sign in, scaled
 *      to 1,000, in processes of their own (run with --expose-gc, which (1) and (2) must not be) warmed by
 *      HEAP_WARM_UP sign-ins each.
 *
 * The peer runs twice: with its default stateless cookie session, and with its documented `session.store` (an
 * in-process Map). See BENCHMARKS.md for what each side does and does not do.
 */
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';
import { join } from 'node:path';
import type { StandInUser } from '../dev/entra-standin';
import {
  autocannon,
  checkCannon,
  cpuMs,
  fmt,
  inPool,
  log,
  median,
  num,
  spread,
  type Row,
  type StepWorld,
  type Usage,
  BENCH_DIR,
  DIST,
  FLOORS,
  FLOOR_DIST,
  LAUNCHER,
  COLD_RUNS,
  CPU_REQUESTS,
  firstAnswer,
} from './measure';
import {
  appEnv,
  Browser,
  CLIENT_ID,
  CLIENT_SECRET,
  PUBLIC_ORIGIN,
  ROOT,
  startApp,
  startChild,
  type AppProcess,
  type SignInPaths,
} from './support';

const CALLBACKS = num('BENCH_PEER_CALLBACKS', 100);
const SESSIONS = num('BENCH_PEER_SESSIONS', 1000);
/** Sign-ins that warm each process of the heap figure before its first reading. */
const HEAP_WARM_UP = 100;
const ROUNDS = 3;
/** Sign-ins in flight while preparing or filling, and callbacks in flight while measured. */
const SIGNIN_WIDTH = 8;
const CALLBACK_WIDTH = 4;

const PEER = join(ROOT, 'bench', 'peer-server.mjs');
/** The peer bundled by esbuild as our app is (one file, no node_modules lookups at start-up): cold start only. */
const PEER_BUNDLE = join(BENCH_DIR, 'peer-bundle.mjs');
const PEER_COOKIE = 'appSession';
/**
 * What our app asks for (`openid profile offline_access` + AUTH_SCOPES `User.Read`) plus the peer's default `email`:
 * both redeem the code for the same token set (ID, Graph access and refresh token) and keep it in their session.
 */
const PEER_SCOPE = 'openid profile email offline_access User.Read';

type PeerMode = 'cookie' | 'memory';

/**
 * The peer on the same registration as our app: its routes are our two paths, so `baseURL + callback` is our
 * registered redirect URI (https://auth.contoso.example/auth/callback) and `Browser` drives both.
 */
function peerEnv(world: StepWorld, mode: PeerMode): Record<string, string> {
  return {
    PEER_SESSION: mode,
    PEER_ISSUER: world.standIn.issuer,
    PEER_BASE_URL: PUBLIC_ORIGIN,
    PEER_CLIENT_ID: CLIENT_ID,
    PEER_CLIENT_SECRET: CLIENT_SECRET,
    PEER_SECRET: 'bench-peer-cookie-secret-0123456789abcdef',
    PEER_SCOPE,
    PEER_LOGIN_PATH: '/auth/login',
    PEER_CALLBACK_PATH: '/auth/callback',
  };
}

/** The floors process's login and callback on an in-memory store (bench/floors.ts). */
const STUBBED_PATHS: SignInPaths = { login: '/bench/login-memory', callback: '/bench/callback-memory' };

interface Target {
  process: AppProcess;
  cookie: string;
  paths?: SignInPaths;
}

export async function peerComparison(world: StepWorld, rows: Row[], notes: string[]): Promise<void> {
  let userIndex = 0;
  const nextUser = () => world.users[userIndex++ % world.users.length]!;
  const browserOf = (t: Target) => new Browser(t.process.url, t.cookie, t.paths);
  const signIn = async (t: Target, user: StandInUser): Promise<Browser> => {
    const browser = browserOf(t);
    await browser.callback(await world.standIn.signIn(await browser.login(), user.username));
    return browser;
  };

  // (3) first: nothing else of this step is running yet ------------------------------------------------------
  await build({
    entryPoints: [PEER],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile: PEER_BUNDLE,
    // Express and its dependencies are CommonJS: give the ESM bundle a `require` for node built-ins.
    banner: {
      js: "import { createRequire as __peerRequire } from 'node:module'; const require = __peerRequire(import.meta.url);",
    },
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'error',
  });
  const coldOurs: number[] = [];
  const coldPeer: number[] = [];
  const coldPeerBundled: number[] = [];
  // Spawn → the first login's redirect to the provider (OpenID discovery included), as step (a) measures it.
  const firstLogin = (start: () => Promise<AppProcess>) => firstAnswer(start, '/auth/login?returnTo=%2Fapp');
  const ourEnv = appEnv(world.azurite, world.standIn);
  for (let i = -1; i < COLD_RUNS; i++) {
    const o = await firstLogin(() => startApp(LAUNCHER, DIST, ourEnv));
    const p = await firstLogin(() => startChild(PEER, peerEnv(world, 'cookie')));
    const pb = await firstLogin(() => startChild(PEER_BUNDLE, peerEnv(world, 'cookie')));
    if (i < 0) continue; // warm-up: page cache, Azurite's tables
    coldOurs.push(o);
    coldPeer.push(p);
    coldPeerBundled.push(pb);
  }
  rows.push({
    figure: '(q) cold start → first login, ours vs peer',
    runs: `${COLD_RUNS}+${COLD_RUNS}`,
    measured: `ours: ${spread(coldOurs, 'ms')}`,
    baseline: `express-openid-connect: ${spread(coldPeer, 'ms')}`,
    ratio: median(coldOurs) / median(coldPeer),
    goal: '≤ 1×',
    met: median(coldOurs) <= median(coldPeer),
  });
  rows.push({
    figure: '(q) cold start → first login, vs peer bundled',
    runs: `${COLD_RUNS}+${COLD_RUNS}`,
    measured: `ours: ${spread(coldOurs, 'ms')}`,
    baseline: `peer, esbuild bundle: ${spread(coldPeerBundled, 'ms')}`,
    ratio: median(coldOurs) / median(coldPeerBundled),
    goal: '≤ 1×',
    met: median(coldOurs) <= median(coldPeerBundled),
  });

  log(`(q) cold start done; CPU per login redirect (${ROUNDS} × ${CPU_REQUESTS} requests, 4 targets)`);

  // Long-lived processes -----------------------------------------------------------------------------------------
  // (1) and (2) measure CPU in processes run as in production. The heap figure (4) needs `--expose-gc`, which makes
  // every request cost more (measured here: our login 1.4× the peer's without it, 1.9× with it; the hello-world
  // function on our host ~140 against ~400 µs), so (4) gets processes of its own.
  const startAll = async (nodeArgs: string[]): Promise<[AppProcess, AppProcess, AppProcess, AppProcess]> => {
    const starting = await Promise.allSettled([
      startApp(LAUNCHER, DIST, ourEnv, nodeArgs),
      startChild(LAUNCHER, { ...ourEnv, BUNDLE_MAIN: FLOORS, BUNDLE_APP_ROOT: ROOT }, nodeArgs),
      startChild(PEER, peerEnv(world, 'cookie'), nodeArgs),
      startChild(PEER, peerEnv(world, 'memory'), nodeArgs),
    ]);
    const failed = starting.find((s) => s.status === 'rejected');
    if (failed) {
      await Promise.all(starting.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
      throw failed.reason;
    }
    return starting.map((s) => (s as PromiseFulfilledResult<AppProcess>).value) as [
      AppProcess,
      AppProcess,
      AppProcess,
      AppProcess,
    ];
  };
  const targetsOf = ([ours, , peerCookie, peerMemory]: AppProcess[]): [Target, Target, Target] => [
    { process: peerCookie!, cookie: PEER_COOKIE },
    { process: peerMemory!, cookie: PEER_COOKIE },
    { process: ours!, cookie: '__Host-session' },
  ];
  let processes = await startAll([]);
  const [ours, stubbed, peerCookie] = processes;
  let targets = targetsOf(processes);
  let [tPeerCookie, tPeerMemory, tOurs] = targets;
  // The design's floor (bench/design-floor.ts: only what design.md requires of a login and a callback), for (1), (2).
  let designFloor: AppProcess | undefined;
  /** An info row: a median against the peer's (`measured` and `baseline` name and spread them). */
  const infoRow = (figure: string, runs: string, measured: string, xs: number[], baseline: string, base: number[]) =>
    rows.push({ figure, runs, measured, baseline, ratio: median(xs) / median(base), goal: 'info', met: true });
  try {
    designFloor = await startApp(LAUNCHER, FLOOR_DIST, ourEnv);
    // (1) CPU per login redirect -----------------------------------------------------------------------------
    const loginUrls: [string, AppProcess, string][] = [
      ['peer', peerCookie, `${peerCookie.url}/auth/login`],
      ['ours', ours, `${ours.url}/auth/login?returnTo=%2Fapp`],
      ['stubbed', stubbed, `${stubbed.url}/bench/login-memory?returnTo=%2Fapp`],
      ['design', designFloor, `${designFloor.url}/auth/login`],
      ['floor', stubbed, `${stubbed.url}/bench/hello`],
    ];
    const perLogin = new Map<string, number[]>(loginUrls.map(([k]) => [k, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [key, p, url] of loginUrls) {
        if (round === 0) checkCannon(`${key} login warm-up`, await autocannon(url, { amount: 1000 }));
        const u0 = await p.command<Usage>('usage');
        const r = await autocannon(url, { amount: CPU_REQUESTS });
        const u1 = await p.command<Usage>('usage');
        checkCannon(`${key} login`, r);
        perLogin.get(key)!.push((cpuMs(u0, u1) * 1000) / r.total);
      }
    }
    const lp = perLogin.get('peer')!;
    const lo = perLogin.get('ours')!;
    rows.push({
      figure: '(q) CPU per login redirect, ours vs peer',
      runs: `${ROUNDS}×${CPU_REQUESTS} req`,
      measured: `ours (Azurite): ${spread(lo, 'µs/req', 0)}`,
      baseline: `express-openid-connect: ${spread(lp, 'µs/req', 0)}`,
      ratio: median(lo) / median(lp),
      goal: '≤ 1×',
      met: median(lo) <= median(lp),
    });
    const ld = perLogin.get('design')!;
    infoRow(
      '(q) CPU per login redirect, design floor vs peer',
      `${ROUNDS}×${CPU_REQUESTS} req`,
      `design floor (Azurite): ${spread(ld, 'µs/req', 0)}`,
      ld,
      `express-openid-connect: ${spread(lp, 'µs/req', 0)}`,
      lp,
    );

    log(`(q) CPU per callback (${ROUNDS} × ${CALLBACKS} prepared sign-ins, 5 targets)`);
    // (2) CPU per callback ---------------------------------------------------------------------------------------
    // Also ours with storage stubbed (the floors process's login and callback on an in-memory store, bench/floors.ts)
    // and the design's floor.
    const tStubbed: Target = { process: stubbed, cookie: '__Host-session', paths: STUBBED_PATHS };
    const tDesign: Target = { process: designFloor, cookie: '__Host-session' };
    const callbackTargets = [...targets, tStubbed, tDesign];
    const perCallback = new Map<Target, number[]>(callbackTargets.map((t) => [t, []]));
    const callbackBatch = async (t: Target, n: number, measure: boolean) => {
      const prepared: { browser: Browser; callbackUrl: string }[] = [];
      await inPool(n, SIGNIN_WIDTH, async () => {
        const browser = browserOf(t);
        const callbackUrl = await world.standIn.signIn(await browser.login(), nextUser().username);
        prepared.push({ browser, callbackUrl });
      });
      const u0 = await t.process.command<Usage>('usage');
      await inPool(prepared.length, CALLBACK_WIDTH, async (i) =>
        prepared[i]!.browser.callback(prepared[i]!.callbackUrl),
      );
      const u1 = await t.process.command<Usage>('usage');
      if (measure) perCallback.get(t)!.push(cpuMs(u0, u1) / n); // ms per callback
    };
    for (const t of callbackTargets) await callbackBatch(t, 20, false); // warm-up: MSAL / openid-client, JWKS, TLS, JIT
    for (let round = 0; round < ROUNDS; round++)
      for (const t of callbackTargets) await callbackBatch(t, CALLBACKS, true);
    const cp = perCallback.get(tPeerCookie)!;
    const cm = perCallback.get(tPeerMemory)!;
    const co = perCallback.get(tOurs)!;
    const cs = perCallback.get(tStubbed)!;
    const cd = perCallback.get(tDesign)!;
    rows.push({
      figure: '(q) CPU per callback, ours vs peer',
      runs: `${ROUNDS}×${CALLBACKS} sign-ins`,
      measured: `ours (Azurite): ${spread(co, 'ms', 2)}`,
      baseline: `express-openid-connect: ${spread(cp, 'ms', 2)}`,
      ratio: median(co) / median(cp),
      goal: '≤ 1×',
      met: median(co) <= median(cp),
    });
    const peerCallbacks = `express-openid-connect: ${spread(cp, 'ms', 2)}`;
    const callbackRuns = `${ROUNDS}×${CALLBACKS} sign-ins`;
    infoRow(
      '(q) CPU per callback, ours with storage stubbed vs peer',
      callbackRuns,
      `ours (in-memory store): ${spread(cs, 'ms', 2)}`,
      cs,
      peerCallbacks,
      cp,
    );
    infoRow(
      '(q) CPU per callback, design floor vs peer',
      callbackRuns,
      `design floor (Azurite): ${spread(cd, 'ms', 2)}`,
      cd,
      peerCallbacks,
      cp,
    );
    await designFloor.stop();

    log(`(q) heap per 1,000 sessions (${SESSIONS} sign-ins, 3 targets, processes run with --expose-gc)`);
    // (4) Memory per 1,000 sessions ------------------------------------------------------------------------------
    await Promise.all(processes.map((p) => p.stop()));
    processes = await startAll(['--expose-gc']);
    targets = targetsOf(processes);
    [tPeerCookie, tPeerMemory, tOurs] = targets;
    // Warm first (JIT, connection pools, MSAL, JWKS), as (1) and (2) warmed the processes before.
    for (const t of targets) await inPool(HEAP_WARM_UP, SIGNIN_WIDTH, async () => void (await signIn(t, nextUser())));
    const perThousand = new Map<Target, number>();
    const cookieBytes = new Map<Target, number>();
    // Heap after two full collections (each `usage` runs global.gc): one pass can leave garbage a second one frees.
    const settledHeap = async (p: AppProcess) => (await p.command<Usage>('usage'), await p.command<Usage>('usage'));
    for (const t of targets) {
      const h0 = await settledHeap(t.process);
      const sample: Browser[] = [];
      const from = userIndex;
      await inPool(SESSIONS, SIGNIN_WIDTH, async (i) => {
        const browser = await signIn(t, world.users[(from + i) % world.users.length]!);
        if (i === 0) sample.push(browser);
      });
      userIndex = from + SESSIONS;
      const h1 = await settledHeap(t.process);
      perThousand.set(t, ((h1.heap - h0.heap) * 1000) / SESSIONS);
      cookieBytes.set(t, sample[0]?.sessionCookieBytes() ?? NaN);
    }
    const stored = await tPeerMemory.process.command<number>('sessions');
    const kib = (b: number) => `${b >= 0 ? '+' : ''}${fmt(b / 1024)} KiB`;
    const mo = perThousand.get(tOurs)!;
    const mc = perThousand.get(tPeerCookie)!;
    const mm = perThousand.get(tPeerMemory)!;
    rows.push({
      figure: '(q) heap per 1,000 sessions, ours vs peer',
      runs: `${SESSIONS} users each`,
      measured: `ours (Azurite): ${kib(mo)}`,
      baseline: `peer cookie: ${kib(mc)}; peer in-memory store: ${kib(mm)}`,
      ratio: mo / mm,
      ratioText: `${fmt(mo / mm, 2)}× the store peer`,
      // Neither ours nor the cookie peer keeps anything per session in the process: their figures are the drift of
      // a warm process over 1,000 sign-ins; the in-memory store peer is the one that grows with sessions.
      goal: '≤ store peer (info)',
      met: mo <= mm,
    });

    notes.push(
      `(q) the peer is express-openid-connect ${versionOf('express-openid-connect')} on Express ${versionOf('express')} (bench/peer-server.mjs): ` +
        `code flow + PKCE S256, client_secret_basic, response_mode=query, scope "${PEER_SCOPE}", the same app registration ` +
        'and stand-in as ours. ' +
        `(1) CPU per login redirect, ${ROUNDS}×${CPU_REQUESTS} requests, 10 in flight: peer ${spread(lp, 'µs/req', 0)}; ours on Azurite ` +
        `${spread(lo, 'µs/req', 0)} (${fmt(median(lo) / median(lp), 2)}×); ours with storage stubbed ${spread(perLogin.get('stubbed')!, 'µs/req', 0)}; ` +
        `the hello-world function on the same host ${spread(perLogin.get('floor')!, 'µs/req', 0)}. ` +
        `(2) CPU per callback, ${ROUNDS}×${CALLBACKS} prepared sign-ins, ${CALLBACK_WIDTH} in flight: peer cookie ${spread(cp, 'ms', 2)}, ` +
        `peer in-memory store ${spread(cm, 'ms', 2)}, ours on Azurite ${spread(co, 'ms', 2)} (${fmt(median(co) / median(cp), 2)}× the cookie peer, ` +
        `${fmt(median(co) / median(cm), 2)}× the store peer), ours with storage stubbed ${spread(cs, 'ms', 2)}, ` +
        `the design floor (bench/design-floor.ts) ${spread(cd, 'ms', 2)}; its login ${spread(ld, 'µs/req', 0)}. ` +
        `(3) cold start → first login answered, ${COLD_RUNS} runs each alternated: peer from node_modules ${spread(coldPeer, 'ms')}, ` +
        `the peer as one esbuild bundle ${spread(coldPeerBundled, 'ms')}, ours (bundle on the local Functions host) ${spread(coldOurs, 'ms')}. ` +
        `(4) heap after gc per 1,000 sessions (${SESSIONS} distinct users each): peer cookie ${kib(mc)}, peer in-memory store ${kib(mm)} ` +
        `(${stored} sessions held), ours ${kib(mo)} (sessions live in Table Storage). Session cookie per request: peer cookie ` +
        `${cookieBytes.get(tPeerCookie)} B (the sealed token set), peer store ${cookieBytes.get(tPeerMemory)} B, ours ${cookieBytes.get(tOurs)} B.`,
    );
  } finally {
    await Promise.all([...processes, ...(designFloor ? [designFloor] : [])].map((p) => p.stop()));
  }
}

const versionOf = (name: string): string =>
  (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
