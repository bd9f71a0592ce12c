/**
 * The local stack `npm start` runs (dev/demo/stack.ts, on free ports), walked by a real Chromium: the demo site on
 * its own origin signs in through the Entra stand-in's page, shows /auth/me, gets an access token from
 * /auth/refresh and signs out — cookies, CORS with credentials and the X-CSRF header as a browser really does
 * them (`__Host-` + Secure cookies on http://localhost, SameSite=Lax across ports of the same site).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { devCaFromEnvironment } from '../../dev/ca';
import { createHash, randomBytes } from 'node:crypto';
import { DEMO_NATIVE_REDIRECT_URIS, startStack, type Stack } from '../../dev/demo/stack';
import { SESSION_COOKIE } from '../../shared/core/flow';
import { launchChromium } from '../_support/browser';

// Every run takes the screenshot (it proves the page renders); the copy in docs/ changes only on request
// (UPDATE_SCREENSHOTS=1 npm test -- e2e/browser), so a test run never modifies tracked files.
const SCREENSHOT = process.env.UPDATE_SCREENSHOTS === '1'
  ? join(__dirname, '..', '..', 'docs', 'screenshots', 'demo-signed-in.png')
  : join(__dirname, '..', '..', '.local', 'screenshots', 'demo-signed-in.png');
const STEP_TIMEOUT_MS = 15_000;

let stack: Stack;
let browser: Browser;

before(async () => {
  const ca = devCaFromEnvironment();
  // Both start at once: Chromium's launch and the stack's child processes overlap.
  [stack, browser] = await Promise.all([
    startStack({ ca: { ...ca, dir: ca.dir! }, functionsPort: 0, demoPort: 0, runTimers: false }),
    launchChromium(),
  ]);
});

after(async () => {
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
      if (message.type() === 'error' && !/status of 401/.test(message.text())) problems.push(`console: ${message.text()} at ${message.location().url}`);
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
  assert.equal(new URL(page.url()).protocol, 'http:', 'the browser-facing pages are plain HTTP: no certificate warning');
  await page.click(`button[data-username="${username}"]`);
  assert.equal(await page.inputValue('#username'), username);
  const consent = await page.locator('section.consent').innerText();
  assert.match(consent, /User\.Read/);
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
      assert.equal(await page.textContent('#user-name'), user.name);
      const me = JSON.parse((await page.textContent('#me-json')) ?? '{}');
      assert.equal(me.user.username, user.username);
      assert.equal(me.user.id, user.oid);
      assert.equal(me.user.tenantId, stack.standIn.tenantId);

      // The session cookie: __Host-, Secure, HttpOnly, SameSite=Lax — accepted on http://localhost (a secure
      // context), sent with the cross-origin same-site fetches above, invisible to the page's scripts.
      const cookies = await context.cookies(stack.functions.url);
      const session = cookies.find((c) => c.name === SESSION_COOKIE);
      assert.ok(session, `session cookie set (have: ${cookies.map((c) => c.name).join(', ')})`);
      assert.match(session.name, /^__Host-/);
      assert.deepEqual(
        { secure: session.secure, httpOnly: session.httpOnly, sameSite: session.sameSite, path: session.path, domain: session.domain },
        { secure: true, httpOnly: true, sameSite: 'Lax', path: '/', domain: 'localhost' },
      );
      assert.equal(cookies.filter((c) => c.name.startsWith('__Host-')).length, 1, 'the transaction cookie is gone');
      const pageCookies = (await page.evaluate('document.cookie')) as string;
      assert.ok(!pageCookies.includes(SESSION_COOKIE) && !pageCookies.includes(session.value), 'document.cookie does not show the session');
      assert.equal(await page.textContent('#page-cookies'), JSON.stringify(pageCookies));

      // An access token from /auth/refresh (POST + X-CSRF: a preflighted CORS request with credentials).
      await page.click('#get-token');
      await page.locator('#token').waitFor();
      assert.match((await page.textContent('#token-value')) ?? '', /^eyJ[A-Za-z0-9_-]{21}… \(\d+ characters\)$/);
      assert.equal(await page.textContent('#token-type'), 'Bearer');
      assert.match((await page.textContent('#token-scope')) ?? '', /User\.Read/);
      assert.match((await page.textContent('#token-expires')) ?? '', /^in \d+ min/);

      mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      // A second tab of the same browser shares the session.
      const second = await context.newPage();
      await second.goto(`${stack.demo.url}/`);
      await second.locator('#signed-in').waitFor();
      assert.equal(await second.textContent('#user-name'), user.name);

      // Sign out: the session ends at the service, the stand-in's end-session page sends us back to the demo.
      await page.click('#signout');
      await page.waitForURL(`${stack.demo.url}/`);
      await page.locator('#signed-out').waitFor();
      assert.equal((await context.cookies(stack.functions.url)).some((c) => c.name === SESSION_COOKIE), false, 'cookie cleared');

      // The other tab's next call is a 401, and it shows the signed-out page on reload.
      const status = await second.evaluate(async (api) => (await fetch(`${api}/auth/me`, { credentials: 'include' })).status, stack.functions.url);
      assert.equal(status, 401);
      await second.reload();
      await second.locator('#signed-out').waitFor();
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('a returnTo on another origin is refused with a 400 page naming invalid_return_url', async () => {
    const { context, page } = await newContext();
    try {
      const response = await page.goto(`${stack.functions.url}/auth/login?returnTo=${encodeURIComponent('https://evil.example/')}`);
      assert.equal(response?.status(), 400);
      assert.match(await page.content(), /invalid_return_url/);
      assert.ok(page.url().startsWith(stack.functions.url), 'no redirect anywhere');
      assert.equal((await context.cookies()).length, 0, 'no sign-in was started');
    } finally {
      await context.close();
    }
  });

  test('a wrong password is rejected on the stand-in page; Cancel returns access_denied, shown cleanly by the demo', async () => {
    const { context, page, problems } = await newContext();
    try {
      await signInThroughStandIn(page, stack.users[1]!.username, 'not-the-password');
      await page.locator('#error').waitFor();
      assert.match((await page.textContent('#error')) ?? '', /account or password is incorrect/);
      assert.ok(page.url().startsWith(stack.standIn.frontChannelUrl), 'still on the sign-in page');

      await page.click('#cancel');
      await page.waitForURL((url) => url.origin === stack.demo.url && url.pathname === '/');
      await page.locator('#auth-error').waitFor();
      assert.equal(await page.textContent('#auth-error'), 'You cancelled the sign-in, so you are still signed out. (access_denied)');
      await page.locator('#signed-out').waitFor();
      assert.equal(new URL(page.url()).search, '', 'auth_error is dropped from the address bar');
      assert.equal((await context.cookies(stack.functions.url)).some((c) => c.name === SESSION_COOKIE), false);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('a native app: the system browser signs in and the redirect to its custom scheme carries a handoff code', async () => {
    const { context, page } = await newContext();
    try {
      // The served metadata (a route under /.well-known) names the endpoints the app uses.
      const metadata = (await (await fetch(`${stack.functions.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, string>;
      assert.equal(metadata.issuer, stack.functions.url);
      assert.equal(metadata.token_endpoint, `${stack.functions.url}/auth/token`);

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
      const appRedirect = page.waitForResponse((response) => (response.headers().location ?? '').startsWith(`${redirectUri}?`));
      await page.goto(`${stack.functions.url}/auth/login?${query}`);
      // RFC 8252 §8.6: our page names the app; only the user's click goes on to the provider.
      assert.match(await page.textContent('body') ?? '', /signing in to Contoso Demo/);
      await page.click('#continue');
      const user = stack.users[0]!;
      await page.click(`button[data-username="${user.username}"]`);
      await page.fill('#password', stack.password);
      await page.click('#signin');
      const caught = new URL((await appRedirect).headers().location!);
      assert.equal(caught.searchParams.get('state'), state);
      assert.equal(caught.searchParams.get('iss'), stack.functions.url);
      const code = caught.searchParams.get('code') ?? '';
      assert.match(code, /^\d{10}\.[A-Za-z0-9_-]{43}$/);
      assert.equal((await context.cookies(stack.functions.url)).some((c) => c.name === SESSION_COOKIE), false, 'no browser session');

      // The app redeems the code at the token endpoint and uses its session token as Bearer.
      const token = await fetch(metadata.token_endpoint!, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirectUri }),
      });
      assert.equal(token.status, 200);
      const tokens = (await token.json()) as { refresh_token: string; access_token: string };
      const me = await fetch(`${stack.functions.url}/auth/me`, { headers: { authorization: `Bearer ${tokens.refresh_token}` } });
      assert.equal(me.status, 200);
      assert.equal(((await me.json()) as { user: { username: string } }).user.username, user.username);
    } finally {
      await context.close();
    }
  });
});
