/**
 * The Key Vault and managed-identity stand-ins speak the wire protocol the real services do (checked here with
 * raw HTTP, independently of the SDKs that the adapter tests drive through them).
 */
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { startKeyVaultStandIn, type KeyVaultStandIn } from '../../dev/keyvault-standin';
import { signJwt, startManagedIdentityStandIn, createStandInSigningKey, type ManagedIdentityStandIn } from '../../dev/managed-identity-standin';

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
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function miToken(mi: ManagedIdentityStandIn, resource: string, clientId?: string): Promise<{ status: number; body: any }> {
  const url = new URL(mi.endpoint);
  url.searchParams.set('api-version', '2019-08-01');
  url.searchParams.set('resource', resource);
  if (clientId) url.searchParams.set('client_id', clientId);
  const res = await fetch(url, { headers: { 'X-IDENTITY-HEADER': mi.identityHeader } });
  return { status: res.status, body: await res.json() };
}

let mi: ManagedIdentityStandIn;
let vault: KeyVaultStandIn;

before(async () => {
  mi = await startManagedIdentityStandIn({ tenantId: 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' });
  vault = await startKeyVaultStandIn({ trust: mi, tenantId: mi.tenantId, secrets: { 'auth-client-secret': 'v1' } });
});

after(async () => {
  await vault.stop();
  await mi.stop();
});

describe('managed-identity stand-in (App Service protocol)', () => {
  it('issues an RS256 token for the resource, as App Service answers', async () => {
    const { status, body } = await miToken(mi, 'api://AzureADTokenExchange');
    assert.equal(status, 200);
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.resource, 'api://AzureADTokenExchange');
    assert.match(body.expires_on, /^\d+$/);
    const claims = JSON.parse(Buffer.from(body.access_token.split('.')[1], 'base64url').toString());
    assert.equal(claims.aud, 'api://AzureADTokenExchange');
    assert.equal(claims.iss, `https://login.microsoftonline.com/${mi.tenantId}/v2.0`);
    assert.equal(claims.sub, mi.subject);
    const jwks = (await (await fetch(mi.jwksUri)).json()) as { keys: Array<{ kid: string }> };
    assert.equal(jwks.keys[0]?.kid, mi.kid);
  });

  it('refuses a missing header or api-version, and names identities by client_id', async () => {
    const noHeader = await fetch(`${mi.endpoint}?api-version=2019-08-01&resource=x`);
    assert.equal(noHeader.status, 401);
    const url = `${mi.endpoint}?resource=x`;
    assert.equal((await fetch(url, { headers: { 'X-IDENTITY-HEADER': mi.identityHeader } })).status, 400);
    const ua = await miToken(mi, 'https://vault.azure.net', 'c0ffee00-0000-4000-8000-000000000000');
    assert.equal(ua.status, 200);
    const claims = JSON.parse(Buffer.from(ua.body.access_token.split('.')[1], 'base64url').toString());
    assert.equal(claims.sub, mi.subjectFor('c0ffee00-0000-4000-8000-000000000000'));
    assert.notEqual(claims.sub, mi.subject);
  });
});

describe('Key Vault stand-in', () => {
  it('challenges a request without a token with the exact header the SDK parses', async () => {
    const reply = await get(`${vault.url}/secrets/auth-client-secret?api-version=2025-07-01`);
    assert.equal(reply.status, 401);
    assert.equal(
      reply.headers['www-authenticate'],
      `Bearer authorization="https://login.microsoftonline.com/${mi.tenantId}", resource="https://vault.azure.net"`,
    );
    assert.equal(reply.body.error.code, 'Unauthorized');
  });

  it('serves a Key Vault-shaped secret to a valid bearer, latest or by version', async () => {
    const { body: token } = await miToken(mi, 'https://vault.azure.net');
    const auth = { Authorization: `Bearer ${token.access_token}` };
    const latest = await get(`${vault.url}/secrets/auth-client-secret/?api-version=2025-07-01`, auth);
    assert.equal(latest.status, 200);
    assert.equal(latest.body.value, 'v1');
    assert.match(latest.body.id, new RegExp(`^${vault.url}/secrets/auth-client-secret/[0-9a-f]{32}$`));
    assert.equal(latest.body.attributes.enabled, true);
    const v2 = vault.setSecret('auth-client-secret', 'v2', 'text/plain');
    const byVersion = await get(`${vault.url}/secrets/auth-client-secret/${latest.body.id.split('/').pop()}?api-version=2025-07-01`, auth);
    assert.equal(byVersion.body.value, 'v1');
    const rotated = await get(`${vault.url}/secrets/auth-client-secret?api-version=2025-07-01`, auth);
    assert.equal(rotated.body.value, 'v2');
    assert.equal(rotated.body.contentType, 'text/plain');
    assert.ok(rotated.body.id.endsWith(v2));
    const missing = await get(`${vault.url}/secrets/nope?api-version=2025-07-01`, auth);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, 'SecretNotFound');
    const noVersion = await get(`${vault.url}/secrets/auth-client-secret`, auth);
    assert.equal(noVersion.status, 400);
  });

  it('refuses tokens with a wrong audience, a foreign signer, or expired', async () => {
    const { body: graph } = await miToken(mi, 'https://graph.microsoft.com');
    const foreignKey = createStandInSigningKey();
    const now = Math.floor(Date.now() / 1000);
    const forged = signJwt({ iss: mi.issuer, aud: 'https://vault.azure.net', exp: now + 600, oid: mi.subject }, foreignKey.privateKey, mi.kid);
    const expired = signJwt({ iss: mi.issuer, aud: 'https://vault.azure.net', exp: now - 3600, oid: mi.subject }, mi.signingKey.privateKey, mi.kid);
    const before = vault.counters.unauthorized;
    for (const token of [graph.access_token, forged, expired, 'not-a-jwt']) {
      const reply = await get(`${vault.url}/secrets/auth-client-secret?api-version=2025-07-01`, { Authorization: `Bearer ${token}` });
      assert.equal(reply.status, 401);
      assert.ok(reply.headers['www-authenticate']);
    }
    assert.equal(vault.counters.unauthorized - before, 4);
  });

  it('injects throttling with Retry-After, for a number of requests', async () => {
    vault.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 7 }, 2);
    for (let i = 0; i < 2; i += 1) {
      const reply = await get(`${vault.url}/secrets/auth-client-secret?api-version=2025-07-01`);
      assert.equal(reply.status, 429);
      assert.equal(reply.headers['retry-after'], '7');
      assert.equal(reply.body.error.code, 'Throttled');
    }
    assert.equal((await get(`${vault.url}/secrets/auth-client-secret?api-version=2025-07-01`)).status, 401);
  });

  it('injects an outage (connection dropped)', async () => {
    vault.injectFault({ kind: 'down' });
    await assert.rejects(get(`${vault.url}/secrets/auth-client-secret?api-version=2025-07-01`));
    vault.clearFaults();
  });
});
