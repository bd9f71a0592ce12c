/**
 * The core's dependencies (`CoreDeps`) on in-memory ports with a fixed clock, for unit tests of `shared/core`:
 * MemoryRowStore tables, the fake identity provider (TokenClient, metadata, signing keys), the fake credential
 * provider. No sockets, no files, no child processes. Every port call lands in one ordered `journal`
 * (`states.consume`, `token.prepare`, `metadata.get`, …) so tests can check what happened before what.
 *
 * The fakes pass the same contract suites as the real adapters (test/_support/contracts/), which is what makes a
 * core test on them mean something.
 */
import { randomBytes, createHash } from 'node:crypto';
import { parseConfig, type AuthConfig } from '../../shared/config';
import { beginSignIn, completeSignIn } from '../../shared/core/flow';
import type { CookieToSet, CoreDeps } from '../../shared/core/deps';
import { redeemHandoff } from '../../shared/core/native';
import type { Logger } from '../../shared/ports';
import { FakeCredentialProvider } from './fakes/fake-credential-provider';
import {
  FAKE_TENANT_ID,
  FakeIdentityProvider,
  type FakeTokenClient,
  type FakeUser,
} from './fakes/fake-identity-provider';
import { recorded, type Journal } from './fakes/journal';
import { MemoryRowStore } from './fakes/memory-row-store';
import type { StaticMetadataSource } from './fakes/static-metadata-source';

export const CLIENT_ID = '11111111-2222-4333-8444-555555555555';
export const PUBLIC_ORIGIN = 'https://auth.contoso.example';
export const APP_ORIGIN = 'https://app.contoso.example';
export const NATIVE_REDIRECT_URI = 'com.contoso.app:/oauth2redirect';
/** A fixed start: 2026-01-15 09:00 UTC. Tests move time with `advance`, never by waiting. */
export const START = Date.UTC(2026, 0, 15, 9, 0, 0);

export interface CoreWorld {
  deps: CoreDeps;
  config: AuthConfig;
  provider: FakeIdentityProvider;
  tokens: FakeTokenClient;
  credentials: FakeCredentialProvider;
  metadata: StaticMetadataSource;
  states: MemoryRowStore;
  sessions: MemoryRowStore;
  journal: Journal;
  logs: string[];
  now(): number;
  advance(ms: number): void;
}

export async function coreWorld(): Promise<CoreWorld> {
  let now = START;
  const clock = { now: () => now };
  const journal: Journal = [];
  const logs: string[] = [];
  const logger: Logger = {
    info: (message, properties) => logs.push(`info ${message} ${JSON.stringify(properties ?? {})}`),
    warn: (message, properties) => logs.push(`warn ${message} ${JSON.stringify(properties ?? {})}`),
    error: (message, properties) => logs.push(`error ${message} ${JSON.stringify(properties ?? {})}`),
  };
  const config = parseConfig({
    AUTH_CLIENT_ID: CLIENT_ID,
    AUTH_TENANT_ID: FAKE_TENANT_ID,
    AUTH_REDIRECT_URI: `${PUBLIC_ORIGIN}/auth/callback`,
    AUTH_CLIENT_SECRET: 'fake-client-secret',
    AUTH_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
    AUTH_ALLOWED_RETURN_ORIGINS: APP_ORIGIN,
    AUTH_NATIVE_REDIRECT_URIS: NATIVE_REDIRECT_URI,
    AUTH_SCOPES: 'User.Read',
  });
  const provider = await FakeIdentityProvider.create({ clientId: CLIENT_ID, clock });
  const credentials = new FakeCredentialProvider('fake-client-secret');
  const tokens = provider.tokenClient(credentials);
  const metadata = provider.metadataSource();
  const states = new MemoryRowStore();
  const sessions = new MemoryRowStore();
  const tokenPort = recorded('token', tokens, journal);
  const deps: CoreDeps = {
    config,
    clock,
    random: (size) => new Uint8Array(randomBytes(size)),
    logger,
    states: recorded('states', states, journal),
    sessions: recorded('sessions', sessions, journal),
    metadata: recorded('metadata', metadata, journal),
    signInRate: { take: () => undefined },
    idTokenKeys: () => provider.idTokenKeys(),
    tokenClient: async () => tokenPort,
    // The API proxy is not part of these tests: any call to it is a test bug, said loudly.
    apiClient: () => ({
      send: async () => {
        throw new Error('the core world has no API client: the API proxy is not under test here');
      },
    }),
  };
  return {
    deps,
    config,
    provider,
    tokens,
    credentials,
    metadata,
    states,
    sessions,
    journal,
    logs,
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
  };
}

// ------------------------------------------------------------------------------------------ sign-ins

export interface StartedSignIn {
  state: string;
  transactionCookie: CookieToSet;
  /** The callback query the provider sends the browser back with (code issued to `user`). */
  callback(user?: FakeUser): { code: string; state: string; cookies: Record<string, string> };
}

/** `/auth/login` through the core; the provider-side sign-in is one call away (`callback()`). */
export async function startSignIn(
  world: CoreWorld,
  input: Parameters<typeof beginSignIn>[0] = { returnTo: '/app' },
): Promise<StartedSignIn> {
  const result = await beginSignIn(input, world.deps);
  // A native sign-in first shows the confirmation page naming the app; its link is the same authorize URL.
  if (result.kind === 'app-redirect')
    throw new Error(`expected an authorize redirect, got an app redirect: ${result.location}`);
  const params = new URL(result.authorizeUrl).searchParams;
  const state = params.get('state')!;
  return {
    state,
    transactionCookie: result.transactionCookie,
    callback: (user) => ({
      code: world.provider.authorize(
        {
          codeChallenge: params.get('code_challenge')!,
          nonce: params.get('nonce')!,
          redirectUri: params.get('redirect_uri')!,
        },
        user,
      ),
      state,
      cookies: { [result.transactionCookie.name]: result.transactionCookie.value },
    }),
  };
}

/** A web sign-in from login to callback; the session cookie's value. */
export async function webSession(world: CoreWorld): Promise<string> {
  const started = await startSignIn(world);
  const result = await completeSignIn(started.callback(), world.deps);
  if (result.kind !== 'signed-in') throw new Error(`expected signed-in, got ${result.kind}`);
  return result.session.value;
}

/** A native app's own PKCE pair, as AppAuth makes it. */
export function appPkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface NativeHandoff {
  code: string;
  verifier: string;
  redirectUri: string;
}

/** A native app's sign-in up to the redirect that carries the handoff code. */
export async function nativeHandoff(world: CoreWorld): Promise<NativeHandoff> {
  const pkce = appPkce();
  const started = await startSignIn(world, {
    native: {
      redirectUri: NATIVE_REDIRECT_URI,
      codeChallenge: pkce.challenge,
      codeChallengeMethod: 'S256',
      state: 'app-state',
      responseType: 'code',
    },
  });
  const result = await completeSignIn(started.callback(), world.deps);
  if (result.kind !== 'app-redirect') throw new Error(`expected an app redirect, got ${result.kind}`);
  const code = new URL(result.location).searchParams.get('code');
  if (!code)
    throw new Error(`no handoff code in the app redirect: ${new URL(result.location).searchParams.get('error')}`);
  return { code, verifier: pkce.verifier, redirectUri: NATIVE_REDIRECT_URI };
}

/** A native sign-in through the handoff redemption; the app's first refresh token. */
export async function nativeSession(world: CoreWorld): Promise<string> {
  const handoff = await nativeHandoff(world);
  const tokens = await redeemHandoff(
    { code: handoff.code, codeVerifier: handoff.verifier, redirectUri: handoff.redirectUri },
    world.deps,
  );
  return tokens.refresh_token;
}

/**
 * The session rows of AuthSessions (partitions `<shard>-<bucket>`, or a bare bucket from before the shards), without
 * the user and sid index entries (`u.…`/`s.…` partitions) beside them.
 */
export function sessionRows(world: CoreWorld) {
  return world.sessions.snapshot().filter((row) => /^(?:[a-p]-)?\d{10}$/.test(row.partitionKey));
}

/** The error code a promise rejects with ('resolved' when it does not reject). */
export async function rejection(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'resolved',
    (error: unknown) => String((error as { code?: unknown })?.code ?? (error instanceof Error ? error.name : error)),
  );
}
