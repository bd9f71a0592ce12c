/**
 * Forward-auth (`GET /auth/verify`) and the same-app helper `requireSession(request)`:
 * - through the handlers (real Azurite, the Entra stand-in): headers, one session read, no provider call;
 * - under nginx, with the README's `auth_request` example run as written (only hosts, ports and TLS swapped for
 *   loopback), in front of the served functions (`npm run serve`'s local host) and a loopback site. The same served
 *   host shows that `{*path}` catch-all routes and every method reach /auth/api/….
 *
 * nginx comes from Debian (`apt-get install -y nginx`). When it cannot be had, the nginx tests are reported as
 * skipped with the reason, loudly; they never pass without running.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { serveWithSettings } from '../_support/serve-process';
import { HttpRequest } from '@azure/functions';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { findFreePort } from '../../dev/azurite';
import { requireSession } from '../../shared/http/require-session';
import { startApiUpstream, type ApiUpstream } from '../_support/api-upstream';
import { CLIENT_ID, CLIENT_SECRET, Harness, type TestBrowser } from '../_support/harness';
import { NativeApp } from '../_support/native-app';

const ROOT = resolve(__dirname, '..', '..');
const ROLES = ['Orders.Read', 'Site Admin, Europe'];

describe('/auth/verify and requireSession through the handlers', () => {
  let h: Harness;
  let browser: TestBrowser;
  let cookie: string;

  beforeAll(async () => {
    h = await Harness.start();
    // The signed-in user has an email, app roles and a non-ASCII name in the ID token (Entra sends `roles` for
    // assigned app roles: https://learn.microsoft.com/entra/identity-platform/howto-add-app-roles-in-apps).
    h.standIn.nextIdToken((claims, sign) =>
      sign({ ...claims, email: 'adele@contoso.example', name: 'Adèle Vance', roles: ROLES }),
    );
    browser = h.newBrowser();
    expect((await browser.signIn()).status).toBe(302);
    cookie = browser.cookieHeader();
  });

  afterAll(async () => {
    await h?.stop();
  });

  test('a valid cookie session: 204 with the identity headers (encoded), from one session read and no provider call', async () => {
    const reads = jest.spyOn(h.deps.sessions, 'get');
    const before = JSON.stringify(h.standIn.counters);
    try {
      const response = await h.call('verify', { url: '/auth/verify', headers: { cookie } });
      expect(response.status).toBe(204);
      expect(response.body).toBe('');
      const user = h.standIn.users[0]!;
      expect(response.headers['x-auth-request-user']).toBe(user.oid);
      expect(response.headers['x-auth-request-email']).toBe('adele@contoso.example');
      expect(response.headers['x-auth-request-name']).toBe('Ad%C3%A8le Vance');
      expect(response.headers['x-auth-request-tenant']).toBe(h.standIn.tenantId);
      expect(response.headers['x-auth-request-roles']).toBe('Orders.Read,Site Admin%2C Europe');
      expect(response.headers['cache-control']).toBe('no-store');
      expect(reads).toHaveBeenCalledTimes(1);
      expect(JSON.stringify(h.standIn.counters)).toBe(before);
    } finally {
      reads.mockRestore();
    }
  });

  test('HEAD answers the same', async () => {
    const response = await h.call('verify', { method: 'HEAD', url: '/auth/verify', headers: { cookie } });
    expect(response.status).toBe(204);
    expect(response.headers['x-auth-request-user']).toBe(h.standIn.users[0]!.oid);
  });

  test('a native app session token as Bearer: 204', async () => {
    const tokens = await new NativeApp(h).signInForTokens();
    const response = await h.call('verify', {
      url: '/auth/verify',
      headers: { authorization: `Bearer ${tokens.refresh_token}` },
    });
    expect(response.status).toBe(204);
    expect(response.headers['x-auth-request-user']).toBe(h.standIn.users[0]!.oid);
  });

  test.each([
    ['no session', {}, 'session_required'],
    [
      'forged identity headers only',
      { 'x-auth-request-user': 'admin', 'x-ms-client-principal-id': 'admin' },
      'session_required',
    ],
    ['a tampered cookie', { cookie: 'TAMPER' }, 'session_required'],
    ['a Basic Authorization header', { authorization: 'Basic dXNlcjpwYXNz' }, 'session_required'],
  ])('%s: 401, no identity header', async (_name, headers: Record<string, string>, code) => {
    const sent = headers.cookie === 'TAMPER' ? { cookie: `${cookie.slice(0, -4)}AAAA` } : headers;
    const response = await h.call('verify', { url: '/auth/verify', headers: sent });
    expect(response.status).toBe(401);
    expect(response.json().code).toBe(code);
    expect(Object.keys(response.headers).filter((name) => name.startsWith('x-auth-request-'))).toStrictEqual([]);
  });

  test('an expired session: 401 session_expired', async () => {
    const other = h.newBrowser();
    expect((await other.signIn()).status).toBe(302);
    h.clockOffsetMs = (h.config.session.idleSeconds + 60) * 1000;
    try {
      const response = await h.call('verify', { url: '/auth/verify', headers: { cookie: other.cookieHeader() } });
      expect(response.status).toBe(401);
      expect(response.json().code).toBe('session_expired');
    } finally {
      h.clockOffsetMs = 0;
    }
  });

  test('POST is 405', async () => {
    const response = await h.call('verify', { method: 'POST', url: '/auth/verify', headers: { cookie } });
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('GET, HEAD');
  });

  describe('requireSession(request), as a function of this app calls it', () => {
    const request = (method: string, headers: Record<string, string>, body?: string) =>
      new HttpRequest({
        method,
        url: 'https://auth.contoso.example/orders/7',
        headers,
        body: body === undefined ? undefined : { string: body },
      });

    test('a cookie GET: the user, and the request body is left for the function', async () => {
      const sent = request('GET', { cookie });
      const auth = await requireSession(sent, () => h.deps);
      expect(auth.ok).toBe(true);
      if (!auth.ok) return;
      expect(auth.user.id).toBe(h.standIn.users[0]!.oid);
      expect(auth.user.roles).toStrictEqual(ROLES);
      expect(auth.kind).toBe('web');

      const post = request('POST', { cookie, 'x-csrf': '1', 'content-type': 'application/json' }, '{"qty":2}');
      const posted = await requireSession(post, () => h.deps);
      expect(posted.ok).toBe(true);
      expect(await post.text()).toBe('{"qty":2}');
    });

    test('a cookie POST without X-CSRF: a 403 csrf_required response', async () => {
      const auth = await requireSession(request('POST', { cookie }), () => h.deps);
      expect(auth.ok).toBe(false);
      if (auth.ok) return;
      expect(auth.response.status).toBe(403);
      expect(JSON.parse(String(auth.response.body)).code).toBe('csrf_required');
    });

    test('no session: a 401 session_required response', async () => {
      const auth = await requireSession(request('GET', {}), () => h.deps);
      expect(auth.ok).toBe(false);
      if (auth.ok) return;
      expect(auth.response.status).toBe(401);
      expect(JSON.parse(String(auth.response.body)).code).toBe('session_required');
      expect((auth.response.headers as Record<string, string>)['Content-Type']).toMatch(/^application\/problem\+json/);
    });

    test('a native session token as Bearer: the user, no CSRF header needed for POST', async () => {
      const tokens = await new NativeApp(h).signInForTokens();
      const auth = await requireSession(
        request('POST', { authorization: `Bearer ${tokens.refresh_token}` }),
        () => h.deps,
      );
      expect(auth.ok && auth.kind).toBe('native');
    });

    test('nothing the run saw reached a log', () => {
      expect(h.leakedSecrets()).toStrictEqual([]);
    });
  });
});

// ------------------------------------------------------------------------------------------ nginx

/** nginx from Debian: on PATH, or installed now when this is root. Undefined and a reason when it cannot be had. */
function findNginx(): { path?: string; reason?: string } {
  const which = () => ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
  if (which()) return { path: which() };
  if (process.getuid?.() !== 0)
    return { reason: 'nginx is not installed and this is not root (apt-get install -y nginx)' };
  const installed = spawnSync(
    'sh',
    [
      '-c',
      'apt-get install -y -qq nginx >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq nginx >/dev/null)',
    ],
    {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 300_000,
    },
  );
  return which() ? { path: which() } : { reason: `apt-get install -y nginx failed (exit ${installed.status})` };
}

const nginx = findNginx();
if (!nginx.path) process.stderr.write(`\n*** SKIPPED: forward-auth under nginx: ${nginx.reason} ***\n\n`);
const describeNginx = nginx.path ? describe : describe.skip;

/**
 * The README's nginx block, made runnable on loopback: each replacement must match (so a change to the README
 * that the test no longer understands fails here instead of testing something else).
 */
function nginxExampleOnLoopback(readme: string, ports: { nginx: number; functions: number; site: number }): string {
  const block = /<!-- nginx-forward-auth -->\s*```nginx\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README has no <!-- nginx-forward-auth --> nginx block');
  const replacements: [RegExp, string][] = [
    [/listen 443 ssl;/g, `listen 127.0.0.1:${ports.nginx};`],
    [/^\s*ssl_certificate(_key)? .*\n/gm, ''],
    [/^\s*proxy_ssl_server_name on;\n/gm, ''],
    [/https:\/\/contoso-signin\.azurewebsites\.net/g, `http://127.0.0.1:${ports.functions}`],
    [/Host contoso-signin\.azurewebsites\.net;/g, `Host 127.0.0.1:${ports.functions};`],
    [/http:\/\/127\.0\.0\.1:8080/g, `http://127.0.0.1:${ports.site}`],
  ];
  let config = block;
  for (const [pattern, replacement] of replacements) {
    if (!pattern.test(config)) throw new Error(`README nginx block: ${pattern} not found`);
    config = config.replace(pattern, replacement);
  }
  return config;
}

describeNginx('forward-auth under the README nginx example, in front of the served functions', () => {
  const UPSTREAM_SCOPE = 'api://orders-api/Orders.Read';
  let standIn: Harness['standIn'];
  let harness: Harness;
  let apiUpstream: ApiUpstream;
  let functionsHost: ChildProcess;
  let nginxProcess: ChildProcess;
  let site: Server;
  const siteRequests: { url: string; method: string; headers: Record<string, string | string[] | undefined> }[] = [];
  const output: string[] = [];
  let workDir: string;
  let origin: string;
  let functionsOrigin: string;

  const jar = new Map<string, string>();
  async function http(
    path: string,
    init: RequestInit & { headers?: Record<string, string> } = {},
    base = origin,
  ): Promise<Response> {
    const cookies = [...jar].map(([n, v]) => `${n}=${v}`).join('; ');
    const response = await fetch(new URL(path, base), {
      ...init,
      redirect: 'manual',
      headers: { ...init.headers, ...(cookies ? { cookie: cookies } : {}) },
    });
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(';')[0]!;
      const [name, value] = [pair.slice(0, pair.indexOf('=')).trim(), pair.slice(pair.indexOf('=') + 1).trim()];
      if (/max-age=0/i.test(line) || value === '') jar.delete(name);
      else jar.set(name, value);
    }
    return response;
  }

  /** The host's output since `offset`, once it shows `line` (or after 10 s, for the assertion to report). */
  async function logAfter(offset: number, line: RegExp): Promise<string> {
    for (let i = 0; i < 100 && !line.test(output.join('').slice(offset)); i++)
      await new Promise((r) => setTimeout(r, 100));
    return output.join('').slice(offset);
  }

  async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
    for (let i = 0; i < 300; i++) {
      if (await check().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${what} did not start:\n${output.join('')}`);
  }

  beforeAll(async () => {
    const [nginxPort, functionsPort, sitePort] = [await findFreePort(), await findFreePort(), await findFreePort()];
    origin = `http://127.0.0.1:${nginxPort}`;
    functionsOrigin = `http://127.0.0.1:${functionsPort}`;
    apiUpstream = await startApiUpstream();
    // The harness provides Azurite and the stand-in (registered for the nginx origin's callback).
    harness = await Harness.start({
      standIn: {
        clients: [{ clientId: CLIENT_ID, secrets: [CLIENT_SECRET], redirectUris: [`${origin}/auth/callback`] }],
      },
    });
    standIn = harness.standIn;

    site = createServer((req, res) => {
      siteRequests.push({ url: req.url ?? '', method: req.method ?? '', headers: req.headers });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('site');
    });
    await new Promise<void>((r) => site.listen(sitePort, '127.0.0.1', () => r()));

    ({ workDir, host: functionsHost } = await serveWithSettings(
      'verify-nginx-',
      {
        AUTH_CLIENT_ID: CLIENT_ID,
        AUTH_AUTHORITY: standIn.authority,
        AUTH_TENANT_ID: standIn.tenantId,
        AUTH_REDIRECT_URI: `${origin}/auth/callback`,
        AUTH_CLIENT_SECRET: CLIENT_SECRET,
        AUTH_STORAGE_CONNECTION_STRING: harness.azurite.connectionString,
        AUTH_APIS: `orders=${apiUpstream.origin}/base ${UPSTREAM_SCOPE}`,
      },
      functionsPort,
      output,
    ));

    const nginxDir = join(workDir, 'nginx');
    for (const dir of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'])
      mkdirSync(join(nginxDir, dir), { recursive: true });
    const server = nginxExampleOnLoopback(readFileSync(join(ROOT, 'README.md'), 'utf8'), {
      nginx: nginxPort,
      functions: functionsPort,
      site: sitePort,
    });
    writeFileSync(
      join(nginxDir, 'nginx.conf'),
      [
        'daemon off;',
        'master_process off;',
        'worker_processes 1;',
        `pid ${join(nginxDir, 'nginx.pid')};`,
        `error_log ${join(nginxDir, 'error.log')} warn;`,
        'events { worker_connections 64; }',
        'http {',
        '  access_log off;',
        ...['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(
          (d) => `  ${d === 'body' ? 'client_body' : d}_temp_path ${join(nginxDir, d)};`,
        ),
        server,
        '}',
      ].join('\n'),
    );
    const checked = spawnSync(nginx.path!, ['-t', '-p', nginxDir, '-c', join(nginxDir, 'nginx.conf')], {
      encoding: 'utf8',
    });
    if (checked.status !== 0) throw new Error(`nginx -t refused the README example:\n${checked.stderr}`);
    nginxProcess = spawn(nginx.path!, ['-p', nginxDir, '-c', join(nginxDir, 'nginx.conf')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    nginxProcess.stderr!.on('data', (chunk) => output.push(String(chunk)));
    await waitFor(async () => (await fetch(`${origin}/auth/health`)).status === 200, 'nginx');
  });

  afterAll(async () => {
    for (const child of [nginxProcess, functionsHost]) {
      if (child && child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    }
    await new Promise<void>((r) => (site ? site.close(() => r()) : r()));
    await apiUpstream?.stop();
    await harness?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  test('no session: the site is not reached, the browser is sent to sign in and back', async () => {
    const before = siteRequests.length;
    const response = await http('/dashboard', { headers: { 'x-auth-request-user': 'forged-admin' } });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location')!, origin);
    expect(`${location.origin}${location.pathname}${location.search}`).toBe(`${origin}/auth/login?returnTo=/dashboard`);
    expect(siteRequests.length).toBe(before);
  });

  test('after signing in through nginx, the site sees the user in the headers nginx set (forged ones replaced)', async () => {
    const login = await http('/auth/login?returnTo=%2Fdashboard');
    expect(login.status).toBe(302);
    const callbackUrl = new URL(await standIn.signIn(login.headers.get('location')!, standIn.users[1]!.username));
    expect(callbackUrl.origin).toBe(origin);
    const callback = await http(`${callbackUrl.pathname}${callbackUrl.search}`);
    expect(callback.status).toBe(302);
    expect(jar.has('__Host-session')).toBe(true);

    const page = await http('/dashboard?tab=1', {
      headers: { 'x-auth-request-user': 'forged-admin', 'x-auth-request-roles': 'Global Admin' },
    });
    expect(page.status).toBe(200);
    expect(await page.text()).toBe('site');
    const seen = siteRequests.at(-1)!;
    expect(seen.url).toBe('/dashboard?tab=1');
    expect(seen.headers['x-auth-request-user']).toBe(standIn.users[1]!.oid);
    expect(seen.headers['x-auth-request-name']).toBe(standIn.users[1]!.name);
    expect(seen.headers['x-auth-request-tenant']).toBe(standIn.tenantId);
    // Headers the session does not fill are sent empty by nginx: never the client's.
    expect(seen.headers['x-auth-request-roles'] ?? '').toBe('');
  });

  test('a POST with a body: the subrequest is a GET without it, the site gets the POST and its body', async () => {
    const logged = output.join('').length;
    const response = await http('/orders', {
      method: 'POST',
      body: 'qty=2',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(response.status).toBe(200);
    expect(siteRequests.at(-1)!.method).toBe('POST');
    // The host writes its access-log line after the answer has gone: wait for it (its pipe may lag the answer).
    const hostLog = await logAfter(logged, /GET \/auth\/verify -> 204/);
    expect(hostLog).toMatch(/GET \/auth\/verify -> 204/);
    expect(hostLog).not.toMatch(/POST \/auth\/verify/);
  });

  test('/auth/verify itself is internal: clients cannot call it through nginx', async () => {
    expect((await http('/auth/verify')).status).toBe(404);
  });

  test('the served host routes /auth/api/{name}/{*path} for every method, deep paths and queries included', async () => {
    const csrf = { 'x-csrf': '1' };
    for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      const before = apiUpstream.received.length;
      const response = await http('/auth/api/orders/a/b/c.json?x=1&y=%2F', {
        method,
        headers: csrf,
        ...(method === 'GET' || method === 'HEAD' ? {} : { body: '{}' }),
      });
      expect(response.status).toBe(200);
      expect(apiUpstream.received.slice(before).map((r) => `${r.method} ${r.target}`)).toStrictEqual([
        `${method} /base/a/b/c.json?x=1&y=%2F`,
      ]);
    }
    // Straight to the host (not through nginx): the catch-all also takes an empty path.
    const bare = await http('/auth/api/orders', { headers: csrf }, functionsOrigin);
    expect(bare.status).toBe(200);
    expect(apiUpstream.received.at(-1)!.target).toBe('/base/');
    // Not forwarded methods are our 405 (OPTIONS), the host's 404 (TRACE is never registered).
    expect((await http('/auth/api/orders/x', { method: 'OPTIONS', headers: csrf }, functionsOrigin)).status).toBe(405);
  });

  test('after sign-out, the site is closed again', async () => {
    const logout = await http('/auth/logout', { method: 'POST', headers: { 'x-csrf': '1' } });
    expect(logout.status).toBe(200);
    expect((await http('/dashboard')).status).toBe(302);
  });

  test('the served host logged no code, state, cookie or token', () => {
    const logged = output.join('');
    const secrets = [...standIn.issuedSecrets(), ...jar.values(), CLIENT_SECRET];
    expect(secrets.filter((s) => s.length >= 8 && logged.includes(s))).toStrictEqual([]);
  });
});
