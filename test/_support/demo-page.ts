/**
 * Driving the demo site (dev/demo) in Chromium: signing in through the Entra stand-in's page as a user would.
 */
import type { Page } from 'playwright-core';
import type { Stack } from '../../dev/demo/stack';

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
