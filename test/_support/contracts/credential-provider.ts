/**
 * The ClientCredentialProvider contract (`shared/ports.ts`), run against the fake in the unit tier
 * (test/unit/contracts/credential-provider.test.ts) and against the Key Vault provider on the Key Vault and
 * managed-identity stand-ins in the integration tier (test/adapters/key-vault-credential.contract.test.ts).
 *
 * What the flow and the MSAL adapter rely on: `get()` answers the vault's current secret and keeps answering it
 * from memory; after Entra rejects it (`invalid_client`), `renewAfterRejection` reads once and says whether a newer
 * one exists, so the caller retries at most once; with nothing cached and the vault down, credential_unavailable
 * (503 with Retry-After), so the sign-in stays retryable.
 */
import { describe, expect, test } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { isAuthError } from '../../../shared/errors';
import type { ClientCredential, ClientCredentialProvider } from '../../../shared/ports';

export interface CredentialProviderWorld {
  /** A provider that has read nothing yet, over a vault holding `initialSecret`. */
  provider: ClientCredentialProvider;
  initialSecret: string;
  /** Writes a new current secret to the vault (a rotation). */
  rotate(secret: string): void;
  /** The vault cannot be reached (true) or is back (false). */
  vaultDown(down: boolean): void;
}

export function describeCredentialProviderContract(
  name: string,
  makeWorld: () => Promise<CredentialProviderWorld>,
): void {
  const secretOf = (credential: ClientCredential): string =>
    credential.kind === 'secret' ? credential.clientSecret : `not a secret: ${credential.kind}`;

  describe(`ClientCredentialProvider contract: ${name}`, () => {
    test("get answers the vault's secret, and the same one again from memory", async () => {
      const world = await makeWorld();
      expect(secretOf(await world.provider.get())).toBe(world.initialSecret);
      world.rotate(`rotated-${randomUUID()}`);
      // No rejection yet: the copy in memory is still the one in use.
      expect(secretOf(await world.provider.get())).toBe(world.initialSecret);
    });

    test('with the vault down and nothing cached, get is credential_unavailable (503, Retry-After)', async () => {
      const world = await makeWorld();
      world.vaultDown(true);
      const error = await world.provider.get().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isAuthError(error, 'credential_unavailable')).toBe(true);
      expect(error).toMatchObject({ status: 503 });
      expect((error as { retryAfterSeconds?: number }).retryAfterSeconds).toBeGreaterThan(0);
    });

    test('a secret read once keeps being served while the vault is down', async () => {
      const world = await makeWorld();
      await world.provider.get();
      world.vaultDown(true);
      expect(secretOf(await world.provider.get())).toBe(world.initialSecret);
    });

    test('after a rotation, a rejection of the old secret renews: true, and get answers the new one', async () => {
      const world = await makeWorld();
      const old = await world.provider.get();
      const rotated = `rotated-${randomUUID()}`;
      world.rotate(rotated);
      expect(await world.provider.renewAfterRejection(old)).toBe(true);
      expect(secretOf(await world.provider.get())).toBe(rotated);
      // A late caller reporting the same old secret is told to retry with the current one.
      expect(await world.provider.renewAfterRejection(old)).toBe(true);
    });

    test('a rejection when the vault holds nothing newer is false (the caller must not retry), and get is unchanged', async () => {
      const world = await makeWorld();
      const current = await world.provider.get();
      expect(await world.provider.renewAfterRejection(current)).toBe(false);
      expect(secretOf(await world.provider.get())).toBe(world.initialSecret);
    });
  });
}
