/**
 * `AUTH_CREDENTIAL=managed-identity`: the client assertion is a managed-identity token for
 * api://AzureADTokenExchange, through the real `ManagedIdentityCredential` (App Service source, driven by
 * IDENTITY_ENDPOINT / IDENTITY_HEADER) against the managed-identity stand-in.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import {
  startManagedIdentityStandIn,
  verifyStandInJwt,
  type ManagedIdentityStandIn,
} from '../../dev/managed-identity-standin';
import { createClientCredentialProvider } from '../../shared/adapters/credential';
import { isAuthError, type AuthError } from '../../shared/errors';
import type { ClientCredential, Logger } from '../../shared/ports';

const logLines: string[] = [];
const logger: Logger = {
  info: (m, p) => logLines.push(`info ${m} ${JSON.stringify(p ?? {})}`),
  warn: (m, p) => logLines.push(`warn ${m} ${JSON.stringify(p ?? {})}`),
  error: (m, p) => logLines.push(`error ${m} ${JSON.stringify(p ?? {})}`),
};
const assertions: string[] = [];

let mi: ManagedIdentityStandIn;

beforeAll(async () => {
  mi = await startManagedIdentityStandIn();
  Object.assign(process.env, mi.env);
});

afterAll(async () => {
  await mi.stop();
});

async function assertionOf(credential: ClientCredential): Promise<string> {
  if (credential.kind !== 'assertion') throw new Error(`expected an assertion credential, got ${credential.kind}`);
  const token = await credential.getAssertion();
  assertions.push(token);
  return token;
}

describe('managed-identity client assertion', () => {
  test('is a JWT for api://AzureADTokenExchange signed by the user-assigned identity, subject = its principal id', async () => {
    const appIdentity = randomUUID();
    const provider = createClientCredentialProvider(
      { kind: 'managed-identity', managedIdentityClientId: appIdentity },
      { clientId: 'app', logger },
    );
    const token = await assertionOf(await provider.get());
    const verified = verifyStandInJwt(token, { trusted: [mi], audience: 'api://AzureADTokenExchange' });
    if (!verified.ok) throw new Error(`the stand-in JWT did not verify: ${verified.reason}`);
    expect(verified.claims.aud).toBe('api://AzureADTokenExchange');
    expect(verified.claims.iss).toBe(mi.issuer);
    expect(verified.claims.sub).toBe(mi.subjectFor(appIdentity));
    expect(mi.requests.at(-1)).toStrictEqual({
      ...mi.requests.at(-1)!,
      resource: 'api://AzureADTokenExchange',
      clientId: appIdentity,
    });
  });

  test('reuses the token: 20 concurrent sign-ins with a new identity make one token request', async () => {
    const clientId = randomUUID();
    const provider = createClientCredentialProvider(
      { kind: 'managed-identity', managedIdentityClientId: clientId },
      { clientId: 'app', logger },
    );
    const before = mi.counters.tokenRequests;
    const credentials = await Promise.all(Array.from({ length: 20 }, () => provider.get()));
    const tokens = await Promise.all(credentials.map(assertionOf));
    expect(new Set(tokens).size).toBe(1);
    expect(mi.counters.tokenRequests - before).toBe(1);
    const verified = verifyStandInJwt(tokens[0]!, { trusted: [mi], audience: 'api://AzureADTokenExchange' });
    if (!verified.ok) throw new Error(`the stand-in JWT did not verify: ${verified.reason}`);
    expect(verified.claims.sub).toBe(mi.subjectFor(clientId));
    expect(verified.claims.azp).toBe(clientId);
  });

  test('an identity endpoint failure is credential_unavailable from get(), before the caller consumes anything', async () => {
    mi.injectFault({ kind: 'status', status: 500 });
    try {
      const provider = createClientCredentialProvider(
        { kind: 'managed-identity', managedIdentityClientId: randomUUID() },
        { clientId: 'app', logger, tokenTimeoutMs: 3000 },
      );
      await expect(provider.get()).rejects.toSatisfy((error: AuthError) => {
        expect(isAuthError(error, 'credential_unavailable')).toBeTruthy();
        expect(error.status).toBe(503);
        expect((error.retryAfterSeconds ?? 0) >= 1).toBeTruthy();
        expect(error.logDetail ?? '').toMatch(/managed identity token for api:\/\/AzureADTokenExchange failed/);
        return true;
      });
    } finally {
      mi.clearFaults();
    }
  });

  test('a hung identity endpoint is bounded by the token timeout', async () => {
    mi.injectFault({ kind: 'hang' });
    try {
      const provider = createClientCredentialProvider(
        { kind: 'managed-identity', managedIdentityClientId: randomUUID() },
        { clientId: 'app', logger, tokenTimeoutMs: 500 },
      );
      const started = Date.now();
      await expect(provider.get()).rejects.toSatisfy((error: unknown) => isAuthError(error, 'credential_unavailable'));
      expect(Date.now() - started < 1500).toBeTruthy();
    } finally {
      mi.clearFaults();
    }
  });

  test('renewAfterRejection is false (a federated assertion has nothing older to replace) and reads nothing', async () => {
    const provider = createClientCredentialProvider(
      { kind: 'managed-identity', managedIdentityClientId: randomUUID() },
      { clientId: 'app', logger },
    );
    const credential = await provider.get();
    const before = mi.counters.tokenRequests;
    expect(await provider.renewAfterRejection(credential)).toBe(false);
    expect(mi.counters.tokenRequests).toBe(before);
  });

  test('logs no assertion', () => {
    const text = logLines.join('\n');
    expect(assertions.length > 0).toBeTruthy();
    for (const token of assertions) expect(!text.includes(token)).toBeTruthy();
  });
});
