/**
 * `shared/core/flow.ts` on in-memory ports with a fixed clock: the order of checks, writes and provider calls in
 * the web sign-in, single use of the state, and what an outage leaves behind (RFC 6749 §4.1, RFC 9700 §4.7).
 */
import { describe, expect, test } from '@jest/globals';
import {
  beginSignIn,
  completeSignIn,
  endSession,
  readSession,
  refreshAccessToken,
  SIGN_IN_TTL_MS,
} from '../../../shared/core/flow';
import { SESSION_COOKIE } from '../../../shared/core/session';
import { SESSION_TOUCH_INTERVAL_MS } from '../../../shared/core/session';
import { AuthError } from '../../../shared/errors';
import { coreWorld, rejection, sessionRows, startSignIn, webSession, type CoreWorld } from '../../_support/core-world';

/** The journal entries that reach the identity provider or its credential. */
const providerCalls = (world: CoreWorld) =>
  world.journal.filter((entry) => entry.startsWith('token.') || entry.startsWith('metadata.'));

describe('login', () => {
  test('stores one sealed state row and sends the browser to the provider with S256 PKCE, state and nonce', async () => {
    const world = await coreWorld();
    const result = await beginSignIn({ returnTo: '/app' }, world.deps);
    if (result.kind !== 'authorize') throw new Error(result.kind);
    const url = new URL(result.authorizeUrl);
    expect(url.origin + url.pathname).toBe(world.provider.metadata.authorization_endpoint);
    expect(url.searchParams.get('code_challenge_method')).toBe('S256');
    expect(url.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(url.searchParams.get('nonce')).toMatch(/\S{32,}/);
    const [row, ...others] = world.states.snapshot();
    expect(others).toHaveLength(0);
    expect(row!.expiresAt).toBe(world.now() + SIGN_IN_TTL_MS);
    // Sealed: neither the state, the verifier nor the return URL is readable in the row.
    expect(row!.data).not.toContain(url.searchParams.get('state'));
    expect(row!.data).not.toContain('/app');
    expect(result.transactionCookie.maxAge).toBe(SIGN_IN_TTL_MS / 1000);
  });

  test('a refused return URL is refused before discovery and before anything is written', async () => {
    const world = await coreWorld();
    expect(await rejection(beginSignIn({ returnTo: 'https://evil.example/' }, world.deps))).toBe('invalid_return_url');
    expect(world.journal).toEqual([]);
  });

  test('a provider outage at discovery writes nothing', async () => {
    const world = await coreWorld();
    world.metadata.outage();
    expect(await rejection(beginSignIn({ returnTo: '/app' }, world.deps))).toBe('upstream_unavailable');
    expect(world.states.snapshot()).toEqual([]);
    expect(world.journal).toEqual(['metadata.get']);
  });

  test('a storage outage is storage_unavailable, after discovery', async () => {
    const world = await coreWorld();
    world.states.outage(['insert']);
    expect(await rejection(beginSignIn({ returnTo: '/app' }, world.deps))).toBe('storage_unavailable');
    expect(world.journal).toEqual(['metadata.get', 'states.insert']);
  });
});

describe('callback: the state is checked before any provider call', () => {
  test.each([
    { name: 'no state', input: () => ({ code: 'c', cookies: {} }), code: 'state_missing' },
    {
      name: 'a malformed state',
      input: () => ({ code: 'c', state: 'not-a-state', cookies: {} }),
      code: 'state_malformed',
    },
    {
      name: 'an unknown state',
      input: () => ({ code: 'c', state: `0000493000.${'A'.repeat(43)}`, cookies: {} }),
      code: 'state_unknown',
    },
  ])('$name is $code, and no provider call', async ({ input, code }) => {
    const world = await coreWorld();
    await startSignIn(world);
    world.journal.length = 0;
    expect(await rejection(completeSignIn(input(), world.deps))).toBe(code);
    expect(providerCalls(world)).toEqual([]);
    expect(world.states.snapshot()).toHaveLength(1);
  });

  test("another browser's callback (no or wrong transaction cookie) is state_mismatch; the state stays for the right one", async () => {
    const world = await coreWorld();
    const started = await startSignIn(world);
    const callback = started.callback();
    world.journal.length = 0;
    expect(await rejection(completeSignIn({ ...callback, cookies: {} }, world.deps))).toBe('state_mismatch');
    expect(
      await rejection(
        completeSignIn({ ...callback, cookies: { [started.transactionCookie.name]: 'forged' } }, world.deps),
      ),
    ).toBe('state_mismatch');
    expect(providerCalls(world)).toEqual([]);
    expect(world.journal.filter((entry) => entry !== 'states.get')).toEqual([]);
    expect((await completeSignIn(callback, world.deps)).kind).toBe('signed-in');
  });
});

describe('callback: order and single use', () => {
  test('credential prepared, then the state consumed, then the code redeemed, then the session stored', async () => {
    const world = await coreWorld();
    const started = await startSignIn(world);
    world.journal.length = 0;
    const result = await completeSignIn(started.callback(), world.deps);
    expect(result.kind).toBe('signed-in');
    const at = (entry: string) => world.journal.indexOf(entry);
    expect(at('states.get')).toBe(0);
    expect(at('token.prepare')).toBeGreaterThan(at('states.get'));
    expect(at('states.consume')).toBeGreaterThan(at('token.prepare'));
    expect(at('token.redeemCode')).toBeGreaterThan(at('states.consume'));
    expect(at('sessions.insert')).toBeGreaterThan(at('token.redeemCode'));
    expect(world.states.snapshot()).toEqual([]);
    expect(sessionRows(world)).toHaveLength(1);
  });

  test('a credential outage answers 503 before the state is consumed: the same callback works once the vault is back', async () => {
    const world = await coreWorld();
    const started = await startSignIn(world);
    const callback = started.callback();
    world.credentials.setDown(true);
    expect(await rejection(completeSignIn(callback, world.deps))).toBe('credential_unavailable');
    expect(world.journal).not.toContain('states.consume');
    expect(world.states.snapshot()).toHaveLength(1);
    expect(world.sessions.snapshot()).toEqual([]);
    world.credentials.setDown(false);
    expect((await completeSignIn(callback, world.deps)).kind).toBe('signed-in');
  });

  test('a token endpoint outage stores no session, and the consumed state cannot be replayed', async () => {
    const world = await coreWorld();
    const started = await startSignIn(world);
    const callback = started.callback();
    world.provider.outage = new AuthError('upstream_unavailable', { logDetail: 'fake outage' });
    expect(await rejection(completeSignIn(callback, world.deps))).toBe('upstream_unavailable');
    expect(world.sessions.snapshot()).toEqual([]);
    world.provider.outage = undefined;
    expect(await rejection(completeSignIn(callback, world.deps))).toBe('state_unknown');
    expect(world.sessions.snapshot()).toEqual([]);
  });

  test('the same callback twice: one session, then state_unknown without a second redemption', async () => {
    const world = await coreWorld();
    const callback = (await startSignIn(world)).callback();
    expect((await completeSignIn(callback, world.deps)).kind).toBe('signed-in');
    expect(await rejection(completeSignIn(callback, world.deps))).toBe('state_unknown');
    expect(world.provider.tokenRequests).toEqual(['authorization_code']);
    expect(sessionRows(world)).toHaveLength(1);
  });

  test('five concurrent callbacks with one state: exactly one signs in, one code redemption, a replay event', async () => {
    const world = await coreWorld();
    const callback = (await startSignIn(world)).callback();
    const results = await Promise.all(Array.from({ length: 5 }, () => rejection(completeSignIn(callback, world.deps))));
    expect(results.filter((r) => r === 'resolved')).toHaveLength(1);
    expect(results.filter((r) => r === 'state_unknown')).toHaveLength(4);
    expect(world.provider.tokenRequests).toEqual(['authorization_code']);
    expect(sessionRows(world)).toHaveLength(1);
    expect(world.logs.some((line) => line.includes('event replay_detected'))).toBe(true);
  });

  test('a callback after the ten minutes is state_expired, and the state is gone', async () => {
    const world = await coreWorld();
    const callback = (await startSignIn(world)).callback();
    world.advance(SIGN_IN_TTL_MS + 1);
    expect(await rejection(completeSignIn(callback, world.deps))).toBe('state_expired');
    expect(world.states.snapshot()).toEqual([]);
    expect(providerCalls(world)).toEqual(['metadata.get']);
  });

  test('a provider error (access_denied) sends the user back with it, consumes the state, calls no token endpoint', async () => {
    const world = await coreWorld();
    const started = await startSignIn(world);
    const { state, cookies } = started.callback();
    const result = await completeSignIn({ state, cookies, error: 'access_denied' }, world.deps);
    expect(result).toMatchObject({ kind: 'provider-error', error: 'access_denied', returnTo: '/app' });
    expect(world.states.snapshot()).toEqual([]);
    expect(providerCalls(world)).toEqual(['metadata.get']);
  });
});

describe('web session', () => {
  test('reading the session writes only once the touch interval has passed', async () => {
    const world = await coreWorld();
    const cookie = await webSession(world);
    const etag = () => sessionRows(world)[0]!.etag;
    const first = etag();
    await readSession(cookie, 'web', world.deps);
    world.advance(SESSION_TOUCH_INTERVAL_MS - 1);
    await readSession(cookie, 'web', world.deps);
    expect(etag()).toBe(first);
    world.advance(1);
    await readSession(cookie, 'web', world.deps);
    expect(etag()).not.toBe(first);
  });

  test('after the idle timeout the session is expired and its row deleted', async () => {
    const world = await coreWorld();
    const cookie = await webSession(world);
    world.advance(world.config.session.idleSeconds * 1000);
    expect(await rejection(readSession(cookie, 'web', world.deps))).toBe('session_expired');
    expect(world.sessions.snapshot()).toEqual([]);
  });

  test('a refresh that needs the provider during an outage fails 502 and leaves the session row as it was', async () => {
    const world = await coreWorld();
    world.provider.accessTokenLifetimeMs = 60_000; // inside the renewal margin: every refresh needs the provider
    const cookie = await webSession(world);
    const before = world.sessions.snapshot();
    world.provider.outage = new AuthError('upstream_unavailable', { logDetail: 'fake outage' });
    expect(await rejection(refreshAccessToken(cookie, 'web', undefined, world.deps))).toBe('upstream_unavailable');
    expect(world.sessions.snapshot()).toEqual(before);
    world.provider.outage = undefined;
    expect((await refreshAccessToken(cookie, 'web', undefined, world.deps)).token_type).toBe('Bearer');
    expect(sessionRows(world)[0]!.etag).not.toBe(before[0]!.etag);
  });

  test('a refresh token the provider revoked ends the session: 401 session_revoked, and the session row is gone', async () => {
    const world = await coreWorld();
    world.provider.accessTokenLifetimeMs = 60_000; // every refresh needs the provider
    const cookie = await webSession(world);
    world.provider.revokeRefreshTokens();
    expect(await rejection(refreshAccessToken(cookie, 'web', undefined, world.deps))).toBe('session_revoked');
    expect(sessionRows(world)).toEqual([]);
    expect(await rejection(readSession(cookie, 'web', world.deps))).toBe('session_required');
  });

  test('…and its index entries go with it: nothing of the session is left in AuthSessions', async () => {
    const world = await coreWorld();
    world.provider.accessTokenLifetimeMs = 60_000;
    const cookie = await webSession(world);
    expect(world.sessions.snapshot().length).toBeGreaterThan(sessionRows(world).length); // the user index entry
    world.provider.revokeRefreshTokens();
    expect(await rejection(refreshAccessToken(cookie, 'web', undefined, world.deps))).toBe('session_revoked');
    expect(world.sessions.snapshot()).toEqual([]);
  });

  test('sign-out deletes the session, and still answers when the provider is down (no provider sign-out then)', async () => {
    const world = await coreWorld();
    const cookie = await webSession(world);
    world.metadata.outage();
    const result = await endSession(cookie, 'web', '/bye', world.deps);
    expect(result).toEqual({ logoutUrl: `${world.config.publicOrigin}/bye`, clearCookie: SESSION_COOKIE });
    expect(world.sessions.snapshot()).toEqual([]);
    expect(await rejection(readSession(cookie, 'web', world.deps))).toBe('session_required');
  });
});
