/**
 * Debian's Chromium driven by playwright-core (never a browser download: `npx playwright install` is not used).
 * test/run.mjs and .ci/run install the `chromium` package when it is missing; if it still is not there, the
 * browser tests fail with this message instead of being skipped.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** `extraArgs`: e.g. `--host-resolver-rules` to map test host names to loopback (test/e2e/topologies.test.ts). */
export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}. Install Debian's package (apt-get install -y chromium; npm test does this ` +
        'when run as root) or set CHROMIUM_PATH. The browser tests do not skip.',
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...ARGS, ...extraArgs] });
}
