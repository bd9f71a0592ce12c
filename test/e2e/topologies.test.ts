/**
 * The three ways a web site uses the sign-in service, walked by a real Chromium over HTTPS with certificates from
 * the dev CA, under real host names mapped to loopback (`--host-resolver-rules`), so that sites are decided as on
 * the Internet (Public Suffix List: `*.azurewebsites.net` hosts are each their own site):
 *
 * 1. same site, own subdomain: the page on https://www.contoso.test, the service on https://auth.contoso.test (a TLS
 *    front stands for Azure Front Door); the session cookie, CORS with credentials;
 * 2. one origin: https://www.northwind.test serves its page and forwards /auth/* to the service (dev/same-origin-proxy.ts);
 * 3. a single-page app on another site: https://app.fabrikam.test calls https://func-demo.azurewebsites.net with the
 *    token flow (PKCE, handoff code, /auth/token, Bearer), no cookies, CORS for exactly its origin;
 *
 * and a cross-site cookie configuration is refused at start-up with a message naming the way out.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { devCaFromEnvironment, issueServerCertificate, type DevCa } from '../../dev/ca';
import { startFunctionsProcess, type FunctionsProcess } from '../../dev/demo/stack';
import { demoFiles, spaFiles, staticSite } from '../../dev/demo/site';
import { DEMO_PASSWORD, startEntraStandIn, type EntraStandIn } from '../../dev/entra-standin';
import { spkiSha256, startHttpsFront, type HttpsFront } from '../../dev/https-front';
import { forwardToSignIn, sameOriginProxy } from '../../dev/same-origin-proxy';
import { SESSION_COOKIE } from '../../shared/core/session';
import { launchChromium } from '../_support/browser';

const HOSTS = {
  service: 'auth.contoso.test',
  site: 'www.contoso.test',
  proxiedSite: 'www.northwind.test',
  spa: 'app.fabrikam.test',
  azureDefault: 'func-demo.azurewebsites.net',
} as const;
const CLIENT_ID = '6a3f1d2e-4b5c-4d7e-8f90-a1b2c3d4e5f6';
const CLIENT_SECRET = 'topology-test-client-secret-0123456789';
const SETUP_TIMEOUT_MS = 120_000;
const TEST_TIMEOUT_MS = 90_000;
const STEP_TIMEOUT_MS = 15_000;

let ca: DevCa & { dir: string };
let azurite: AzuriteInstance;
let standIn: EntraStandIn;
let browser: Browser;
const fronts: HttpsFront[] = [];
const hosts: FunctionsProcess[] = [];

/** A listener whose target is set once the functions host it forwards to has started (its port comes last). */
function lateListener(): {
  listener: (req: IncomingMessage, res: ServerResponse) => void;
  set(next: (req: IncomingMessage, res: ServerResponse) => void): void;
} {
  let current: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  return {
    listener: (req, res) => (current ? current(req, res) : (res.writeHead(503), res.end())),
    set: (next) => (current = next),
  };
}

async function front(
  hostName: string,
  listener: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<HttpsFront> {
  const started = await startHttpsFront({
    certificate: issueServerCertificate(ca, Object.values(HOSTS)),
    hostName,
    listener,
  });
  fronts.push(started);
  return started;
}

/** A functions host with the stand-in, Azurite and the client secret, plus `settings`. */
async function functionsHost(settings: Record<string, string>): Promise<FunctionsProcess> {
  const host = await startFunctionsProcess({
    AUTH_CLIENT_ID: CLIENT_ID,
    AUTH_TENANT_ID: standIn.tenantId,
    AUTH_AUTHORITY: standIn.authority,
    AUTH_CLIENT_SECRET: CLIENT_SECRET,
    AUTH_STORAGE_CONNECTION_STRING: azurite.connectionString,
    AUTH_SCOPES: 'User.Read',
    FUNCTIONS_HOST_RUN_TIMERS: 'false',
    PORT: '0',
    NODE_EXTRA_CA_CERTS: `${ca.dir}/ca.pem`,
    DEV_CA_DIR: ca.dir,
    ...settings,
  });
  hosts.push(host);
  return host;
}

interface Topology {
  /** Where the browser starts. */
  pageUrl: string;
  /** The sign-in service's public origin (AUTH_REDIRECT_URI's). */
  serviceUrl: string;
}

let topologies: { subdomain: Topology; proxy: Topology; spa: Topology & { redirectUri: string } };

beforeAll(async () => {
  const devCa = devCaFromEnvironment();
  ca = { ...devCa, dir: devCa.dir! };
  const certificate = issueServerCertificate(ca, Object.values(HOSTS));
  [azurite, browser] = await Promise.all([
    startAzurite(),
    // Every test host name resolves to 127.0.0.1 (ports stay); the dev CA's leaf is trusted by its key, nothing else.
    launchChromium([
      `--host-resolver-rules=${Object.values(HOSTS)
        .map((h) => `MAP ${h} 127.0.0.1`)
        .join(', ')}`,
      `--ignore-certificate-errors-spki-list=${spkiSha256(certificate.certPem)}`,
    ]),
  ]);

  // The TLS fronts first: the redirect URIs name their ports. Each is wired once its functions host runs.
  const wiring = {
    service: lateListener(),
    site: lateListener(),
    proxiedSite: lateListener(),
    spa: lateListener(),
    azureDefault: lateListener(),
  };
  const service = await front(HOSTS.service, wiring.service.listener); // stands for Azure Front Door + publicHostName
  const site = await front(HOSTS.site, wiring.site.listener);
  const proxiedSite = await front(HOSTS.proxiedSite, wiring.proxiedSite.listener);
  const spa = await front(HOSTS.spa, wiring.spa.listener);
  const azureDefault = await front(HOSTS.azureDefault, wiring.azureDefault.listener);
  const spaRedirectUri = `${spa.url}/`;

  // One app registration with the reply URL of each topology's service (the SPA's redirect URI is not one of them:
  // the service's callback receives the code, then hands the SPA its own one-time code).
  standIn = await startEntraStandIn({
    protocol: 'entra',
    ca,
    frontChannel: 'http',
    clients: [
      {
        clientId: CLIENT_ID,
        secrets: [CLIENT_SECRET],
        // Entra returns after sign-out only to a registered Web redirect URI, so the sites' pages are registered too.
        redirectUris: [
          `${service.url}/auth/callback`,
          `${proxiedSite.url}/auth/callback`,
          `${azureDefault.url}/auth/callback`,
          `${site.url}/`,
          `${proxiedSite.url}/`,
        ],
      },
    ],
  });

  const [subdomainHost, proxyHost, spaHost] = await Promise.all([
    // 1. Same site, own subdomain. The platform's CORS (Azure siteConfig.cors, Host.CORS locally) for the page's
    //    origin, with credentials.
    functionsHost({
      AUTH_REDIRECT_URI: `${service.url}/auth/callback`,
      AUTH_ALLOWED_RETURN_ORIGINS: site.url,
      AUTH_POST_LOGOUT_REDIRECT_URI: `${site.url}/`,
      FUNCTIONS_HOST_CORS: site.url,
      FUNCTIONS_HOST_CORS_CREDENTIALS: 'true',
    }),
    // 2. One origin: no CORS at all.
    functionsHost({ AUTH_REDIRECT_URI: `${proxiedSite.url}/auth/callback`, AUTH_POST_LOGOUT_REDIRECT_URI: '/' }),
    // 3. The SPA: no platform CORS; the app answers CORS for exactly the SPA's origin on the token flow's routes.
    functionsHost({
      AUTH_REDIRECT_URI: `${azureDefault.url}/auth/callback`,
      AUTH_NATIVE_REDIRECT_URIS: spaRedirectUri,
    }),
  ]);
  wiring.service.set((req, res) => forwardToSignIn(subdomainHost.url, req, res));
  wiring.site.set(staticSite(demoFiles(service.url), service.url));
  wiring.proxiedSite.set(sameOriginProxy(proxyHost.url, staticSite(demoFiles(proxiedSite.url), proxiedSite.url)));
  wiring.azureDefault.set((req, res) => forwardToSignIn(spaHost.url, req, res));
  wiring.spa.set(staticSite(spaFiles(azureDefault.url, spaRedirectUri), azureDefault.url));

  topologies = {
    subdomain: { pageUrl: site.url, serviceUrl: service.url },
    proxy: { pageUrl: proxiedSite.url, serviceUrl: proxiedSite.url },
    spa: { pageUrl: spa.url, serviceUrl: azureDefault.url, redirectUri: spaRedirectUri },
  };
}, SETUP_TIMEOUT_MS);

afterAll(async () => {
  await browser?.close();
  await Promise.allSettled(hosts.map((h) => h.stop()));
  await Promise.allSettled(fronts.map((f) => f.stop()));
  await standIn?.stop();
  await azurite?.stop();
}, SETUP_TIMEOUT_MS);

async function newContext(): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext();
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  const problems: string[] = [];
  context.on('page', (page) => {
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/status of 401/.test(message.text()))
        problems.push(`console: ${message.text()}`);
    });
  });
  return { context, page: await context.newPage(), problems };
}

/** At the stand-in's page: pick the first demo user, type the password, sign in. */
async function signInAtStandIn(page: Page): Promise<void> {
  await page.waitForURL((url) => url.href.startsWith(`${standIn.frontChannelUrl}/`));
  await page.click(`button[data-username="${standIn.users[0]!.username}"]`);
  await page.fill('#password', DEMO_PASSWORD);
  await page.click('#signin');
}

/** Topologies 1 and 2 run the same cookie page: sign in, /auth/me, /auth/refresh, sign out. */
async function cookieWalk(topology: Topology): Promise<void> {
  const { context, page, problems } = await newContext();
  try {
    const user = standIn.users[0]!;
    await page.goto(`${topology.pageUrl}/`);
    await page.locator('#signed-out').waitFor();
    await page.click('#signin');
    await signInAtStandIn(page);
    await page.waitForURL(`${topology.pageUrl}/`);
    await page.locator('#signed-in').waitFor();
    expect(JSON.parse((await page.textContent('#me-json')) ?? '{}').user.username).toBe(user.username);

    const session = (await context.cookies(topology.serviceUrl)).find((c) => c.name === SESSION_COOKIE);
    expect(session).toMatchObject({
      secure: true,
      httpOnly: true,
      sameSite: 'Lax',
      path: '/',
      domain: new URL(topology.serviceUrl).hostname,
    });

    await page.click('#get-token');
    await page.locator('#token').waitFor();
    expect(await page.textContent('#token-type')).toBe('Bearer');

    await page.click('#signout');
    await page.waitForURL(`${topology.pageUrl}/`);
    await page.locator('#signed-out').waitFor();
    expect((await context.cookies(topology.serviceUrl)).some((c) => c.name === SESSION_COOKIE)).toBe(false);
    expect(problems).toEqual([]);
  } finally {
    await context.close();
  }
}

describe('web sites on their own domain, in Chromium over HTTPS', () => {
  test(
    '1. same site, own subdomain: www.contoso.test signs in through auth.contoso.test, /auth/me, /auth/refresh, sign out',
    async () => {
      await cookieWalk(topologies.subdomain);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "2. one origin through the site's own proxy: www.northwind.test/auth/* forwarded, the same walk, no CORS",
    async () => {
      await cookieWalk(topologies.proxy);
    },
    TEST_TIMEOUT_MS,
  );

  test(
    '3. a single-page app on another site: token flow with PKCE and a handoff code, Bearer, a rotation, sign-out; no cookie',
    async () => {
      const { spa } = topologies;
      const { context, page, problems } = await newContext();
      try {
        await page.goto(`${spa.pageUrl}/`);
        await page.click('#signin');
        // The service's page that names the app first (RFC 8252 §8.6), then the provider.
        await page.waitForURL((url) => url.origin === spa.serviceUrl && url.pathname === '/auth/login');
        expect(await page.textContent('body')).toContain(spa.redirectUri);
        await page.click('#continue');
        await signInAtStandIn(page);
        // Back on the SPA with the handoff code, redeemed at /auth/token; the address bar is cleaned.
        await page.waitForURL(`${spa.pageUrl}/`);
        await page.locator('#signed-in').waitFor();
        expect(await page.textContent('#user-name')).toBe(standIn.users[0]!.name);
        expect(await context.cookies(spa.serviceUrl)).toEqual([]);
        expect(await page.evaluate('sessionStorage.length + localStorage.length')).toBe(0);

        await page.click('#get-token');
        await page.locator('#token').waitFor();
        expect(await page.textContent('#token-type')).toBe('Bearer');

        // Rotation: a new session token; /auth/me works with it (loadUser ran after the rotation).
        const before = await page.textContent('#session-token');
        await page.click('#rotate');
        await page.locator('#rotations', { hasText: /^1$/ }).waitFor();
        expect(await page.textContent('#session-token')).not.toBe(before);
        expect(await page.isVisible('#auth-error')).toBe(false);

        await page.click('#signout');
        await page.locator('#signed-out').waitFor();

        // A reload forgets the token (memory only) and shows Sign in.
        await page.reload();
        await page.locator('#signed-out').waitFor();
        expect(problems).toEqual([]);
      } finally {
        await context.close();
      }
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "3. CORS is for exactly the SPA's origin and only on the token flow's routes",
    async () => {
      const { spa, subdomain } = topologies;
      const { context, page } = await newContext();
      try {
        const probe = (pageUrl: string, path: string, init: { method?: string; headers?: Record<string, string> }) =>
          page.goto(`${pageUrl}/`).then(() =>
            page.evaluate(
              async ([url, init]) => {
                try {
                  return (await fetch(url, init)).status;
                } catch {
                  return 'blocked';
                }
              },
              [`${spa.serviceUrl}${path}`, init] as const,
            ),
          );
        const bearer = { headers: { Authorization: 'Bearer not-a-session' } };
        expect(await probe(spa.pageUrl, '/auth/me', bearer)).toBe(401);
        expect(await probe(spa.pageUrl, '/auth/refresh', { method: 'POST', ...bearer })).toBe(401);
        expect(await probe(spa.pageUrl, '/auth/health', {})).toBe('blocked');
        expect(await probe(subdomain.pageUrl, '/auth/me', bearer)).toBe('blocked');
      } finally {
        await context.close();
      }
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "4. a cookie origin on another site is refused at start-up, naming the origin, the service's site and the three topologies",
    async () => {
      const started = functionsHost({
        AUTH_REDIRECT_URI: 'https://func-demo.azurewebsites.net/auth/callback',
        AUTH_ALLOWED_RETURN_ORIGINS: 'https://www.contoso.com',
      });
      await expect(started).rejects.toThrow(
        /"https:\/\/www\.contoso\.com" \(site https:\/\/contoso\.com\) is not same-site/,
      );
      const message = await started.catch((error: Error) => error.message);
      expect(message).toContain('site https://func-demo.azurewebsites.net');
      expect(message).toContain('1) same site, own subdomain');
      expect(message).toContain('2) one origin');
      expect(message).toContain('3) a single-page app on another site');
    },
    TEST_TIMEOUT_MS,
  );
});
