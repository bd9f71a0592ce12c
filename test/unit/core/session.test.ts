/**
 * `shared/core/session.ts` through the token endpoint's refresh grant and the session reads, on in-memory ports
 * with a fixed clock: rotation of native refresh tokens, the grace hand-over to the successor, and revocation of
 * the whole session when a rotated-away token comes back (RFC 9700 §4.14.2).
 */
import { describe, expect, test } from '@jest/globals';
import { readSession } from '../../../shared/core/flow';
import { refreshGrant } from '../../../shared/core/native';
import { loadSession, ROTATION_GRACE_MS } from '../../../shared/core/session';
import { AuthError } from '../../../shared/errors';
import { coreWorld, rejection, nativeSession, sessionRows, webSession } from '../../_support/core-world';

describe('native refresh token rotation', () => {
  test('each refresh grant answers a new refresh token for the same session row, and the new one works', async () => {
    const world = await coreWorld();
    const first = await nativeSession(world);
    const [row] = sessionRows(world);
    const second = (await refreshGrant(first, undefined, world.deps)).refresh_token;
    expect(second).not.toBe(first);
    // Same row (partition and id), new secret: the row was re-sealed in place.
    expect(sessionRows(world)).toEqual([
      expect.objectContaining({ partitionKey: row!.partitionKey, rowKey: row!.rowKey }),
    ]);
    expect(sessionRows(world)[0]!.etag).not.toBe(row!.etag);
    const third = (await refreshGrant(second, undefined, world.deps)).refresh_token;
    expect(new Set([first, second, third]).size).toBe(3);
    expect((await readSession(third, 'native', world.deps)).user.username).toBe('adele@contoso.example');
  });

  test('a retry with the just-rotated token within the grace gets the same successor again, with no second rotation', async () => {
    const world = await coreWorld();
    const first = await nativeSession(world);
    const successor = (await refreshGrant(first, undefined, world.deps)).refresh_token;
    const etag = sessionRows(world)[0]!.etag;
    world.advance(ROTATION_GRACE_MS - 1_000);
    expect((await refreshGrant(first, undefined, world.deps)).refresh_token).toBe(successor);
    expect((await refreshGrant(first, undefined, world.deps)).refresh_token).toBe(successor);
    expect(sessionRows(world)[0]!.etag).toBe(etag);
    const loaded = await loadSession(first, 'native', world.deps);
    expect(loaded).toMatchObject({ token: successor, handedOver: true });
    // The successor still rotates normally.
    expect((await refreshGrant(successor, undefined, world.deps)).refresh_token).not.toBe(successor);
  });

  test('the rotated-away token after the grace is reuse: the whole session is revoked, successor included', async () => {
    const world = await coreWorld();
    const first = await nativeSession(world);
    const successor = (await refreshGrant(first, undefined, world.deps)).refresh_token;
    world.advance(ROTATION_GRACE_MS);
    expect(await rejection(refreshGrant(first, undefined, world.deps))).toBe('session_required');
    expect(world.sessions.snapshot()).toEqual([]);
    expect(await rejection(refreshGrant(successor, undefined, world.deps))).toBe('session_required');
    expect(world.logs.some((line) => line.includes('event token_reuse_detected'))).toBe(true);
  });

  test('a token two rotations old follows the hand-overs to the current token within the grace, and is reuse after it', async () => {
    const world = await coreWorld();
    const first = await nativeSession(world);
    const second = (await refreshGrant(first, undefined, world.deps)).refresh_token;
    const third = (await refreshGrant(second, undefined, world.deps)).refresh_token;
    const etag = sessionRows(world)[0]!.etag;
    // Two refreshes in flight while the app already uses the newest token: the slow one gets the current token.
    expect((await refreshGrant(first, undefined, world.deps)).refresh_token).toBe(third);
    expect(sessionRows(world)[0]!.etag).toBe(etag);
    world.advance(ROTATION_GRACE_MS);
    expect(await rejection(refreshGrant(first, undefined, world.deps))).toBe('session_required');
    expect(world.sessions.snapshot()).toEqual([]);
    expect(await rejection(readSession(third, 'native', world.deps))).toBe('session_required');
  });

  test('a provider outage during a refresh grant rotates nothing: the same token works afterwards', async () => {
    const world = await coreWorld();
    world.provider.accessTokenLifetimeMs = 60_000; // every grant needs the provider
    const token = await nativeSession(world);
    const before = world.sessions.snapshot();
    world.provider.outage = new AuthError('upstream_unavailable', { logDetail: 'fake outage' });
    expect(await rejection(refreshGrant(token, undefined, world.deps))).toBe('upstream_unavailable');
    expect(world.sessions.snapshot()).toEqual(before);
    world.provider.outage = undefined;
    expect((await refreshGrant(token, undefined, world.deps)).refresh_token).not.toBe(token);
  });

  test('concurrent grants with one token share one rotation: every caller gets the same successor', async () => {
    const world = await coreWorld();
    const token = await nativeSession(world);
    const answers = await Promise.all(Array.from({ length: 4 }, () => refreshGrant(token, undefined, world.deps)));
    expect(new Set(answers.map((a) => a.refresh_token)).size).toBe(1);
    expect(answers[0]!.refresh_token).not.toBe(token);
  });
});

describe('kinds and wrong secrets', () => {
  test('a web session token with a wrong secret is no session, and the session is not revoked', async () => {
    const world = await coreWorld();
    const cookie = await webSession(world);
    const [partition, id] = cookie.split('.');
    const forged = `${partition}.${id}.${'A'.repeat(43)}`;
    expect(await rejection(readSession(forged, 'web', world.deps))).toBe('session_required');
    expect(sessionRows(world)).toHaveLength(1);
    expect((await readSession(cookie, 'web', world.deps)).user.id).toBe('00000000-0000-4000-8000-00000000ad01');
  });

  test('a web session is not a native one, nor the other way round', async () => {
    const world = await coreWorld();
    const cookie = await webSession(world);
    const refresh = await nativeSession(world);
    expect(await rejection(readSession(cookie, 'native', world.deps))).toBe('session_required');
    expect(await rejection(readSession(refresh, 'web', world.deps))).toBe('session_required');
    expect(sessionRows(world)).toHaveLength(2);
  });

  test('the absolute lifetime ends a native session however often it is refreshed', async () => {
    const world = await coreWorld();
    let token = await nativeSession(world);
    const absoluteMs = world.config.session.absoluteSeconds * 1000;
    // Refreshed well inside the idle timeout each time: only the absolute lifetime can end it.
    const step = Math.min(world.config.session.idleSeconds * 1000, absoluteMs) / 4;
    let elapsed = 0;
    for (; elapsed + step < absoluteMs; elapsed += step) {
      world.advance(step);
      token = (await refreshGrant(token, undefined, world.deps)).refresh_token;
    }
    expect((await readSession(token, 'native', world.deps)).expiresAt).toBe(
      new Date(world.now() + Math.min(world.config.session.idleSeconds * 1000, absoluteMs - elapsed)).toISOString(),
    );
    world.advance(absoluteMs - elapsed);
    expect(await rejection(refreshGrant(token, undefined, world.deps))).toBe('session_expired');
    expect(world.sessions.snapshot()).toEqual([]);
  });
});
