/**
 * `npm start`: the whole sign-in running locally with zero configuration (see dev/demo/stack.ts for the parts):
 * Azurite (Table), the Entra stand-in with demo users, the functions on http://localhost:7071, the demo site on
 * http://localhost:3000 and the token-flow SPA on http://127.0.0.1:3001 (another site). `npm start -- --https`
 * serves the three over HTTPS with the dev CA (Safari keeps no `Secure` cookie on http://localhost). Prints the
 * URLs and how long each part took, then stays quiet (the functions host's request log goes to
 * .local/logs/functions.log). Ctrl-C / SIGTERM stops every child.
 *
 * Settings: npm start ignores local.settings.json and AUTH_* variables of the shell on purpose — the demo's
 * settings must match the stand-in it starts. It says so when a local.settings.json exists; that file is for
 * `npm run serve` (your own tenant).
 */
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadOrCreateDevCa } from './ca';
import { startStack, StackStartError, PortBusyError, type Stack } from './demo/stack';

const PROJECT_ROOT = join(__dirname, '..');
const CA_DIR = join(PROJECT_ROOT, '.local', 'dev-ca');
const LOG_FILE = join(PROJECT_ROOT, '.local', 'logs', 'functions.log');

function fail(message: string): never {
  process.stderr.write(`npm start: ${message}\n`);
  process.exit(1);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const processStartMs = performance.now(); // node + tsx start-up, before this line
  let stack: Stack | undefined;
  let stopping = false;
  const shutdown = (code: number) => {
    if (stopping) process.exit(code); // a second Ctrl-C: now
    stopping = true;
    const done = () => process.exit(code);
    setTimeout(done, 8000).unref();
    (stack ? stack.stop() : Promise.resolve()).then(done, done);
  };
  process.on('SIGINT', () => shutdown(0));
  process.on('SIGTERM', () => shutdown(0));

  const t = performance.now();
  let ca: ReturnType<typeof loadOrCreateDevCa>;
  try {
    ca = loadOrCreateDevCa(CA_DIR);
  } catch (error) {
    fail(`could not create the local dev CA in ${relative(process.cwd(), CA_DIR)}: ${(error as Error).message}`);
  }
  const caMs = performance.now() - t;

  const https = process.argv.slice(2).includes('--https');
  const unknown = process.argv.slice(2).filter((arg) => arg !== '--https');
  if (unknown.length) fail(`unknown option ${unknown.join(' ')} (the only option is --https)`);
  try {
    stack = await startStack({
      ca: { ...ca, dir: ca.dir ?? CA_DIR },
      functionsPort: 7071,
      demoPort: 3000,
      spaPort: 3001,
      https,
      functionsLogFile: LOG_FILE,
    });
  } catch (error) {
    if (stopping) return;
    if (error instanceof StackStartError || error instanceof PortBusyError) {
      fail(
        /already in use/.test(error.message)
          ? `${error.message}. Is another npm start running? Stop it (Ctrl-C) or free the port${/ and /.test(error.message) ? 's' : ''}.`
          : error.message,
      );
    }
    fail(error instanceof Error ? (error.stack ?? error.message) : String(error));
  }
  if (stopping) return;
  const s = stack;
  const { timings } = s;

  // A functions host that dies on its own takes the stack with it, loudly.
  void s.functions.exited.then((code) => {
    if (stopping) return;
    process.stderr.write(
      `npm start: the functions host exited (code ${code}); see ${relative(process.cwd(), LOG_FILE)}\n`,
    );
    shutdown(1);
  });

  const note = existsSync(join(PROJECT_ROOT, 'local.settings.json'))
    ? '\n  Note: local.settings.json is ignored by npm start (it configures `npm run serve`).\n'
    : '';
  const lines = [
    '',
    `Entra Sign-in Functions — local stack ready in ${seconds(processStartMs + caMs + timings.total)}`,
    '',
    `  Demo site        ${s.demo.url}            <- open this (cookies: same site as the functions)`,
    `  SPA on another site ${s.spa.url}      token flow, session token in memory (127.0.0.1 is another site than localhost)`,
    `  Functions        ${s.functions.url}            (${s.functions.url}/auth/health)`,
    `  Entra stand-in   ${s.standIn.frontChannelUrl}        sign-in pages (plain HTTP, loopback)`,
    `                   ${s.standIn.authority}   authority (HTTPS, local dev CA)`,
    `  Azurite (Table)  ${s.azurite.tableEndpoint}`,
    '',
    `  Demo users (password ${s.password}): ${s.users.map((u) => u.username).join(', ')}`,
    '',
    `  Start-up: node+tsx ${seconds(processStartMs)}, dev CA ${seconds(caMs)}, Azurite ${seconds(timings.azurite)} and ` +
      `Entra stand-in ${seconds(timings.standIn)} (in parallel), functions host ${seconds(timings.functions)}, ` +
      `demo site ${seconds(timings.demo)}`,
    `  Functions log: ${relative(process.cwd(), LOG_FILE)}. Ctrl-C stops everything.`,
    https
      ? `  HTTPS: certificates from the dev CA ${relative(process.cwd(), join(CA_DIR, 'ca.pem'))}; trust it in your browser or keychain (local development only).`
      : '  Safari keeps no Secure cookie on http://localhost: use npm start -- --https there.',
    note,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

void main();
