/**
 * The Key Vault and managed-identity stand-ins speak the wire protocol the real services do (checked here with
 * raw HTTP, independently of the SDKs that the adapter tests drive through them).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { request as httpsRequest } from 'node:https';
import { startKeyVaultStandIn, type KeyVaultStandIn } from '../../dev/keyvault-standin';
import {
  signJwt,
  startManagedIdentityStandIn,
  createStandInSigningKey,
  type ManagedIdentityStandIn,
} from '../../dev/managed-identity-standin';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

async function miToken(
  mi: ManagedIdentityStandIn,
  resource: string,
  clientId?: string,
): Promise<{ status: number; body: any }> {
  const url = new URL(mi.endpoint);
  url.searchParams.set('api-version', '2019-08-01');
  url.searchParams.set('resource', resource);
  if (clientId) url.searchParams.set('client_id', clientId);
  const res = await fetch(url, { headers: { 'X-IDENTITY-HEADER': mi.identityHeader } });
  return { status: res.status, body: await res.json() };
}

let mi: ManagedIdentityStandIn;
let vault: KeyVaultStandIn;

beforeAll(async () => {
  mi = await startManagedIdentityStandIn({ tenantId: 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' });
  vault = await startKeyVaultStandIn({ trust: mi, tenantId: mi.tenantId, secrets: { 'auth-client-secret': 'v1' } });
});

afterAll(async () => {
  await vault.stop();
  await mi.stop();
});

describe('managed-identity stand-in (App Service protocol)', () => {
  test('issues an RS256 token for the resource, as App Service answers', async () => {
    const { status, body } = await miToken(mi, 'api://AzureADTokenExchange');
    expect(status).toBe(200);
    expect(body.token_type).toBe('Bearer');
    expect(body.resource).toBe('api://AzureADTokenExchange');
    expect(body.expires_on).toMatch(/^\d+$/);
    const claims = JSON.parse(Buffer.from(body.access_token.split('.')[1], 'base64url').toString());
    expect(claims.aud).toBe('api://AzureADTokenExchange');
    expect(claims.iss).toBe(`https://login.microsoftonline.com/${mi.tenantId}/v2.0`);
    expect(claims.sub).toBe(mi.subject);
    const jwks = (await (await fetch(mi.jwksUri)).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys[0]?.kid).toBe(mi.kid);
  });

  test('refuses a missing header or api-version, and names identities by client_id', async () => {
    const noHeader = await fetch(`${mi.endpoint}?api-version=2019-08-01&resource=x`);
    expect(noHeader.status).toBe(401);
    const url = `${mi.endpoint}?resource=x`;
    expect((await fetch(url, { headers: { 'X-IDENTITY-HEADER': mi.identityHeader } })).status).toBe(400);
    const ua = await miToken(mi, 'https://vault.azure.net', 'c0ffee00-0000-4000-8000-000000000000');
    expect(ua.status).toBe(200);
    const claims = JSON.parse(Buffer.from(ua.body.access_token.split('.')[1], 'base64url').toString());
    expect(claims.sub).toBe(mi.subjectFor('c0ffee00-0000-4000-8000-000000000000'));
    expect(claims.sub).not.toBe(mi.subject);
  });
});

describe('Key Vault stand-in', () => {
  test('challenges a request without a token with the exact header the SDK parses', async () => {
    const reply = await get(`${vault.url}/secrets/auth-client-secret?api-version=2025-07-01`);
    expect(reply.status).toBe(401);
    expect(reply.headers['www-authenticate']).toBe(
      `Bearer authorization="https://login.microsoftonline.com/${mi.tenantId}", resource="https://vault.azure.net"`,
    );
    expect(reply.body.error.code).toBe('Unauthorized');
  });

  test('serves a Key Vault-shaped secret to a valid bearer, latest or by version', async () => {
    const { body: token } = await miToken(mi, 'https://vault.azure.net');
    const auth = { Authorization: `Bearer ${token.access_token}` };
    const latest = await get(`${vault.url}/secrets/auth-client-secret/?api-version=2025-07-01`, auth);
    expect(latest.status).toBe(200);
    expect(latest.body.value).toBe('v1');
    expect(latest.body.id).toMatch(new RegExp(`^${vault.url}/secrets/auth-client-secret/[0-9a-f]{32}$`));
    expect(latest.body.attributes.enabled).toBe(true);
    const v2 = vault.setSecret('auth-client-secret', 'v2', 'text/plain');
    const byVersion = await get(
      `${vault.url}/secrets/auth-client-secret/${latest.body.id.split('/').pop()}?api-version=2025-07-01`,
      auth,
    );
    expect(byVersion.body.value).toBe('v1');
    const rotated = await get(`${vault.url}/secrets/auth-client-secret?api-version=2025-07-01`, auth);
    expect(rotated.body.value).toBe('v2');
    expect(rotated.body.contentType).toBe('text/plain');
    expect(rotated.body.id.endsWith(v2)).toBeTruthy();
    const missing = await get(`${vault.url}/secrets/nope?api-version=2025-07-01`, auth);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('SecretNotFound');
    const noVersion = await get(`${vault.url}/secrets/auth-client-secret`, auth);
    expect(noVersion.status).toBe(400);
  });

  test('refuses tokens with a wrong audience, a foreign signer, or expired', async () => {
    const { body: graph } = await miToken(mi, 'https://graph.microsoft.com');
    const foreignKey = createStandInSigningKey();
    const now = Math.floor(Date.now() / 1000);
    const forged = signJwt(
      { iss: mi.issuer, aud: 'https://vault.azure.net', exp: now + 600, oid: mi.subject },
      foreignKey.privateKey,
      mi.kid,
    );
    const expired = signJwt(
      { iss: mi.issuer, aud: 'https://vault.azure.net', exp: now - 3600, oid: mi.subject },
      mi.signingKey.privateKey,
      mi.kid,
    );
    const before = vault.counters.unauthorized;
    for (const token of [graph.access_token, forged, expired, 'not-a-jwt']) {
      const reply = await get(`${vault.url}/secrets/auth-client-secret?api-version=2025-07-01`, {
        Authorization: `Bearer ${token}`,
      });
      expect(reply.status).toBe(401);
      expect(reply.headers['www-authenticate']).toBeTruthy();
    }
    expect(vault.counters.unauthorized - before).toBe(4);
  });

  test('injects throttling with Retry-After, for a number of requests', async () => {
    vault.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 7 }, 2);
    for (let i = 0; i < 2; i += 1) {
      const reply = await get(`${vault.url}/secrets/auth-client-secret?api-version=2025-07-01`);
      expect(reply.status).toBe(429);
      expect(reply.headers['retry-after']).toBe('7');
      expect(reply.body.error.code).toBe('Throttled');
    }
    expect((await get(`${vault.url}/secrets/auth-client-secret?api-version=2025-07-01`)).status).toBe(401);
  });

  test('injects an outage (connection dropped)', async () => {
    vault.injectFault({ kind: 'down' });
    await expect(get(`${vault.url}/secrets/auth-client-secret?api-version=2025-07-01`)).rejects.toThrow();
    vault.clearFaults();
  });
});
