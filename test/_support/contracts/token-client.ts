/**
 * The TokenClient contract (`shared/ports.ts`), run against the fake provider in the unit tier
 * (test/unit/contracts/token-client.test.ts) and against the MSAL adapter talking to the Entra stand-in in the
 * integration tier (test/adapters/msal-token-client.contract.test.ts).
 *
 * What the core relies on: a code redeems once into an ID token for this client and nonce and a per-session cache;
 * access tokens come from that cache while fresh and from the refresh token after; a session whose refresh token
 * the provider refused is over (`session_revoked`), a cache without the account needs a new sign-in
 * (`interaction_required`); outages are coded (502/503), never a crash.
 */
import { describe, expect, test } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { isAuthError, type ErrorCode } from '../../../shared/errors';
import type { TokenCacheBox, TokenClient } from '../../../shared/ports';

export interface TokenClientWorld {
  client: TokenClient;
  clientId: string;
  redirectUri: string;
  /** The API scopes the service asks for (`AUTH_SCOPES`). */
  scopes: readonly string[];
  /** The provider's clock, ms since the epoch. */
  now(): number;
  /** A user signs in at the provider with this PKCE challenge and nonce; the authorization code sent back. */
  authorize(request: { codeChallenge: string; nonce: string }): Promise<string>;
  /** Access tokens issued from now on expire within MSAL's renewal margin: every silent call needs the provider. */
  shortLivedAccessTokens(): void;
  /** Every refresh token issued so far is revoked at the provider. */
  revokeRefreshTokens(): void;
  /** The token endpoint fails (true) or is back (false). */
  tokenEndpointDown(down: boolean): void;
  /** The client credential cannot be had (true) or is back (false). */
  credentialDown(down: boolean): void;
}

export function describeTokenClientContract(name: string, makeWorld: () => Promise<TokenClientWorld>): void {
  async function signedIn(world: TokenClientWorld) {
    const verifier = randomBytes(32).toString('base64url');
    const nonce = randomBytes(16).toString('base64url');
    const code = await world.authorize({
      codeChallenge: createHash('sha256').update(verifier).digest('base64url'),
      nonce,
    });
    const request = { code, codeVerifier: verifier, redirectUri: world.redirectUri, scopes: world.scopes, nonce };
    return { request, nonce };
  }

  async function redeemed(world: TokenClientWorld) {
    const { request, nonce } = await signedIn(world);
    const cache: TokenCacheBox = { serialized: undefined, changed: false };
    const tokens = await world.client.redeemCode(request, cache);
    return { tokens, cache, nonce, request };
  }

  async function codeOf(promise: Promise<unknown>): Promise<ErrorCode | 'resolved' | 'not an AuthError'> {
    return promise.then(
      () => 'resolved' as const,
      (error: unknown) => (isAuthError(error) ? error.code : 'not an AuthError'),
    );
  }

  describe(`TokenClient contract: ${name}`, () => {
    test('prepare resolves when the client credential is at hand', async () => {
      const world = await makeWorld();
      await expect(world.client.prepare()).resolves.toBeUndefined();
    });

    test('prepare rejects credential_unavailable (503) when the credential cannot be had, and resolves once it is back', async () => {
      const world = await makeWorld();
      world.credentialDown(true);
      expect(await codeOf(world.client.prepare())).toBe('credential_unavailable');
      world.credentialDown(false);
      await expect(world.client.prepare()).resolves.toBeUndefined();
    });

    test("a code redeems into an ID token for this client and the sign-in's nonce, and fills the session's cache", async () => {
      const world = await makeWorld();
      const { tokens, cache, nonce } = await redeemed(world);
      const claims = decodeJwt(tokens.idToken);
      expect(claims.aud).toBe(world.clientId);
      expect(claims.nonce).toBe(nonce);
      expect(tokens.homeAccountId).toMatch(/\S/);
      expect(cache.changed).toBe(true);
      expect(cache.serialized).toMatch(/\S/);
    });

    test('a code redeems once: the second redemption is invalid_grant', async () => {
      const world = await makeWorld();
      const { request } = await redeemed(world);
      expect(await codeOf(world.client.redeemCode(request, { serialized: undefined, changed: false }))).toBe(
        'invalid_grant',
      );
    });

    test('a code with the wrong PKCE verifier is invalid_grant, and the cache stays empty', async () => {
      const world = await makeWorld();
      const { request } = await signedIn(world);
      const cache: TokenCacheBox = { serialized: undefined, changed: false };
      expect(
        await codeOf(
          world.client.redeemCode({ ...request, codeVerifier: randomBytes(32).toString('base64url') }, cache),
        ),
      ).toBe('invalid_grant');
      expect(cache).toEqual({ serialized: undefined, changed: false });
    });

    test('a fresh access token is served from the session cache without changing it', async () => {
      const world = await makeWorld();
      const { tokens, cache } = await redeemed(world);
      const before = { serialized: cache.serialized, changed: false };
      const first = await world.client.acquireSilent(
        { homeAccountId: tokens.homeAccountId, scopes: world.scopes },
        before,
      );
      expect(first.accessToken).toMatch(/\S/);
      expect(first.expiresOn).toBeGreaterThan(world.now());
      for (const scope of world.scopes) expect(first.scopes).toContain(scope);
      const again: TokenCacheBox = { serialized: before.serialized, changed: false };
      const second = await world.client.acquireSilent(
        { homeAccountId: tokens.homeAccountId, scopes: world.scopes },
        again,
      );
      expect(second.accessToken).toBe(first.accessToken);
      expect(again.changed).toBe(false);
    });

    test('an access token about to expire is renewed with the refresh token, and the cache says it changed', async () => {
      const world = await makeWorld();
      world.shortLivedAccessTokens();
      const { tokens, cache } = await redeemed(world);
      const first = await world.client.acquireSilent(
        { homeAccountId: tokens.homeAccountId, scopes: world.scopes },
        cache,
      );
      const box: TokenCacheBox = { serialized: cache.serialized, changed: false };
      const renewed = await world.client.acquireSilent(
        { homeAccountId: tokens.homeAccountId, scopes: world.scopes },
        box,
      );
      expect(renewed.accessToken).not.toBe(first.accessToken);
      expect(box.changed).toBe(true);
      expect(box.serialized).not.toBe(cache.serialized);
    });

    test("another session's cache (or none) holds no account for this user: interaction_required", async () => {
      const world = await makeWorld();
      const { tokens } = await redeemed(world);
      const other = await redeemed(world);
      expect(
        await codeOf(
          world.client.acquireSilent(
            { homeAccountId: tokens.homeAccountId, scopes: world.scopes },
            { serialized: undefined, changed: false },
          ),
        ),
      ).toBe('interaction_required');
      // Two sign-ins of the same stand-in user share a home account id; a cache for a made-up account has none.
      const stranger = `${tokens.homeAccountId}-not-here`;
      expect(
        await codeOf(
          world.client.acquireSilent(
            { homeAccountId: stranger, scopes: world.scopes },
            { ...other.cache, changed: false },
          ),
        ),
      ).toBe('interaction_required');
    });

    test('a refresh token the provider revoked ends the sign-in for good: session_revoked (401)', async () => {
      const world = await makeWorld();
      world.shortLivedAccessTokens();
      const { tokens, cache } = await redeemed(world);
      world.revokeRefreshTokens();
      expect(
        await codeOf(world.client.acquireSilent({ homeAccountId: tokens.homeAccountId, scopes: world.scopes }, cache)),
      ).toBe('session_revoked');
    });

    test('a token endpoint outage is upstream_unavailable (502): on redemption, and on a renewal', async () => {
      const world = await makeWorld();
      world.shortLivedAccessTokens();
      const { tokens, cache } = await redeemed(world);
      const { request } = await signedIn(world);
      world.tokenEndpointDown(true);
      try {
        expect(await codeOf(world.client.redeemCode(request, { serialized: undefined, changed: false }))).toBe(
          'upstream_unavailable',
        );
        const box: TokenCacheBox = { serialized: cache.serialized, changed: false };
        expect(
          await codeOf(world.client.acquireSilent({ homeAccountId: tokens.homeAccountId, scopes: world.scopes }, box)),
        ).toBe('upstream_unavailable');
        expect(box.serialized).toBe(cache.serialized);
      } finally {
        world.tokenEndpointDown(false);
      }
    });
  });
}
