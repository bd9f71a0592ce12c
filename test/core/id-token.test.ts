import { beforeAll, describe, expect, test } from '@jest/globals';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { validateIdToken, type IdTokenExpectations } from '../../shared/core/id-token';
import { isAuthError } from '../../shared/errors';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const CLIENT = 'c0ffee00-0000-4000-8000-000000000001';
const ISSUER = `https://login.example/${TENANT}/v2.0`;
const NOW = 1_800_000_000;

let keys: JWTVerifyGetKey;
type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
let privateKey: Key;
let foreignKey: Key;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  privateKey = pair.privateKey;
  foreignKey = (await generateKeyPair('RS256')).privateKey;
  keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
});

const expected: IdTokenExpectations = {
  protocol: 'entra',
  issuer: ISSUER,
  clientId: CLIENT,
  nonce: 'n-1',
  allowedTenants: [TENANT],
  now: NOW,
};

function claims(overrides: JWTPayload = {}): JWTPayload {
  return {
    iss: ISSUER,
    aud: CLIENT,
    sub: 'sub-1',
    oid: 'oid-1',
    tid: TENANT,
    nonce: 'n-1',
    iat: NOW - 10,
    nbf: NOW - 10,
    exp: NOW + 3600,
    name: 'Adele',
    preferred_username: 'adele@contoso.example',
    ...overrides,
  };
}

async function sign(payload: JWTPayload, key = privateKey, header: Record<string, unknown> = {}) {
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'k1', ...header }).sign(key);
}

function unsigned(payload: JWTPayload, alg = 'none') {
  const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc({ alg, kid: 'k1' })}.${enc(payload)}.`;
}

describe('ID token validation', () => {
  test('a valid Entra token yields the user (tid + oid)', async () => {
    const user = await validateIdToken(await sign(claims()), keys, expected);
    // No `email` claim: preferred_username is an address, so it stands in (and says so).
    expect(user).toStrictEqual({
      id: 'oid-1',
      tenantId: TENANT,
      issuer: ISSUER,
      name: 'Adele',
      username: 'adele@contoso.example',
      email: 'adele@contoso.example',
      emailSource: 'preferred_username',
    });
  });

  test('multi-tenant metadata issuer {tenantid} is filled from tid', async () => {
    const user = await validateIdToken(await sign(claims()), keys, {
      ...expected,
      issuer: 'https://login.example/{tenantid}/v2.0',
    });
    expect(user.tenantId).toBe(TENANT);
  });

  test('clock skew: 5 minutes tolerated, not more', async () => {
    await validateIdToken(await sign(claims({ exp: NOW - 200, iat: NOW - 4000, nbf: NOW - 4000 })), keys, expected);
    await validateIdToken(await sign(claims({ iat: NOW + 200, nbf: NOW + 200 })), keys, expected);
  });

  const rejected: [string, () => Promise<string>][] = [
    ['bad signature (foreign key, same kid)', () => sign(claims(), foreignKey)],
    ['alg none', async () => unsigned(claims())],
    ['alg HS256', async () => unsigned(claims(), 'HS256') + 'c2ln'],
    ['wrong aud', () => sign(claims({ aud: 'someone-else' }))],
    ['aud array with an extra audience', () => sign(claims({ aud: [CLIENT, 'someone-else'] }))],
    ['azp of another client', () => sign(claims({ azp: 'someone-else' }))],
    ['wrong iss', () => sign(claims({ iss: 'https://evil.example/v2.0' }))],
    ['expired beyond skew', () => sign(claims({ exp: NOW - 400, iat: NOW - 4000 }))],
    ['nbf beyond skew', () => sign(claims({ nbf: NOW + 400 }))],
    ['iat in the future beyond skew', () => sign(claims({ iat: NOW + 400 }))],
    ['wrong nonce', () => sign(claims({ nonce: 'n-2' }))],
    ['missing nonce', () => sign(claims({ nonce: undefined }))],
    // A valid token of another tenant is tenant_not_allowed (403), not id_token_invalid: test/core/id-token-claims.test.ts.
    ['missing oid', () => sign(claims({ oid: undefined }))],
    ['missing tid', () => sign(claims({ tid: undefined }))],
    ['missing sub', () => sign(claims({ sub: undefined }))],
    ['unknown kid', () => sign(claims(), privateKey, { kid: 'k-unknown' })],
    ['1 MB token', async () => `${await sign(claims())}${'A'.repeat(1024 * 1024)}`],
  ];
  for (const [name, make] of rejected) {
    test(`rejects: ${name}`, async () => {
      await expect(validateIdToken(await make(), keys, expected)).rejects.toSatisfy((e: unknown) =>
        isAuthError(e, 'id_token_invalid'),
      );
    });
  }

  test('generic OIDC: iss + sub identify the user, no tid needed', async () => {
    const token = await sign(claims({ iss: 'https://idp.example', tid: undefined, oid: undefined }));
    const user = await validateIdToken(token, keys, {
      ...expected,
      protocol: 'oidc',
      issuer: 'https://idp.example',
      allowedTenants: undefined,
    });
    expect(user.id).toBe('sub-1');
    expect(user.issuer).toBe('https://idp.example');
  });
});
