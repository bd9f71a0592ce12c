/**
 * `npm start -- --https` (dev/demo/stack.ts with `https: true`, on free ports) in Chromium: the cookie demo on
 * https://localhost signs in with its `__Host-` Secure cookie, and the second demo page, the single-page app on
 * https://127.0.0.1 (another site), signs in through the token flow with its session token in memory only.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { devCaFromEnvironment, issueServerCertificate } from '../../dev/ca';
import { startStack, type Stack } from '../../dev/demo/stack';
import { spkiSha256 } from '../../dev/https-front';
import { SESSION_COOKIE } from '../../shared/core/session';
import { launchChromium } from '../_support/browser';

const TIMEOUT_MS = 120_000;
let stack: Stack;
let browser: Browser;

beforeAll(async () => {
  const devCa = devCaFromEnvironment();
  const ca = { ...devCa, dir: devCa.dir! };
  // The same leaf the stack issues (cached per CA and host list): Chromium trusts exactly its key.
  const leaf = issueServerCertificate(ca, ['localhost', '127.0.0.1', '::1']);
  [stack, browser] = await Promise.all([
    startStack({ ca, functionsPort: 0, demoPort: 0, runTimers: false, https: true }),
    launchChromium([`--ignore-certificate-errors-spki-list=${spkiSha256(leaf.certPem)}`]),
  ]);
}, TIMEOUT_MS);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
}, TIMEOUT_MS);

async function signInAtStandIn(page: Page): Promise<void> {
  await page.waitForURL((url) => url.href.startsWith(`${stack.standIn.frontChannelUrl}/`));
  await page.click(`button[data-username="${stack.users[0]!.username}"]`);
  await page.fill('#password', stack.password);
  await page.click('#signin');
}

describe('npm start -- --https', () => {
  test('every part is served over HTTPS', () => {
    expect([stack.demo.url, stack.spa.url, stack.functions.url].map((u) => new URL(u).protocol)).toEqual([
      'https:',
      'https:',
      'https:',
    ]);
    expect(new URL(stack.spa.url).hostname).toBe('127.0.0.1');
  });

  test(
    'the cookie demo signs in on https://localhost',
    async () => {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(`${stack.demo.url}/`);
        await page.click('#signin');
        await signInAtStandIn(page);
        await page.waitForURL(`${stack.demo.url}/`);
        await page.locator('#signed-in').waitFor();
        const session = (await context.cookies(stack.functions.url)).find((c) => c.name === SESSION_COOKIE);
        expect(session).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Lax' });
      } finally {
        await context.close();
      }
    },
    TIMEOUT_MS,
  );

  test(
    'the SPA on another site signs in with the token flow; a reload forgets the session token',
    async () => {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(`${stack.spa.url}/`);
        await page.click('#signin');
        // The service's page that names the app first (RFC 8252 §8.6), then the provider.
        await page.waitForURL((url) => url.origin === stack.functions.url && url.pathname === '/auth/login');
        expect(await page.textContent('body')).toContain('Contoso SPA Demo');
        await page.click('#continue');
        await signInAtStandIn(page);
        await page.waitForURL(`${stack.spa.url}/`);
        await page.locator('#signed-in').waitFor();
        expect(await page.textContent('#user-name')).toBe(stack.users[0]!.name);
        await page.click('#rotate');
        await page.locator('#rotations', { hasText: /^1$/ }).waitFor();
        expect(await context.cookies(stack.functions.url)).toEqual([]);
        await page.reload();
        await page.locator('#signed-out').waitFor();
      } finally {
        await context.close();
      }
    },
    TIMEOUT_MS,
  );
});
