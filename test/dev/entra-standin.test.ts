/**
 * The Entra stand-in, driven through real `fetch` and — what matters most — the real `@azure/msal-node`
 * ConfidentialClientApplication, so the production MSAL configuration path is proven against it.
 *
 * Needs NODE_EXTRA_CA_CERTS=<DEV_CA_DIR>/ca.pem (set by test/run.mjs) because MSAL's HTTP client and fetch
 * trust the stand-in only through the platform's CA store, exactly as the service will.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { expectPresent } from '../_support/expect-present';
import { createHash, createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import {
  ConfidentialClientApplication,
  CryptoProvider,
  ProtocolMode,
  type AuthenticationResult,
  type Configuration,
} from '@azure/msal-node';
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT } from 'jose';
import { devCaFromEnvironment, issueServerCertificate } from '../../dev/ca';
import {
  GRAPH_RESOURCE_ID,
  startEntraStandIn,
  StandInSignInError,
  type EntraStandIn,
  type StandInClient,
} from '../../dev/entra-standin';

const REDIRECT = 'http://localhost:7071/auth/callback';
const SECRET = 'stand-in-test-secret~0123456789';
const CLIENT = 'b1c2d3e4-0000-4000-8000-00000000c0de';
const CERT_CLIENT = 'b1c2d3e4-0000-4000-8000-0000000ce47e';
const FED_CLIENT = 'b1c2d3e4-0000-4000-8000-00000000fed0';
const ADELE = 'adele@contoso.example';

const ca = devCaFromEnvironment();
// Any certificate/key pair will do for a client certificate; the dev CA issues one quickly.
const clientCert = issueServerCertificate(ca, ['client-cert.test']);
const otherCert = issueServerCertificate(ca, ['other-cert.test']);
const federatedKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });

function clients(): StandInClient[] {
  return [
    {
      clientId: CLIENT,
      displayName: 'Contoso <Sign-in> "Demo"',
      secrets: [SECRET],
      redirectUris: [REDIRECT, 'https://app.contoso.example/signed-out'],
      consentedScopes: ['api://contoso-api/Orders.Read'],
    },
    { clientId: CERT_CLIENT, redirectUris: [REDIRECT], certificates: [clientCert.certPem] },
    {
      clientId: FED_CLIENT,
      redirectUris: [REDIRECT],
      federated: [
        {
          issuer: 'https://token.actions.example',
          subject: 'repo:contoso/app:environment:prod',
          publicKeyPem: federatedKeys.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        },
      ],
    },
  ];
}

function msalApp(
  standIn: EntraStandIn,
  auth: Partial<Configuration['auth']> = { clientSecret: SECRET },
  clientId = CLIENT,
): ConfidentialClientApplication {
  return new ConfidentialClientApplication({
    auth: { clientId, authority: standIn.authority, knownAuthorities: [new URL(standIn.url).host], ...auth },
    ...(standIn.protocol === 'oidc' ? { system: { protocolMode: ProtocolMode.OIDC } } : {}),
  });
}

interface Started {
  code: string;
  verifier: string;
  nonce: string;
  scopes: string[];
}

async function authorizeWithMsal(
  standIn: EntraStandIn,
  app: ConfidentialClientApplication,
  scopes: string[] = ['User.Read'],
): Promise<Started> {
  const { verifier, challenge } = await new CryptoProvider().generatePkceCodes();
  const nonce = `nonce-${Math.random().toString(36).slice(2)}`;
  const url = await app.getAuthCodeUrl({
    scopes,
    redirectUri: REDIRECT,
    codeChallenge: challenge,
    codeChallengeMethod: 'S256',
    state: 'state-1',
    nonce,
  });
  const location = new URL(await standIn.signIn(url, ADELE));
  expect(location.origin + location.pathname).toBe(REDIRECT);
  expect(location.searchParams.get('state')).toBe('state-1');
  const code = location.searchParams.get('code');
  expectPresent(code);
  expect(code.length > 100).toBeTruthy();
  return { code, verifier, nonce, scopes };
}

function redeem(
  app: ConfidentialClientApplication,
  s: Started,
  overrides: { codeVerifier?: string } = {},
): Promise<AuthenticationResult> {
  // MSAL 7's confidential client checks the ID token nonce only from request.nonce (it drops a payload's nonce).
  return app.acquireTokenByCode({
    code: s.code,
    scopes: s.scopes,
    redirectUri: REDIRECT,
    codeVerifier: overrides.codeVerifier ?? s.verifier,
    nonce: s.nonce,
  });
}

async function msalError(promise: Promise<unknown>): Promise<{ errorCode: string; errorMessage: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { errorCode: string; errorMessage: string };
  }
  throw new Error('expected MSAL to throw');
}

async function tokenRequest(
  standIn: EntraStandIn,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(standIn.tokenEndpoint, { method: 'POST', body: new URLSearchParams(form), headers });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

async function pkce(): Promise<{ verifier: string; challenge: string }> {
  return new CryptoProvider().generatePkceCodes();
}

function authorizeUrl(standIn: EntraStandIn, params: Record<string, string>): string {
  const base =
    standIn.protocol === 'entra'
      ? `${standIn.frontChannelUrl}/${standIn.tenantId}/oauth2/v2.0/authorize`
      : `${standIn.frontChannelUrl}/oidc/auth`;
  return `${base}?${new URLSearchParams(params)}`;
}

describe('Entra stand-in (entra protocol)', () => {
  let standIn: EntraStandIn;
  beforeAll(async () => {
    standIn = await startEntraStandIn({ clients: clients() });
  });
  afterAll(async () => {
    await standIn.stop();
  });

  test('serves Entra-shaped discovery at both tenant paths and an RS256 JWKS', async () => {
    expect(standIn.authority).toBe(`${standIn.url}/${standIn.tenantId}`);
    for (const path of ['v2.0/.well-known/openid-configuration', '.well-known/openid-configuration']) {
      const doc = (await (await fetch(`${standIn.authority}/${path}`)).json()) as Record<string, unknown>;
      expect(doc.issuer).toBe(`${standIn.authority}/v2.0`);
      expect(doc.authorization_endpoint).toBe(`${standIn.authority}/oauth2/v2.0/authorize`);
      expect(doc.token_endpoint).toBe(`${standIn.authority}/oauth2/v2.0/token`);
      expect(doc.end_session_endpoint).toBe(`${standIn.authority}/oauth2/v2.0/logout`);
      expect(doc.jwks_uri).toBe(`${standIn.authority}/discovery/v2.0/keys`);
      expect(doc.code_challenge_methods_supported).toStrictEqual(['S256']);
    }
    const jwks = (await (await fetch(standIn.jwksUri)).json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys.length).toBe(1);
    expect(Object.keys(jwks.keys[0]!).sort()).toStrictEqual(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    expect(jwks.keys[0]!.alg).toBe('RS256');
  });

  test('MSAL: code + PKCE redemption, Entra claims, client_info, then refresh through acquireTokenSilent', async () => {
    const app = msalApp(standIn);
    const started = await authorizeWithMsal(standIn, app);
    const before = standIn.counters.codeRedemptions;
    const result = await redeem(app, started);
    expect(standIn.counters.codeRedemptions).toBe(before + 1);
    const user = standIn.users.find((u) => u.username === ADELE)!;
    // client_info made MSAL key the account by oid.tid, exactly as with real Entra.
    expect(result.account?.homeAccountId).toBe(`${user.oid}.${standIn.tenantId}`);
    expect(result.account?.username).toBe(ADELE);
    const claims = result.idTokenClaims as Record<string, unknown>;
    expect(claims.nonce).toBe(started.nonce);
    expect(claims.tid).toBe(standIn.tenantId);
    expect(claims.oid).toBe(user.oid);
    expect(claims.ver).toBe('2.0');

    // The ID token verifies against the published JWKS with the checks the service will make.
    const { payload, protectedHeader } = await jwtVerify(result.idToken, createRemoteJWKSet(new URL(standIn.jwksUri)), {
      issuer: standIn.issuer,
      audience: CLIENT,
      algorithms: ['RS256'],
    });
    expect(protectedHeader.kid).toBeTruthy();
    expect(payload.sub).toBe(user.sub);
    const access = decodeJwt(result.accessToken);
    expect(access.aud).toBe(GRAPH_RESOURCE_ID);
    expect(access.scp).toBe('User.Read');
    expect(await standIn.verifyAccessToken(result.accessToken, GRAPH_RESOURCE_ID).then((p) => p.oid)).toStrictEqual(
      user.oid,
    );

    const refreshes = standIn.counters.token.refresh_token ?? 0;
    const refreshed = await app.acquireTokenSilent({
      account: result.account!,
      scopes: ['User.Read'],
      forceRefresh: true,
    });
    expect(standIn.counters.token.refresh_token).toBe(refreshes + 1);
    expect(refreshed.accessToken).not.toBe(result.accessToken);
    expect((refreshed.idTokenClaims as Record<string, unknown>).oid).toBe(user.oid);

    // A token for another resource from the same refresh token: audience follows the api:// scope.
    const api = await app.acquireTokenSilent({ account: result.account!, scopes: ['api://contoso-api/Orders.Read'] });
    expect(decodeJwt(api.accessToken).aud).toBe('api://contoso-api');
    expect(decodeJwt(api.accessToken).scp).toBe('Orders.Read');

    const secrets = standIn.issuedSecrets();
    for (const value of [started.code, result.accessToken, result.idToken, refreshed.accessToken, SECRET])
      expect(secrets.includes(value)).toBeTruthy();
  });

  test('MSAL: wrong client secret is invalid_client (AADSTS7000215), with an Entra-shaped error body', async () => {
    const app = msalApp(standIn, { clientSecret: 'not-the-secret' });
    const started = await authorizeWithMsal(standIn, app);
    const error = await msalError(redeem(app, started));
    expect(error.errorCode).toBe('invalid_client');
    expect(error.errorMessage).toMatch(/AADSTS7000215/);

    const raw = await tokenRequest(
      standIn,
      { grant_type: 'authorization_code', client_id: CLIENT, client_secret: 'nope', code: 'x' },
      { 'client-request-id': '11111111-2222-4333-8444-555555555555' },
    );
    expect(raw.status).toBe(401);
    expect(raw.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(raw.body.error_codes).toStrictEqual([7000215]);
    expect(raw.body.correlation_id).toBe('11111111-2222-4333-8444-555555555555');
    expect(String(raw.body.error_description)).toMatch(
      /^AADSTS7000215: .*\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: 11111111-2222-4333-8444-555555555555\r\nTimestamp: /,
    );
  });

  test('HTTP Basic client authentication is accepted (form-urlencoded id and secret)', async () => {
    const basic = Buffer.from(`${encodeURIComponent(CLIENT)}:${encodeURIComponent(SECRET)}`).toString('base64');
    const raw = await tokenRequest(
      standIn,
      { grant_type: 'refresh_token', refresh_token: 'unknown' },
      { Authorization: `Basic ${basic}` },
    );
    // Authentication passed; the grant itself is what fails.
    expect(raw.status).toBe(400);
    expect(raw.body.error).toBe('invalid_grant');
  });

  test('MSAL: a code redeemed twice is invalid_grant AADSTS54005', async () => {
    const app = msalApp(standIn);
    const started = await authorizeWithMsal(standIn, app);
    await redeem(app, started);
    const error = await msalError(redeem(msalApp(standIn), started));
    expect(error.errorCode).toBe('invalid_grant');
    expect(error.errorMessage).toMatch(/AADSTS54005/);
  });

  test('MSAL: a wrong PKCE verifier is invalid_grant AADSTS501481, and burns the code', async () => {
    const app = msalApp(standIn);
    const started = await authorizeWithMsal(standIn, app);
    const error = await msalError(redeem(app, started, { codeVerifier: (await pkce()).verifier }));
    expect(error.errorCode).toBe('invalid_grant');
    expect(error.errorMessage).toMatch(/AADSTS501481/);
    const retry = await msalError(redeem(app, started));
    expect(retry.errorMessage).toMatch(/AADSTS54005/);
  });

  test('token endpoint: redirect_uri must match the authorize request; expired codes; unsupported grants', async () => {
    const app = msalApp(standIn);
    const started = await authorizeWithMsal(standIn, app);
    const mismatch = await tokenRequest(standIn, {
      grant_type: 'authorization_code',
      client_id: CLIENT,
      client_secret: SECRET,
      code: started.code,
      redirect_uri: 'http://localhost:7071/other',
      code_verifier: started.verifier,
    });
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.error).toBe('invalid_grant');

    const late = await authorizeWithMsal(standIn, app);
    standIn.advanceTime(11 * 60 * 1000);
    try {
      const expired = await tokenRequest(standIn, {
        grant_type: 'authorization_code',
        client_id: CLIENT,
        client_secret: SECRET,
        code: late.code,
        redirect_uri: REDIRECT,
        code_verifier: late.verifier,
      });
      expect(expired.body.error_codes).toStrictEqual([70008]);
    } finally {
      standIn.advanceTime(-11 * 60 * 1000);
    }

    const grant = await tokenRequest(standIn, { grant_type: 'password', client_id: CLIENT, client_secret: SECRET });
    expect(grant.status).toBe(400);
    expect(grant.body.error).toBe('unsupported_grant_type');
  });

  test('MSAL: certificate assertion (x5t#S256, PS256) is accepted; an unregistered certificate is rejected', async () => {
    const thumbprint = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
    const pkcs8 = (pem: string) => createPrivateKey(pem).export({ type: 'pkcs8', format: 'pem' }).toString();
    const app = msalApp(
      standIn,
      {
        clientCertificate: {
          thumbprintSha256: thumbprint(clientCert.certPem),
          privateKey: pkcs8(clientCert.keyPem),
          x5c: clientCert.certPem,
        },
      },
      CERT_CLIENT,
    );
    const result = await redeem(app, await authorizeWithMsal(standIn, app));
    expect((result.idTokenClaims as Record<string, unknown>).aud).toBe(CERT_CLIENT);
    // MSAL caches its assertion for 10 minutes; reusing it (same jti) must keep working, as with Entra.
    await app.acquireTokenSilent({ account: result.account!, scopes: ['User.Read'], forceRefresh: true });

    const wrong = msalApp(
      standIn,
      { clientCertificate: { thumbprintSha256: thumbprint(otherCert.certPem), privateKey: pkcs8(otherCert.keyPem) } },
      CERT_CLIENT,
    );
    const error = await msalError(redeem(wrong, await authorizeWithMsal(standIn, wrong)));
    expect(error.errorCode).toBe('invalid_client');
    expect(error.errorMessage).toMatch(/AADSTS700027/);

    // Right thumbprint, wrong key: the signature check, not the lookup, rejects it.
    const forged = msalApp(
      standIn,
      { clientCertificate: { thumbprintSha256: thumbprint(clientCert.certPem), privateKey: pkcs8(otherCert.keyPem) } },
      CERT_CLIENT,
    );
    const forgedError = await msalError(redeem(forged, await authorizeWithMsal(standIn, forged)));
    expect(forgedError.errorCode).toBe('invalid_client');
  });

  test('federated assertion: matching iss/sub/aud and key accepted; wrong audience or key rejected', async () => {
    const assertion = (aud: string, key = federatedKeys.privateKey) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'RS256' })
        .setIssuer('https://token.actions.example')
        .setSubject('repo:contoso/app:environment:prod')
        .setAudience(aud)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key);
    const form = async (aud: string, key = federatedKeys.privateKey) => ({
      grant_type: 'refresh_token',
      client_id: FED_CLIENT,
      refresh_token: 'unknown',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await assertion(aud, key),
    });
    const ok = await tokenRequest(standIn, await form('api://AzureADTokenExchange'));
    expect(ok.body.error).toBe('invalid_grant');
    const badAud = await tokenRequest(standIn, await form('api://something-else'));
    expect(badAud.status).toBe(401);
    expect(badAud.body.error).toBe('invalid_client');
    const badKey = await tokenRequest(
      standIn,
      await form('api://AzureADTokenExchange', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey),
    );
    expect(badKey.status).toBe(401);
  });

  test('authorize: unknown client and unregistered redirect_uri get an error page, never a redirect', async () => {
    const { challenge } = await pkce();
    const base = { response_type: 'code', scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256' };
    const unknown = await fetch(authorizeUrl(standIn, { ...base, client_id: 'nobody', redirect_uri: REDIRECT }), {
      redirect: 'manual',
    });
    expect(unknown.status).toBe(400);
    expect(unknown.headers.get('location')).toBe(null);
    expect(await unknown.text()).toMatch(/AADSTS700016/);
    const evil = await fetch(
      authorizeUrl(standIn, { ...base, client_id: CLIENT, redirect_uri: 'https://evil.example/cb' }),
      { redirect: 'manual' },
    );
    expect(evil.status).toBe(400);
    expect(evil.headers.get('location')).toBe(null);
    expect(await evil.text()).toMatch(/AADSTS50011/);
    // signIn() reports the same page as an error.
    await expect(
      standIn.signIn(authorizeUrl(standIn, { ...base, client_id: 'nobody', redirect_uri: REDIRECT }), ADELE),
    ).rejects.toThrow(StandInSignInError);
  });

  test('authorize: PKCE plain or missing, and a non-query response_mode, redirect with invalid_request', async () => {
    const { challenge } = await pkce();
    const base = { client_id: CLIENT, redirect_uri: REDIRECT, response_type: 'code', scope: 'openid', state: 's1' };
    const variants: Array<Record<string, string>> = [
      { code_challenge: challenge, code_challenge_method: 'plain' },
      {},
      { code_challenge: challenge, code_challenge_method: 'S256', response_mode: 'form_post' },
    ];
    for (const extra of variants) {
      const res = await fetch(authorizeUrl(standIn, { ...base, ...extra }), { redirect: 'manual' });
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get('location')!);
      expect(location.origin + location.pathname).toBe(REDIRECT);
      expect(location.searchParams.get('error')).toBe('invalid_request');
      expect(location.searchParams.get('state')).toBe('s1');
    }
  });

  test('sign-in page: cancel gives access_denied AADSTS65004; a wrong password shows the page again', async () => {
    const { challenge } = await pkce();
    const url = authorizeUrl(standIn, {
      client_id: CLIENT,
      redirect_uri: REDIRECT,
      response_type: 'code',
      scope: 'openid profile User.Read',
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 's2',
    });
    const cancelled = new URL(await standIn.signIn(url, ADELE, { cancel: true }));
    expect(cancelled.searchParams.get('error')).toBe('access_denied');
    expect(cancelled.searchParams.get('error_description')!).toMatch(/^AADSTS65004: User declined to consent/);
    expect(cancelled.searchParams.get('state')).toBe('s2');
    await expect(standIn.signIn(url, ADELE, { password: 'wrong' })).rejects.toSatisfy((error: StandInSignInError) => {
      expect(error.status).toBe(200);
      expect(error.message).toMatch(/account or password is incorrect/);
      return true;
    });
  });

  test('sign-in page: escapes a hostile login_hint and app name, lists users and scopes, strict CSP', async () => {
    const { challenge } = await pkce();
    const hostile = '"><script>alert(1)</script><img src=x onerror=alert(2)>';
    const res = await fetch(
      authorizeUrl(standIn, {
        client_id: CLIENT,
        redirect_uri: REDIRECT,
        response_type: 'code',
        scope: 'openid offline_access User.Read',
        code_challenge: challenge,
        code_challenge_method: 'S256',
        login_hint: hostile,
        state: hostile,
      }),
    );
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(!html.includes('<script')).toBeTruthy();
    expect(!html.includes('<img')).toBeTruthy();
    expect(html.includes('&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;')).toBeTruthy();
    expect(!html.includes('Contoso <Sign-in>')).toBeTruthy();
    for (const u of standIn.users) expect(html.includes(u.username) && html.includes(u.name)).toBeTruthy();
    expect(html).toMatch(/Sign you in and read your profile/);
    expect(res.headers.get('content-security-policy')!).toMatch(/default-src 'none'/);
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    // The hostile state round-trips intact through the hidden fields to the redirect.
    const location = new URL(await standIn.signIn(res.url, ADELE));
    expect(location.searchParams.get('state')).toBe(hostile);
  });

  test('faults: 503 HTML, truncated JSON, 429 Retry-After, AADSTS error, destroyed socket, hang, delay', async () => {
    standIn.injectFault('token', { status: 503, body: '<html><body>Service Unavailable</body></html>' });
    const app = msalApp(standIn);
    const started = await authorizeWithMsal(standIn, app);
    const outage = await msalError(redeem(app, started));
    expect(outage.errorCode).toBeTruthy();
    // The fault was consumed; the code was never seen by the token logic, so it still works.
    await redeem(app, started);

    standIn.injectFault('discovery', {
      status: 200,
      body: '{"issuer":"https://127.0',
      contentType: 'application/json',
    });
    await expect((await fetch(standIn.discoveryUrl)).json()).rejects.toThrow();
    standIn.injectFault('token', {
      status: 429,
      headers: { 'Retry-After': '7' },
      body: '{}',
      contentType: 'application/json',
    });
    expect((await tokenRequest(standIn, { grant_type: 'refresh_token' })).headers.get('retry-after')).toBe('7');
    standIn.injectFault('token', {
      aadsts: 50196,
      error: 'temporarily_unavailable',
      description: 'The server is busy.',
      status: 503,
    });
    const busy = await tokenRequest(standIn, { grant_type: 'refresh_token' });
    expect(busy.status).toBe(503);
    expect(busy.body.error_codes).toStrictEqual([50196]);
    standIn.injectFault('jwks', { destroySocket: true });
    await expect(fetch(standIn.jwksUri)).rejects.toThrow();
    standIn.injectFault('jwks', { hang: true });
    await expect(fetch(standIn.jwksUri, { signal: AbortSignal.timeout(300) })).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    standIn.injectFault('jwks', { delayMs: 150 }, 2);
    const t0 = Date.now();
    await fetch(standIn.jwksUri);
    await fetch(standIn.jwksUri);
    expect(Date.now() - t0 >= 290).toBeTruthy();
    expect((await fetch(standIn.jwksUri)).status).toBe(200);
  });

  test('nextIdToken: tampered ID tokens fail verification against the JWKS', async () => {
    const jwks = createRemoteJWKSet(new URL(standIn.jwksUri));
    const verify = (token: string) =>
      jwtVerify(token, jwks, { issuer: standIn.issuer, audience: CLIENT, algorithms: ['RS256'] });
    const cases: Array<[string, Parameters<EntraStandIn['nextIdToken']>[0]]> = [
      ['foreign key, same kid', (c, sign) => sign(c, { key: 'foreign' })],
      ['alg none', (c, sign) => sign(c, { alg: 'none' })],
      ['HS256 keyed with the public key', (c, sign) => sign(c, { alg: 'HS256' })],
      ['unknown kid', (c, sign) => sign(c, { kid: 'no-such-kid' })],
      ['wrong aud', (c, sign) => sign({ ...c, aud: 'someone-else' })],
      ['wrong iss', (c, sign) => sign({ ...c, iss: 'https://evil.example/v2.0' })],
      ['expired', (c, sign) => sign({ ...c, exp: Math.floor(Date.now() / 1000) - 3600 })],
    ];
    for (const [, mutate] of cases) {
      const app = msalApp(standIn);
      const started = await authorizeWithMsal(standIn, app);
      standIn.nextIdToken(mutate);
      // MSAL only decodes ID tokens, so it accepts them: validating is the service's job (jose).
      const result = await redeem(app, started);
      await expect(verify(result.idToken)).rejects.toThrow();
    }
    const app = msalApp(standIn);
    const started = await authorizeWithMsal(standIn, app);
    standIn.nextIdToken((c, sign) => sign({ ...c, nonce: 'other' }));
    expect((await msalError(redeem(app, started))).errorCode).toBe('nonce_mismatch');
  });

  test('signing key rotation: keepOld publishes both keys; new tokens use the new kid', async () => {
    const before = decodeProtectedHeader(
      (await redeem(msalApp(standIn), await authorizeWithMsal(standIn, msalApp(standIn)))).idToken,
    ).kid;
    standIn.rotateSigningKey({ keepOld: true });
    const keys = ((await (await fetch(standIn.jwksUri)).json()) as { keys: Array<{ kid: string }> }).keys.map(
      (k) => k.kid,
    );
    expect(keys.length).toBe(2);
    expect(keys.includes(before!)).toBeTruthy();
    const app = msalApp(standIn);
    const after = decodeProtectedHeader((await redeem(app, await authorizeWithMsal(standIn, app))).idToken).kid;
    expect(after).not.toBe(before);
    expect(keys[0]).toBe(after);
    standIn.rotateSigningKey();
    expect(((await (await fetch(standIn.jwksUri)).json()) as { keys: unknown[] }).keys.length).toBe(1);
  });

  test('refresh tokens: revocation gives AADSTS50173; secret rotation rejects the old secret', async () => {
    const app = msalApp(standIn);
    const result = await redeem(app, await authorizeWithMsal(standIn, app));
    standIn.revokeRefreshTokens({ username: ADELE });
    const revoked = await msalError(
      app.acquireTokenSilent({ account: result.account!, scopes: ['User.Read'], forceRefresh: true }),
    );
    expect(revoked.errorCode).toBe('invalid_grant');
    expect(revoked.errorMessage).toMatch(/AADSTS50173/);

    standIn.setClientSecrets(CLIENT, ['rotated-secret-value']);
    try {
      const stale = await tokenRequest(standIn, {
        grant_type: 'refresh_token',
        client_id: CLIENT,
        client_secret: SECRET,
        refresh_token: 'x',
      });
      expect(stale.body.error_codes).toStrictEqual([7000215]);
      standIn.setClientSecrets(CLIENT, [{ value: 'expired-secret', expiresAt: Date.now() - 1000 }]);
      const expired = await tokenRequest(standIn, {
        grant_type: 'refresh_token',
        client_id: CLIENT,
        client_secret: 'expired-secret',
        refresh_token: 'x',
      });
      expect(expired.body.error_codes).toStrictEqual([7000222]);
    } finally {
      standIn.setClientSecrets(CLIENT, [SECRET]);
    }
    expect(standIn.issuedSecrets().includes('rotated-secret-value')).toBeTruthy();
  });

  test('end session: only a registered redirect (reply) URI is returned to; anything else gets the signed-out page', async () => {
    const logout = `${standIn.authority}/oauth2/v2.0/logout`;
    const registered = await fetch(
      `${logout}?post_logout_redirect_uri=${encodeURIComponent('https://app.contoso.example/signed-out')}&state=x`,
      { redirect: 'manual' },
    );
    expect(registered.status).toBe(302);
    expect(registered.headers.get('location')).toBe('https://app.contoso.example/signed-out?state=x');
    // Same origin as a registered redirect URI is not enough: Entra matches the registered URI itself.
    const sameOrigin = await fetch(
      `${logout}?post_logout_redirect_uri=${encodeURIComponent(new URL('/', REDIRECT).href)}`,
      { redirect: 'manual' },
    );
    expect(sameOrigin.status).toBe(200);
    const evil = await fetch(`${logout}?post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`, {
      redirect: 'manual',
    });
    expect(evil.status).toBe(200);
    expect(await evil.text()).toMatch(/You signed out/);
  });
});

describe('Entra stand-in (oidc protocol, plain-HTTP front channel)', () => {
  let standIn: EntraStandIn;
  beforeAll(async () => {
    standIn = await startEntraStandIn({ protocol: 'oidc', frontChannel: 'http', clients: clients() });
  });
  afterAll(async () => {
    await standIn.stop();
  });

  test('discovery advertises http browser endpoints; the http listener serves no tokens or keys', async () => {
    expect(standIn.authority).toBe(`${standIn.url}/oidc`);
    expect(standIn.frontChannelUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const doc = (await (await fetch(standIn.discoveryUrl)).json()) as Record<string, string>;
    expect(doc.issuer).toBe(`${standIn.url}/oidc`);
    expect(doc.authorization_endpoint).toBe(`${standIn.frontChannelUrl}/oidc/auth`);
    expect(doc.end_session_endpoint).toBe(`${standIn.frontChannelUrl}/oidc/session/end`);
    expect(doc.token_endpoint).toBe(`${standIn.url}/oidc/token`);
    expect(doc.jwks_uri).toBe(`${standIn.url}/oidc/certs`);
    expect((await fetch(`${standIn.frontChannelUrl}/oidc/token`, { method: 'POST' })).status).toBe(404);
    expect((await fetch(`${standIn.frontChannelUrl}/oidc/certs`)).status).toBe(404);
  });

  test('MSAL (protocolMode OIDC): sign-in and refresh; ID token has no tid/oid, response has no client_info', async () => {
    const app = msalApp(standIn);
    const started = await authorizeWithMsal(standIn, app, []);
    const result = await redeem(app, started);
    const user = standIn.users.find((u) => u.username === ADELE)!;
    expect(result.account?.homeAccountId).toBe(user.sub);
    const claims = result.idTokenClaims as Record<string, unknown>;
    expect(claims.iss).toBe(standIn.issuer);
    expect(claims.sub).toBe(user.sub);
    expect(claims.tid).toBe(undefined);
    expect(claims.oid).toBe(undefined);
    const refreshed = await app.acquireTokenSilent({ account: result.account!, scopes: [], forceRefresh: true });
    expect(refreshed.accessToken).not.toBe(result.accessToken);

    // Raw: even when asked, no client_info; errors carry no AADSTS codes.
    const raw = await authorizeWithMsal(standIn, app, []);
    const direct = await tokenRequest(standIn, {
      grant_type: 'authorization_code',
      client_id: CLIENT,
      client_secret: SECRET,
      code: raw.code,
      redirect_uri: REDIRECT,
      code_verifier: raw.verifier,
      client_info: '1',
      scope: 'openid profile offline_access',
    });
    expect(direct.status).toBe(200);
    expect(direct.body.client_info).toBe(undefined);
    const again = await tokenRequest(standIn, {
      grant_type: 'authorization_code',
      client_id: CLIENT,
      client_secret: SECRET,
      code: raw.code,
      redirect_uri: REDIRECT,
      code_verifier: raw.verifier,
    });
    expect(again.body.error).toBe('invalid_grant');
    expect(again.body.error_codes).toBe(undefined);
  });
});
