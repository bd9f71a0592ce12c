/**
 * The ProviderMetadataSource contract (`shared/ports.ts`), run against the static fake in the unit tier
 * (test/unit/contracts/provider-metadata.test.ts) and against the discovery adapter on the Entra stand-in in the
 * integration tier (test/adapters/provider-metadata.contract.test.ts).
 *
 * What the core relies on: the OpenID configuration fields it uses, as absolute https URLs (OpenID Connect
 * Discovery 1.0 §3), the same document on every call, and a coded 502/504 when the provider cannot be reached.
 * Serving a stale copy during an outage is the adapter's own promise (test/dev, test/faults), not the port's.
 */
import { describe, expect, test } from '@jest/globals';
import { isAuthError } from '../../../shared/errors';
import type { ProviderMetadata, ProviderMetadataSource } from '../../../shared/ports';

export interface ProviderMetadataContractOptions {
  /** A source whose provider cannot be reached and that has fetched nothing yet. */
  makeUnreachableSource: () => ProviderMetadataSource | Promise<ProviderMetadataSource>;
  /** The issuer the source must report (from the provider's own configuration). */
  expectedIssuer: () => string;
}

const REQUIRED = [
  'issuer',
  'authorization_endpoint',
  'token_endpoint',
  'jwks_uri',
] as const satisfies readonly (keyof ProviderMetadata)[];

export function describeProviderMetadataContract(
  name: string,
  makeSource: () => ProviderMetadataSource | Promise<ProviderMetadataSource>,
  options: ProviderMetadataContractOptions,
): void {
  describe(`ProviderMetadataSource contract: ${name}`, () => {
    test('answers the fields the flow uses, as absolute https URLs, with the expected issuer', async () => {
      const metadata = await (await makeSource()).get();
      for (const field of REQUIRED) expect(new URL(metadata[field]).protocol).toBe('https:');
      if (metadata.end_session_endpoint !== undefined)
        expect(new URL(metadata.end_session_endpoint).protocol).toBe('https:');
      expect(metadata.issuer).toBe(options.expectedIssuer());
    });

    test('answers the same document on every call, also to concurrent callers', async () => {
      const source = await makeSource();
      const first = await source.get();
      const concurrent = await Promise.all(Array.from({ length: 5 }, () => source.get()));
      for (const metadata of [await source.get(), ...concurrent]) expect(metadata).toEqual(first);
    });

    test('a provider that cannot be reached is upstream_unavailable (502) or upstream_timeout (504), never a crash', async () => {
      const source = await options.makeUnreachableSource();
      const error = await source.get().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(isAuthError(error, 'upstream_unavailable') || isAuthError(error, 'upstream_timeout')).toBe(true);
      expect([502, 504]).toContain((error as { status?: number }).status);
    });
  });
}
