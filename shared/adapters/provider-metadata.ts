/**
 * The provider's discovery document and signing keys.
 *
 * Discovery is fetched once per instance (single flight), kept for a day, and a stale copy is served when a
 * refresh fails: Entra's metadata changes rarely, and a brief outage of the metadata endpoint should not stop
 * sign-ins that could otherwise finish. Signing keys come from jose's remote JWKS, which refetches once on an
 * unknown `kid` and rate-limits refetches (cooldown), so a flood of forged `kid`s cannot hammer the provider.
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html
 */
import type { JWTVerifyGetKey } from 'jose';
import { AuthError, upstreamTransportError } from '../errors';
import type { Clock, ProviderMetadata, ProviderMetadataSource } from '../ports';

const METADATA_TTL_MS = 24 * 3600_000;
const FETCH_TIMEOUT_MS = 5_000;

export function createProviderMetadataSource(
  discoveryUrl: string,
  clock: Clock,
  timeoutMs = FETCH_TIMEOUT_MS,
): ProviderMetadataSource {
  let current: { metadata: ProviderMetadata; fetchedAt: number } | undefined;
  let inFlight: Promise<ProviderMetadata> | undefined;

  async function fetchMetadata(): Promise<ProviderMetadata> {
    const body = await fetchJson(discoveryUrl, timeoutMs);
    const metadata = parseMetadata(body);
    current = { metadata, fetchedAt: clock.now() };
    return metadata;
  }

  return {
    async get() {
      if (current && clock.now() - current.fetchedAt < METADATA_TTL_MS) return current.metadata;
      inFlight ??= fetchMetadata().finally(() => {
        inFlight = undefined;
      });
      try {
        return await inFlight;
      } catch (error) {
        if (current) return current.metadata;
        throw error;
      }
    },
  };
}

/** jose's remote key set for the provider's `jwks_uri`, created once per instance. */
export function createSigningKeys(jwksUri: string, timeoutMs = FETCH_TIMEOUT_MS): JWTVerifyGetKey {
  // Loaded here, on the first callback: discovery (every login) needs no jose.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- lazy loading keeps cold starts small
  const { createRemoteJWKSet, customFetch } = require('jose') as typeof import('jose');
  return createRemoteJWKSet(new URL(jwksUri), {
    timeoutDuration: timeoutMs,
    cooldownDuration: 30_000,
    cacheMaxAge: 12 * 3600_000,
    [customFetch]: fetchJwks,
  });
}

/**
 * The JWKS fetch, checked before jose parses it: a provider answering 5xx, 429, HTML or broken JSON is the
 * provider being unavailable (502 upstream_unavailable), not an ID token failing validation. jose still turns a
 * timeout (the signal it passes) into JWKSTimeout (504).
 */
async function fetchJwks(url: string, options: RequestInit): Promise<Response> {
  const response = await fetch(url, options);
  if (response.status !== 200)
    throw new AuthError('upstream_unavailable', { logDetail: `JWKS answered ${response.status}` });
  const text = await response.text();
  try {
    JSON.parse(text);
  } catch {
    throw new AuthError('upstream_unavailable', { logDetail: 'JWKS answer is not JSON' });
  }
  return new Response(text, { status: 200, headers: response.headers });
}

function parseMetadata(body: unknown): ProviderMetadata {
  const doc = (body ?? {}) as Record<string, unknown>;
  const required = ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const;
  for (const name of required) {
    if (typeof doc[name] !== 'string' || !doc[name]) {
      throw new AuthError('upstream_unavailable', { logDetail: `discovery document lacks ${name}` });
    }
  }
  return {
    issuer: doc.issuer as string,
    authorization_endpoint: doc.authorization_endpoint as string,
    token_endpoint: doc.token_endpoint as string,
    jwks_uri: doc.jwks_uri as string,
    end_session_endpoint: typeof doc.end_session_endpoint === 'string' ? doc.end_session_endpoint : undefined,
  };
}

/** GET a JSON document with a deadline; any failure becomes a coded upstream error. */
export async function fetchJson(url: string, timeoutMs: number): Promise<unknown> {
  const path = new URL(url).pathname;
  let text: string;
  try {
    // One deadline for headers and body: a body that stalls is a timeout too.
    const response = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: 'application/json' },
    });
    if (!response.ok)
      throw new AuthError('upstream_unavailable', { logDetail: `GET ${path} answered ${response.status}` });
    text = await response.text();
  } catch (cause) {
    throw cause instanceof AuthError ? cause : upstreamTransportError(cause, `GET ${path}`);
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new AuthError('upstream_unavailable', { cause, logDetail: `GET ${path} answered no JSON` });
  }
}
