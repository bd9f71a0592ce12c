/**
 * The demo site's session list in Chromium (dev/demo on the `npm start` stack): two browsers of one user see both
 * sessions, each marked "this browser" in its own; a device's *Sign out* ends that device only; *Sign out
 * everywhere* ends the rest. Cookies, CORS with credentials, DELETE with X-CSRF, as a browser really does them.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Stack } from '../../dev/demo/stack';
import { signInOnDemo, startDemoAndChromium } from '../_support/demo-page';

let stack: Stack;
let browser: Browser;

beforeAll(async () => {
  ({ stack, browser } = await startDemoAndChromium());
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

/** A separate browser profile (its own cookies) whose User-Agent names it in the session list. */
async function device(name: string): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ userAgent: name, viewport: { width: 900, height: 900 } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 401/.test(message.text()))
      problems.push(`console: ${message.text()}`);
  });
  return { context, page, problems };
}

/** The rows of "Your sessions": the agent line (with its tag) of each. */
async function rows(page: Page): Promise<string[]> {
  await page.locator('#sessions li').first().waitFor();
  return (await page.locator('#sessions li .agent').allTextContents()).sort();
}

describe('the demo site’s sessions', () => {
  test('both browsers are listed; Sign out on one device ends it; Sign out everywhere ends the rest', async () => {
    const user = stack.users[0]!;
    const a = await device('Demo Browser A');
    const b = await device('Demo Browser B');
    const c = await device('Demo Browser C');
    try {
      await signInOnDemo(a.page, stack, user.username);
      await signInOnDemo(b.page, stack, user.username);
      await a.page.reload();
      expect(await rows(a.page)).toEqual(['Demo Browser A' + 'this browser', 'Demo Browser B']);

      // A signs B out: B's next load is signed out, A's list has only A.
      const bRow = a.page.locator('#sessions li', { hasText: 'Demo Browser B' });
      await bRow.getByRole('button', { name: 'Sign out' }).click();
      await a.page.locator('#sessions li', { hasText: 'Demo Browser B' }).waitFor({ state: 'detached' });
      expect(await rows(a.page)).toEqual(['Demo Browser A' + 'this browser']);
      await b.page.reload();
      await b.page.locator('#signed-out').waitFor();

      // C signs in too; A signs out everywhere: both end, and A lands back on the demo signed out.
      await signInOnDemo(c.page, stack, user.username);
      await a.page.reload();
      expect(await rows(a.page)).toEqual(['Demo Browser A' + 'this browser', 'Demo Browser C']);
      await a.page.click('#signout-everywhere');
      await a.page.waitForURL(`${stack.demo.url}/`);
      await a.page.locator('#signed-out').waitFor();
      await c.page.reload();
      await c.page.locator('#signed-out').waitFor();
      expect([...a.problems, ...b.problems, ...c.problems]).toEqual([]);
    } finally {
      await Promise.all([a.context.close(), b.context.close(), c.context.close()]);
    }
  }, 120_000);
});
