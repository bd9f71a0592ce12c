/**
 * `AUTH_CREDENTIAL=managed-identity`: the client assertion is a managed-identity token for
 * api://AzureADTokenExchange, through the real `ManagedIdentityCredential` (App Service source, driven by
 * IDENTITY_ENDPOINT / IDENTITY_HEADER) against the managed-identity stand-in.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startManagedIdentityStandIn, verifyStandInJwt, type ManagedIdentityStandIn } from '../../dev/managed-identity-standin';
import { createClientCredentialProvider } from '../../shared/adapters/credential';
import { isAuthError } from '../../shared/errors';
import type { ClientCredential, Logger } from '../../shared/ports';

const logLines: string[] = [];
const logger: Logger = {
  info: (m, p) => logLines.push(`info ${m} ${JSON.stringify(p ?? {})}`),
  warn: (m, p) => logLines.push(`warn ${m} ${JSON.stringify(p ?? {})}`),
  error: (m, p) => logLines.push(`error ${m} ${JSON.stringify(p ?? {})}`),
};
const assertions: string[] = [];

let mi: ManagedIdentityStandIn;

before(async () => {
  mi = await startManagedIdentityStandIn();
  Object.assign(process.env, mi.env);
});

after(async () => {
  await mi.stop();
});

async function assertionOf(credential: ClientCredential): Promise<string> {
  assert.equal(credential.kind, 'assertion');
  const token = await credential.getAssertion();
  assertions.push(token);
  return token;
}

describe('managed-identity client assertion', () => {
  it('is a JWT for api://AzureADTokenExchange signed by the user-assigned identity, subject = its principal id', async () => {
    const appIdentity = randomUUID();
    const provider = createClientCredentialProvider({ kind: 'managed-identity', managedIdentityClientId: appIdentity }, { clientId: 'app', logger });
    const token = await assertionOf(await provider.get());
    const verified = verifyStandInJwt(token, { trusted: [mi], audience: 'api://AzureADTokenExchange' });
    assert.ok(verified.ok, verified.ok ? '' : verified.reason);
    assert.equal(verified.claims.aud, 'api://AzureADTokenExchange');
    assert.equal(verified.claims.iss, mi.issuer);
    assert.equal(verified.claims.sub, mi.subjectFor(appIdentity));
    assert.deepEqual(mi.requests.at(-1), { ...mi.requests.at(-1)!, resource: 'api://AzureADTokenExchange', clientId: appIdentity });
  });

  it('reuses the token: 20 concurrent sign-ins with a new identity make one token request', async () => {
    const clientId = randomUUID();
    const provider = createClientCredentialProvider({ kind: 'managed-identity', managedIdentityClientId: clientId }, { clientId: 'app', logger });
    const before = mi.counters.tokenRequests;
    const credentials = await Promise.all(Array.from({ length: 20 }, () => provider.get()));
    const tokens = await Promise.all(credentials.map(assertionOf));
    assert.equal(new Set(tokens).size, 1);
    assert.equal(mi.counters.tokenRequests - before, 1);
    const verified = verifyStandInJwt(tokens[0]!, { trusted: [mi], audience: 'api://AzureADTokenExchange' });
    assert.ok(verified.ok);
    assert.equal(verified.claims.sub, mi.subjectFor(clientId), 'the user-assigned identity signs in');
    assert.equal(verified.claims.azp, clientId);
  });

  it('an identity endpoint failure is credential_unavailable from get(), before the caller consumes anything', async () => {
    mi.injectFault({ kind: 'status', status: 500 });
    try {
      const provider = createClientCredentialProvider(
        { kind: 'managed-identity', managedIdentityClientId: randomUUID() },
        { clientId: 'app', logger, tokenTimeoutMs: 3000 },
      );
      await assert.rejects(provider.get(), (error: unknown) => {
        assert.ok(isAuthError(error, 'credential_unavailable'));
        assert.equal(error.status, 503);
        assert.ok((error.retryAfterSeconds ?? 0) >= 1);
        assert.match(error.logDetail ?? '', /managed identity token for api:\/\/AzureADTokenExchange failed/);
        return true;
      });
    } finally {
      mi.clearFaults();
    }
  });

  it('a hung identity endpoint is bounded by the token timeout', async () => {
    mi.injectFault({ kind: 'hang' });
    try {
      const provider = createClientCredentialProvider(
        { kind: 'managed-identity', managedIdentityClientId: randomUUID() },
        { clientId: 'app', logger, tokenTimeoutMs: 500 },
      );
      const started = Date.now();
      await assert.rejects(provider.get(), (error: unknown) => isAuthError(error, 'credential_unavailable'));
      assert.ok(Date.now() - started < 1500);
    } finally {
      mi.clearFaults();
    }
  });

  it('renewAfterRejection is false (a federated assertion has nothing older to replace) and reads nothing', async () => {
    const provider = createClientCredentialProvider({ kind: 'managed-identity', managedIdentityClientId: randomUUID() }, { clientId: 'app', logger });
    const credential = await provider.get();
    const before = mi.counters.tokenRequests;
    assert.equal(await provider.renewAfterRejection(credential), false);
    assert.equal(mi.counters.tokenRequests, before);
  });

  it('logs no assertion', () => {
    const text = logLines.join('\n');
    assert.ok(assertions.length > 0);
    for (const token of assertions) assert.ok(!text.includes(token));
  });
});
