/**
 * Driving the demo site (dev/demo) in Chromium: signing in through the Entra stand-in's page as a user would.
 */
import type { Browser, Page } from 'playwright-core';
import { devCaFromEnvironment } from '../../dev/ca';
import { startStack, type Stack } from '../../dev/demo/stack';
import { launchChromium } from './browser';

/**
 * The demo stack (`npm start`'s: Azurite, the stand-in, the Functions host, the demo site) on free ports with the
 * test run's dev CA, and Chromium, started at once so the launch and the stack's child processes overlap.
 */
export async function startDemoAndChromium(): Promise<{ stack: Stack; browser: Browser }> {
  const ca = devCaFromEnvironment();
  const [stack, browser] = await Promise.all([
    startStack({ ca: { ...ca, dir: ca.dir! }, functionsPort: 0, demoPort: 0, runTimers: false }),
    launchChromium(),
  ]);
  return { stack, browser };
}

/** From the demo's "Sign in" to the stand-in's page: pick the user, type the password, sign in, back on the demo. */
export async function signInOnDemo(
  page: Page,
  stack: Stack,
  username: string,
  password = stack.password,
): Promise<void> {
  await page.goto(`${stack.demo.url}/`);
  await page.locator('#signed-out').waitFor();
  await page.click('#signin');
  await page.waitForURL((url) => url.href.startsWith(`${stack.standIn.frontChannelUrl}/`));
  await page.click(`button[data-username="${username}"]`);
  await page.fill('#password', password);
  await page.click('#signin');
  await page.waitForURL(`${stack.demo.url}/`);
  await page.locator('#signed-in').waitFor();
}
