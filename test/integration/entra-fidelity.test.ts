/**
 * What the faithful Entra stand-in revealed, fixed in the product and proven through the served functions
 * (issue 15): two resources from one sign-in, claims challenges, revoked users, what /auth/me says about the user,
 * the role gate, sign-out that returns, and multi-tenant authorities. Real Azurite, the stand-in over HTTPS, the
 * real handlers, MSAL inside.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { decodeJwt } from 'jose';
import { DEFAULT_TENANT_ID, DEMO_PASSWORD, GRAPH_RESOURCE_ID, type StandInUser } from '../../dev/entra-standin';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { SESSION_COOKIE } from '../../shared/core/session';
import {
  APP_ORIGIN,
  CLIENT_ID,
  CLIENT_SECRET,
  Harness,
  PUBLIC_ORIGIN,
  REDIRECT_URI,
  type TestBrowser,
} from '../_support/harness';
import { NativeApp } from '../_support/native-app';
import { tableRows } from '../_support/tables';

const API = 'api://contoso-api';
const API_SCOPE = `${API}/Orders.Read`;
const OTHER_TENANT = '5e2a9c1d-4b3f-4e6a-8c7d-9f0e1a2b3c4d';
const CHALLENGE = '{"access_token":{"capolids":{"essential":true,"values":["c0a1b2"]}}}';
const XHR = { 'x-csrf': '1', 'content-type': 'application/json' };

function user(name: string, username: string, oid: string, extra: Partial<StandInUser> = {}): StandInUser {
  return { username, password: DEMO_PASSWORD, name, oid, sub: `sub-${oid}`, ...extra };
}
const ADELE = user('Adele Vance', 'adele@contoso.example', '4d3b0a8e-2a6f-4f55-9c1e-6a1f0d2b7c31', {
  roles: ['Orders.Admin'],
  groups: ['g-1'],
  email: 'adele.vance@contoso.example',
});
const ALEX = user('Alex Wilber', 'alex@contoso.example', '8f2c6b1d-5e7a-4b9c-a0d3-1e4f7a2b9c52', {
  groups: Array.from({ length: 201 }, (_, i) => `group-${i}`),
});
const MEGAN = user('Megan Bowen', 'megan@contoso.example', 'c6a9e3f0-7b1d-4e28-b5c4-3d8e0f1a6b73');
const LEE = user('Lee Gu', 'lee@fabrikam.example', '2b7c31d4-3b0a-4e2a-9f55-1e6a1f0d4d3b', { tenantId: OTHER_TENANT });
const USERS = [ADELE, ALEX, MEGAN, LEE];

/** The app registration as the README now describes it: the sign-out target registered as a Web redirect URI. */
const CLIENT = {
  clientId: CLIENT_ID,
  secrets: [CLIENT_SECRET],
  redirectUris: [REDIRECT_URI, `${PUBLIC_ORIGIN}/`],
  optionalClaims: ['login_hint' as const],
  groupMembershipClaims: true,
  claimsMappingPolicy: true,
};

let azurite: AzuriteInstance;
const harnesses: Harness[] = [];
beforeAll(async () => {
  azurite = await startAzurite();
});
afterAll(async () => {
  for (const h of harnesses) await h.stop();
  await azurite?.stop();
});

async function start(env: Record<string, string> = {}, standIn: Record<string, unknown> = {}): Promise<Harness> {
  const h = await Harness.start({
    azurite,
    env: { AUTH_SCOPES: `User.Read ${API_SCOPE}`, ...env },
    standIn: { clients: [CLIENT], users: USERS, ...standIn },
  });
  harnesses.push(h);
  return h;
}

async function signedIn(h: Harness, username = ADELE.username, query = 'returnTo=%2Fapp'): Promise<TestBrowser> {
  const browser = h.newBrowser();
  const { authorizeUrl } = await browser.startSignIn(query);
  const response = await browser.callback(await browser.signInAtProvider(authorizeUrl, username));
  expect(response.status).toBe(302);
  expect(browser.jar.has(SESSION_COOKIE)).toBe(true);
  return browser;
}

function refresh(browser: TestBrowser, scopes?: string[]) {
  return browser.call('refresh', {
    method: 'POST',
    url: '/auth/refresh',
    headers: XHR,
    body: scopes ? JSON.stringify({ scopes }) : undefined,
  });
}

const tokenRequestsOf = (h: Harness, grantType: string) =>
  h.standIn.tokenRequests().filter((r) => r.grantType === grantType);
const noLeaks = (h: Harness) => expect(h.leakedSecrets()).toEqual([]);

describe('two resources (Graph + the app API) from one sign-in', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await start();
    h.standIn.setAccessTokenLifetime(60); // inside MSAL's refresh margin: each refresh reaches the stand-in
  });

  test('sign-in asks consent for both; the code is redeemed for OIDC + Graph only; /auth/refresh serves either resource', async () => {
    const browser = h.newBrowser();
    const { authorizeUrl } = await browser.startSignIn();
    expect(new URL(authorizeUrl).searchParams.get('scope')).toBe(
      `openid profile offline_access User.Read ${API_SCOPE}`,
    );
    expect((await browser.callback(await browser.signInAtProvider(authorizeUrl))).status).toBe(302);
    const redemption = tokenRequestsOf(h, 'authorization_code').at(-1)!;
    expect(redemption.scopes).toContain('User.Read');
    expect(redemption.scopes).not.toContain(API_SCOPE);

    const graph = await refresh(browser);
    expect(graph.status).toBe(200);
    expect(decodeJwt(graph.json().access_token).aud).toBe(GRAPH_RESOURCE_ID);
    const api = await refresh(browser, [API_SCOPE]);
    expect(api.status).toBe(200);
    expect(decodeJwt(api.json().access_token).aud).toBe(API);
    for (const r of [graph, api]) h.seenSecrets.add(r.json().access_token);
    noLeaks(h);
  });

  test('a mixed set in one request is scope_not_allowed (400) before any call to Entra', async () => {
    const browser = await signedIn(h);
    const before = h.standIn.tokenRequests().length;
    const mixed = await refresh(browser, ['User.Read', API_SCOPE]);
    expect(mixed.status).toBe(400);
    expect(mixed.json().code).toBe('scope_not_allowed');
    expect(h.standIn.tokenRequests().length).toBe(before);
  });

  test('native: scope= serves the API from the same session; a mixed scope is invalid_scope', async () => {
    const app = new NativeApp(h);
    const tokens = await app.signInForTokens();
    expect(decodeJwt(tokens.access_token).aud).toBe(GRAPH_RESOURCE_ID);
    const api = await app.refresh(tokens.refresh_token, API_SCOPE);
    expect(api.status).toBe(200);
    expect(decodeJwt(api.json().access_token).aud).toBe(API);
    const mixed = await app.refresh(api.json().refresh_token, `User.Read ${API_SCOPE}`);
    expect(mixed.status).toBe(400);
    expect(mixed.json().error).toBe('invalid_scope');
  });

  test('every token request declares the cp1 client capability (CAE), and so does the authorize request', async () => {
    const browser = await signedIn(h);
    await refresh(browser, [API_SCOPE]);
    // MSAL adds its own id_token claims requests beside it on a code redemption.
    for (const request of h.standIn.tokenRequests().slice(-2))
      expect(request.claims).toMatchObject({ access_token: { xms_cc: { values: ['cp1'] } } });
    const { authorizeUrl } = await h.newBrowser().startSignIn();
    expect(JSON.parse(new URL(authorizeUrl).searchParams.get('claims') ?? '{}')).toEqual({
      access_token: { xms_cc: { values: ['cp1'] } },
    });
  });
});

describe('a user Entra no longer accepts is signed out (terminal invalid_grant ends the session)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await start();
    h.standIn.setAccessTokenLifetime(60);
  });

  const cases: [string, (h: Harness, username: string) => void, string][] = [
    [
      'password reset / sign-in revoked (AADSTS50173)',
      (x, username) => x.standIn.revokeRefreshTokens({ username }),
      '50173',
    ],
    ['account disabled (AADSTS50057)', (x, username) => x.standIn.disableUser(username), '50057'],
    [
      'refresh token expired (AADSTS700082)',
      (x) => x.standIn.injectFault('token', { aadsts: 700082, error: 'invalid_grant', status: 400 }),
      '700082',
    ],
  ];

  test.each(cases)('web: %s → /auth/refresh 401 session_revoked, then /auth/me 401', async (_name, revoke, aadsts) => {
    const browser = await signedIn(h, MEGAN.username);
    revoke(h, MEGAN.username);
    try {
      const refused = await refresh(browser);
      expect(refused.status).toBe(401);
      expect(refused.json().code).toBe('session_revoked');
      const me = await browser.call('me', { url: '/auth/me' });
      expect(me.status).toBe(401);
      expect(h.logs.join('\n')).toContain(`"aadsts":"${aadsts}"`);
    } finally {
      h.standIn.disableUser(MEGAN.username, false);
      h.standIn.clearFaults();
    }
    noLeaks(h);
  });

  test.each(cases)(
    'native: %s → /auth/token invalid_grant, then /auth/me with the session token 401',
    async (_name, revoke) => {
      const app = new NativeApp(h);
      const tokens = await app.signInForTokens();
      // The sign-in's tokens were issued to the default user; revoke that one.
      revoke(h, h.standIn.users[0]!.username);
      try {
        const refused = await app.refresh(tokens.refresh_token);
        expect(refused.status).toBe(400);
        expect(refused.json().error).toBe('invalid_grant');
        expect((await app.bearer('me', tokens.refresh_token)).status).toBe(401);
      } finally {
        h.standIn.disableUser(h.standIn.users[0]!.username, false);
        h.standIn.clearFaults();
      }
    },
  );
});

describe('claims challenges (Conditional Access step-up): 401 with the claims and a ready loginUrl; the session is kept', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await start();
    h.standIn.setAccessTokenLifetime(60);
    h.standIn.requireClaims({ username: ALEX.username, resource: API, claims: CHALLENGE });
  });

  test('refresh for the API → 401 interaction_required + claims + loginUrl; Graph still works; the loginUrl sign-in satisfies it', async () => {
    const browser = await signedIn(h, ALEX.username);
    const challenged = await refresh(browser, [API_SCOPE]);
    expect(challenged.status).toBe(401);
    expect(challenged.headers['content-type']).toMatch(/^application\/problem\+json/);
    const problem = challenged.json();
    expect(problem).toMatchObject({ code: 'interaction_required', claims: CHALLENGE });
    const loginUrl = new URL(problem.loginUrl);
    expect(`${loginUrl.origin}${loginUrl.pathname}`).toBe(`${PUBLIC_ORIGIN}/auth/login`);
    expect(loginUrl.searchParams.get('claims')).toBe(CHALLENGE);
    expect(h.logs.join('\n')).toContain('"aadsts":"50076"');

    // The session is kept: the user is still signed in, and Graph (not under the policy) still refreshes.
    expect((await browser.call('me', { url: '/auth/me' })).status).toBe(200);
    expect((await refresh(browser)).status).toBe(200);

    // The ready loginUrl (plus where to return): a new sign-in carrying the claims, merged with cp1.
    const { authorizeUrl } = await browser.startSignIn(`${loginUrl.search.slice(1)}&returnTo=%2Forders`);
    const sent = JSON.parse(new URL(authorizeUrl).searchParams.get('claims') ?? '{}');
    expect(sent).toMatchObject({
      ...JSON.parse(CHALLENGE),
      access_token: { ...JSON.parse(CHALLENGE).access_token, xms_cc: { values: ['cp1'] } },
    });
    const done = await browser.callback(await browser.signInAtProvider(authorizeUrl, ALEX.username));
    expect(done.headers.location).toBe('/orders');
    const api = await refresh(browser, [API_SCOPE]);
    expect(api.status).toBe(200);
    h.seenSecrets.add(api.json().access_token);
    noLeaks(h);
  });

  test('consent missing for a resource (AADSTS65001 consent_required): 401 with a loginUrl that asks for consent; session kept', async () => {
    const browser = await signedIn(h, MEGAN.username);
    h.standIn.injectFault('token', { aadsts: 65001, error: 'invalid_grant', suberror: 'consent_required' });
    const refused = await refresh(browser, [API_SCOPE]);
    expect(refused.status).toBe(401);
    expect(refused.json().code).toBe('interaction_required');
    expect(new URL(refused.json().loginUrl).searchParams.get('prompt')).toBe('consent');
    expect((await browser.call('me', { url: '/auth/me' })).status).toBe(200);
  });

  test('native: the token endpoint answers invalid_grant with the claims and login_url', async () => {
    h.standIn.requireClaims({ username: h.standIn.users[0]!.username, resource: API, claims: CHALLENGE });
    const app = new NativeApp(h);
    const tokens = await app.signInForTokens();
    const challenged = await app.refresh(tokens.refresh_token, API_SCOPE);
    expect(challenged.status).toBe(400);
    expect(challenged.json()).toMatchObject({ error: 'invalid_grant', claims: CHALLENGE });
    expect(new URL(challenged.json().login_url).searchParams.get('claims')).toBe(CHALLENGE);
    expect((await app.bearer('me', tokens.refresh_token)).status).toBe(200);
  });

  test.each([
    ['not JSON', '{nope'],
    ['a JSON array', '["x"]'],
    ['over 2 KB', JSON.stringify({ id_token: { acrs: { values: ['x'.repeat(2100)] } } })],
  ])('/auth/login?claims= %s → 400 invalid_parameter, nothing stored', async (_name, claims) => {
    const before = (await tableRows(azurite.connectionString, 'AuthState')).length;
    const response = await h.newBrowser().call('login', { url: `/auth/login?claims=${encodeURIComponent(claims)}` });
    expect(response.status).toBe(400);
    expect(response.body).toContain('invalid_parameter');
    expect((await tableRows(azurite.connectionString, 'AuthState')).length).toBe(before);
  });
});

describe('/auth/me: roles, groups, overage, email; AUTH_REQUIRED_ROLES', () => {
  test('roles and groups as Entra sends them; overage flagged; email from the mail claim or preferred_username, said which', async () => {
    const h = await start({ AUTH_SCOPES: 'User.Read email' });
    const adele = (await (await signedIn(h, ADELE.username)).call('me', { url: '/auth/me' })).json().user;
    expect(adele).toMatchObject({
      roles: ['Orders.Admin'],
      groups: ['g-1'],
      email: 'adele.vance@contoso.example',
      emailSource: 'email',
    });
    expect(adele.loginHint).toBeUndefined();
    const alex = (await (await signedIn(h, ALEX.username)).call('me', { url: '/auth/me' })).json().user;
    expect(alex).toMatchObject({ groupsOverage: true, email: ALEX.username, emailSource: 'preferred_username' });
    expect(alex.groups).toBeUndefined();
  });

  test('a user without a required role gets a 403 page at the callback and no session; one with it signs in', async () => {
    const h = await start({ AUTH_REQUIRED_ROLES: 'Orders.Admin,Orders.Auditor' });
    const browser = h.newBrowser();
    const sessionsBefore = (await tableRows(azurite.connectionString, 'AuthSessions')).length;
    const { authorizeUrl } = await browser.startSignIn();
    const refused = await browser.callback(await browser.signInAtProvider(authorizeUrl, MEGAN.username));
    expect(refused.status).toBe(403);
    expect(refused.headers['content-type']).toMatch(/^text\/html/);
    expect(refused.body).toContain('role_required');
    expect(browser.jar.has(SESSION_COOKIE)).toBe(false);
    expect((await tableRows(azurite.connectionString, 'AuthSessions')).length).toBe(sessionsBefore);
    await signedIn(h, ADELE.username);
  });
});

describe('sign-out that returns', () => {
  test('logout_hint from the login_hint claim; Entra returns to a registered reply URL, not to an unregistered one', async () => {
    const h = await start();
    const browser = await signedIn(h, ADELE.username);
    const out = await browser.call('logout', { method: 'POST', url: '/auth/logout', headers: { 'x-csrf': '1' } });
    const logoutUrl = new URL(out.json().logoutUrl);
    expect(logoutUrl.searchParams.get('logout_hint')).toBeTruthy();
    const back = await fetch(logoutUrl, { redirect: 'manual' });
    expect(back.status).toBe(302);
    expect(back.headers.get('location')).toBe(`${PUBLIC_ORIGIN}/`);
    expect(h.standIn.endSessionRequests().at(-1)).toMatchObject({ hintedUser: ADELE.username, redirected: true });

    // Allowed by AUTH_ALLOWED_RETURN_ORIGINS but not registered in Entra: the user stays on Entra's page.
    const other = await signedIn(h, ADELE.username);
    const stranded = await other.call('logout', {
      method: 'POST',
      url: `/auth/logout?post_logout_redirect_uri=${encodeURIComponent(`${APP_ORIGIN}/bye`)}`,
      headers: { 'x-csrf': '1' },
    });
    expect((await fetch(stranded.json().logoutUrl, { redirect: 'manual' })).status).toBe(200);
  });
});

describe('tenancy: organizations authority, tenant allow-list, claims-mapping keys', () => {
  test('organizations + AUTH_ALLOWED_TENANTS: a user of another allowed tenant signs in with their own tid', async () => {
    const h = await start(
      { AUTH_ALLOWED_TENANTS: `${DEFAULT_TENANT_ID},${OTHER_TENANT}` },
      { multiTenant: 'organizations' },
    );
    expect(h.config.authority.endsWith('/organizations')).toBe(true);
    const me = (await (await signedIn(h, LEE.username)).call('me', { url: '/auth/me' })).json().user;
    expect(me.tenantId).toBe(OTHER_TENANT);
  });

  test('a tenant outside AUTH_ALLOWED_TENANTS: 403 tenant_not_allowed, no session', async () => {
    const h = await start({}, { multiTenant: 'organizations' });
    // Harness points AUTH_AUTHORITY at the stand-in's authority (organizations) and allows only the home tenant.
    const browser = h.newBrowser();
    const { authorizeUrl } = await browser.startSignIn();
    const refused = await browser.callback(await browser.signInAtProvider(authorizeUrl, LEE.username));
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('tenant_not_allowed');
    expect(browser.jar.has(SESSION_COOKIE)).toBe(false);
  });

  test('claims-mapping tenants: discovery with ?appid= finds the app signing key, so sign-in works', async () => {
    const h = await start();
    expect(h.config.discoveryUrl).toContain(`?appid=${CLIENT_ID}`);
    await signedIn(h);
  });

  test('prompt=create (External ID sign-up) reaches the authorize request', async () => {
    const h = await start();
    const { authorizeUrl } = await h.newBrowser().startSignIn('prompt=create');
    expect(new URL(authorizeUrl).searchParams.get('prompt')).toBe('create');
  });
});

describe('Azure AD B2C shape: AUTH_PROTOCOL=oidc, AUTH_SCOPES=openid (no tid, no Graph)', () => {
  test('signs in with iss + sub as the user, refreshes, and signs out', async () => {
    const h = await Harness.start({ azurite, protocol: 'oidc', env: { AUTH_SCOPES: 'openid' } });
    harnesses.push(h);
    const browser = await signedIn(h, h.standIn.users[0]!.username);
    const me = (await browser.call('me', { url: '/auth/me' })).json().user;
    expect(me.tenantId).toBeUndefined();
    expect(me.issuer).toBe(h.standIn.issuer);
    expect(me.id).toBe(h.standIn.users[0]!.sub);
    const refreshed = await refresh(browser);
    expect(refreshed.status).toBe(200);
    h.seenSecrets.add(refreshed.json().access_token);
    const out = await browser.call('logout', { method: 'POST', url: '/auth/logout', headers: { 'x-csrf': '1' } });
    expect(new URL(out.json().logoutUrl).searchParams.get('logout_hint')).toBeNull();
    noLeaks(h);
  });
});
