/**
 * What an Entra ID token says about the user beyond who they are: app roles, groups (or the overage form), where
 * `email` came from, `login_hint` for sign-out, and a tenant outside the allow-list as its own 403 code.
 * @see https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
 */
import { beforeAll, describe, expect, test } from '@jest/globals';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { validateIdToken, type IdTokenExpectations } from '../../shared/core/id-token';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const OTHER = '00000000-0000-4000-8000-000000000001';
const CLIENT = 'c0ffee00-0000-4000-8000-000000000001';
const NOW = 1_800_000_000;
const MULTI: IdTokenExpectations = {
  protocol: 'entra',
  issuer: 'https://login.example/{tenantid}/v2.0',
  clientId: CLIENT,
  nonce: 'n-1',
  allowedTenants: [TENANT],
  now: NOW,
};

let keys: JWTVerifyGetKey;
let sign: (claims: JWTPayload) => Promise<string>;
beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  keys = createLocalJWKSet({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
  sign = (claims) => new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(pair.privateKey);
});

function token(overrides: JWTPayload = {}): Promise<string> {
  const tid = (overrides.tid as string | undefined) ?? TENANT;
  return sign({
    iss: `https://login.example/${tid}/v2.0`,
    aud: CLIENT,
    sub: 'sub-1',
    oid: 'oid-1',
    tid,
    nonce: 'n-1',
    iat: NOW - 10,
    exp: NOW + 3600,
    ...overrides,
  });
}

describe('ID token claims about the user', () => {
  test('roles and groups are kept; login_hint is kept for sign-out', async () => {
    const user = await validateIdToken(
      await token({ roles: ['Orders.Admin'], groups: ['g-1', 'g-2'], login_hint: 'O.opaque-hint' }),
      keys,
      MULTI,
    );
    expect(user).toMatchObject({ roles: ['Orders.Admin'], groups: ['g-1', 'g-2'], loginHint: 'O.opaque-hint' });
    expect(user.groupsOverage).toBeUndefined();
  });

  test.each([
    [
      '_claim_names (authorization code flow)',
      {
        _claim_names: { groups: 'src1' },
        _claim_sources: { src1: { endpoint: 'https://graph.microsoft.com/v1.0/users/x/getMemberObjects' } },
      },
    ],
    ['hasgroups (implicit flow)', { hasgroups: true }],
  ])('group overage by %s → groupsOverage, no groups', async (_name, claims) => {
    const user = await validateIdToken(await token(claims), keys, MULTI);
    expect(user.groupsOverage).toBe(true);
    expect(user.groups).toBeUndefined();
  });

  test.each([
    [
      'the email claim wins',
      { email: 'adele.vance@contoso.example', preferred_username: 'adele@contoso.example' },
      'adele.vance@contoso.example',
      'email',
    ],
    [
      'preferred_username when it is an address',
      { preferred_username: 'adele@contoso.example' },
      'adele@contoso.example',
      'preferred_username',
    ],
    ['nothing when preferred_username is not an address', { preferred_username: '+1 555 0100' }, undefined, undefined],
  ])('email: %s', async (_name, claims, email, source) => {
    const user = await validateIdToken(await token(claims), keys, MULTI);
    expect(user.email).toBe(email);
    expect(user.emailSource).toBe(source);
  });

  test('malformed roles/groups (not arrays of strings) are ignored, not trusted', async () => {
    const user = await validateIdToken(await token({ roles: 'Admin', groups: [1, 2] }), keys, MULTI);
    expect(user.roles).toBeUndefined();
    expect(user.groups).toBeUndefined();
  });

  test('a valid token of a tenant outside the allow-list is tenant_not_allowed (403), not id_token_invalid', async () => {
    await expect(validateIdToken(await token({ tid: OTHER }), keys, MULTI)).rejects.toMatchObject({
      code: 'tenant_not_allowed',
      status: 403,
    });
  });
});
