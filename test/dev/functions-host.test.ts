import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { Timer } from '@azure/functions';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { startFunctionsHost, type FunctionsHost } from '../../dev/functions-host';
import { applyLocalSettings, loadLocalSettings } from '../../dev/local-settings';
import { isPortOpen } from '../../dev/azurite';

const ROOT = resolve(__dirname, '../..');
const FIXTURES = join(ROOT, 'test/_support/fixtures/host-app');
const MODULES = [join(FIXTURES, 'http.ts'), join(FIXTURES, 'timer.ts')];
const ALLOWED = 'http://localhost:3000';
const timerRuns = () => ((globalThis as Record<symbol, unknown>)[Symbol.for('host-app.timer-runs')] ?? []) as Timer[];

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Raw request (no fetch): lets a test send a chunked body of any size and read the exact status. */
function rawRequest(url: string, init: { method: string; chunks?: Buffer[]; headers?: Record<string, string> }) {
  return new Promise<{ status: number; body: string }>((resolvePromise, reject) => {
    const req = httpRequest(url, { method: init.method, headers: init.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    for (const chunk of init.chunks ?? []) req.write(chunk);
    req.end();
  });
}

describe('local functions host', () => {
  let host: FunctionsHost;
  const logs: string[] = [];

  before(async () => {
    host = await startFunctionsHost({
      modules: MODULES,
      routePrefix: '',
      cors: { origins: [ALLOWED], credentials: true },
      log: (line) => logs.push(line),
    });
  });
  after(async () => {
    await host.stop();
  });

  test('captures the registrations the modules make through @azure/functions', () => {
    const byName = Object.fromEntries(host.functions.map((f) => [f.name, f]));
    assert.deepEqual(Object.keys(byName).sort(), ['boom', 'echo', 'getItem', 'setCookies', 'tick']);
    assert.equal(byName['getItem']!.trigger.type, 'httpTrigger');
    assert.deepEqual(byName['getItem']!.trigger.methods, ['GET']);
    assert.equal(byName['getItem']!.trigger.route, 'items/{id}/{detail?}');
    assert.equal(byName['getItem']!.trigger.authLevel, 'anonymous');
    assert.deepEqual(byName['echo']!.trigger.methods, ['POST', 'PUT']);
    assert.equal(byName['boom']!.trigger.route, undefined, 'no route: the function name is the route');
    assert.equal(byName['tick']!.trigger.type, 'timerTrigger');
    assert.equal(byName['tick']!.trigger.schedule, '0 0 0 1 1 *');
    assert.equal(typeof byName['tick']!.handler, 'function');
    assert.equal(byName['tick']!.modulePath, join(FIXTURES, 'timer.ts'));
  });

  test('routes with required and optional parameters, query and the full URL', async () => {
    const res = await fetch(`${host.url}/items/a%20b?q=1&q=2&code=x`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body['id'], 'a b');
    assert.equal(body['detail'], null);
    assert.equal(body['q'], '1,2', 'repeated query keys are joined with "," as ASP.NET does');
    assert.equal(body['url'], `${host.url}/items/a%20b?q=1&q=2&code=x`);

    const withDetail = (await (await fetch(`${host.url}/ITEMS/7/more/`)).json()) as Record<string, unknown>;
    assert.deepEqual([withDetail['id'], withDetail['detail']], ['7', 'more'], 'case-insensitive literals, trailing slash');
  });

  test('passes request bodies as bytes and writes Buffer bodies back', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const res = await fetch(`${host.url}/echo`, { method: 'POST', body: bytes, headers: { 'content-type': 'application/x-bin' } });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('content-type'), 'application/x-bin');
    assert.equal(res.headers.get('x-length'), '256');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);
  });

  test('serializes cookies with every attribute, one Set-Cookie each', async () => {
    const res = await fetch(`${host.url}/cookies`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/next');
    assert.deepEqual(res.headers.getSetCookie(), [
      '__Host-x=v; Path=/; Secure; HttpOnly; SameSite=Lax',
      'all=a%20b%2Bc%2F%3D; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Max-Age=600; Domain=example.test; Path=/auth; Secure; HttpOnly; SameSite=None',
    ]);
  });

  test('answers 404 for unknown paths and for a method the function does not accept (as Azure does)', async () => {
    assert.equal((await fetch(`${host.url}/nothing-here`)).status, 404);
    assert.equal((await fetch(`${host.url}/echo`)).status, 404);
    assert.equal((await fetch(`${host.url}/items`)).status, 404, 'a required parameter is missing');
  });

  test('caps request bodies at 1 MiB with 413, declared or streamed', async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 0x61);
    const declared = await rawRequest(`${host.url}/echo`, {
      method: 'POST',
      headers: { 'content-length': String(big.length) },
      chunks: [big],
    }).catch((error: Error) => ({ status: -1, body: error.message }));
    assert.equal(declared.status, 413);
    const chunked = await rawRequest(`${host.url}/echo`, {
      method: 'POST',
      headers: { 'transfer-encoding': 'chunked' },
      chunks: [big.subarray(0, 600_000), big.subarray(600_000)],
    }).catch((error: Error) => ({ status: -1, body: error.message }));
    assert.equal(chunked.status, 413);
    const fits = await fetch(`${host.url}/echo`, { method: 'POST', body: big.subarray(1) });
    assert.equal(fits.status, 201, 'exactly 1 MiB is accepted');
  });

  test('a throwing handler gives an empty 500 and the error only in the log', async () => {
    logs.length = 0;
    const res = await fetch(`${host.url}/boom`);
    assert.equal(res.status, 500);
    assert.equal(await res.text(), '');
    assert.ok(logs.some((l) => l.includes('kaboom with internal detail')), 'error logged');
    assert.ok(logs.some((l) => /\[boom\] warning: about to fail/.test(l)), 'context.warn logged with the function name');
    assert.ok(logs.some((l) => /GET \/boom -> 500/.test(l)));
  });

  test('logs method, path, status and duration, never query strings, headers or bodies', async () => {
    logs.length = 0;
    await fetch(`${host.url}/items/1?code=SECRET_CODE&state=SECRET_STATE`, { headers: { cookie: 'sid=SECRET_COOKIE' } });
    await fetch(`${host.url}/echo`, { method: 'POST', body: 'SECRET_BODY' });
    const all = logs.join('\n');
    assert.match(all, /GET \/items\/1 -> 200 \(\d+ms, getItem\)/);
    assert.match(all, /POST \/echo -> 201/);
    for (const secret of ['SECRET_CODE', 'SECRET_STATE', 'SECRET_COOKIE', 'SECRET_BODY']) assert.ok(!all.includes(secret), secret);
  });

  test('CORS: preflight and responses for an allowed origin, nothing for others', async () => {
    const preflight = await fetch(`${host.url}/echo`, {
      method: 'OPTIONS',
      headers: { origin: ALLOWED, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-csrf, content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get('access-control-allow-origin'), ALLOWED);
    assert.equal(preflight.headers.get('access-control-allow-credentials'), 'true');
    assert.equal(preflight.headers.get('access-control-allow-methods'), 'POST');
    assert.equal(preflight.headers.get('access-control-allow-headers'), 'x-csrf, content-type');
    assert.match(preflight.headers.get('vary') ?? '', /Origin/);

    const denied = await fetch(`${host.url}/echo`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(denied.status, 204);
    assert.equal(denied.headers.get('access-control-allow-origin'), null);
    assert.equal(denied.headers.get('access-control-allow-credentials'), null);

    const allowedGet = await fetch(`${host.url}/items/1`, { headers: { origin: ALLOWED } });
    assert.equal(allowedGet.headers.get('access-control-allow-origin'), ALLOWED);
    assert.equal(allowedGet.headers.get('access-control-allow-credentials'), 'true');
    const deniedGet = await fetch(`${host.url}/items/1`, { headers: { origin: 'https://evil.example' } });
    assert.equal(deniedGet.status, 200);
    assert.equal(deniedGet.headers.get('access-control-allow-origin'), null);
  });

  test('rejects "*" with credentials', async () => {
    await assert.rejects(
      startFunctionsHost({ modules: MODULES, cors: { origins: ['*'], credentials: true }, log: () => {} }),
      /cannot be combined with credentials/,
    );
  });

  test('runs a timer through invokeTimer with a real Timer object', async () => {
    const before = timerRuns().length;
    await host.invokeTimer('tick');
    const runs = timerRuns();
    assert.equal(runs.length, before + 1);
    const timer = runs.at(-1)!;
    assert.equal(timer.isPastDue, false);
    assert.equal(timer.schedule.adjustForDST, true);
    assert.match(timer.scheduleStatus.next, /^\d{4}-01-01T00:00:00\.000Z$/);
    assert.ok(!Number.isNaN(Date.parse(timer.scheduleStatus.last)));
    assert.ok(!Number.isNaN(Date.parse(timer.scheduleStatus.lastUpdated)));
    await assert.rejects(host.invokeTimer('getItem'), /No timer function/);
  });

  test('runs a timer through the admin endpoint (202), 404 for unknown functions', async () => {
    const before = timerRuns().length;
    const res = await fetch(`${host.url}/admin/functions/tick`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: '' }),
    });
    assert.equal(res.status, 202);
    await until(() => timerRuns().length === before + 1);
    assert.equal((await fetch(`${host.url}/admin/functions/nope`, { method: 'POST' })).status, 404);
  });

  test('a second host in the same process gets its own registrations; stop() frees the port', async () => {
    const other = await startFunctionsHost({ modules: [join(FIXTURES, 'http.ts')], routePrefix: 'api', log: () => {} });
    assert.deepEqual(other.functions.map((f) => f.name).sort(), ['boom', 'echo', 'getItem', 'setCookies']);
    assert.equal((await fetch(`${other.url}/api/items/1`)).status, 200, 'route prefix applies');
    assert.equal((await fetch(`${other.url}/items/1`)).status, 404);
    await other.stop();
    assert.equal(await isPortOpen(other.port), false);
    assert.equal((await fetch(`${host.url}/items/1`)).status, 200, 'the first host is unaffected');
  });
});

describe('npm run serve (dev/serve.ts)', () => {
  function runServe(env: Record<string, string>, untilOutput?: RegExp) {
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolvePromise) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'dev/serve.ts')], {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let signalled = false;
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
        if (!signalled && untilOutput?.test(stdout)) {
          signalled = true;
          child.kill('SIGINT');
        }
      });
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('exit', (code) => {
        clearTimeout(killer);
        resolvePromise({ code, stdout, stderr });
      });
    });
  }

  test('serves the fixture app, prints the listening line and function list, stops on SIGINT', async () => {
    const result = await runServe({ FUNCTIONS_HOST_MODULES: MODULES.join(','), PORT: '0' }, /tick: timerTrigger/);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Functions listening on http:\/\/localhost:\d+$/m);
    assert.match(result.stdout, /getItem: \[GET\] http:\/\/localhost:\d+\/items\/\{id\}\/\{detail\?\}/);
    assert.match(result.stdout, /echo: \[POST,PUT\]/);
  });

  test('a port in use is one clear line and exit code 1', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const result = await runServe({ FUNCTIONS_HOST_MODULES: MODULES.join(','), PORT: String(port) });
      assert.equal(result.code, 1);
      assert.equal(result.stderr.trim(), `Port ${port} is unavailable. Close the process using that port, or choose another port (PORT=<number>).`);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      blocker.close();
    }
  });

  test('a configuration error while loading prints its message, exit 1, no stack', async () => {
    const result = await runServe({ FUNCTIONS_HOST_MODULES: join(FIXTURES, 'config-error.ts'), PORT: '0' });
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr.trim(),
      'Invalid configuration:\n - AUTH_CLIENT_ID is required\n - AUTH_REDIRECT_URI must be an absolute https URL',
    );
  });
});

describe('loadLocalSettings', () => {
  test('reads Values and Host like Core Tools; the environment wins; a missing file is fine', () => {
    const dir = mkdtempSync(join(tmpdir(), 'local-settings-'));
    try {
      const file = join(dir, 'local.settings.json');
      writeFileSync(
        file,
        JSON.stringify({
          IsEncrypted: false,
          Values: { A_FROM_FILE: 'file', B_BOTH: 'file', C_NUMBER: 5 },
          Host: { LocalHttpPort: 7072, CORS: 'http://localhost:3000, https://app.example', CORSCredentials: true },
        }),
      );
      const settings = loadLocalSettings(file);
      assert.deepEqual(settings.values, { A_FROM_FILE: 'file', B_BOTH: 'file', C_NUMBER: '5' });
      assert.deepEqual(settings.host, { port: 7072, cors: ['http://localhost:3000', 'https://app.example'], corsCredentials: true });
      const env: NodeJS.ProcessEnv = { B_BOTH: 'env' };
      assert.deepEqual(applyLocalSettings(settings.values, env), ['A_FROM_FILE', 'C_NUMBER']);
      assert.equal(env['B_BOTH'], 'env');
      assert.equal(env['A_FROM_FILE'], 'file');

      assert.deepEqual(loadLocalSettings(join(dir, 'missing.json')), { values: {}, host: {} });
      writeFileSync(file, '{ not json');
      assert.throws(() => loadLocalSettings(file), /is not valid JSON/);
      writeFileSync(file, JSON.stringify({ Values: { X: { nested: true } }, Host: { LocalHttpPort: 'abc' } }));
      assert.throws(() => loadLocalSettings(file), /Values\.X must be a string; Host\.LocalHttpPort must be a port number/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
