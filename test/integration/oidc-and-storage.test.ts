/**
 * The flow against a generic OpenID Provider (AUTH_PROTOCOL=oidc), storage outages, the purge timer, and a
 * broken configuration answering fail-closed.
 */
import { InvocationContext } from '@azure/functions';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { createHealthHandler } from '../../functions/health';
import { createLoginHandler } from '../../functions/login';
import { createPurgeHandler } from '../../functions/purge';
import { parseConfig } from '../../shared/config';
import { SESSION_COOKIE } from '../../shared/core/session';
import { HttpRequest } from '@azure/functions';
import { Harness } from '../_support/harness';
import { tableRows } from '../_support/tables';

let azurite: AzuriteInstance;

beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  await azurite?.stop();
});

describe('generic OpenID Provider (AUTH_PROTOCOL=oidc)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await Harness.start({ azurite, protocol: 'oidc' });
  });
  afterAll(() => h?.stop());

  test('discovery at the issuer, different paths, no client_info and no tid: sign-in, me, refresh, logout', async () => {
    const browser = h.newBrowser();
    const { authorizeUrl } = await browser.startSignIn();
    expect(authorizeUrl.startsWith(`${h.standIn.frontChannelUrl}/oidc/`)).toBeTruthy();
    const done = await browser.callback(await browser.signInAtProvider(authorizeUrl));
    expect(done.status).toBe(302);
    const me = (await browser.call('me', { url: '/auth/me' })).json();
    expect(me.user.issuer).toBe(h.standIn.issuer);
    expect(me.user.id).toBe(h.standIn.users[0]!.sub);
    expect(me.user.tenantId).toBe(undefined);
    const refreshed = await browser.call('refresh', {
      method: 'POST',
      url: '/auth/refresh',
      headers: { 'x-csrf': '1' },
    });
    expect(refreshed.status).toBe(200);
    h.seenSecrets.add(refreshed.json().access_token);
    const logout = await browser.call('logout', { method: 'POST', url: '/auth/logout', headers: { 'x-csrf': '1' } });
    expect(new URL(logout.json().logoutUrl).pathname.startsWith('/oidc/')).toBeTruthy();
    expect(h.leakedSecrets()).toStrictEqual([]);
  });
});

describe('storage outages', () => {
  test('Azurite down → 503 storage_unavailable with Retry-After and nothing half-written; back up → sign-in works', async () => {
    const own = await startAzurite();
    const h = await Harness.start({ azurite: own });
    try {
      const browser = h.newBrowser();
      const started = await browser.startSignIn();
      const callbackUrl = await browser.signInAtProvider(started.authorizeUrl);
      await own.stop();

      const login = await h.newBrowser().startSignIn();
      expect(login.response.status).toBe(503);
      expect(login.response.body.includes('storage_unavailable')).toBeTruthy();
      expect(login.response.headers['retry-after']).toBe('5');
      expect(login.response.setCookies.length).toBe(0);

      const redemptions = h.standIn.counters.codeRedemptions;
      const callback = await browser.callback(callbackUrl);
      expect(callback.status).toBe(503);
      expect(h.standIn.counters.codeRedemptions).toBe(redemptions);

      const me = await h.call('me', {
        url: '/auth/me',
        headers: { cookie: `${SESSION_COOKIE}=${'0'.repeat(10)}.${'A'.repeat(22)}.${'A'.repeat(43)}` },
      });
      expect(me.status).toBe(503);
      expect(me.json().code).toBe('storage_unavailable');

      const restarted = await startAzurite({ port: own.port });
      try {
        // In-memory Azurite lost everything: the interrupted sign-in is unknown; a new one works end to end.
        expect((await browser.callback(callbackUrl)).status).toBe(400);
        const fresh = h.newBrowser();
        expect((await fresh.signIn()).status).toBe(302);
        expect((await fresh.call('me', { url: '/auth/me' })).status).toBe(200);
      } finally {
        await restarted.stop();
      }
    } finally {
      await h.stop();
    }
  });
});

describe('purge', () => {
  test('deletes expired states and sessions, keeps live ones', async () => {
    const h = await Harness.start({ azurite });
    try {
      const live = h.newBrowser();
      await live.signIn();
      await h.newBrowser().startSignIn(); // a pending sign-in, live for ten minutes
      const states = async () => (await tableRows(azurite.connectionString, 'AuthState')).length;
      const sessions = async () => (await tableRows(azurite.connectionString, 'AuthSessions')).length;
      const [statesBefore, sessionsBefore] = [await states(), await sessions()];
      expect(statesBefore >= 1 && sessionsBefore >= 1).toBeTruthy();

      const context = () =>
        new InvocationContext({ functionName: 'purge', logHandler: (_l, ...a) => h.logs.push(a.join(' ')) });
      const timer = {
        isPastDue: false,
        schedule: { adjustForDST: false },
        scheduleStatus: { last: '', next: '', lastUpdated: '' },
      };
      await createPurgeHandler(() => h.deps)(timer, context());
      expect(await states()).toBe(statesBefore);
      expect(await sessions()).toBe(sessionsBefore);

      h.clockOffsetMs = 2 * 3600_000; // past every state's partition, not the sessions' (24 h)
      await createPurgeHandler(() => h.deps)(timer, context());
      expect(await states()).toBe(0);
      expect(await sessions()).toBe(sessionsBefore);

      h.clockOffsetMs = (h.config.session.absoluteSeconds + 2 * 3600) * 1000;
      await createPurgeHandler(() => h.deps)(timer, context());
      expect(await sessions()).toBe(0);
    } finally {
      h.clockOffsetMs = 0;
      await h.stop();
    }
  });
});

describe('configuration failures fail closed', () => {
  test('a missing setting: every endpoint answers 503 configuration_invalid and the log names the setting', async () => {
    const logs: string[] = [];
    const services = () => {
      parseConfig({ AUTH_TENANT_ID: 'organizations' }); // throws ConfigError naming every problem
      throw new Error('unreachable');
    };
    for (const handler of [createLoginHandler(services), createHealthHandler(services)]) {
      const response = await handler(
        new HttpRequest({ method: 'GET', url: 'https://auth.contoso.example/auth/login' }),
        new InvocationContext({ functionName: 'x', logHandler: (_level, ...args) => logs.push(args.join(' ')) }),
      );
      expect(response.status).toBe(503);
      expect(String(response.body).includes('configuration_invalid')).toBeTruthy();
    }
    const text = logs.join('\n');
    for (const name of [
      'AUTH_CLIENT_ID',
      'AUTH_REDIRECT_URI',
      'AUTH_ALLOWED_TENANTS',
      'AUTH_STORAGE_CONNECTION_STRING',
    ])
      expect(text.includes(name)).toBeTruthy();
  });
});
