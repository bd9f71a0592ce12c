/**
 * The stand-in's `sid` claim, as Entra's: every ID token carries the provider session it came from — "String, a
 * GUID … generated when a new session is established" — and ID tokens from a refresh token keep the sign-in's sid.
 * The stand-in keeps no browser session, so each completed sign-in page is a new provider session.
 * @see https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { startEntraStandIn, type EntraStandIn } from '../../dev/entra-standin';

const CLIENT = 'b1c2d3e4-0000-4000-8000-0000000051d0';
const SECRET = 'stand-in-sid-secret~0123456789';
const REDIRECT = 'http://localhost:7071/auth/callback';
const ADELE = 'adele@contoso.example';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let standIn: EntraStandIn;

beforeAll(async () => {
  standIn = await startEntraStandIn({ clients: [{ clientId: CLIENT, secrets: [SECRET], redirectUris: [REDIRECT] }] });
});
afterAll(async () => {
  await standIn.stop();
});

async function token(form: Record<string, string>): Promise<Record<string, string>> {
  const response = await fetch(standIn.tokenEndpoint, {
    method: 'POST',
    body: new URLSearchParams({ client_id: CLIENT, client_secret: SECRET, ...form }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, string>;
}

/** A sign-in on the stand-in's page and the code redeemed: the token response. */
async function signIn(): Promise<Record<string, string>> {
  const verifier = randomBytes(32).toString('base64url');
  const authorize = new URL(`${standIn.frontChannelUrl}/${standIn.tenantId}/oauth2/v2.0/authorize`);
  const params = {
    client_id: CLIENT,
    response_type: 'code',
    redirect_uri: REDIRECT,
    scope: 'openid profile offline_access User.Read',
    state: 's',
    nonce: 'n',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  };
  for (const [name, value] of Object.entries(params)) authorize.searchParams.set(name, value);
  const code = new URL(await standIn.signIn(authorize.href, ADELE)).searchParams.get('code')!;
  return token({
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT,
    code_verifier: verifier,
    scope: params.scope,
  });
}

describe('the stand-in’s sid claim', () => {
  test('a GUID per sign-in, reported by sessionIds(), kept by ID tokens from the refresh token', async () => {
    const first = await signIn();
    const sid = decodeJwt(first.id_token!).sid;
    expect(sid).toMatch(GUID);
    expect(standIn.sessionIds(ADELE).at(-1)).toBe(sid);
    expect(standIn.issuedSecrets()).toContain(sid);

    const refreshed = await token({
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token!,
      scope: 'openid offline_access User.Read',
    });
    expect(decodeJwt(refreshed.id_token!).sid).toBe(sid);

    const second = await signIn();
    const other = decodeJwt(second.id_token!).sid;
    expect(other).toMatch(GUID);
    expect(other).not.toBe(sid);
    expect(standIn.sessionIds(ADELE).slice(-2)).toEqual([sid, other]);
    expect(standIn.sessionIds('nobody@contoso.example')).toEqual([]);
  });
});
