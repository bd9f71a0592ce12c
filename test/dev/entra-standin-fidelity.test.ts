/**
 * The Entra stand-in refuses where Entra refuses, at the same step (fidelity review §1.3, S1–S13). Each test names
 * its row in dev/entra-standin/FIDELITY.md. Raw protocol requests, so what is checked is Entra's answer, not a
 * client library's reading of it.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import {
  DEMO_PASSWORD,
  GRAPH_RESOURCE_ID,
  startEntraStandIn,
  type EntraStandIn,
  type StandInUser,
} from '../../dev/entra-standin';
import { authorizeUrlFor, codeFor, pkcePair, tokenRequest } from '../_support/entra-protocol';

const CLIENT = '0a1b2c3d-0000-4000-8000-000000000015';
const SECRET = 'fidelity-secret-value-0123456789';
const REDIRECT = 'https://auth.contoso.example/auth/callback';
const SPA_REDIRECT = 'https://spa.contoso.example/';
const NATIVE_REDIRECT = 'com.contoso.app:/oauth2redirect';
const SIGNED_OUT = 'https://app.contoso.example/';
const API = 'api://contoso-api';
const OTHER_TENANT = '5e2a9c1d-4b3f-4e6a-8c7d-9f0e1a2b3c4d';
const V2_API = 'api://contoso-v2';
const V2_API_APP_ID = '7d2e1c4b-0000-4000-8000-0000000000a2';

function user(name: string, username: string, oid: string, extra: Partial<StandInUser> = {}): StandInUser {
  return { username, password: DEMO_PASSWORD, name, oid, sub: `sub-${oid}`, ...extra };
}

const USERS: StandInUser[] = [
  user('Adele Vance', 'adele@contoso.example', '4d3b0a8e-2a6f-4f55-9c1e-6a1f0d2b7c31', {
    email: 'adele.vance@contoso.example',
    roles: ['Reader'],
    groups: ['g-1', 'g-2'],
  }),
  user('Alex Wilber', 'alex@contoso.example', '8f2c6b1d-5e7a-4b9c-a0d3-1e4f7a2b9c52', {
    groups: Array.from({ length: 201 }, (_, i) => `group-${i}`),
  }),
  user('Fabrikam Guest', 'lee@fabrikam.example', 'c6a9e3f0-7b1d-4e28-b5c4-3d8e0f1a6b73', { tenantId: OTHER_TENANT }),
];
const [ADELE, ALEX, LEE] = USERS.map((u) => u.username) as [string, string, string];

let standIn: EntraStandIn;
beforeAll(async () => {
  standIn = await startEntraStandIn({
    multiTenant: 'organizations',
    users: USERS,
    apis: [{ identifierUri: V2_API, appId: V2_API_APP_ID, accessTokenVersion: 2 }],
    clients: [
      {
        clientId: CLIENT,
        secrets: [SECRET],
        redirectUris: [REDIRECT, SIGNED_OUT],
        spaRedirectUris: [SPA_REDIRECT],
        publicClientRedirectUris: [NATIVE_REDIRECT],
        optionalClaims: ['login_hint'],
        groupMembershipClaims: true,
        claimsMappingPolicy: true,
        consentedScopes: [`${V2_API}/Reports.Read`],
      },
    ],
  });
});
afterAll(async () => {
  await standIn.stop();
});

/** A sign-in at the stand-in's home tenant: code + verifier for the scopes asked at /authorize. */
async function signIn(
  username: string,
  scope: string,
  extra: Record<string, string> = {},
  redirectUri = REDIRECT,
  authority?: string,
) {
  const pkce = pkcePair();
  const url = authorizeUrlFor(
    standIn,
    {
      client_id: CLIENT,
      redirect_uri: redirectUri,
      scope,
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
      nonce: 'n-1',
      ...extra,
    },
    authority ?? `${standIn.url}/${standIn.tenantId}`,
  );
  return { code: await codeFor(standIn, url, username), verifier: pkce.verifier, redirectUri };
}

function redeem(
  s: { code: string; verifier: string; redirectUri: string },
  scope: string,
  extra: Record<string, string> = {},
  headers: Record<string, string> = {},
) {
  return tokenRequest(
    standIn,
    {
      grant_type: 'authorization_code',
      client_id: CLIENT,
      client_secret: SECRET,
      code: s.code,
      code_verifier: s.verifier,
      redirect_uri: s.redirectUri,
      scope,
      ...extra,
    },
    { authority: `${standIn.url}/${standIn.tenantId}`, headers },
  );
}

function refresh(refreshToken: string, scope: string, extra: Record<string, string> = {}) {
  return tokenRequest(
    standIn,
    {
      grant_type: 'refresh_token',
      client_id: CLIENT,
      client_secret: SECRET,
      refresh_token: refreshToken,
      scope,
      ...extra,
    },
    { authority: `${standIn.url}/${standIn.tenantId}` },
  );
}

describe('S1 / S2: several resources consented at /authorize, one resource per token request, consent enforced', () => {
  test('S1: /authorize accepts Graph + API scopes; /token refuses both at once with AADSTS28000; each alone works from the one refresh token', async () => {
    const s = await signIn(ADELE, `openid profile offline_access User.Read ${API}/Orders.Read`);
    const mixed = await redeem(s, `openid offline_access User.Read ${API}/Orders.Read`);
    expect(mixed.status).toBe(400);
    expect(mixed.body.error).toBe('invalid_scope');
    expect(mixed.body.error_codes).toEqual([28000]);

    const s2 = await signIn(ADELE, `openid profile offline_access User.Read ${API}/Orders.Read`);
    const graph = await redeem(s2, 'openid profile offline_access User.Read');
    expect(graph.status).toBe(200);
    const api = await refresh(graph.body.refresh_token, `${API}/Orders.Read offline_access`);
    expect(api.status).toBe(200);
    expect(decodeJwt(api.body.access_token).aud).toBe(API);
    const mixedRefresh = await refresh(graph.body.refresh_token, `User.Read ${API}/Orders.Read`);
    expect(mixedRefresh.body.error_codes).toEqual([28000]);
  });

  test('S2: a scope nobody consented to is AADSTS65001 — at redemption plainly, at refresh with suberror consent_required', async () => {
    const s = await signIn(ALEX, 'openid profile offline_access User.Read');
    const unconsented = await redeem(s, `openid offline_access ${API}/Orders.Write`);
    expect(unconsented.body.error).toBe('invalid_grant');
    expect(unconsented.body.error_codes).toEqual([65001]);
    expect(unconsented.body.suberror).toBeUndefined();

    const s2 = await signIn(ALEX, 'openid profile offline_access User.Read');
    const ok = await redeem(s2, 'openid profile offline_access User.Read');
    const later = await refresh(ok.body.refresh_token, `${API}/Orders.Write`);
    expect(later.body).toMatchObject({ error: 'invalid_grant', error_codes: [65001], suberror: 'consent_required' });
  });
});

describe('S3: claims challenges and terminal refresh errors carry what Entra sends', () => {
  test('an injected error carries suberror and claims; MFA required (AADSTS50076 basic_action) until a sign-in carries the claims', async () => {
    const challenge = '{"access_token":{"capolids":{"essential":true,"values":["c0a1"]}}}';
    standIn.injectFault('token', {
      aadsts: 50076,
      error: 'invalid_grant',
      suberror: 'basic_action',
      claims: challenge,
    });
    const injected = await refresh('anything', 'User.Read');
    expect(injected.body).toMatchObject({
      error: 'invalid_grant',
      error_codes: [50076],
      suberror: 'basic_action',
      claims: challenge,
    });
    expect(injected.body.correlation_id).toMatch(/^[0-9a-f-]{36}$/);

    const before = await redeem(
      await signIn(ADELE, `openid offline_access ${API}/Orders.Read`),
      `openid offline_access ${API}/Orders.Read`,
    );
    standIn.requireClaims({ username: ADELE, resource: API, claims: challenge });
    const challenged = await refresh(before.body.refresh_token, `${API}/Orders.Read`);
    expect(challenged.body).toMatchObject({
      error: 'invalid_grant',
      error_codes: [50076],
      suberror: 'basic_action',
      claims: challenge,
    });
    // Graph is not covered by the policy: the same refresh token still serves it.
    expect((await refresh(before.body.refresh_token, 'User.Read')).status).toBe(200);

    const stepped = await redeem(
      await signIn(ADELE, `openid offline_access ${API}/Orders.Read`, { claims: challenge }),
      `openid offline_access ${API}/Orders.Read`,
    );
    expect(stepped.status).toBe(200);
    expect((await refresh(stepped.body.refresh_token, `${API}/Orders.Read`)).status).toBe(200);
  });

  test('a malformed claims request at /authorize is refused there (redirect with invalid_request)', async () => {
    const pkce = pkcePair();
    const url = authorizeUrlFor(standIn, {
      client_id: CLIENT,
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
      claims: '{not json',
    });
    const location = new URL((await fetch(url, { redirect: 'manual' })).headers.get('location') ?? '');
    expect(location.searchParams.get('error')).toBe('invalid_request');
  });

  test('a disabled account: refresh answers invalid_grant AADSTS50057 with no suberror, and sign-in is refused', async () => {
    const tokens = await redeem(
      await signIn(ALEX, 'openid offline_access User.Read'),
      'openid offline_access User.Read',
    );
    standIn.disableUser(ALEX);
    try {
      const refused = await refresh(tokens.body.refresh_token, 'User.Read');
      expect(refused.body).toMatchObject({ error: 'invalid_grant', error_codes: [50057] });
      expect(refused.body.suberror).toBeUndefined();
      await expect(signIn(ALEX, 'openid')).rejects.toThrow(/AADSTS50057/);
    } finally {
      standIn.disableUser(ALEX, false);
    }
  });
});

describe('S4: sign-out returns only to a registered redirect (reply) URI; logout_hint names the account', () => {
  test('registered URI → 302 with state; same origin but unregistered → signed-out page; the hint maps to the user', async () => {
    const tokens = await redeem(await signIn(ADELE, 'openid profile User.Read'), 'openid profile User.Read');
    const hint = String(decodeJwt(tokens.body.id_token).login_hint);
    const logout = `${standIn.frontChannelUrl}/${standIn.tenantId}/oauth2/v2.0/logout`;
    const back = await fetch(
      `${logout}?post_logout_redirect_uri=${encodeURIComponent(SIGNED_OUT)}&logout_hint=${encodeURIComponent(hint)}&state=s`,
      { redirect: 'manual' },
    );
    expect(back.status).toBe(302);
    expect(back.headers.get('location')).toBe(`${SIGNED_OUT}?state=s`);
    const stranded = await fetch(`${logout}?post_logout_redirect_uri=${encodeURIComponent(`${SIGNED_OUT}bye`)}`, {
      redirect: 'manual',
    });
    expect(stranded.status).toBe(200);
    const seen = standIn.endSessionRequests();
    expect(seen.at(-2)).toMatchObject({ redirected: true, hintedUser: ADELE });
    expect(seen.at(-1)).toMatchObject({ redirected: false });
  });
});

describe('S5: multi-tenant authority', () => {
  test('/organizations discovery names the {tenantid} issuer; each user gets their own tenant in iss and tid', async () => {
    const doc = (await (
      await fetch(`${standIn.url}/organizations/v2.0/.well-known/openid-configuration`)
    ).json()) as Record<string, string>;
    expect(doc.issuer).toBe(`${standIn.url}/{tenantid}/v2.0`);
    expect(standIn.authority).toBe(`${standIn.url}/organizations`);
    const s = await signIn(LEE, 'openid profile', {}, REDIRECT, standIn.authority);
    const tokens = await tokenRequest(standIn, {
      grant_type: 'authorization_code',
      client_id: CLIENT,
      client_secret: SECRET,
      code: s.code,
      code_verifier: s.verifier,
      redirect_uri: REDIRECT,
      scope: 'openid profile',
    });
    const claims = decodeJwt(tokens.body.id_token);
    expect(claims.tid).toBe(OTHER_TENANT);
    expect(claims.iss).toBe(`${standIn.url}/${OTHER_TENANT}/v2.0`);
  });

  test('a tenant authority refuses a user of another tenant at sign-in (AADSTS50020)', async () => {
    await expect(signIn(LEE, 'openid')).rejects.toThrow(/AADSTS50020/);
  });
});

describe('S8: ID token claims that depend on the app registration', () => {
  test('roles, groups, sid and login_hint; email only from the mail attribute and only when asked for', async () => {
    const adele = decodeJwt((await redeem(await signIn(ADELE, 'openid profile'), 'openid profile')).body.id_token);
    expect(adele).toMatchObject({ roles: ['Reader'], groups: ['g-1', 'g-2'] });
    expect(typeof adele.sid).toBe('string');
    expect(typeof adele.login_hint).toBe('string');
    expect(adele.email).toBeUndefined();
    const withEmail = decodeJwt(
      (await redeem(await signIn(ADELE, 'openid profile email'), 'openid profile email')).body.id_token,
    );
    expect(withEmail.email).toBe('adele.vance@contoso.example');
  });

  test('more than 200 groups: the overage form (_claim_names / _claim_sources), no groups claim', async () => {
    const alex = decodeJwt((await redeem(await signIn(ALEX, 'openid profile'), 'openid profile')).body.id_token);
    expect(alex.groups).toBeUndefined();
    expect(alex._claim_names).toEqual({ groups: 'src1' });
    expect(alex._claim_sources).toHaveProperty('src1.endpoint');
  });

  test('claims mapping: tokens are signed with a key published only under ?appid=<client id>', async () => {
    const idToken = (await redeem(await signIn(ADELE, 'openid'), 'openid')).body.id_token as string;
    const plain = (await (
      await fetch(`${standIn.url}/${standIn.tenantId}/v2.0/.well-known/openid-configuration`)
    ).json()) as Record<string, string>;
    const withAppId = (await (
      await fetch(`${standIn.url}/${standIn.tenantId}/v2.0/.well-known/openid-configuration?appid=${CLIENT}`)
    ).json()) as Record<string, string>;
    expect(new URL(withAppId.jwks_uri!).searchParams.get('appid')).toBe(CLIENT);
    await expect(jwtVerify(idToken, createRemoteJWKSet(new URL(plain.jwks_uri!)))).rejects.toThrow();
    await expect(jwtVerify(idToken, createRemoteJWKSet(new URL(withAppId.jwks_uri!)))).resolves.toHaveProperty(
      'payload.aud',
      CLIENT,
    );
  });
});

describe('S7: access token shapes', () => {
  test('Graph: v1 (iss sts.windows.net), unverifiable by third parties (header nonce), verifiable by "Graph" (verifyAccessToken)', async () => {
    const tokens = await redeem(await signIn(ADELE, 'openid User.Read'), 'openid User.Read');
    const claims = decodeJwt(tokens.body.access_token);
    expect(claims).toMatchObject({
      aud: GRAPH_RESOURCE_ID,
      iss: `https://sts.windows.net/${standIn.tenantId}/`,
      ver: '1.0',
      appid: CLIENT,
    });
    expect(decodeProtectedHeader(tokens.body.access_token).nonce).toEqual(expect.any(String));
    await expect(jwtVerify(tokens.body.access_token, createRemoteJWKSet(new URL(standIn.jwksUri)))).rejects.toThrow();
    await expect(standIn.verifyAccessToken(tokens.body.access_token, GRAPH_RESOURCE_ID)).resolves.toHaveProperty('oid');
  });

  test('an API left at the default (requestedAccessTokenVersion null) gets v1 tokens: aud = identifier URI', async () => {
    const tokens = await redeem(await signIn(ADELE, `openid ${API}/Orders.Read`), `openid ${API}/Orders.Read`);
    expect(decodeJwt(tokens.body.access_token)).toMatchObject({
      aud: API,
      iss: `https://sts.windows.net/${standIn.tenantId}/`,
      ver: '1.0',
    });
  });

  test('an API whose manifest asks for v2 gets aud = its client id and the v2 issuer', async () => {
    const tokens = await redeem(await signIn(ADELE, `openid ${V2_API}/Reports.Read`), `openid ${V2_API}/Reports.Read`);
    const claims = decodeJwt(tokens.body.access_token);
    expect(claims).toMatchObject({
      aud: V2_API_APP_ID,
      iss: `${standIn.url}/${standIn.tenantId}/v2.0`,
      ver: '2.0',
      azp: CLIENT,
    });
    await expect(standIn.verifyAccessToken(tokens.body.access_token, V2_API_APP_ID)).resolves.toHaveProperty(
      'scp',
      'Reports.Read',
    );
  });
});

describe('S9: AADSTS codes of common registration mistakes, at the step Entra gives them', () => {
  test('a code for a SPA-platform redirect URI redeemed server-side (no Origin) is AADSTS9002327; with Origin it works', async () => {
    const refused = await redeem(await signIn(ADELE, 'openid', {}, SPA_REDIRECT), 'openid');
    expect(refused.body).toMatchObject({ error: 'invalid_request', error_codes: [9002327] });
    const browser = await redeem(
      await signIn(ADELE, 'openid', {}, SPA_REDIRECT),
      'openid',
      {},
      { origin: 'https://spa.contoso.example' },
    );
    expect(browser.status).toBe(200);
  });

  test('a code for a mobile/desktop redirect URI redeemed with a secret is AADSTS700025', async () => {
    const refused = await redeem(await signIn(ADELE, 'openid', {}, NATIVE_REDIRECT), 'openid');
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ error: 'invalid_client', error_codes: [700025] });
  });

  test('cp1 declared in the token request claims: the access token says xms_cc', async () => {
    const tokens = await redeem(await signIn(ADELE, 'openid User.Read'), 'openid User.Read', {
      claims: '{"access_token":{"xms_cc":{"values":["cp1"]}}}',
    });
    expect(decodeJwt(tokens.body.access_token).xms_cc).toEqual(['cp1']);
    expect(standIn.tokenRequests().at(-1)?.claims).toEqual({ access_token: { xms_cc: { values: ['cp1'] } } });
  });
});

describe('S10: prompt values', () => {
  test('prompt=create (External ID sign-up) is accepted; prompt=none without an Entra session is login_required', async () => {
    const pkce = pkcePair();
    const base = {
      client_id: CLIENT,
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: pkce.challenge,
      code_challenge_method: 'S256',
    };
    expect((await fetch(authorizeUrlFor(standIn, { ...base, prompt: 'create' }), { redirect: 'manual' })).status).toBe(
      200,
    );
    const none = new URL(
      (await fetch(authorizeUrlFor(standIn, { ...base, prompt: 'none' }), { redirect: 'manual' })).headers.get(
        'location',
      ) ?? '',
    );
    expect(none.searchParams.get('error')).toBe('login_required');
  });
});
