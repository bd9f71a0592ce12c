import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { Timer } from '@azure/functions';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { startFunctionsHost, type FunctionsHost } from '../../dev/functions-host';
import { functionsCoreApi } from '../../dev/host/registry';
import { applyLocalSettings, loadLocalSettings } from '../../dev/local-settings';
import { isPortOpen } from '../../dev/azurite';
import { until } from '../_support/until';

const ROOT = resolve(__dirname, '../..');
const FIXTURES = join(ROOT, 'test/_support/fixtures/host-app');
// Jest resolves modules itself: the worker-injected core module is the host's shim, and each host evaluates the
// function modules afresh in an isolated registry, as Node's evict-and-require does outside Jest.
jest.mock('@azure/functions-core', () => functionsCoreApi, { virtual: true });
const loadModule = (modulePath: string) => jest.isolateModules(() => require(modulePath));

const MODULES = [join(FIXTURES, 'http.ts'), join(FIXTURES, 'timer.ts')];
const ALLOWED = 'http://localhost:3000';
const timerRuns = () => ((globalThis as Record<symbol, unknown>)[Symbol.for('host-app.timer-runs')] ?? []) as Timer[];

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

  beforeAll(async () => {
    host = await startFunctionsHost({
      modules: MODULES,
      loadModule,
      routePrefix: '',
      cors: { origins: [ALLOWED], credentials: true },
      log: (line) => logs.push(line),
    });
  });
  afterAll(async () => {
    await host.stop();
  });

  test('captures the registrations the modules make through @azure/functions', () => {
    const byName = Object.fromEntries(host.functions.map((f) => [f.name, f]));
    expect(Object.keys(byName).sort()).toStrictEqual(['boom', 'echo', 'getItem', 'setCookies', 'tick']);
    expect(byName['getItem']!.trigger.type).toBe('httpTrigger');
    expect(byName['getItem']!.trigger.methods).toStrictEqual(['GET']);
    expect(byName['getItem']!.trigger.route).toBe('items/{id}/{detail?}');
    expect(byName['getItem']!.trigger.authLevel).toBe('anonymous');
    expect(byName['echo']!.trigger.methods).toStrictEqual(['POST', 'PUT']);
    expect(byName['boom']!.trigger.route).toBe(undefined);
    expect(byName['tick']!.trigger.type).toBe('timerTrigger');
    expect(byName['tick']!.trigger.schedule).toBe('0 0 0 1 1 *');
    expect(typeof byName['tick']!.handler).toBe('function');
    expect(byName['tick']!.modulePath).toBe(join(FIXTURES, 'timer.ts'));
  });

  test('routes with required and optional parameters, query and the full URL', async () => {
    const res = await fetch(`${host.url}/items/a%20b?q=1&q=2&code=x`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type') ?? '').toMatch(/^application\/json/);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body['id']).toBe('a b');
    expect(body['detail']).toBe(null);
    expect(body['q']).toBe('1,2');
    expect(body['url']).toBe(`${host.url}/items/a%20b?q=1&q=2&code=x`);

    const withDetail = (await (await fetch(`${host.url}/ITEMS/7/more/`)).json()) as Record<string, unknown>;
    expect([withDetail['id'], withDetail['detail']]).toStrictEqual(['7', 'more']);
  });

  test('passes request bodies as bytes and writes Buffer bodies back', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const res = await fetch(`${host.url}/echo`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/x-bin' },
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe('application/x-bin');
    expect(res.headers.get('x-length')).toBe('256');
    expect(Buffer.from(await res.arrayBuffer())).toStrictEqual(bytes);
  });

  test('serializes cookies with every attribute, one Set-Cookie each', async () => {
    const res = await fetch(`${host.url}/cookies`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/next');
    expect(res.headers.getSetCookie()).toStrictEqual([
      '__Host-x=v; Path=/; Secure; HttpOnly; SameSite=Lax',
      'all=a%20b%2Bc%2F%3D; Expires=Wed, 02 Jan 2030 03:04:05 GMT; Max-Age=600; Domain=example.test; Path=/auth; Secure; HttpOnly; SameSite=None',
    ]);
  });

  test('answers 404 for unknown paths and for a method the function does not accept (as Azure does)', async () => {
    expect((await fetch(`${host.url}/nothing-here`)).status).toBe(404);
    expect((await fetch(`${host.url}/echo`)).status).toBe(404);
    expect((await fetch(`${host.url}/items`)).status).toBe(404);
  });

  test('caps request bodies at 1 MiB with 413, declared or streamed', async () => {
    const big = Buffer.alloc(1024 * 1024 + 1, 0x61);
    const declared = await rawRequest(`${host.url}/echo`, {
      method: 'POST',
      headers: { 'content-length': String(big.length) },
      chunks: [big],
    }).catch((error: Error) => ({ status: -1, body: error.message }));
    expect(declared.status).toBe(413);
    const chunked = await rawRequest(`${host.url}/echo`, {
      method: 'POST',
      headers: { 'transfer-encoding': 'chunked' },
      chunks: [big.subarray(0, 600_000), big.subarray(600_000)],
    }).catch((error: Error) => ({ status: -1, body: error.message }));
    expect(chunked.status).toBe(413);
    const fits = await fetch(`${host.url}/echo`, { method: 'POST', body: big.subarray(1) });
    expect(fits.status).toBe(201);
  });

  test('a throwing handler gives an empty 500 and the error only in the log', async () => {
    logs.length = 0;
    const res = await fetch(`${host.url}/boom`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('');
    expect(logs.some((l) => l.includes('kaboom with internal detail'))).toBeTruthy();
    expect(logs.some((l) => /\[boom\] warning: about to fail/.test(l))).toBeTruthy();
    expect(logs.some((l) => /GET \/boom -> 500/.test(l))).toBeTruthy();
  });

  test('logs method, path, status and duration, never query strings, headers or bodies', async () => {
    logs.length = 0;
    await fetch(`${host.url}/items/1?code=SECRET_CODE&state=SECRET_STATE`, {
      headers: { cookie: 'sid=SECRET_COOKIE' },
    });
    await fetch(`${host.url}/echo`, { method: 'POST', body: 'SECRET_BODY' });
    const all = logs.join('\n');
    expect(all).toMatch(/GET \/items\/1 -> 200 \(\d+ms, getItem\)/);
    expect(all).toMatch(/POST \/echo -> 201/);
    for (const secret of ['SECRET_CODE', 'SECRET_STATE', 'SECRET_COOKIE', 'SECRET_BODY'])
      expect(!all.includes(secret)).toBeTruthy();
  });

  test('CORS: preflight and responses for an allowed origin, nothing for others', async () => {
    const preflight = await fetch(`${host.url}/echo`, {
      method: 'OPTIONS',
      headers: {
        origin: ALLOWED,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'x-csrf, content-type',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
    expect(preflight.headers.get('access-control-allow-methods')).toBe('POST');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('x-csrf, content-type');
    expect(preflight.headers.get('vary') ?? '').toMatch(/Origin/);

    const denied = await fetch(`${host.url}/echo`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(denied.status).toBe(204);
    expect(denied.headers.get('access-control-allow-origin')).toBe(null);
    expect(denied.headers.get('access-control-allow-credentials')).toBe(null);

    const allowedGet = await fetch(`${host.url}/items/1`, { headers: { origin: ALLOWED } });
    expect(allowedGet.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(allowedGet.headers.get('access-control-allow-credentials')).toBe('true');
    const deniedGet = await fetch(`${host.url}/items/1`, { headers: { origin: 'https://evil.example' } });
    expect(deniedGet.status).toBe(200);
    expect(deniedGet.headers.get('access-control-allow-origin')).toBe(null);
  });

  test('rejects "*" with credentials', async () => {
    await expect(
      startFunctionsHost({ modules: MODULES, loadModule, cors: { origins: ['*'], credentials: true }, log: () => {} }),
    ).rejects.toThrow(/cannot be combined with credentials/);
  });

  test('an invalid cron field fails the start of a host that runs its timers; one that does not reports it on invocation', async () => {
    const broken = [join(FIXTURES, 'bad-timer.ts')];
    await expect(startFunctionsHost({ modules: broken, loadModule, log: () => {} })).rejects.toThrow(
      /Function "broken": invalid schedule "0 0 0 1 1 9"/,
    );
    const idle = await startFunctionsHost({ modules: broken, loadModule, runTimers: false, log: () => {} });
    try {
      await expect(idle.invokeTimer('broken')).rejects.toThrow(/invalid schedule/);
    } finally {
      await idle.stop();
    }
  });

  test('runs a timer through invokeTimer with a real Timer object', async () => {
    const before = timerRuns().length;
    await host.invokeTimer('tick');
    const runs = timerRuns();
    expect(runs.length).toBe(before + 1);
    const timer = runs.at(-1)!;
    expect(timer.isPastDue).toBe(false);
    expect(timer.schedule.adjustForDST).toBe(true);
    expect(timer.scheduleStatus.next).toMatch(/^\d{4}-01-01T00:00:00\.000Z$/);
    expect(!Number.isNaN(Date.parse(timer.scheduleStatus.last))).toBeTruthy();
    expect(!Number.isNaN(Date.parse(timer.scheduleStatus.lastUpdated))).toBeTruthy();
    await expect(host.invokeTimer('getItem')).rejects.toThrow(/No timer function/);
  });

  test('runs a timer through the admin endpoint (202), 404 for unknown functions', async () => {
    const before = timerRuns().length;
    const res = await fetch(`${host.url}/admin/functions/tick`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ input: '' }),
    });
    expect(res.status).toBe(202);
    await until(() => timerRuns().length === before + 1);
    expect((await fetch(`${host.url}/admin/functions/nope`, { method: 'POST' })).status).toBe(404);
  });

  test('a second host in the same process gets its own registrations; stop() frees the port', async () => {
    const other = await startFunctionsHost({
      modules: [join(FIXTURES, 'http.ts')],
      loadModule,
      routePrefix: 'api',
      log: () => {},
    });
    expect(other.functions.map((f) => f.name).sort()).toStrictEqual(['boom', 'echo', 'getItem', 'setCookies']);
    expect((await fetch(`${other.url}/api/items/1`)).status).toBe(200);
    expect((await fetch(`${other.url}/items/1`)).status).toBe(404);
    await other.stop();
    expect(await isPortOpen(other.port)).toBe(false);
    expect((await fetch(`${host.url}/items/1`)).status).toBe(200);
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
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Functions listening on http:\/\/localhost:\d+$/m);
    expect(result.stdout).toMatch(/getItem: \[GET\] http:\/\/localhost:\d+\/items\/\{id\}\/\{detail\?\}/);
    expect(result.stdout).toMatch(/echo: \[POST,PUT\]/);
  });

  test('a port in use is one clear line and exit code 1', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const result = await runServe({ FUNCTIONS_HOST_MODULES: MODULES.join(','), PORT: String(port) });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        `Port ${port} is unavailable. Close the process using that port, or choose another port (PORT=<number>).`,
      );
      expect(result.stderr).not.toMatch(/\n\s+at /);
    } finally {
      blocker.close();
    }
  });

  test('a configuration error while loading prints its message, exit 1, no stack', async () => {
    const result = await runServe({ FUNCTIONS_HOST_MODULES: join(FIXTURES, 'config-error.ts'), PORT: '0' });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
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
      expect(settings.values).toStrictEqual({ A_FROM_FILE: 'file', B_BOTH: 'file', C_NUMBER: '5' });
      expect(settings.host).toStrictEqual({
        port: 7072,
        cors: ['http://localhost:3000', 'https://app.example'],
        corsCredentials: true,
      });
      const env: NodeJS.ProcessEnv = { B_BOTH: 'env' };
      expect(applyLocalSettings(settings.values, env)).toStrictEqual(['A_FROM_FILE', 'C_NUMBER']);
      expect(env['B_BOTH']).toBe('env');
      expect(env['A_FROM_FILE']).toBe('file');

      expect(loadLocalSettings(join(dir, 'missing.json'))).toStrictEqual({ values: {}, host: {} });
      writeFileSync(file, '{ not json');
      expect(() => loadLocalSettings(file)).toThrow(/is not valid JSON/);
      writeFileSync(file, JSON.stringify({ Values: { X: { nested: true } }, Host: { LocalHttpPort: 'abc' } }));
      expect(() => loadLocalSettings(file)).toThrow(
        /Values\.X must be a string; Host\.LocalHttpPort must be a port number/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
