/**
 * The local stack `npm start` runs (dev/demo/stack.ts, on free ports), walked by a real Chromium: the demo site on
 * its own origin signs in through the Entra stand-in's page, shows /auth/me, gets an access token from
 * /auth/refresh and signs out — cookies, CORS with credentials and the X-CSRF header as a browser really does
 * them (`__Host-` + Secure cookies on http://localhost, SameSite=Lax across ports of the same site).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { expectPresent } from '../_support/expect-present';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createHash, randomBytes } from 'node:crypto';
import { DEMO_NATIVE_REDIRECT_URIS, type Stack } from '../../dev/demo/stack';
import { SESSION_COOKIE } from '../../shared/core/session';
import { startDemoAndChromium } from '../_support/demo-page';

// Every run takes the screenshot (it proves the page renders); the copy in docs/ changes only on request
// (UPDATE_SCREENSHOTS=1 npm test -- e2e/browser), so a test run never modifies tracked files.
const SCREENSHOT =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? join(__dirname, '..', '..', 'docs', 'screenshots', 'demo-signed-in.png')
    : join(__dirname, '..', '..', '.local', 'screenshots', 'demo-signed-in.png');
const STEP_TIMEOUT_MS = 15_000;

let stack: Stack;
let browser: Browser;

beforeAll(async () => {
  ({ stack, browser } = await startDemoAndChromium());
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

/** A fresh browser profile; page errors and unexpected console errors fail the test. */
async function newContext(): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 900, height: 760 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const problems: string[] = [];
  const watch = (page: Page) => {
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      // A 401 from /auth/me when signed out is expected; Chromium reports every non-2xx fetch on the console.
      if (message.type() === 'error' && !/status of 401/.test(message.text()))
        problems.push(`console: ${message.text()} at ${message.location().url}`);
    });
  };
  context.on('page', watch);
  const page = await context.newPage();
  return { context, page, problems };
}

/** From the demo's "Sign in" to the stand-in's page, pick a user, type the password, see the consent, sign in. */
async function signInThroughStandIn(page: Page, username: string, password = stack.password): Promise<void> {
  await page.goto(`${stack.demo.url}/`);
  await page.locator('#signed-out').waitFor();
  await page.click('#signin');
  await page.waitForURL((url) => url.href.startsWith(`${stack.standIn.frontChannelUrl}/`));
  expect(new URL(page.url()).protocol).toBe('http:');
  await page.click(`button[data-username="${username}"]`);
  expect(await page.inputValue('#username')).toBe(username);
  const consent = await page.locator('section.consent').innerText();
  expect(consent).toMatch(/User\.Read/);
  await page.fill('#password', password);
  await page.click('#signin');
}

describe('the demo site in Chromium', () => {
  test('sign in, /auth/me, access token, a second tab, sign out; the session cookie stays HttpOnly', async () => {
    const { context, page, problems } = await newContext();
    try {
      const user = stack.users[0]!;
      await signInThroughStandIn(page, user.username);

      // The callback sent us back to the demo origin (absolute returnTo on an allowed origin).
      await page.waitForURL(`${stack.demo.url}/`);
      await page.locator('#signed-in').waitFor();
      expect(await page.textContent('#user-name')).toBe(user.name);
      const me = JSON.parse((await page.textContent('#me-json')) ?? '{}');
      expect(me.user.username).toBe(user.username);
      expect(me.user.id).toBe(user.oid);
      expect(me.user.tenantId).toBe(stack.standIn.tenantId);

      // The session cookie: __Host-, Secure, HttpOnly, SameSite=Lax — accepted on http://localhost (a secure
      // context), sent with the cross-origin same-site fetches above, invisible to the page's scripts.
      const cookies = await context.cookies(stack.functions.url);
      const session = cookies.find((c) => c.name === SESSION_COOKIE);
      expectPresent(session);
      expect(session.name).toMatch(/^__Host-/);
      expect({
        secure: session.secure,
        httpOnly: session.httpOnly,
        sameSite: session.sameSite,
        path: session.path,
        domain: session.domain,
      }).toStrictEqual({ secure: true, httpOnly: true, sameSite: 'Lax', path: '/', domain: 'localhost' });
      expect(cookies.filter((c) => c.name.startsWith('__Host-')).length).toBe(1);
      const pageCookies = (await page.evaluate('document.cookie')) as string;
      expect(!pageCookies.includes(SESSION_COOKIE) && !pageCookies.includes(session.value)).toBeTruthy();
      expect(await page.textContent('#page-cookies')).toBe(JSON.stringify(pageCookies));

      // An access token from /auth/refresh (POST + X-CSRF: a preflighted CORS request with credentials).
      await page.click('#get-token');
      await page.locator('#token').waitFor();
      expect((await page.textContent('#token-value')) ?? '').toMatch(/^eyJ[A-Za-z0-9_-]{21}… \(\d+ characters\)$/);
      expect(await page.textContent('#token-type')).toBe('Bearer');
      expect((await page.textContent('#token-scope')) ?? '').toMatch(/User\.Read/);
      expect((await page.textContent('#token-expires')) ?? '').toMatch(/^in \d+ min/);

      mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      // A second tab of the same browser shares the session.
      const second = await context.newPage();
      await second.goto(`${stack.demo.url}/`);
      await second.locator('#signed-in').waitFor();
      expect(await second.textContent('#user-name')).toBe(user.name);

      // Sign out: the session ends at the service, the stand-in's end-session page sends us back to the demo.
      await page.click('#signout');
      await page.waitForURL(`${stack.demo.url}/`);
      await page.locator('#signed-out').waitFor();
      expect((await context.cookies(stack.functions.url)).some((c) => c.name === SESSION_COOKIE)).toBe(false);

      // The other tab's next call is a 401, and it shows the signed-out page on reload.
      const status = await second.evaluate(
        async (api) => (await fetch(`${api}/auth/me`, { credentials: 'include' })).status,
        stack.functions.url,
      );
      expect(status).toBe(401);
      await second.reload();
      await second.locator('#signed-out').waitFor();
      expect(problems).toStrictEqual([]);
    } finally {
      await context.close();
    }
  });

  test('a returnTo on another origin is refused with a 400 page naming invalid_return_url', async () => {
    const { context, page } = await newContext();
    try {
      const response = await page.goto(
        `${stack.functions.url}/auth/login?returnTo=${encodeURIComponent('https://evil.example/')}`,
      );
      expect(response?.status()).toBe(400);
      expect(await page.content()).toMatch(/invalid_return_url/);
      expect(page.url().startsWith(stack.functions.url)).toBeTruthy();
      expect((await context.cookies()).length).toBe(0);
    } finally {
      await context.close();
    }
  });

  test('a wrong password is rejected on the stand-in page; Cancel returns access_denied, shown cleanly by the demo', async () => {
    const { context, page, problems } = await newContext();
    try {
      await signInThroughStandIn(page, stack.users[1]!.username, 'not-the-password');
      await page.locator('#error').waitFor();
      expect((await page.textContent('#error')) ?? '').toMatch(/account or password is incorrect/);
      expect(page.url().startsWith(stack.standIn.frontChannelUrl)).toBeTruthy();

      await page.click('#cancel');
      await page.waitForURL((url) => url.origin === stack.demo.url && url.pathname === '/');
      await page.locator('#auth-error').waitFor();
      expect(await page.textContent('#auth-error')).toBe(
        'You cancelled the sign-in, so you are still signed out. (access_denied)',
      );
      await page.locator('#signed-out').waitFor();
      expect(new URL(page.url()).search).toBe('');
      expect((await context.cookies(stack.functions.url)).some((c) => c.name === SESSION_COOKIE)).toBe(false);
      expect(problems).toStrictEqual([]);
    } finally {
      await context.close();
    }
  });

  test('a native app: the system browser signs in and the redirect to its custom scheme carries a handoff code', async () => {
    const { context, page } = await newContext();
    try {
      // The served metadata (a route under /.well-known) names the endpoints the app uses.
      const metadata = (await (
        await fetch(`${stack.functions.url}/.well-known/oauth-authorization-server`)
      ).json()) as Record<string, string>;
      expect(metadata.issuer).toBe(stack.functions.url);
      expect(metadata.token_endpoint).toBe(`${stack.functions.url}/auth/token`);

      // What AppAuth does: its own PKCE pair and state, the authorization request opened in the browser.
      const verifier = randomBytes(32).toString('base64url');
      const state = randomBytes(16).toString('base64url');
      const redirectUri = DEMO_NATIVE_REDIRECT_URIS[0];
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: 'contoso-demo-ios',
        redirect_uri: redirectUri,
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        state,
      });
      // The OS hands a custom-scheme navigation to the app; here the browser's own record of the redirect is the catch.
      const appRedirect = page.waitForResponse((response) =>
        (response.headers().location ?? '').startsWith(`${redirectUri}?`),
      );
      await page.goto(`${stack.functions.url}/auth/login?${query}`);
      // RFC 8252 §8.6: our page names the app; only the user's click goes on to the provider.
      expect((await page.textContent('body')) ?? '').toMatch(/signing in to Contoso Demo/);
      await page.click('#continue');
      const user = stack.users[0]!;
      await page.click(`button[data-username="${user.username}"]`);
      await page.fill('#password', stack.password);
      await page.click('#signin');
      const caught = new URL((await appRedirect).headers().location!);
      expect(caught.searchParams.get('state')).toBe(state);
      expect(caught.searchParams.get('iss')).toBe(stack.functions.url);
      const code = caught.searchParams.get('code') ?? '';
      expect(code).toMatch(/^[a-p]-\d{10}\.[A-Za-z0-9_-]{43}$/);
      expect((await context.cookies(stack.functions.url)).some((c) => c.name === SESSION_COOKIE)).toBe(false);

      // The app redeems the code at the token endpoint and uses its session token as Bearer.
      const token = await fetch(metadata.token_endpoint!, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          code_verifier: verifier,
          redirect_uri: redirectUri,
        }),
      });
      expect(token.status).toBe(200);
      const tokens = (await token.json()) as { refresh_token: string; access_token: string };
      const me = await fetch(`${stack.functions.url}/auth/me`, {
        headers: { authorization: `Bearer ${tokens.refresh_token}` },
      });
      expect(me.status).toBe(200);
      expect(((await me.json()) as { user: { username: string } }).user.username).toBe(user.username);
    } finally {
      await context.close();
    }
  });
});
