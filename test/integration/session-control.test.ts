/**
 * Sessions people control, through the served functions (real handlers, Azurite, the Entra stand-in):
 * one user (Adele) with two browsers and a native app, another user (Alex) with one browser.
 * - GET /auth/sessions (cookie and Bearer), DELETE /auth/sessions/{id}, sign out everywhere;
 * - the admin script `npm run revoke -- <user id>` as a child process against the same Azurite;
 * - front-channel logout with right and wrong `sid` / `iss`;
 * - storage failing halfway (503, retry finishes), what a copy of the table shows, the index after the purge;
 * - the Table transactions each operation costs (counted at the store).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { InvocationContext, type Timer } from '@azure/functions';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { createPurgeHandler } from '../../functions/purge';
import { SESSION_COOKIE } from '../../shared/core/session';
import { endUserSessions, sidIndexPartition, userIndexPartition } from '../../shared/core/session-index';
import { SESSION_TABLE, STATE_TABLE } from '../../shared/services';
import { SwitchRowStore, tableStore } from '../_support/fault-kit';
import { Harness, type TestBrowser } from '../_support/harness';
import { NativeApp } from '../_support/native-app';
import { tableRows } from '../_support/tables';

const ROOT = resolve(__dirname, '..', '..');
const ADELE = 'adele@contoso.example';
const ALEX = 'alex@contoso.example';

let azurite: AzuriteInstance;
let h: Harness;
let sessions: SwitchRowStore;
let states: SwitchRowStore;

beforeAll(async () => {
  azurite = await startAzurite();
  // The sessions store can be switched to a dead endpoint (connection refused: the real adapter's 503).
  const dead = azurite.connectionString.replace(`127.0.0.1:${azurite.port}/`, '127.0.0.1:1/');
  sessions = new SwitchRowStore(
    tableStore(azurite.connectionString, SESSION_TABLE),
    tableStore(dead, SESSION_TABLE, 1_000),
  );
  states = new SwitchRowStore(tableStore(azurite.connectionString, STATE_TABLE), tableStore(dead, STATE_TABLE, 1_000));
  h = await Harness.start({ azurite, overrides: { providerTimeoutMs: 5000, sessions, states } });
}, 120_000);

afterAll(async () => {
  await h?.stop();
  await azurite?.stop();
});

// ------------------------------------------------------------------------------------------- helpers

interface Device {
  name: string;
  /** Headers that authenticate as this device: its cookie, or its session token as Bearer. */
  auth(): Record<string, string>;
  /** Cookie callers prove they are not a cross-site request; Bearer callers need not. */
  csrf(): Record<string, string>;
  kind: 'web' | 'native';
  sid: string;
}

function userOf(username: string) {
  const user = h.standIn.users.find((u) => u.username === username);
  if (!user) throw new Error(`no stand-in user ${username}`);
  return user;
}

/** A browser signed in as `username`, with `userAgent` on its callback (shown in the session list). */
async function browserSignIn(username: string, userAgent: string): Promise<Device> {
  const browser: TestBrowser = h.newBrowser();
  const { authorizeUrl } = await browser.startSignIn();
  const callbackUrl = new URL(await browser.signInAtProvider(authorizeUrl, username));
  const done = await browser.call('callback', {
    url: `/auth/callback${callbackUrl.search}`,
    headers: { 'user-agent': userAgent },
  });
  expect(done.status).toBe(302);
  const cookie = browser.jar.get(SESSION_COOKIE);
  expect(cookie).toBeTruthy();
  const sid = h.standIn.sessionIds(username).at(-1)!;
  return {
    name: userAgent,
    kind: 'web',
    sid,
    auth: () => ({ cookie: `${SESSION_COOKIE}=${cookie}` }),
    csrf: () => ({ 'x-csrf': '1' }),
  };
}

/** The native app (it signs in as the stand-in's first user, Adele) holding its rotating session token. */
async function nativeSignIn(
  userAgent: string,
): Promise<Device & { app: NativeApp; token(): string; setToken(t: string): void }> {
  const app = new NativeApp(h);
  const code = await app.signInForCode();
  const redeemed = await app.token(
    {
      grant_type: 'authorization_code',
      code,
      code_verifier: app.verifier,
      redirect_uri: app.redirectUri,
      client_id: 'contoso-ios',
    },
    { 'user-agent': userAgent },
  );
  expect(redeemed.status).toBe(200);
  let token = redeemed.json().refresh_token as string;
  const sid = h.standIn.sessionIds(ADELE).at(-1)!;
  return {
    name: userAgent,
    kind: 'native',
    sid,
    app,
    token: () => token,
    setToken: (t) => (token = t),
    auth: () => ({ authorization: `Bearer ${token}` }),
    csrf: () => ({}),
  };
}

const list = (device: Device) => h.call('sessions', { url: '/auth/sessions', headers: device.auth() });
const endOne = (device: Device, id: string, headers = device.csrf()) =>
  h.call('sessions', { method: 'DELETE', url: `/auth/sessions/${id}`, headers: { ...device.auth(), ...headers } });
const me = (device: Device) => h.call('me', { url: '/auth/me', headers: device.auth() });
const everywhere = (device: Device) =>
  h.call('logout', {
    method: 'POST',
    url: '/auth/logout',
    headers: { ...device.auth(), ...device.csrf(), 'content-type': 'application/json' },
    body: JSON.stringify({ everywhere: true }),
  });
const frontChannel = (query: string) => h.call('frontchannel-logout', { url: `/auth/frontchannel-logout?${query}` });

async function alive(device: Device): Promise<boolean> {
  const status = (await me(device)).status;
  expect([200, 401]).toContain(status);
  return status === 200;
}

/** Index entries in a user's partition and in a sid's partition, read straight from the table. */
async function indexEntries(): Promise<Record<string, unknown>[]> {
  return tableRows(azurite.connectionString, SESSION_TABLE, { index: true });
}
function userKey(username: string): string {
  return `${h.standIn.tenantId}/${userOf(username).oid}`;
}
async function userEntries(username: string): Promise<number> {
  const partition = userIndexPartition(userKey(username));
  return (await indexEntries()).filter((row) => row.partitionKey === partition).length;
}
async function sidEntries(sid: string): Promise<number> {
  const partition = sidIndexPartition(sid);
  return (await indexEntries()).filter((row) => row.partitionKey === partition).length;
}

/** Adele: two browsers and the native app; Alex: one browser. Sessions of earlier tests are ended first. */
async function fourDevices() {
  for (const username of [ADELE, ALEX]) await endUserSessions(userKey(username), h.deps);
  const [adeleA, adeleB] = [await browserSignIn(ADELE, 'Browser A'), await browserSignIn(ADELE, 'Browser B')];
  const adeleApp = await nativeSignIn('ContosoApp/1.0 (iOS)');
  const alex = await browserSignIn(ALEX, 'Alex Browser');
  return { adeleA, adeleB, adeleApp, alex };
}

/** Runs `action` and counts the store calls it made (each is one Table transaction; see the report). */
async function transactions(action: () => Promise<unknown>): Promise<Record<string, number>> {
  const before = { sessions: { ...sessions.calls }, states: { ...states.calls } };
  await action();
  const counted: Record<string, number> = {};
  for (const [store, calls] of [
    ['sessions', sessions.calls],
    ['states', states.calls],
  ] as const) {
    for (const [operation, n] of Object.entries(calls)) {
      const delta = n - before[store][operation as keyof typeof calls];
      if (delta) counted[`${store}.${operation}`] = delta;
    }
  }
  return counted;
}

// ------------------------------------------------------------------------------------------- the list

describe('GET /auth/sessions', () => {
  test('each of Adele’s devices sees the same three sessions, itself as current; Alex sees only his', async () => {
    const { adeleA, adeleB, adeleApp, alex } = await fourDevices();
    const views = await Promise.all(
      [adeleA, adeleB, adeleApp].map(async (device) => {
        const response = await list(device);
        expect(response.status).toBe(200);
        expect(response.headers['cache-control']).toBe('no-store');
        return response.json().sessions as {
          id: string;
          kind: string;
          createdAt: string;
          lastSeenAt: string;
          current: boolean;
          userAgent: string | null;
        }[];
      }),
    );
    for (const [i, view] of views.entries()) {
      expect(view.map((s) => s.userAgent).sort()).toEqual(['Browser A', 'Browser B', 'ContosoApp/1.0 (iOS)']);
      expect(view.map((s) => s.id).sort()).toEqual(views[0]!.map((s) => s.id).sort());
      expect(view.filter((s) => s.current).map((s) => s.userAgent)).toEqual([[adeleA, adeleB, adeleApp][i]!.name]);
      for (const s of view) {
        expect(s.id).toMatch(/^[0-9a-f]{32}$/);
        expect(s.kind).toBe(s.userAgent === 'ContosoApp/1.0 (iOS)' ? 'native' : 'web');
        expect(new Date(s.createdAt).toISOString()).toBe(s.createdAt);
        expect(Date.parse(s.lastSeenAt)).toBeGreaterThanOrEqual(Date.parse(s.createdAt));
        expect(Object.keys(s).sort()).toEqual(['createdAt', 'current', 'id', 'kind', 'lastSeenAt', 'userAgent']);
      }
    }
    const alexView = (await list(alex)).json().sessions as { userAgent: string; current: boolean }[];
    expect(alexView).toEqual([expect.objectContaining({ userAgent: 'Alex Browser', current: true })]);
  });

  test('a device seen again later shows its new lastSeenAt in the others’ lists (the touch updates the index)', async () => {
    const { adeleA, adeleB } = await fourDevices();
    const seenB = async () =>
      ((await list(adeleA)).json().sessions as { userAgent: string; createdAt: string; lastSeenAt: string }[]).find(
        (s) => s.userAgent === 'Browser B',
      )!;
    const before = await seenB();
    expect(before.lastSeenAt).toBe(before.createdAt);
    h.clockOffsetMs = 6 * 60_000; // past the touch interval: /auth/me writes the session (and its index entry)
    try {
      expect(await alive(adeleB)).toBe(true);
      const after = await seenB();
      expect(Date.parse(after.lastSeenAt) - Date.parse(before.lastSeenAt)).toBeGreaterThanOrEqual(6 * 60_000);
    } finally {
      h.clockOffsetMs = 0;
    }
  });

  test('an id opens nothing: as a cookie, as a Bearer token, or inside a session token', async () => {
    const { adeleA } = await fourDevices();
    const ids = ((await list(adeleA)).json().sessions as { id: string }[]).map((s) => s.id);
    for (const id of ids) {
      expect((await h.call('me', { url: '/auth/me', headers: { cookie: `${SESSION_COOKIE}=${id}` } })).status).toBe(
        401,
      );
      expect((await h.call('me', { url: '/auth/me', headers: { authorization: `Bearer ${id}` } })).status).toBe(401);
      expect(adeleA.auth().cookie).not.toContain(id);
    }
  });
});

// ----------------------------------------------------------------------------------------- end one

describe('DELETE /auth/sessions/{id}', () => {
  test('browser A ends browser B; the others keep working; ending it again is 404', async () => {
    const { adeleA, adeleB, adeleApp, alex } = await fourDevices();
    const target = ((await list(adeleA)).json().sessions as { id: string; userAgent: string }[]).find(
      (s) => s.userAgent === 'Browser B',
    )!;
    const response = await endOne(adeleA, target.id);
    expect(response.status).toBe(204);
    expect(response.setCookies).toEqual([]);
    expect(await alive(adeleB)).toBe(false);
    expect([await alive(adeleA), await alive(adeleApp), await alive(alex)]).toEqual([true, true, true]);
    expect(((await list(adeleApp)).json().sessions as { id: string }[]).map((s) => s.id)).not.toContain(target.id);
    expect(await sidEntries(adeleB.sid)).toBe(0);

    const again = await endOne(adeleA, target.id);
    expect(again.status).toBe(404);
    expect(again.json().code).toBe('session_not_found');
  });

  test('someone else’s id is 404 like an unknown one, and ends nothing', async () => {
    const { adeleA, adeleApp, alex } = await fourDevices();
    const adeleIds = ((await list(adeleA)).json().sessions as { id: string }[]).map((s) => s.id);
    for (const id of adeleIds) {
      const response = await endOne(alex, id);
      expect(response.status).toBe(404);
      expect(response.json().code).toBe('session_not_found');
    }
    const unknown = await endOne(alex, 'f'.repeat(32));
    expect({ status: unknown.status, body: unknown.json() }).toEqual({
      status: 404,
      body: (await endOne(alex, adeleIds[0]!)).json(),
    });
    expect([await alive(adeleA), await alive(adeleApp), await alive(alex)]).toEqual([true, true, true]);
  });

  test('a cookie caller needs X-CSRF: 1 (403 csrf_required, nothing ended); the app’s Bearer token does not', async () => {
    const { adeleA, adeleB, adeleApp } = await fourDevices();
    const view = (await list(adeleA)).json().sessions as { id: string; userAgent: string }[];
    const bId = view.find((s) => s.userAgent === 'Browser B')!.id;
    const refused = await endOne(adeleA, bId, {});
    expect(refused.status).toBe(403);
    expect(refused.json().code).toBe('csrf_required');
    expect(await alive(adeleB)).toBe(true);

    expect((await endOne(adeleApp, bId)).status).toBe(204);
    expect(await alive(adeleB)).toBe(false);
  });

  test('ending the current browser session clears its cookie', async () => {
    const { adeleA } = await fourDevices();
    const current = ((await list(adeleA)).json().sessions as { id: string; current: boolean }[]).find(
      (s) => s.current,
    )!;
    const response = await endOne(adeleA, current.id);
    expect(response.status).toBe(204);
    expect(response.setCookies).toEqual([expect.objectContaining({ name: SESSION_COOKIE, value: '', maxAge: 0 })]);
    expect(await alive(adeleA)).toBe(false);
  });
});

// -------------------------------------------------------------------------------------- everywhere

describe('sign out everywhere', () => {
  test('from a browser: every session of Adele ends (web and native), Alex’s does not', async () => {
    const { adeleA, adeleB, adeleApp, alex } = await fourDevices();
    const response = await everywhere(adeleA);
    expect(response.status).toBe(200);
    expect(response.json().logoutUrl).toContain('/oauth2/v2.0/logout');
    expect(response.setCookies).toEqual([expect.objectContaining({ name: SESSION_COOKIE, maxAge: 0 })]);
    expect([await alive(adeleA), await alive(adeleB), await alive(adeleApp)]).toEqual([false, false, false]);
    const grant = await adeleApp.app.refresh(adeleApp.token());
    expect(grant.status).toBe(400);
    expect(grant.json().error).toBe('invalid_grant');
    expect(await alive(alex)).toBe(true);
    expect(await userEntries(ADELE)).toBe(0);
    expect(await Promise.all([adeleA, adeleB, adeleApp].map((d) => sidEntries(d.sid)))).toEqual([0, 0, 0]);
    expect(await userEntries(ALEX)).toBeGreaterThan(0);
  });

  test('from the native app with its Bearer token', async () => {
    const { adeleA, adeleB, adeleApp, alex } = await fourDevices();
    const response = await everywhere(adeleApp);
    expect(response.status).toBe(200);
    expect([await alive(adeleA), await alive(adeleB), await alive(adeleApp), await alive(alex)]).toEqual([
      false,
      false,
      false,
      true,
    ]);
  });

  test('storage down before anything is deleted: 503 with Retry-After, every session intact', async () => {
    const { adeleA, adeleB, adeleApp } = await fourDevices();
    sessions.failNext('listPartition');
    try {
      const response = await everywhere(adeleA);
      expect(response.status).toBe(503);
      expect(response.json().code).toBe('storage_unavailable');
      expect(response.headers['retry-after']).toMatch(/^\d+$/);
    } finally {
      sessions.reset();
    }
    expect([await alive(adeleA), await alive(adeleB), await alive(adeleApp)]).toEqual([true, true, true]);
  });

  test('storage failing halfway: 503, the caller’s own session still works, and the retry finishes', async () => {
    const { adeleA, adeleB, adeleApp, alex } = await fourDevices();
    // The first two deletes fail, whichever they are; the others go through.
    sessions.failNext('delete', 2);
    try {
      const response = await everywhere(adeleA);
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toMatch(/^\d+$/);
    } finally {
      sessions.reset();
    }
    expect(await alive(adeleA)).toBe(true);
    const retry = await everywhere(adeleA);
    expect(retry.status).toBe(200);
    expect([await alive(adeleA), await alive(adeleB), await alive(adeleApp), await alive(alex)]).toEqual([
      false,
      false,
      false,
      true,
    ]);
    expect(await userEntries(ADELE)).toBe(0);
  });
});

// -------------------------------------------------------------------------------------------- admin

/** `npm run revoke -- <args>`, run as the operator would (tsx), from an empty folder so no local.settings.json applies. */
function revoke(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'scripts', 'revoke.ts'), ...args],
      {
        cwd: mkdtempSync(join(tmpdir(), 'revoke-')),
        env: { PATH: process.env.PATH ?? '', ...env },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describe('npm run revoke -- <user id>', () => {
  test('ends Adele’s three sessions, prints how many, leaves Alex signed in; again: 0', async () => {
    const { adeleA, adeleB, adeleApp, alex } = await fourDevices();
    const env = { AUTH_STORAGE_CONNECTION_STRING: azurite.connectionString, AUTH_TENANT_ID: h.standIn.tenantId };
    const first = await revoke([userOf(ADELE).oid], env);
    expect(first).toEqual({ code: 0, stdout: 'revoked 3 sessions\n', stderr: '' });
    expect([await alive(adeleA), await alive(adeleB), await alive(adeleApp), await alive(alex)]).toEqual([
      false,
      false,
      false,
      true,
    ]);
    expect(await revoke([`${h.standIn.tenantId.toUpperCase()}/${userOf(ADELE).oid}`], env)).toEqual({
      code: 0,
      stdout: 'revoked 0 sessions\n',
      stderr: '',
    });
  }, 60_000);

  test('usage and settings problems exit 2 and touch nothing', async () => {
    const { alex } = await fourDevices();
    const storage = { AUTH_STORAGE_CONNECTION_STRING: azurite.connectionString };
    const cases = [
      { args: [], env: storage },
      { args: ['a', 'b'], env: storage },
      { args: [userOf(ALEX).oid], env: storage }, // which tenant?
      { args: [`not-a-guid/${userOf(ALEX).oid}`], env: storage },
      { args: [`${h.standIn.tenantId}/${userOf(ALEX).oid}`], env: {} }, // no storage setting
    ];
    for (const { args, env } of cases) {
      const result = await revoke(args, env);
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
    }
    expect(await alive(alex)).toBe(true);
  }, 60_000);

  test('storage unreachable: exit 1, and it says to run it again', async () => {
    const result = await revoke([`${h.standIn.tenantId}/${userOf(ALEX).oid}`], {
      AUTH_STORAGE_CONNECTION_STRING: azurite.connectionString.replace(`127.0.0.1:${azurite.port}/`, '127.0.0.1:1/'),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/run the command again/);
  }, 60_000);
});

// --------------------------------------------------------------------------------- front channel

describe('GET /auth/frontchannel-logout (no cookie: a cross-site iframe)', () => {
  test('the right sid ends only the session signed in with it; the page is tiny and not cached', async () => {
    const { adeleA, adeleB, adeleApp, alex } = await fourDevices();
    const response = await frontChannel(`sid=${encodeURIComponent(adeleB.sid)}`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-cache, no-store');
    expect(response.headers['content-security-policy']).toContain(
      `frame-ancestors ${new URL(h.config.authority).origin}`,
    );
    expect(response.body.length).toBeLessThan(200);
    expect(response.setCookies).toEqual([]);
    expect([await alive(adeleA), await alive(adeleB), await alive(adeleApp), await alive(alex)]).toEqual([
      true,
      false,
      true,
      true,
    ]);
    expect(await sidEntries(adeleB.sid)).toBe(0);
    expect((await list(adeleA)).json().sessions).toHaveLength(2);
  });

  test('with the right iss too (the spec’s form); the native app’s sid ends the app’s session', async () => {
    const { adeleA, adeleApp } = await fourDevices();
    const ok = await frontChannel(
      `iss=${encodeURIComponent(h.standIn.issuer)}&sid=${encodeURIComponent(adeleApp.sid)}`,
    );
    expect(ok.status).toBe(200);
    expect([await alive(adeleA), await alive(adeleApp)]).toEqual([true, false]);
  });

  test('a wrong iss, an unknown sid, or another user’s sid for the wrong iss: the same page, nothing ended', async () => {
    const { adeleA, adeleB, adeleApp, alex } = await fourDevices();
    const reference = await frontChannel(`sid=${encodeURIComponent('00000000-0000-4000-8000-000000000000')}`);
    const wrong = [
      `iss=${encodeURIComponent('https://login.evil.example/x/v2.0')}&sid=${encodeURIComponent(adeleA.sid)}`,
      `iss=${encodeURIComponent(`${h.standIn.issuer}/`)}&sid=${encodeURIComponent(alex.sid)}`,
      `sid=${encodeURIComponent(adeleA.sid.toUpperCase())}`,
      `sid=${encodeURIComponent(adeleA.sid.slice(0, -1))}`,
      `sid=${encodeURIComponent(`${adeleA.sid} `)}`,
    ];
    for (const query of wrong) {
      const response = await frontChannel(query);
      expect({ status: response.status, body: response.body }).toEqual({ status: 200, body: reference.body });
    }
    expect([await alive(adeleA), await alive(adeleB), await alive(adeleApp), await alive(alex)]).toEqual([
      true,
      true,
      true,
      true,
    ]);
  });

  test('no sid is 400; storage down is 503 with Retry-After', async () => {
    expect((await frontChannel('')).status).toBe(400);
    sessions.failNext('listPartition');
    try {
      const response = await frontChannel('sid=00000000-0000-4000-8000-000000000001');
      expect(response.status).toBe(503);
      expect(response.headers['retry-after']).toMatch(/^\d+$/);
    } finally {
      sessions.reset();
    }
  });
});

// ----------------------------------------------------------------------------------- what is stored

describe('storage', () => {
  test('a copy of the table names no user and no sid, and holds no token', async () => {
    const { adeleA, adeleApp } = await fourDevices();
    const everything = JSON.stringify(await tableRows(azurite.connectionString, SESSION_TABLE, { index: 'also' }));
    const user = userOf(ADELE);
    const cookie = adeleA.auth().cookie!.split('=')[1]!;
    const forbidden = [
      user.oid,
      user.username,
      user.name,
      userKey(ADELE),
      adeleA.sid,
      adeleApp.sid,
      cookie,
      cookie.split('.')[1]!,
      cookie.split('.')[2]!,
      adeleApp.token().split('.')[2]!,
    ];
    for (const value of forbidden) expect(everything).not.toContain(value);
    expect(everything.toLowerCase()).not.toContain(user.oid.toLowerCase());
  });

  test('Table transactions per operation (each store call is one)', async () => {
    const { adeleA } = await fourDevices();
    const costs: Record<string, Record<string, number>> = {};
    costs.list = await transactions(() => list(adeleA));
    const id = ((await list(adeleA)).json().sessions as { id: string; userAgent: string }[]).find(
      (s) => s.userAgent === 'Browser B',
    )!.id;
    costs.deleteOne = await transactions(() => endOne(adeleA, id));
    const sid = (await browserSignIn(ADELE, 'Browser C')).sid;
    costs.frontChannel = await transactions(() => frontChannel(`sid=${encodeURIComponent(sid)}`));
    costs.frontChannelUnknown = await transactions(() => frontChannel('sid=00000000-0000-4000-8000-000000000002'));
    costs.signInWeb = await transactions(() => browserSignIn(ADELE, 'Browser D'));
    costs.everywhere = await transactions(() => everywhere(adeleA)); // A, D and the app from fourDevices
    expect(costs.list).toEqual({ 'sessions.get': 1, 'sessions.listPartition': 1 });
    expect(costs.deleteOne).toEqual({ 'sessions.get': 1, 'sessions.listPartition': 1, 'sessions.delete': 3 });
    expect(costs.frontChannel).toEqual({ 'sessions.listPartition': 1, 'sessions.delete': 3 });
    expect(costs.frontChannelUnknown).toEqual({ 'sessions.listPartition': 1 });
    expect(costs.signInWeb).toEqual({ 'states.insert': 1, 'states.get': 1, 'states.consume': 1, 'sessions.insert': 3 });
    // 3 sessions × 3 deletes, plus the caller's own row and entries once more (idempotent, 404s).
    expect(costs.everywhere).toEqual({ 'sessions.get': 1, 'sessions.listPartition': 1, 'sessions.delete': 12 });
    console.info(`Table transactions per operation: ${JSON.stringify(costs)}`);
  });

  test('the purge removes expired sessions and their index entries, and leaves live ones with theirs', async () => {
    for (const username of [ADELE, ALEX]) await endUserSessions(userKey(username), h.deps);
    const adele = await browserSignIn(ADELE, 'Expiring Browser');
    const absoluteMs = h.config.session.absoluteSeconds * 1000;
    const later = absoluteMs + 2 * 3_600_000;
    h.clockOffsetMs = later;
    h.standIn.advanceTime(later); // the provider's clock moves too, or its ID tokens would be from the past
    try {
      const alex = await browserSignIn(ALEX, 'Later Browser'); // signed in "later": still live after the purge
      expect(await sidEntries(adele.sid)).toBe(1);
      const context = new InvocationContext({
        functionName: 'purge',
        invocationId: 'purge-test',
        logHandler: () => undefined,
      });
      await createPurgeHandler(() => h.deps)(
        { isPastDue: false, schedule: { adjustForDST: false }, scheduleStatus: undefined } as unknown as Timer,
        context,
      );
      expect(await sidEntries(adele.sid)).toBe(0);
      expect(await sidEntries(alex.sid)).toBe(1);
      const rows = await tableRows(azurite.connectionString, SESSION_TABLE, { index: 'also' });
      const live = (h.deps.clock.now() / 3_600_000) | 0;
      // Every index entry left belongs to a session row still there: none points at a purged session.
      // An entry's row key starts with its session's expiry bucket; the session row's partition is `<shard>-<bucket>`.
      const sessionBuckets = new Set(
        rows.filter((r) => /^[a-p]-\d{10}$/.test(String(r.partitionKey))).map((r) => String(r.partitionKey).slice(2)),
      );
      for (const row of rows.filter((r) => /^[us]\./.test(String(r.partitionKey)))) {
        const bucket = String(row.rowKey).split('.')[0]!;
        expect(Number(bucket)).toBeGreaterThanOrEqual(live);
        expect(sessionBuckets.has(bucket)).toBe(true);
      }
      expect(await alive(alex)).toBe(true);
      expect((await list(alex)).json().sessions.map((s: { userAgent: string }) => s.userAgent)).toContain(
        'Later Browser',
      );
    } finally {
      h.clockOffsetMs = 0;
      h.standIn.advanceTime(-later);
    }
  });
});
