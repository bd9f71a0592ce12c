/**
 * `shared/core/native.ts` on in-memory ports with a fixed clock: the one-time handoff code (bound to the app's
 * PKCE challenge and redirect URI, RFC 7636 §4.6, RFC 6749 §4.1.3), its tombstone, and the revocation of the session
 * it produced when a redeemed code is replayed (RFC 6749 §4.1.2: "SHOULD revoke … all tokens previously issued").
 */
import { describe, expect, test } from '@jest/globals';
import { beginSignIn, completeSignIn, readSession } from '../../../shared/core/flow';
import { HANDOFF_MAX_FAILED_ATTEMPTS, HANDOFF_TTL_MS, redeemHandoff, refreshGrant } from '../../../shared/core/native';
import { AuthError } from '../../../shared/errors';
import {
  appPkce,
  coreWorld,
  nativeHandoff,
  NATIVE_REDIRECT_URI,
  rejection,
  startSignIn,
  sessionRows,
} from '../../_support/core-world';

describe('handoff code', () => {
  test('redeems once into an access token and a refresh token; the code row becomes a tombstone, not a second grant', async () => {
    const world = await coreWorld();
    const handoff = await nativeHandoff(world);
    const tokens = await redeemHandoff(
      { code: handoff.code, codeVerifier: handoff.verifier, redirectUri: handoff.redirectUri },
      world.deps,
    );
    expect(tokens).toMatchObject({ token_type: 'Bearer', scope: 'User.Read' });
    expect(tokens.expires_in).toBeGreaterThan(0);
    expect((await readSession(tokens.refresh_token, 'native', world.deps)).user.username).toBe('adele@contoso.example');
    // One row left in AuthState: the tombstone, kept until the code's own expiry.
    expect(world.states.snapshot()).toEqual([expect.objectContaining({ expiresAt: world.now() + HANDOFF_TTL_MS })]);
  });

  test('replaying a redeemed code fails and revokes the session it produced', async () => {
    const world = await coreWorld();
    const handoff = await nativeHandoff(world);
    const request = { code: handoff.code, codeVerifier: handoff.verifier, redirectUri: handoff.redirectUri };
    const { refresh_token } = await redeemHandoff(request, world.deps);
    expect(sessionRows(world)).toHaveLength(1);
    expect(await rejection(redeemHandoff(request, world.deps))).toBe('grant_invalid');
    expect(world.sessions.snapshot()).toEqual([]);
    expect(await rejection(refreshGrant(refresh_token, undefined, world.deps))).toBe('session_required');
    expect(world.logs.some((line) => line.includes('event replay_detected') && line.includes('handoff_code'))).toBe(
      true,
    );
  });

  test('three concurrent redemptions: exactly one wins, and its session works', async () => {
    const world = await coreWorld();
    const handoff = await nativeHandoff(world);
    const request = { code: handoff.code, codeVerifier: handoff.verifier, redirectUri: handoff.redirectUri };
    const answers = await Promise.allSettled(Array.from({ length: 3 }, () => redeemHandoff(request, world.deps)));
    const won = answers.filter((a) => a.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const lost of answers.filter((a) => a.status === 'rejected'))
      expect((lost as PromiseRejectedResult).reason).toMatchObject({ code: 'grant_invalid' });
    expect(sessionRows(world)).toHaveLength(1);
    const token = (won[0] as PromiseFulfilledResult<{ refresh_token: string }>).value.refresh_token;
    expect((await refreshGrant(token, undefined, world.deps)).refresh_token).not.toBe(token);
  });

  test.each([
    { what: 'a wrong code_verifier', change: () => ({ codeVerifier: appPkce().verifier }) },
    {
      what: 'another registered-looking redirect_uri',
      change: () => ({ redirectUri: 'com.contoso.other:/oauth2redirect' }),
    },
  ])('$what is grant_invalid, counted, and leaves the code redeemable by its app', async ({ change }) => {
    const world = await coreWorld();
    const handoff = await nativeHandoff(world);
    const request = { code: handoff.code, codeVerifier: handoff.verifier, redirectUri: handoff.redirectUri };
    expect(await rejection(redeemHandoff({ ...request, ...change() }, world.deps))).toBe('grant_invalid');
    expect(world.states.snapshot()).toHaveLength(1);
    expect(world.sessions.snapshot()).toEqual([]);
    expect((await redeemHandoff(request, world.deps)).refresh_token).toMatch(/\S/);
  });

  test(`${HANDOFF_MAX_FAILED_ATTEMPTS} failed redemptions kill the code: its own app cannot redeem it after that`, async () => {
    const world = await coreWorld();
    const handoff = await nativeHandoff(world);
    const request = { code: handoff.code, codeVerifier: handoff.verifier, redirectUri: handoff.redirectUri };
    for (let i = 0; i < HANDOFF_MAX_FAILED_ATTEMPTS; i++) {
      expect(await rejection(redeemHandoff({ ...request, codeVerifier: appPkce().verifier }, world.deps))).toBe(
        'grant_invalid',
      );
    }
    expect(world.states.snapshot()).toEqual([]);
    expect(await rejection(redeemHandoff(request, world.deps))).toBe('grant_invalid');
    expect(world.sessions.snapshot()).toEqual([]);
  });

  test('a redeemed code replayed without the verifier (the code alone) revokes nothing', async () => {
    const world = await coreWorld();
    const handoff = await nativeHandoff(world);
    const request = { code: handoff.code, codeVerifier: handoff.verifier, redirectUri: handoff.redirectUri };
    const { refresh_token } = await redeemHandoff(request, world.deps);
    const sessions = world.sessions.snapshot();
    expect(await rejection(redeemHandoff({ ...request, codeVerifier: appPkce().verifier }, world.deps))).toBe(
      'grant_invalid',
    );
    expect(world.sessions.snapshot()).toEqual(sessions);
    expect((await refreshGrant(refresh_token, undefined, world.deps)).refresh_token).not.toBe(refresh_token);
  });

  test('an expired code is grant_invalid and its row is consumed', async () => {
    const world = await coreWorld();
    const handoff = await nativeHandoff(world);
    world.advance(HANDOFF_TTL_MS + 1);
    expect(
      await rejection(
        redeemHandoff(
          { code: handoff.code, codeVerifier: handoff.verifier, redirectUri: handoff.redirectUri },
          world.deps,
        ),
      ),
    ).toBe('grant_invalid');
    expect(world.states.snapshot()).toEqual([]);
    expect(world.sessions.snapshot()).toEqual([]);
  });

  test('a malformed or unknown code is grant_invalid without touching a session', async () => {
    const world = await coreWorld();
    const { verifier } = appPkce();
    expect(
      await rejection(
        redeemHandoff({ code: 'nope', codeVerifier: verifier, redirectUri: NATIVE_REDIRECT_URI }, world.deps),
      ),
    ).toBe('grant_invalid');
    expect(
      await rejection(
        redeemHandoff(
          { code: `0000493000.${'B'.repeat(43)}`, codeVerifier: verifier, redirectUri: NATIVE_REDIRECT_URI },
          world.deps,
        ),
      ),
    ).toBe('grant_invalid');
    expect(world.journal.filter((entry) => entry.startsWith('sessions.') || entry.startsWith('token.'))).toEqual([]);
  });

  test('a provider outage while getting the first access token stores no session and leaves the code redeemable', async () => {
    const world = await coreWorld();
    world.provider.accessTokenLifetimeMs = 60_000; // inside the renewal margin: the redemption needs the provider
    const handoff = await nativeHandoff(world);
    const request = { code: handoff.code, codeVerifier: handoff.verifier, redirectUri: handoff.redirectUri };
    const before = world.states.snapshot();
    world.provider.outage = new AuthError('upstream_unavailable', { logDetail: 'fake outage' });
    expect(await rejection(redeemHandoff(request, world.deps))).toBe('upstream_unavailable');
    expect(world.states.snapshot()).toEqual(before);
    expect(world.sessions.snapshot()).toEqual([]);
    world.provider.outage = undefined;
    expect((await redeemHandoff(request, world.deps)).refresh_token).toMatch(/\S/);
  });
});

describe('native authorize', () => {
  test('an unregistered redirect URI is refused outright, before discovery and before anything is written', async () => {
    const world = await coreWorld();
    const { challenge } = appPkce();
    const input = {
      native: {
        redirectUri: 'com.evil.app:/cb',
        codeChallenge: challenge,
        codeChallengeMethod: 'S256',
        responseType: 'code',
      },
    };
    expect(await rejection(beginSignIn(input, world.deps))).toBe('invalid_redirect_uri');
    expect(world.journal).toEqual([]);
  });

  test('a plain (non-S256) challenge goes back to the app as an OAuth error, nothing written', async () => {
    const world = await coreWorld();
    const { challenge } = appPkce();
    const result = await beginSignIn(
      {
        native: {
          redirectUri: NATIVE_REDIRECT_URI,
          codeChallenge: challenge,
          codeChallengeMethod: 'plain',
          state: 's1',
        },
      },
      world.deps,
    );
    expect(result.kind).toBe('app-redirect');
    const location = new URL((result as { location: string }).location);
    expect(location.searchParams.get('error')).toBe('invalid_request');
    expect(location.searchParams.get('state')).toBe('s1');
    expect(world.states.snapshot()).toEqual([]);
  });

  test('a token endpoint outage at the callback (502) reaches the app as server_error, with no code and the state spent', async () => {
    const world = await coreWorld();
    const { challenge } = appPkce();
    const started = await startSignIn(world, {
      native: { redirectUri: NATIVE_REDIRECT_URI, codeChallenge: challenge, codeChallengeMethod: 'S256', state: 's2' },
    });
    world.provider.outage = new AuthError('upstream_unavailable', { logDetail: 'fake outage' });
    const result = await completeSignIn(started.callback(), world.deps);
    expect(result.kind).toBe('app-redirect');
    const location = new URL((result as { location: string }).location);
    expect(location.searchParams.get('error')).toBe('server_error');
    expect(location.searchParams.get('code')).toBeNull();
    expect(world.states.snapshot()).toEqual([]);
  });
});
