/**
 * `npm run serve` as a user runs it: a `local.settings.json` pointing at the Entra stand-in and Azurite, the
 * project's local Functions host in its own process, and a plain HTTP client with a cookie jar signing in.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { serveWithSettings } from '../_support/serve-process';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { findFreePort, startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { startEntraStandIn, type EntraStandIn } from '../../dev/entra-standin';

const CLIENT_ID = '33333333-2222-4333-8444-555555555555';
const SECRET = 'serve-test-client-secret-0123456789';

let azurite: AzuriteInstance;
let standIn: EntraStandIn;
let host: ChildProcess;
let origin: string;
let workDir: string;
const output: string[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
  const port = await findFreePort();
  origin = `http://localhost:${port}`;
  standIn = await startEntraStandIn({
    clients: [{ clientId: CLIENT_ID, secrets: [SECRET], redirectUris: [`${origin}/auth/callback`] }],
  });

  ({ workDir, host } = await serveWithSettings(
    'serve-test-',
    {
      AUTH_CLIENT_ID: CLIENT_ID,
      AUTH_AUTHORITY: standIn.authority,
      AUTH_TENANT_ID: standIn.tenantId,
      AUTH_REDIRECT_URI: `${origin}/auth/callback`,
      AUTH_CLIENT_SECRET: SECRET,
      AUTH_STORAGE_CONNECTION_STRING: azurite.connectionString,
    },
    port,
    output,
  ));
});

afterAll(async () => {
  if (host && host.exitCode === null) {
    const exited = new Promise((r) => host.once('exit', r));
    host.kill('SIGTERM');
    await exited;
  }
  await standIn?.stop();
  await azurite?.stop();
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

/** A minimal cookie jar over fetch: what any HTTP client with cookies does. */
const jar = new Map<string, string>();
async function http(path: string, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(new URL(path, origin), {
    ...init,
    redirect: 'manual',
    headers: { ...(init.headers as Record<string, string>), cookie: [...jar].map(([n, v]) => `${n}=${v}`).join('; ') },
  });
  for (const line of response.headers.getSetCookie()) {
    const [pair, ...attributes] = line.split(';');
    const [name, value] = [pair!.slice(0, pair!.indexOf('=')).trim(), pair!.slice(pair!.indexOf('=') + 1).trim()];
    if (attributes.some((a) => /^\s*max-age=0$/i.test(a)) || value === '') jar.delete(name);
    else jar.set(name, value);
  }
  return response;
}

test('npm run serve: a plain HTTP client with a cookie jar signs in, reads /auth/me, refreshes and signs out', async () => {
  const health = await http('/auth/health');
  expect(health.status).toBe(200);

  const login = await http('/auth/login?returnTo=%2Fauth%2Fme');
  expect(login.status).toBe(302);
  const authorizeUrl = login.headers.get('location')!;
  expect(authorizeUrl.startsWith(standIn.url)).toBeTruthy();
  expect([...jar.keys()].some((name) => name.startsWith('__Host-signin-'))).toBeTruthy();

  const callbackUrl = new URL(await standIn.signIn(authorizeUrl, standIn.users[1]!.username));
  expect(callbackUrl.origin).toBe(origin);
  const callback = await http(`${callbackUrl.pathname}${callbackUrl.search}`);
  expect(callback.status).toBe(302);
  expect(callback.headers.get('location')).toBe('/auth/me');
  expect(jar.has('__Host-session')).toBeTruthy();
  expect(![...jar.keys()].some((name) => name.startsWith('__Host-signin-'))).toBeTruthy();

  const me = await http('/auth/me');
  expect(me.status).toBe(200);
  expect(((await me.json()) as { user: { username: string } }).user.username).toBe(standIn.users[1]!.username);

  const refresh = await http('/auth/refresh', { method: 'POST', headers: { 'x-csrf': '1' } });
  expect(refresh.status).toBe(200);
  expect(((await refresh.json()) as { token_type: string }).token_type).toBe('Bearer');

  const logout = await http('/auth/logout', { method: 'POST', headers: { 'x-csrf': '1' } });
  expect(logout.status).toBe(200);
  expect((await http('/auth/me')).status).toBe(401);

  const logged = output.join('');
  const secrets = [
    ...standIn.issuedSecrets(),
    new URL(authorizeUrl).searchParams.get('state')!,
    callbackUrl.searchParams.get('code')!,
    SECRET,
  ];
  expect(secrets.filter((s) => s && logged.includes(s))).toStrictEqual([]);
});
