/**
 * Scale-out: two functions hosts, separate processes, one Azurite — as two instances of the Function App behind
 * one public URL would be. A sign-in started on host A finishes on host B, and a session made on either works on
 * the other: everything the flow needs between requests is in Table Storage or the browser's cookies, nothing in
 * a process's memory. A plain HTTP client with a cookie jar stands in for the browser.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { devCaFromEnvironment } from '../../dev/ca';
import { startFunctionsProcess, startStack, type FunctionsProcess, type Stack } from '../../dev/demo/stack';
import { SESSION_COOKIE } from '../../shared/core/session';

let stack: Stack;
let hostA: FunctionsProcess;
let hostB: FunctionsProcess;

beforeAll(async () => {
  const ca = devCaFromEnvironment();
  stack = await startStack({ ca: { ...ca, dir: ca.dir! }, functionsPort: 0, demoPort: 0, runTimers: false });
  hostA = stack.functions;
  hostB = await startFunctionsProcess(stack.functionsEnv(0));
});

afterAll(async () => {
  await hostB?.stop();
  await stack?.stop();
});

/** A cookie jar and manual redirects, like a browser that we drive one hop at a time. */
class Client {
  readonly jar = new Map<string, string>();

  async request(
    host: FunctionsProcess,
    path: string,
    init: { method?: string; headers?: Record<string, string> } = {},
  ) {
    const cookie = [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(`${host.url}${path}`, {
      method: init.method ?? 'GET',
      redirect: 'manual',
      headers: { ...(cookie ? { cookie } : {}), origin: stack.demo.url, ...init.headers },
    });
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const name = pair!.slice(0, pair!.indexOf('='));
      const value = pair!.slice(pair!.indexOf('=') + 1);
      if (attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
    return response;
  }

  /** GET /auth/login on `host`; the user signs in at the stand-in; returns the callback path + query. */
  async startAndSignIn(host: FunctionsProcess, username = stack.users[0]!.username): Promise<string> {
    const login = await this.request(host, `/auth/login?returnTo=${encodeURIComponent(`${stack.demo.url}/`)}`);
    expect(login.status).toBe(302);
    await login.arrayBuffer();
    const callbackUrl = new URL(await stack.standIn.signIn(login.headers.get('location')!, username));
    return `${callbackUrl.pathname}${callbackUrl.search}`;
  }

  async me(host: FunctionsProcess) {
    const response = await this.request(host, '/auth/me');
    return { status: response.status, body: (await response.json()) as { user?: { username?: string } } };
  }

  async refresh(host: FunctionsProcess) {
    const response = await this.request(host, '/auth/refresh', { method: 'POST', headers: { 'x-csrf': '1' } });
    return { status: response.status, body: (await response.json()) as { access_token?: string; scope?: string } };
  }
}

describe('two functions hosts sharing one Azurite', () => {
  test('they are separate processes', () => {
    expect(hostA.pid).not.toBe(hostB.pid);
    expect(hostA.port).not.toBe(hostB.port);
    expect(hostA.pid).not.toBe(process.pid);
  });

  test('a sign-in started on host A is finished on host B, and the session works on both', async () => {
    const client = new Client();
    const user = stack.users[1]!;
    const callback = await client.startAndSignIn(hostA, user.username);
    const finished = await client.request(hostB, callback);
    expect(finished.status).toBe(302);
    expect(finished.headers.get('location')).toBe(`${stack.demo.url}/`);
    expect(client.jar.has(SESSION_COOKIE)).toBeTruthy();
    expect([...client.jar.keys()].filter((n) => n !== SESSION_COOKIE).length).toBe(0);

    for (const host of [hostB, hostA]) {
      const me = await client.me(host);
      expect(me.status).toBe(200);
      expect(me.body.user?.username).toBe(user.username);
    }
    const token = await client.refresh(hostA);
    expect(token.status).toBe(200);
    expect((await stack.standIn.verifyAccessToken(token.body.access_token!)).oid).toBe(user.oid);
  });

  test('a session made on host A works on host B (me + refresh), and signing out on B ends it on A', async () => {
    const client = new Client();
    const finished = await client.request(hostA, await client.startAndSignIn(hostA));
    expect(finished.status).toBe(302);

    const me = await client.me(hostB);
    expect(me.status).toBe(200);
    expect(me.body.user?.username).toBe(stack.users[0]!.username);
    const token = await client.refresh(hostB);
    expect(token.status).toBe(200);
    expect(token.body.scope ?? '').toMatch(/User\.Read/);

    const session = client.jar.get(SESSION_COOKIE)!;
    const logout = await client.request(hostB, '/auth/logout', { method: 'POST', headers: { 'x-csrf': '1' } });
    expect(logout.status).toBe(200);
    await logout.arrayBuffer();
    client.jar.set(SESSION_COOKIE, session); // replay the old cookie on the other host
    expect((await client.me(hostA)).status).toBe(401);
  });

  test('a sign-in state is single use across hosts: the callback replayed on the other host is refused', async () => {
    const client = new Client();
    const callback = await client.startAndSignIn(hostA);
    const transaction = new Map(client.jar);
    expect((await client.request(hostA, callback)).status).toBe(302);
    const replay = new Client();
    for (const [name, value] of transaction) replay.jar.set(name, value);
    const second = await replay.request(hostB, callback);
    expect(second.status).toBe(400);
    expect(await second.text()).toMatch(/state_/);
    expect(replay.jar.has(SESSION_COOKIE)).toBe(false);
  });
});
