/**
 * An in-process stand-in for Entra ID behind the TokenClient and ProviderMetadataSource ports, for the unit tier:
 * no sockets, no MSAL. It keeps what the real pair keeps:
 * - authorization codes bound to the PKCE challenge, nonce and redirect URI, single use (RFC 6749 §4.1.2,
 *   RFC 7636 §4.6); a bad or reused code is `invalid_grant`, as the MSAL adapter maps Entra's answer;
 * - ID tokens signed RS256 with `iss`/`aud`/`tid`/`oid`/`nonce`, checkable with `idTokenKeys()` like the real JWKS;
 * - each session's token cache in the caller's `TokenCacheBox`, never in the client, as the MSAL adapter's cache
 *   plugin does; an access token is served from that cache until five minutes before expiry (MSAL's renewal
 *   margin), then renewed with the refresh token (a revoked one is `session_revoked`, as the adapter maps it);
 * - the client credential is fetched through a ClientCredentialProvider before every token call, as the adapter does.
 * It passes the same contract as the MSAL adapter on the Entra stand-in (`test/_support/contracts/token-client.ts`).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createLocalJWKSet, importJWK, SignJWT, type CryptoKey, type JWK, type JWTVerifyGetKey } from 'jose';
import { AuthError } from '../../../shared/errors';
import type {
  AccessToken,
  ClientCredentialProvider,
  Clock,
  CodeRedemption,
  ProviderMetadata,
  RedeemedTokens,
  TokenCacheBox,
  TokenClient,
} from '../../../shared/ports';
import { FakeCredentialProvider } from './fake-credential-provider';
import { FAKE_SIGNING_KEY } from './fake-signing-key';
import { StaticMetadataSource } from './static-metadata-source';

export const FAKE_TENANT_ID = '7c1f6a5e-3d2b-4c8a-9f1e-2b6d8a4c0e11';
export const FAKE_AUTHORITY = `https://login.microsoftonline.com/${FAKE_TENANT_ID}`;
/** MSAL renews an access token this long before it expires (`tokenRenewalOffsetSeconds`, default 300). */
const RENEWAL_MARGIN_MS = 300_000;

export interface FakeUser {
  oid: string;
  name: string;
  username: string;
}

export const FAKE_USERS: readonly FakeUser[] = [
  { oid: '00000000-0000-4000-8000-00000000ad01', name: 'Adele Vance', username: 'adele@contoso.example' },
  { oid: '00000000-0000-4000-8000-00000000a1e0', name: 'Alex Wilber', username: 'alex@contoso.example' },
];

interface IssuedCode {
  codeChallenge: string;
  nonce: string;
  redirectUri: string;
  user: FakeUser;
  expiresAt: number;
  used: boolean;
}

/** What a session's cache box holds (the fake's own format, as opaque to the core as MSAL's JSON). */
interface FakeCache {
  homeAccountId: string;
  refreshToken: string;
  accessTokens: Record<string, { token: string; expiresOn: number; scopes: string[] }>;
}

export interface FakeIdentityProviderOptions {
  clientId: string;
  clock: Clock;
  /** Access token lifetime; default one hour (Entra's default is 60–90 minutes). */
  accessTokenLifetimeMs?: number;
}

export class FakeIdentityProvider {
  readonly tenantId = FAKE_TENANT_ID;
  readonly metadata: ProviderMetadata = {
    issuer: `${FAKE_AUTHORITY}/v2.0`,
    authorization_endpoint: `${FAKE_AUTHORITY}/oauth2/v2.0/authorize`,
    token_endpoint: `${FAKE_AUTHORITY}/oauth2/v2.0/token`,
    jwks_uri: `https://login.microsoftonline.com/${FAKE_TENANT_ID}/discovery/v2.0/keys`,
    end_session_endpoint: `${FAKE_AUTHORITY}/oauth2/v2.0/logout`,
  };
  /** Token endpoint calls (code and refresh-token redemptions) that reached the provider. */
  readonly tokenRequests: ('authorization_code' | 'refresh_token')[] = [];
  accessTokenLifetimeMs: number;
  /** When set, the token endpoint cannot be reached: every provider call fails with this error. */
  outage: AuthError | undefined;

  private readonly codes = new Map<string, IssuedCode>();
  private readonly revokedRefreshTokens = new Set<string>();
  private readonly refreshTokens = new Set<string>();
  private readonly kid = `fake-${randomBytes(4).toString('hex')}`;

  private constructor(
    readonly clientId: string,
    private readonly clock: Clock,
    private readonly privateKey: CryptoKey,
    private readonly publicJwk: JWK,
    accessTokenLifetimeMs: number,
  ) {
    this.accessTokenLifetimeMs = accessTokenLifetimeMs;
  }

  static async create(options: FakeIdentityProviderOptions): Promise<FakeIdentityProvider> {
    const { privateKey, publicJwk } = await signingKey();
    return new FakeIdentityProvider(
      options.clientId,
      options.clock,
      privateKey,
      publicJwk,
      options.accessTokenLifetimeMs ?? 3_600_000,
    );
  }

  /** The discovery port over this provider's metadata (with an outage switch of its own). */
  metadataSource(): StaticMetadataSource {
    return new StaticMetadataSource(this.metadata);
  }

  /** The provider's signing keys, as jose's remote JWKS would give them. */
  async idTokenKeys(): Promise<JWTVerifyGetKey> {
    return createLocalJWKSet({ keys: [{ ...this.publicJwk, kid: this.kid, alg: 'RS256', use: 'sig' }] });
  }

  /** A TokenClient of this provider for a confidential client whose credential comes from `credentials`. */
  tokenClient(
    credentials: ClientCredentialProvider = new FakeCredentialProvider('fake-client-secret'),
  ): FakeTokenClient {
    return new FakeTokenClient(this, credentials);
  }

  /** The user signs in at the authorize endpoint for this request; the code the redirect carries. */
  authorize(
    request: { codeChallenge: string; nonce: string; redirectUri: string },
    user: FakeUser = FAKE_USERS[0]!,
  ): string {
    const code = `fake-code.${randomBytes(32).toString('base64url')}`;
    this.codes.set(code, { ...request, user, expiresAt: this.clock.now() + 10 * 60_000, used: false });
    return code;
  }

  /** The refresh tokens issued so far stop working (a password reset, an admin revocation). */
  revokeRefreshTokens(): void {
    for (const token of this.refreshTokens) this.revokedRefreshTokens.add(token);
  }

  /** @internal The token endpoint, grant_type=authorization_code. */
  async redeem(request: CodeRedemption, cache: TokenCacheBox): Promise<RedeemedTokens> {
    this.reach('authorization_code');
    const grant = this.codes.get(request.code);
    if (
      !grant ||
      grant.used ||
      this.clock.now() > grant.expiresAt ||
      grant.redirectUri !== request.redirectUri ||
      s256(request.codeVerifier) !== grant.codeChallenge
    ) {
      if (grant) grant.used = true; // Entra: a failed redemption burns the code too
      throw new AuthError('invalid_grant', { logDetail: 'fake provider answered invalid_grant' });
    }
    grant.used = true;
    // MSAL checks the ID token's nonce against the request's (MSAL 7).
    if (grant.nonce !== request.nonce)
      throw new AuthError('id_token_invalid', { logDetail: 'ID token rejected: nonce mismatch (msal)' });
    const now = this.clock.now();
    const { user } = grant;
    const idToken = await new SignJWT({
      tid: this.tenantId,
      oid: user.oid,
      nonce: grant.nonce,
      name: user.name,
      preferred_username: user.username,
      ver: '2.0',
    })
      .setProtectedHeader({ alg: 'RS256', kid: this.kid, typ: 'JWT' })
      .setIssuer(this.metadata.issuer)
      .setAudience(this.clientId)
      .setSubject(`sub-${user.oid}`)
      .setIssuedAt(Math.floor(now / 1000))
      .setNotBefore(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(now / 1000) + 3600)
      .sign(this.privateKey);
    const homeAccountId = `${user.oid}.${this.tenantId}`;
    const refreshToken = this.newRefreshToken();
    const stored: FakeCache = { homeAccountId, refreshToken, accessTokens: {} };
    this.issueAccessToken(stored, [...request.scopes]);
    cache.serialized = JSON.stringify(stored);
    cache.changed = true;
    return { idToken, homeAccountId };
  }

  /** @internal From the cache while fresh, else grant_type=refresh_token. */
  async silent(
    request: { homeAccountId: string; scopes: readonly string[] },
    cache: TokenCacheBox,
  ): Promise<AccessToken> {
    const stored = cache.serialized ? (JSON.parse(cache.serialized) as FakeCache) : undefined;
    if (!stored || stored.homeAccountId !== request.homeAccountId)
      throw new AuthError('interaction_required', { logDetail: 'no account in session cache' });
    const scopes = [...request.scopes];
    const cached = stored.accessTokens[scopes.join(' ')];
    if (cached && cached.expiresOn - RENEWAL_MARGIN_MS > this.clock.now()) {
      return { accessToken: cached.token, expiresOn: cached.expiresOn, scopes: cached.scopes };
    }
    this.reach('refresh_token');
    if (this.revokedRefreshTokens.has(stored.refreshToken)) {
      // A terminal invalid_grant (AADSTS50173 revoked): the MSAL adapter answers session_revoked.
      throw new AuthError('session_revoked', { logDetail: 'provider refused the refresh token' });
    }
    // Entra rotates the refresh token on use; the cache keeps the newest.
    stored.refreshToken = this.newRefreshToken();
    const issued = this.issueAccessToken(stored, scopes);
    cache.serialized = JSON.stringify(stored);
    cache.changed = true;
    return { accessToken: issued.token, expiresOn: issued.expiresOn, scopes: issued.scopes };
  }

  private reach(grant: 'authorization_code' | 'refresh_token'): void {
    if (this.outage) throw this.outage;
    this.tokenRequests.push(grant);
  }

  private issueAccessToken(
    stored: FakeCache,
    scopes: string[],
  ): { token: string; expiresOn: number; scopes: string[] } {
    const issued = {
      token: `fake-at.${randomBytes(24).toString('base64url')}`,
      expiresOn: this.clock.now() + this.accessTokenLifetimeMs,
      scopes,
    };
    stored.accessTokens[scopes.join(' ')] = issued;
    return issued;
  }

  private newRefreshToken(): string {
    const token = `fake-rt.${randomBytes(24).toString('base64url')}`;
    this.refreshTokens.add(token);
    return token;
  }
}

/** The TokenClient face of the fake provider. `calls` records the order of port calls for the core's order checks. */
export class FakeTokenClient implements TokenClient {
  readonly calls: ('prepare' | 'redeemCode' | 'acquireSilent')[] = [];

  constructor(
    readonly provider: FakeIdentityProvider,
    private readonly credentials: ClientCredentialProvider,
  ) {}

  async prepare(): Promise<void> {
    this.calls.push('prepare');
    await this.credentials.get();
  }

  async redeemCode(request: CodeRedemption, cache: TokenCacheBox): Promise<RedeemedTokens> {
    this.calls.push('redeemCode');
    await this.credentials.get();
    return this.provider.redeem(request, cache);
  }

  async acquireSilent(
    request: { homeAccountId: string; scopes: readonly string[] },
    cache: TokenCacheBox,
  ): Promise<AccessToken> {
    this.calls.push('acquireSilent');
    await this.credentials.get();
    return this.provider.silent(request, cache);
  }
}

let sharedKey: Promise<{ privateKey: CryptoKey; publicJwk: JWK }> | undefined;
function signingKey(): Promise<{ privateKey: CryptoKey; publicJwk: JWK }> {
  const { kty, n, e } = FAKE_SIGNING_KEY;
  sharedKey ??= importJWK({ ...FAKE_SIGNING_KEY }, 'RS256').then((privateKey) => ({
    privateKey: privateKey as CryptoKey,
    publicJwk: { kty, n, e },
  }));
  return sharedKey;
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}
