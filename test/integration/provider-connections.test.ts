/**
 * A sign-in's provider calls share one connection: discovery at the login, then the callback's token request (MSAL,
 * through our fetch network module) and the JWKS fetch right after it. undici hands a connection back to its pool
 * a tick after the response that used it has ended; the JWKS request used to start before that tick, so every
 * instance's first callback opened a second TLS connection to the provider (a handshake with Entra in Azure).
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import diagnostics from 'node:diagnostics_channel';
import { Harness } from '../_support/harness';

let h: Harness;
beforeAll(async () => {
  h = await Harness.start();
});
afterAll(async () => {
  await h?.stop();
});

test("the first callback's token request and JWKS fetch reuse the login's connection to the provider", async () => {
  const requests: string[] = [];
  const created = (message: unknown) => {
    const { method, path } = (message as { request: { method: string; path: string } }).request;
    requests.push(`${method} ${path.replace(/\?.*/, '')}`);
  };
  let connections = 0;
  const connected = () => connections++;
  diagnostics.subscribe('undici:request:create', created);
  diagnostics.subscribe('undici:client:connected', connected);
  try {
    const browser = h.newBrowser();
    const { authorizeUrl } = await browser.startSignIn();
    const callbackUrl = await browser.signInAtProvider(authorizeUrl);
    expect(connections).toBe(1); // discovery, at the login
    const response = await browser.callback(callbackUrl);
    expect(response.status).toBe(302);
  } finally {
    diagnostics.unsubscribe('undici:request:create', created);
    diagnostics.unsubscribe('undici:client:connected', connected);
  }
  const tenant = new URL(h.standIn.authority).pathname;
  expect(requests).toStrictEqual([
    `GET ${tenant}/v2.0/.well-known/openid-configuration`,
    `POST ${tenant}/oauth2/v2.0/token`,
    `GET ${tenant}/discovery/v2.0/keys`,
  ]);
  expect(connections).toBe(1);
});
