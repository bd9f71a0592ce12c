/**
 * Red team, round two (issue 16; shared/reviews/redteam/REPORT.md): each finding's reproduction, as a test that
 * failed before its fix. F2 (the purge) is in test/faults/purge-capacity.test.ts; F7 belongs to the topology issue.
 *
 * - F1 native client impersonation (RFC 8252 §8.6): a native sign-in shows our page naming the app first.
 * - F3 rotation race: a refresh that read the session before two rotations is handed the current token.
 * - F4 handoff code: a replay without the verifier revokes nothing; failed redemptions per code are bounded.
 * - F5 cookie bombing: kilobytes of other sites' cookies do not lock anyone out.
 * - F6 storage bound: a pending row ≤ 4 KB whatever the input, gone within minutes of its expiry.
 * - F8 cookie names: only names of our own shape are ever cleared.
 */
import { afterAll, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { InvocationContext, type Timer } from '@azure/functions';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { createPurgeHandler } from '../../functions/purge';
import { parseConfig } from '../../shared/config';
import { ConfigError } from '../../shared/errors';
import { MAX_PENDING_ROW_BYTES, SIGN_IN_TTL_MS } from '../../shared/core/flow';
import { SESSION_COOKIE } from '../../shared/core/session';
import { STATE_BUCKET_MS } from '../../shared/core/keys';
import { HANDOFF_MAX_FAILED_ATTEMPTS } from '../../shared/core/native';
import { ROTATION_GRACE_MS } from '../../shared/core/session';
import { nativeConfirmPageResponse } from '../../shared/http/responses';
import { SESSION_TABLE, STATE_TABLE } from '../../shared/services';
import { HoldRowStore, tableStore } from '../_support/fault-kit';
import {
  APP_ORIGIN,
  continueLink,
  Harness,
  NATIVE_APP_NAME,
  NATIVE_REDIRECT_URIS,
  PUBLIC_ORIGIN,
  type Response,
} from '../_support/harness';
import { NativeApp } from '../_support/native-app';
import { tableRows } from '../_support/tables';

jest.setTimeout(120_000);

let azurite: AzuriteInstance;
let h: Harness;

beforeAll(async () => {
  azurite = await startAzurite();
  h = await Harness.start({ azurite });
});
afterAll(async () => {
  await h?.stop();
  await azurite?.stop();
});

const stateRows = () => tableRows(azurite.connectionString, STATE_TABLE);
const sessionRows = () => tableRows(azurite.connectionString, SESSION_TABLE);
const rowBytes = (row: Record<string, unknown>) =>
  Object.entries(row)
    .filter(([k]) => /^d\d+$/.test(k))
    .reduce((n, [, v]) => n + String(v).length, 0);
const events = (harness: Harness, name: string) => harness.logs.filter((line) => line.includes(`event ${name}`));

// ------------------------------------------------------------------------------------------------- F1

describe('F1: a native sign-in names the app and needs the user before the provider (RFC 8252 §8.6)', () => {
  test('the login answers our page naming the configured app, not a redirect; it cannot be framed or cached', async () => {
    const app = new NativeApp(h);
    const response = await app.browser.call('login', {
      url: `/auth/login?${app.authorizeQuery({ client_id: 'some-other-app' })}`,
    });
    expect(response.status).toBe(200);
    expect(response.headers.location).toBeUndefined();
    expect(response.body).toContain(`You are signing in to <strong>${NATIVE_APP_NAME}</strong>`);
    expect(response.headers['x-frame-options']).toBe('DENY');
    expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(response.headers['cache-control']).toBe('no-store');
    const link = new URL(continueLink(response.body) ?? '');
    expect(link.href.startsWith(h.standIn.frontChannelUrl)).toBe(true);
    expect(link.searchParams.get('prompt')).toBeNull();
    const cancel = /id="cancel" href="([^"]*)"/
      .exec(response.body)?.[1]
      ?.replace(/&#(\d+);/g, (_, c: string) => String.fromCharCode(Number(c)));
    const cancelUrl = new URL(cancel ?? '');
    expect(`${cancelUrl.protocol}${cancelUrl.pathname}`).toBe(NATIVE_REDIRECT_URIS[0]);
    expect(cancelUrl.searchParams.get('error')).toBe('access_denied');
    expect(cancelUrl.searchParams.get('state')).toBe(app.state);
  });

  test('a redirect URI without a configured name: the page names the redirect URI itself', async () => {
    const app = new NativeApp(h, 'http://127.0.0.1:51234/callback');
    const response = await app.browser.call('login', { url: `/auth/login?${app.authorizeQuery()}` });
    expect(response.status).toBe(200);
    expect(response.body).toContain('the app that opens <code>http://127.0.0.1:51234/callback</code>');
  });

  test("the page's link followed in another browser (no transaction cookie) ends in state_mismatch, no code", async () => {
    const app = new NativeApp(h);
    const { authorizeUrl } = await app.browser.startSignIn(app.authorizeQuery());
    const callbackUrl = await app.browser.signInAtProvider(authorizeUrl);
    const elsewhere = await h.newBrowser().callback(callbackUrl);
    expect(elsewhere.status).toBe(400);
    expect(elsewhere.body).toContain('state_mismatch');
  });

  test('the app name is configured per redirect URI, validated, and escaped on the page', () => {
    const env = (uris: string) => ({
      AUTH_CLIENT_ID: '11111111-2222-4333-8444-555555555555',
      AUTH_TENANT_ID: '11111111-2222-4333-8444-555555555555',
      AUTH_REDIRECT_URI: `${PUBLIC_ORIGIN}/auth/callback`,
      AUTH_CLIENT_SECRET: 'x',
      AUTH_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
      AUTH_NATIVE_REDIRECT_URIS: uris,
    });
    const config = parseConfig(env('com.contoso.app:/cb Contoso <b>Mobile</b> & Co, http://127.0.0.1/callback'));
    expect(config.nativeRedirectUris).toEqual(['com.contoso.app:/cb', 'http://127.0.0.1/callback']);
    expect(config.nativeAppNames).toEqual({ 'com.contoso.app:/cb': 'Contoso <b>Mobile</b> & Co' });
    expect(() => parseConfig(env(`com.contoso.app:/cb ${'x'.repeat(65)}`))).toThrow(ConfigError);
    expect(() => parseConfig(env(`com.contoso.app:/${'x'.repeat(260)}`))).toThrow(ConfigError);
    const page = nativeConfirmPageResponse(
      {
        name: 'Contoso <b>Mobile</b> & Co',
        redirectUri: 'com.contoso.app:/cb',
        cancelLocation: 'com.contoso.app:/cb?error=access_denied&state=%22',
      },
      'https://idp.example/authorize?a=1&b="2"',
      [],
    );
    expect(String(page.body)).toContain('Contoso &#60;b&#62;Mobile&#60;/b&#62; &#38; Co');
    expect(String(page.body)).toContain('href="https://idp.example/authorize?a=1&#38;b=&#34;2&#34;"');
    expect(String(page.body)).not.toContain('<b>Mobile');
  });
});

// ------------------------------------------------------------------------------------------------- F3

describe('F3: two refreshes of one native token in flight, the app using the newest at once', () => {
  let two: Harness;
  let held: HoldRowStore;
  beforeAll(async () => {
    held = new HoldRowStore(tableStore(azurite.connectionString, SESSION_TABLE));
    // Two scopes, the two refreshes asking different ones: the per-instance single flight does not merge them.
    const states = tableStore(azurite.connectionString, STATE_TABLE);
    two = await Harness.start({
      azurite,
      env: { AUTH_SCOPES: 'User.Read Mail.Read' },
      overrides: { states, sessions: held },
    });
  });
  afterAll(async () => {
    await two?.stop();
  });

  test('one instance, two scopes: the slower refresh (read before two rotations) is handed the current token; no revocation', async () => {
    const app = new NativeApp(two);
    const t1 = (await app.signInForTokens()).refresh_token;
    const hold = held.holdNextGet();
    const slower = app.refresh(t1, 'Mail.Read');
    await hold.read; // it has read the session as it was under T1
    const t2 = (await app.refresh(t1)).json().refresh_token as string;
    const a2 = await app.refresh(t2); // the app uses its newest token at once
    expect(a2.status).toBe(200);
    const t3 = a2.json().refresh_token as string;
    hold.release();
    const b = await slower;
    expect(b.status).toBe(200);
    expect(b.json().refresh_token).toBe(t3);
    expect((await app.bearer('me', t3)).status).toBe(200);
    expect(events(two, 'token_reuse_detected')).toEqual([]);
  });

  test('T1 presented after T1 → T2 → T3 inside the grace window yields T3; after the window it is reuse and revokes', async () => {
    const app = new NativeApp(h);
    const t1 = (await app.signInForTokens()).refresh_token;
    const t2 = (await app.refresh(t1)).json().refresh_token as string;
    const t3 = (await app.refresh(t2)).json().refresh_token as string;
    const late = await app.refresh(t1);
    expect(late.status).toBe(200);
    expect(late.json().refresh_token).toBe(t3);
    expect((await app.bearer('me', t1)).status).toBe(200);
    h.clockOffsetMs += ROTATION_GRACE_MS + 1000;
    try {
      const replay = await app.refresh(t1);
      expect(replay.status).toBe(400);
      expect(replay.json().error).toBe('invalid_grant');
      expect((await app.bearer('me', t3)).status).toBe(401);
      expect(events(h, 'token_reuse_detected').length).toBeGreaterThan(0);
    } finally {
      h.clockOffsetMs -= ROTATION_GRACE_MS + 1000;
    }
  });
});

// ------------------------------------------------------------------------------------------------- F4

describe('F4: the handoff code', () => {
  test('a replay with the code alone (wrong verifier, wrong redirect URI) revokes nothing', async () => {
    const app = new NativeApp(h);
    const code = await app.signInForCode();
    const tokens = (await app.redeem(code)).json();
    const revocationsBefore = events(h, 'replay_detected').length;
    const replay = await app.redeem(code, { code_verifier: 'x'.repeat(43), redirect_uri: 'junk' });
    expect(replay.status).toBe(400);
    expect(replay.json().error).toBe('invalid_grant');
    expect((await app.bearer('me', tokens.refresh_token)).status).toBe(200);
    expect((await app.refresh(tokens.refresh_token)).status).toBe(200);
    expect(events(h, 'replay_detected').length).toBe(revocationsBefore);
  });

  test.each([
    ['wrong verifiers', { code_verifier: 'A'.repeat(43) }],
    ['a wrong redirect URI', { redirect_uri: NATIVE_REDIRECT_URIS[1] }],
  ])('%s: the code dies after a few failed redemptions, with a replay_detected event', async (_name, wrong) => {
    const app = new NativeApp(h);
    const code = await app.signInForCode();
    const sessionsBefore = (await sessionRows()).length;
    for (let i = 0; i < HANDOFF_MAX_FAILED_ATTEMPTS; i++) expect((await app.redeem(code, wrong)).status).toBe(400);
    const rightful = await app.redeem(code);
    expect(rightful.status).toBe(400);
    expect(rightful.json().error).toBe('invalid_grant');
    expect((await sessionRows()).length).toBe(sessionsBefore);
    expect(events(h, 'replay_detected').some((line) => line.includes('failed_attempts'))).toBe(true);
  });

  test('twenty wrong verifiers at once: the code still dies, nothing is issued', async () => {
    const app = new NativeApp(h);
    const code = await app.signInForCode();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        app.redeem(code, { code_verifier: `${'B'.repeat(40)}${String(i).padStart(3, '0')}` }),
      ),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(400));
    expect((await app.redeem(code)).status).toBe(400);
  });
});

// ------------------------------------------------------------------------------------------------- F5

/** What sibling subdomains leave in the browser (`Domain=` cookies, RFC 6265 §5.3): `count` cookies of `size` bytes. */
const foreignCookies = (count: number, size: number) =>
  Array.from({ length: count }, (_, i) => `sibling${i}=${'z'.repeat(size)}`).join('; ');

describe('F5: kilobytes of other sites’ cookies lock no one out', () => {
  test('sign-in, /auth/me, refresh and logout work with 9 KB, 20 KB and ~31 KB of foreign cookies', async () => {
    for (const bomb of [foreignCookies(3, 3000), foreignCookies(5, 4000), foreignCookies(10, 3100)]) {
      const browser = h.newBrowser();
      const withBomb = () => ({ cookie: [browser.cookieHeader(), bomb].filter(Boolean).join('; ') });
      const login = await browser.call('login', { url: '/auth/login?returnTo=%2Fapp', headers: withBomb() });
      expect(login.status).toBe(302);
      const callbackUrl = new URL(await browser.signInAtProvider(login.headers.location!));
      const callback = await browser.call('callback', {
        url: `/auth/callback${callbackUrl.search}`,
        headers: withBomb(),
      });
      expect(callback.status).toBe(302);
      expect(browser.jar.get(SESSION_COOKIE)).toBeDefined();
      expect((await browser.call('me', { url: '/auth/me', headers: withBomb() })).status).toBe(200);
      expect(
        (
          await browser.call('refresh', {
            method: 'POST',
            url: '/auth/refresh',
            headers: { ...withBomb(), 'x-csrf': '1' },
          })
        ).status,
      ).toBe(200);
      const logout = await browser.call('logout', {
        method: 'POST',
        url: '/auth/logout',
        headers: { ...withBomb(), 'x-csrf': '1' },
      });
      expect(logout.status).toBe(200);
      expect(logout.setCookies.map((c) => c.name)).toEqual([SESSION_COOKIE]);
    }
  });
});

// ------------------------------------------------------------------------------------------------- F6

describe('F6: what an anonymous caller can make us store', () => {
  /** The AuthState row a login added, or undefined. */
  async function loginRow(query: string): Promise<{ response: Response; bytes: number | undefined; rowKey: unknown }> {
    const before = new Set((await stateRows()).map((r) => r.rowKey));
    const response = await h.call('login', { url: `/auth/login?${query}` });
    const added = (await stateRows()).filter((r) => !before.has(r.rowKey));
    return { response, bytes: added[0] === undefined ? undefined : rowBytes(added[0]), rowKey: added[0]?.rowKey };
  }
  const returnTo = (value: string) => `returnTo=${encodeURIComponent(value)}`;
  const native = (state: string, redirectUri: string = NATIVE_REDIRECT_URIS[0]) =>
    new URLSearchParams({
      response_type: 'code',
      redirect_uri: redirectUri,
      code_challenge: 'A'.repeat(43),
      code_challenge_method: 'S256',
      state,
    }).toString();

  // The largest accepted value of each shape: serialized, each `{` or `` ` `` is three characters (`%7B`).
  test.each([
    ['a path of `{` (serialized to %7B)', returnTo(`/${'{'.repeat(682)}`)],
    ['a fragment of backticks', returnTo(`/#${'`'.repeat(682)}`)],
    ['a query of `{`', returnTo(`/?${'{'.repeat(682)}`)],
    ['a path of plain letters', returnTo(`/${'a'.repeat(2047)}`)],
    ['an absolute URL on an allowed origin', returnTo(`${APP_ORIGIN}/${'{'.repeat(673)}`)],
    ['a native state of 1,024 JSON-escaped quotes', native('"'.repeat(1024))],
    [
      'a native state of 1,024 backslashes, loopback redirect',
      native('\\'.repeat(1024), 'http://127.0.0.1:65535/callback'),
    ],
  ])('%s: the pending row is ≤ 4 KB', async (_name, query) => {
    const { response, bytes } = await loginRow(query);
    expect([200, 302]).toContain(response.status);
    expect(bytes).toBeDefined();
    expect(bytes!).toBeLessThanOrEqual(MAX_PENDING_ROW_BYTES);
  });

  test.each([
    // Sent as the red team did: `{` and `` ` `` raw in the query (a browser leaves them so), 2 KB of query.
    ['a path of 2,047 `{` (6 KB serialized)', `returnTo=/${'{'.repeat(2047)}`],
    ['a fragment of 2,046 backticks', `returnTo=/%23${'`'.repeat(2046)}`],
    ['one `{` past the bound', returnTo(`/${'{'.repeat(683)}`)],
  ])('%s: refused (invalid_return_url), nothing stored', async (_name, query) => {
    const { response, bytes } = await loginRow(query);
    expect(response.status).toBe(400);
    expect(response.body).toContain('invalid_return_url');
    expect(bytes).toBeUndefined();
  });

  test('an abandoned sign-in is purged within 10 minutes of its expiry, wherever in the hour it started', async () => {
    // Start at HH:50:30, the red team's worst case for hour partitions (kept until the next hour's first purge).
    const hour = 3_600_000;
    const target = Math.ceil(Date.now() / hour) * hour + 50.5 * 60_000;
    // Its own harness: the moved clock must not leave the shared one's rate limiter in the future.
    const moved = await Harness.start({ azurite });
    moved.clockOffsetMs = target - Date.now();
    const loginRow = async (query: string) => {
      const before = new Set((await stateRows()).map((r) => r.rowKey));
      await moved.call('login', { url: `/auth/login?${query}` });
      return { rowKey: (await stateRows()).find((r) => !before.has(r.rowKey))?.rowKey };
    };
    try {
      const { rowKey } = await loginRow(returnTo('/app'));
      expect(rowKey).toBeDefined();
      // The latest a 5-minute timer runs after the row's bucket ended: expiry + one bucket (+ a second).
      moved.clockOffsetMs += SIGN_IN_TTL_MS + STATE_BUCKET_MS + 1000;
      await createPurgeHandler(() => moved.deps)(
        {} as Timer,
        new InvocationContext({ functionName: 'purge', logHandler: () => {} }),
      );
      expect((await stateRows()).map((r) => r.rowKey)).not.toContain(rowKey);
    } finally {
      await moved.stop();
    }
  });
});

// ------------------------------------------------------------------------------------------------- F8

describe('F8: cookie names from the request are never echoed into Set-Cookie', () => {
  test('with five or more pending sign-ins, only names of our exact shape are cleared', async () => {
    const ours = Array.from({ length: 5 }, (_, i) => `__Host-signin-${String(i).padStart(16, 'a')}`);
    const hostile = [
      '__Host-signin-RTMK<svg>',
      `__Host-signin-${'0'.repeat(40)}`,
      '__Host-signin-',
      '__Host-signin-ABCDEF0123456789',
    ];
    const cookie = [...ours, ...hostile].map((name) => `${name}=x`).join('; ');
    const response = await h.call('login', { url: '/auth/login?returnTo=%2Fapp', headers: { cookie } });
    expect(response.status).toBe(302);
    const cleared = response.setCookies.filter((c) => c.maxAge === 0).map((c) => c.name);
    expect(cleared.sort()).toEqual([...ours].sort());
    for (const c of response.setCookies) expect(c.name).toMatch(/^__Host-signin-[0-9a-f]{16}$/);
  });
});
