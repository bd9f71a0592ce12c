/**
 * A local stand-in for Microsoft Entra ID (or, with `protocol: 'oidc'`, a generic OpenID Provider), for
 * integration tests and the local dev stack. It behaves like Entra where this service depends on it:
 *
 * - discovery at the paths MSAL derives from an authority, an RS256 JWKS, key rotation;
 * - an authorize endpoint with a real sign-in page, exact redirect URI matching, PKCE S256 required;
 * - a token endpoint that authenticates the client (secret, certificate assertion, federated assertion),
 *   redeems single-use codes bound to client, redirect URI, PKCE challenge and nonce, rotates refresh tokens,
 *   returns `client_info`, and fails with Entra-shaped AADSTS errors;
 * - an end-session endpoint that only redirects to registered URIs;
 * - test hooks: injected faults, tampered ID tokens, secret rotation, revocation, clock control.
 *
 * Everything listens on 127.0.0.1 only. The back channel is HTTPS with a leaf from the dev CA (`dev/ca.ts`),
 * trusted by the client process through NODE_EXTRA_CA_CERTS, exactly as a real authority is trusted.
 *
 * @see https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow
 * @see https://learn.microsoft.com/entra/identity-platform/reference-error-codes
 */
import {
  createHash,
  createPublicKey,
  randomBytes,
  randomUUID,
  timingSafeEqual,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTVerifyGetKey,
} from 'jose';
import { devCaFromEnvironment, issueServerCertificate, type DevCa } from './ca';
import {
  newSigningKey,
  publicJwk,
  signCompact,
  signGraphStyle,
  unhashGraphNonce,
  type SignAlg,
  type SigningKey,
} from './entra-standin/jwt';
import { PAGE_CSP, renderErrorPage, renderSignedOutPage, renderSignInPage, unescapeHtml } from './entra-standin/pages';
import {
  clientCapabilities,
  claimsSatisfy,
  GRAPH_RESOURCE_ID,
  OIDC_SCOPES,
  parseClaimsRequest,
  permissionKey,
  resourceOf,
  scopeName,
  unconsented,
} from './entra-standin/resources';

export { GRAPH_RESOURCE_ID } from './entra-standin/resources';

// ---------------------------------------------------------------------------------------------------------
// Public types

export interface FederatedCredential {
  issuer: string;
  subject: string;
  /** Entra's fixed audience for workload identity federation. */
  audience?: string;
  jwksUri?: string;
  /** SPKI public key or certificate PEM. */
  publicKeyPem?: string;
}

/** A client secret, optionally with an expiry (ms since the epoch) to model AADSTS7000222. */
export type StandInSecret = string | { value: string; expiresAt: number };

export interface StandInClient {
  clientId: string;
  displayName?: string;
  secrets?: StandInSecret[];
  /** Redirect (reply) URIs of the Web platform. Entra also returns to one of these after sign-out, and only to these. */
  redirectUris: string[];
  /**
   * Redirect URIs registered under the *Single-page application* platform: a code issued to one of them may only be
   * redeemed cross-origin (with an `Origin` header), else AADSTS9002327.
   */
  spaRedirectUris?: string[];
  /** Redirect URIs of the *Mobile and desktop* platform: a code issued to one of them is redeemed without a credential (AADSTS700025). */
  publicClientRedirectUris?: string[];
  /** Scopes an administrator consented to for the whole tenant (admin consent); users consent to the rest at sign-in. */
  consentedScopes?: string[];
  /** Optional ID token claims configured under *Token configuration* (`email`, `login_hint`). */
  optionalClaims?: Array<'email' | 'login_hint'>;
  /** `groupMembershipClaims` in the manifest: emit `groups` (or the overage form past 200 groups). */
  groupMembershipClaims?: boolean;
  /** A claims-mapping policy is assigned: tokens are signed with an app-specific key, published only with `?appid=`. */
  claimsMappingPolicy?: boolean;
  /** PEM certificates whose private keys may sign client assertions (matched by `x5t#S256` / `x5t`). */
  certificates?: string[];
  federated?: FederatedCredential[];
}

export interface StandInUser {
  username: string;
  password: string;
  name: string;
  /** Object id (Entra `oid`, also `client_info.uid`). */
  oid: string;
  sub: string;
  givenName?: string;
  familyName?: string;
  /** The user's mail attribute; Entra emits `email` only when it is set and asked for (scope or optional claim). */
  email?: string;
  /** App roles assigned to the user (`roles` claim). */
  roles?: string[];
  /** Group object ids (`groups` claim, with `groupMembershipClaims`). */
  groups?: string[];
  /** The user's home tenant (default: the stand-in's tenant). Personal accounts: 9188040d-6c67-4c5b-b112-36a304b66dad. */
  tenantId?: string;
}

export type Fault =
  | {
      status: number;
      body?: string;
      contentType?: string;
      headers?: Record<string, string>;
      /** Send only this many bytes of `body` while Content-Length announces all of it (a body cut short). */
      truncateAtBytes?: number;
      /** After a truncated body: close the connection (default), or stall until the client gives up. */
      afterTruncate?: 'close' | 'stall';
    }
  | { delayMs: number }
  | { hang: true }
  | { destroySocket: true }
  | {
      aadsts: number;
      error: string;
      description?: string;
      status?: number;
      headers?: Record<string, string>;
      /** Entra's `suberror` (e.g. `basic_action`, `consent_required`): MSAL reads it as "interaction required". */
      suberror?: string;
      /** A claims challenge (JSON) the client must pass to a new interactive sign-in. */
      claims?: string;
    };

export type FaultEndpoint = 'token' | 'discovery' | 'jwks';

export interface SignOptions {
  alg?: SignAlg;
  kid?: string;
  /** `foreign`: a key that is not in the JWKS, published under the current key's kid. */
  key?: 'current' | 'foreign';
  header?: Record<string, unknown>;
}

export type SignFn = (claims: Record<string, unknown>, opts?: SignOptions) => string;
export type IdTokenMutator = (claims: Record<string, unknown>, sign: SignFn) => string;

export interface EntraStandInOptions {
  protocol?: 'entra' | 'oidc';
  tenantId?: string;
  /**
   * Serve a multi-tenant authority (`/organizations` or `/common`) as well as the tenant one: its discovery
   * document names the issuer `…/{tenantid}/v2.0`, and each token carries its user's own tenant.
   */
  multiTenant?: 'organizations' | 'common';
  clients: StandInClient[];
  users?: StandInUser[];
  port?: number;
  /** `http`: authorize and logout on a second, plain-HTTP loopback listener, so a browser needs no CA. */
  frontChannel?: 'https' | 'http';
  frontChannelPort?: number;
  ca?: DevCa;
  accessTokenLifetimeSeconds?: number;
  /**
   * The APIs (resource app registrations) tokens can be asked for, by identifier URI. An API's manifest decides the
   * access token's shape: v2 (`aud` = the API's client id) or v1 (the default when `requestedAccessTokenVersion` is
   * null: `aud` = the identifier URI, `iss` = `https://sts.windows.net/<tid>/`). Unlisted `api://…` resources are v1.
   */
  apis?: Array<{ identifierUri: string; appId: string; accessTokenVersion?: 1 | 2 }>;
  codeLifetimeSeconds?: number;
  refreshTokenLifetimeSeconds?: number;
  /** Revoke a refresh token when it is redeemed (Entra keeps the old one valid; default false). */
  revokeRefreshTokenOnUse?: boolean;
  clock?: () => number;
}

export interface StandInCounters {
  discovery: number;
  jwks: number;
  authorize: number;
  endSession: number;
  /** Token requests by `grant_type` (anything unrecognized counts under its own name or `missing`). */
  token: Record<string, number>;
  codeRedemptions: number;
  refreshRedemptions: number;
  failedTokenRequests: number;
}

/** A token request as the stand-in saw it (no secrets): what a test asks "did the client send X". */
export interface TokenRequestRecord {
  grantType: string;
  scopes: string[];
  /** The parsed `claims` parameter, when sent (MSAL sends client capabilities here). */
  claims?: Record<string, unknown>;
  origin?: string;
}

/** An end-session request as the stand-in saw it. */
export interface EndSessionRecord {
  postLogoutRedirectUri?: string;
  logoutHint?: string;
  /** The user the `logout_hint` names (it matched a `login_hint` this stand-in issued), if any. */
  hintedUser?: string;
  /** Whether the browser was sent back to `postLogoutRedirectUri`. */
  redirected: boolean;
}

/** A Conditional Access requirement that refresh tokens from earlier sign-ins do not meet (MFA, auth context, CAE). */
export interface ClaimsRequirement {
  username?: string;
  /** Only tokens for this resource (a scope prefix, or GRAPH_RESOURCE_ID) are refused. */
  resource?: string;
  /** The claims challenge sent to the client; a sign-in whose `claims` parameter contains it satisfies it. */
  claims: string;
  /** Default 50076 (MFA required) with suberror `basic_action`. */
  aadsts?: number;
  suberror?: string;
  error?: string;
}

export interface EntraStandIn {
  protocol: 'entra' | 'oidc';
  /** Back channel origin, `https://127.0.0.1:PORT`. */
  url: string;
  /** Browser-facing origin: `url`, or `http://127.0.0.1:PORT2` with `frontChannel: 'http'`. */
  frontChannelUrl: string;
  /** Value for AUTH_AUTHORITY. */
  authority: string;
  issuer: string;
  discoveryUrl: string;
  tokenEndpoint: string;
  jwksUri: string;
  tenantId: string;
  users: readonly StandInUser[];
  counters: StandInCounters;
  caCertPem: string;
  signIn(authorizeUrl: string, username: string, opts?: { password?: string; cancel?: boolean }): Promise<string>;
  injectFault(endpoint: FaultEndpoint, fault: Fault, times?: number): void;
  clearFaults(): void;
  nextIdToken(mutate: IdTokenMutator): void;
  rotateSigningKey(opts?: { keepOld?: boolean }): void;
  setClientSecrets(clientId: string, secrets: StandInSecret[]): void;
  revokeRefreshTokens(filter?: { clientId?: string; username?: string }): void;
  /** The account is disabled: sign-in refused, refresh tokens answer AADSTS50057. */
  disableUser(username: string, disabled?: boolean): void;
  /** From now on, refresh for matching tokens needs a new sign-in carrying `claims` (AADSTS50076 basic_action). */
  requireClaims(requirement: ClaimsRequirement): void;
  /** Token requests so far, oldest first. */
  tokenRequests(): readonly TokenRequestRecord[];
  /** End-session requests so far, oldest first. */
  endSessionRequests(): readonly EndSessionRecord[];
  /** Tokens issued before now are reported expired by `verifyAccessToken` (a resource API's view). */
  expireAccessTokensNow(): void;
  /** Lifetime (`expires_in`) of access tokens issued from now on, e.g. a few seconds to exercise refresh. */
  setAccessTokenLifetime(seconds: number): void;
  /** Moves the stand-in's clock forward (codes, refresh tokens and new tokens' iat/exp follow it). */
  advanceTime(ms: number): void;
  now(): number;
  /** Verifies an access token this stand-in issued, as a resource API would. Throws when invalid. */
  verifyAccessToken(token: string, audience?: string): Promise<Record<string, unknown>>;
  issuedSecrets(): string[];
  /**
   * The `sid` of every provider session the sign-in page started (one per interactive sign-in: the stand-in keeps
   * no browser session), oldest first, optionally for one user: what a front-channel logout call names.
   */
  sessionIds(username?: string): string[];
  /** Every refresh token issued, oldest first: which one a client kept is a test's question. */
  issuedRefreshTokens(): string[];
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Constants

export const DEFAULT_TENANT_ID = '7c1f6a5e-3d2b-4c8a-9f1e-2b6d8a4c0e11';
export const DEMO_PASSWORD = 'Passw0rd!';
const FEDERATED_AUDIENCE = 'api://AzureADTokenExchange';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Entra puts at most this many groups in a JWT; past it, the overage form (`_claim_names`). */
const MAX_TOKEN_GROUPS = 200;
const MAX_BODY_BYTES = 64 * 1024;
const MAX_URL_LENGTH = 16 * 1024;
/** Form fields of the sign-in page itself; never carried as authorize parameters. */
const PAGE_FIELDS = new Set(['username', 'password', 'action', 'select_user']);

function demoUser(name: string, username: string, oid: string): StandInUser {
  const [givenName, familyName] = name.split(' ');
  // Entra's `sub` is an opaque 43-char base64url value; derive one so it is stable across runs.
  const sub = createHash('sha256').update(`sub:${oid}`).digest('base64url').slice(0, 43);
  return { username, password: DEMO_PASSWORD, name, oid, sub, givenName, familyName };
}

export const DEMO_USERS: readonly StandInUser[] = [
  demoUser('Adele Vance', 'adele@contoso.example', '4d3b0a8e-2a6f-4f55-9c1e-6a1f0d2b7c31'),
  demoUser('Alex Wilber', 'alex@contoso.example', '8f2c6b1d-5e7a-4b9c-a0d3-1e4f7a2b9c52'),
  demoUser('Megan Bowen', 'megan@contoso.example', 'c6a9e3f0-7b1d-4e28-b5c4-3d8e0f1a6b73'),
];

// ---------------------------------------------------------------------------------------------------------
// Internal records

interface AuthorizeRequest {
  client: ClientState;
  redirectUri: string;
  scopes: string[];
  state?: string;
  nonce?: string;
  codeChallenge: string;
  prompt?: string;
  loginHint?: string;
  /** The `claims` request (OIDC Core §5.5): a sign-in carrying a challenge's claims satisfies it. */
  claims?: Record<string, unknown>;
  /** The authority path segment the request came through (tenant id, `organizations`, `common`). */
  authorityTenant: string;
  /** Every parameter of the request, replayed through the sign-in form's hidden fields. */
  params: Array<[string, string]>;
}

interface CodeRecord {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  nonce?: string;
  user: StandInUser;
  scopes: string[];
  claims?: Record<string, unknown>;
  /** Entra's session id for this sign-in (`sid`). */
  sid: string;
  expiresAt: number;
  used: boolean;
}

interface RefreshRecord {
  clientId: string;
  user: StandInUser;
  /** ID tokens redeemed with this refresh token keep the sign-in's `sid`, as Entra's do. */
  sid: string;
  scopes: string[];
  /** The claims the sign-in behind this token satisfied. */
  claims?: Record<string, unknown>;
  expiresAt: number;
  revoked: boolean;
}

interface ClientState {
  config: StandInClient;
  secrets: StandInSecret[];
  /** base64url SHA-256 and SHA-1 thumbprints → public key of each registered certificate. */
  certificates: Map<string, KeyObject>;
}

interface FaultSlot {
  fault: Fault;
  remaining: number;
}

class TokenError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly aadsts: number,
    readonly text: string,
    readonly headers: Record<string, string> = {},
    readonly extra: { suberror?: string; claims?: string } = {},
  ) {
    super(`${error}: AADSTS${aadsts}`);
  }
}

/** Thrown by signIn() when the page does not end in a redirect (unknown client, wrong password, ...). */
export class StandInSignInError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------------------

export async function startEntraStandIn(options: EntraStandInOptions): Promise<EntraStandIn> {
  const protocol = options.protocol ?? 'entra';
  const tenantId = (options.tenantId ?? DEFAULT_TENANT_ID).toLowerCase();
  const users: readonly StandInUser[] = options.users ?? DEMO_USERS;
  const ca = options.ca ?? devCaFromEnvironment();
  const leaf = issueServerCertificate(ca);
  const baseClock = options.clock ?? Date.now;
  let clockOffset = 0;
  const now = (): number => baseClock() + clockOffset;
  let accessTokenLifetime = options.accessTokenLifetimeSeconds ?? 3600;
  const codeLifetimeMs = (options.codeLifetimeSeconds ?? 600) * 1000;
  const refreshLifetimeMs = (options.refreshTokenLifetimeSeconds ?? 90 * 24 * 3600) * 1000;
  let accessTokensValidFrom = 0;

  const clients = new Map<string, ClientState>();
  for (const config of options.clients) {
    clients.set(config.clientId, {
      config,
      secrets: [...(config.secrets ?? [])],
      certificates: indexCertificates(config.certificates ?? []),
    });
  }

  let signingKeys: SigningKey[] = [newSigningKey()];
  let foreignKey: SigningKey | undefined;
  /** App-specific signing keys of clients with a claims-mapping policy, published only under `?appid=`. */
  const appKeys = new Map<string, SigningKey>();
  for (const client of clients.values())
    if (client.config.claimsMappingPolicy) appKeys.set(client.config.clientId, newSigningKey());
  const codes = new Map<string, CodeRecord>();
  const refreshTokens = new Map<string, RefreshRecord>();
  /** Permissions each user consented to for each client (`client|tenant|oid` → permission keys). */
  const consents = new Map<string, Set<string>>();
  const disabledUsers = new Set<string>();
  const claimsRequirements: ClaimsRequirement[] = [];
  const tokenLog: TokenRequestRecord[] = [];
  const endSessionLog: EndSessionRecord[] = [];
  /** `login_hint` values issued in ID tokens → username (Entra's is opaque; so is ours). */
  const loginHints = new Map<string, string>();
  const providerSessions: Array<{ username: string; sid: string }> = [];
  const issued = new Set<string>();
  for (const client of clients.values()) for (const s of client.secrets) issued.add(secretValue(s));
  const faults: Record<FaultEndpoint, FaultSlot[]> = { token: [], discovery: [], jwks: [] };
  const idTokenMutators: IdTokenMutator[] = [];
  const remoteJwks = new Map<string, JWTVerifyGetKey>();
  const counters: StandInCounters = {
    discovery: 0,
    jwks: 0,
    authorize: 0,
    endSession: 0,
    token: {},
    codeRedemptions: 0,
    refreshRedemptions: 0,
    failedTokenRequests: 0,
  };

  // Listeners first: every advertised URL depends on the ports.
  const sockets = new Set<Socket>();
  const track = (server: http.Server): void => {
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
  };
  const backServer = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) =>
    dispatch(req, res, 'back'),
  );
  track(backServer);
  const url = `https://127.0.0.1:${await listen(backServer, options.port ?? 0)}`;
  let frontServer: http.Server | undefined;
  let frontChannelUrl = url;
  if (options.frontChannel === 'http') {
    frontServer = http.createServer((req, res) => dispatch(req, res, 'front'));
    track(frontServer);
    frontChannelUrl = `http://127.0.0.1:${await listen(frontServer, options.frontChannelPort ?? 0)}`;
  }

  /** Endpoint paths under one authority prefix (`/<tenant>`, `/organizations`, `/common`, or `/oidc`). */
  const pathsFor = (prefix: string) =>
    protocol === 'entra'
      ? {
          discovery: [`${prefix}/v2.0/.well-known/openid-configuration`, `${prefix}/.well-known/openid-configuration`],
          authorize: `${prefix}/oauth2/v2.0/authorize`,
          token: `${prefix}/oauth2/v2.0/token`,
          jwks: [`${prefix}/discovery/v2.0/keys`, `${prefix}/discovery/keys`],
          logout: `${prefix}/oauth2/v2.0/logout`,
        }
      : {
          discovery: [`${prefix}/.well-known/openid-configuration`],
          authorize: `${prefix}/auth`,
          token: `${prefix}/token`,
          jwks: [`${prefix}/certs`],
          logout: `${prefix}/session/end`,
        };
  const homePrefix = protocol === 'entra' ? `/${tenantId}` : '/oidc';
  const userTenants = new Set(users.map((u) => (u.tenantId ?? tenantId).toLowerCase()));
  /** The authority prefixes served: the home tenant, each user's tenant, and the multi-tenant alias if asked for. */
  const prefixes =
    protocol === 'entra'
      ? new Set([
          homePrefix,
          ...[...userTenants].map((t) => `/${t}`),
          ...(options.multiTenant ? [`/${options.multiTenant}`] : []),
        ])
      : new Set([homePrefix]);
  const paths = pathsFor(homePrefix);
  const authority = `${url}${protocol === 'entra' && options.multiTenant ? `/${options.multiTenant}` : homePrefix}`;
  const issuerFor = (tid: string): string => (protocol === 'entra' ? `${url}/${tid}/v2.0` : `${url}${homePrefix}`);
  const issuer = issuerFor(tenantId);
  const tokenEndpoint = `${url}${paths.token}`;
  const jwksUri = `${url}${paths.jwks[0]}`;
  const discoveryUrl = `${url}${pathsFor(authority.slice(url.length)).discovery[0]}`;

  const tenantOf = (user: StandInUser): string => (user.tenantId ?? tenantId).toLowerCase();
  const isMultiTenantSegment = (segment: string): boolean => segment === 'organizations' || segment === 'common';

  /**
   * The discovery document under one authority prefix. A multi-tenant alias names the issuer with the
   * `{tenantid}` template; `?appid=` (claims mapping) adds the same query to `jwks_uri`, whose keys then include
   * the app's own signing key.
   * @see https://learn.microsoft.com/entra/identity-platform/jwt-claims-customization#validate-token-signing-key
   */
  function discoveryDocument(prefix: string, appId: string | null): Record<string, unknown> {
    const segment = prefix.slice(1);
    const at = pathsFor(prefix);
    const jwks = new URL(`${url}${at.jwks[0]}`);
    if (appId) jwks.searchParams.set('appid', appId);
    const common = {
      issuer:
        protocol === 'entra' && isMultiTenantSegment(segment)
          ? `${url}/{tenantid}/v2.0`
          : issuerFor(protocol === 'entra' ? segment : tenantId),
      authorization_endpoint: `${frontChannelUrl}${at.authorize}`,
      token_endpoint: `${url}${at.token}`,
      jwks_uri: jwks.href,
      end_session_endpoint: `${frontChannelUrl}${at.logout}`,
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic', 'private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS256', 'PS256'],
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'nonce', 'name', 'preferred_username', 'email'],
      request_uri_parameter_supported: false,
    };
    if (protocol === 'oidc') return { ...common, subject_types_supported: ['public'] };
    return {
      ...common,
      subject_types_supported: ['pairwise'],
      claims_supported: [...common.claims_supported, 'oid', 'tid', 'ver'],
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      tenant_region_scope: 'NA',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    };
  }

  // -------------------------------------------------------------------------------------------------------
  // HTTP plumbing

  function dispatch(req: IncomingMessage, res: ServerResponse, channel: 'back' | 'front'): void {
    route(req, res, channel).catch((error: unknown) => {
      // A bug in the stand-in must show up in the test, not as a hung request.
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: String(error) });
      else res.destroy();
    });
  }

  async function route(req: IncomingMessage, res: ServerResponse, channel: 'back' | 'front'): Promise<void> {
    if ((req.url ?? '').length > MAX_URL_LENGTH) return sendText(res, 414, 'URI too long');
    const requestUrl = new URL(req.url ?? '/', channel === 'back' ? url : frontChannelUrl);
    const path = requestUrl.pathname;
    const method = req.method ?? 'GET';
    // Which authority the request came through: `/<tenant>`, `/organizations`, `/common` (Entra) or `/oidc`.
    const prefix = `/${path.split('/')[1] ?? ''}`;
    if (!prefixes.has(prefix.toLowerCase())) return sendText(res, 404, 'Not found');
    const paths = pathsFor(prefix);
    const front = path === paths.authorize || path === paths.logout;
    // The plain-HTTP listener serves only the browser pages: tokens and keys always travel over TLS.
    if (channel === 'front' && !front) return sendText(res, 404, 'Not found');

    if (paths.discovery.includes(path) && method === 'GET') {
      counters.discovery++;
      if (await applyFault('discovery', req, res)) return;
      return sendJson(res, 200, discoveryDocument(prefix, requestUrl.searchParams.get('appid')), {
        'Cache-Control': 'max-age=86400, private',
      });
    }
    if (paths.jwks.includes(path) && method === 'GET') {
      counters.jwks++;
      if (await applyFault('jwks', req, res)) return;
      // The app-specific key of a claims-mapping policy is published only to those who ask with its app id.
      const appKey = appKeys.get(requestUrl.searchParams.get('appid') ?? '');
      const keys = [...signingKeys, ...(appKey ? [appKey] : [])];
      return sendJson(res, 200, { keys: keys.map(publicJwk) }, { 'Cache-Control': 'max-age=86400, private' });
    }
    if (path === paths.authorize && (method === 'GET' || method === 'POST')) {
      counters.authorize++;
      let params = requestUrl.searchParams;
      if (method === 'POST') {
        try {
          params = await readForm(req);
        } catch {
          return sendText(res, 413, 'Request body too large');
        }
      }
      return authorize(res, method, params, prefix);
    }
    if (path === paths.token && method === 'POST') {
      return token(req, res);
    }
    if (path === paths.logout && (method === 'GET' || method === 'POST')) {
      counters.endSession++;
      return endSession(res, requestUrl.searchParams);
    }
    if (
      path === paths.token ||
      path === paths.authorize ||
      paths.discovery.includes(path) ||
      paths.jwks.includes(path)
    ) {
      return sendText(res, 405, 'Method not allowed');
    }
    return sendText(res, 404, 'Not found');
  }

  /** Applies the next injected fault for `endpoint`, if any. Returns true when the response is handled. */
  async function applyFault(endpoint: FaultEndpoint, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const slot = faults[endpoint][0];
    if (!slot) return false;
    if (--slot.remaining <= 0) faults[endpoint].shift();
    const fault = slot.fault;
    if ('delayMs' in fault) {
      await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
      return false;
    }
    if ('hang' in fault) {
      // Read the body so the client is left waiting for a response, not for us to read its upload.
      req.resume();
      return true;
    }
    if ('destroySocket' in fault) {
      req.socket.destroy();
      return true;
    }
    if ('aadsts' in fault) {
      sendTokenError(
        req,
        res,
        new TokenError(
          fault.status ?? 400,
          fault.error,
          fault.aadsts,
          fault.description ?? 'Injected fault.',
          fault.headers,
          { suberror: fault.suberror, claims: fault.claims },
        ),
      );
      return true;
    }
    req.resume();
    const body = Buffer.from(fault.body ?? '', 'utf8');
    if (fault.truncateAtBytes === undefined) {
      res.writeHead(fault.status, {
        'Content-Type': fault.contentType ?? 'text/html; charset=utf-8',
        ...fault.headers,
      });
      res.end(body);
      return true;
    }
    res.writeHead(fault.status, {
      'Content-Type': fault.contentType ?? 'text/html; charset=utf-8',
      'Content-Length': String(body.length),
      ...fault.headers,
    });
    res.write(body.subarray(0, fault.truncateAtBytes), () => {
      // 'stall' leaves the response open: the client's deadline must end it (stop() destroys the socket).
      if ((fault.afterTruncate ?? 'close') === 'close') req.socket.destroy();
    });
    return true;
  }

  // -------------------------------------------------------------------------------------------------------
  // Authorize

  type AuthorizeCheck =
    | { kind: 'page'; status: number; aadsts: number; text: string }
    | { kind: 'redirect'; redirectUri: string; state?: string; error: string; aadsts: number; text: string }
    | { kind: 'ok'; request: AuthorizeRequest };

  /** RFC 6749 §4.1.2.1: errors about the client or redirect URI are shown, never redirected. */
  function checkAuthorize(params: URLSearchParams, prefix: string): AuthorizeCheck {
    const clientId = params.get('client_id') ?? '';
    const client = clients.get(clientId);
    if (!client) {
      return {
        kind: 'page',
        status: 400,
        aadsts: 700016,
        text:
          `Application with identifier '${clientId}' was not found in the directory '${tenantId}'. This can happen if the ` +
          'application has not been installed by the administrator of the tenant or consented to by any user in the tenant.',
      };
    }
    const redirectUri = params.get('redirect_uri') ?? '';
    if (!registeredRedirectUris(client).includes(redirectUri)) {
      return {
        kind: 'page',
        status: 400,
        aadsts: 50011,
        text:
          `The redirect URI '${redirectUri}' specified in the request does not match the redirect URIs configured for the ` +
          `application '${clientId}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.`,
      };
    }
    const state = params.get('state') ?? undefined;
    const fail = (error: string, aadsts: number, text: string): AuthorizeCheck => ({
      kind: 'redirect',
      redirectUri,
      state,
      error,
      aadsts,
      text,
    });
    for (const [name] of params) {
      if (params.getAll(name).length > 1)
        return fail(
          'invalid_request',
          90015,
          `Requested query string is too long or has duplicate parameter '${name}'.`,
        );
    }
    const responseMode = params.get('response_mode');
    if (responseMode !== null && responseMode !== 'query') {
      return fail(
        'invalid_request',
        900352,
        `The response_mode '${responseMode}' is not supported by this stand-in; use 'query'.`,
      );
    }
    if (params.get('response_type') !== 'code') {
      return fail('unsupported_response_type', 700054, "response_type must be 'code' (the authorization code flow).");
    }
    const scopes = (params.get('scope') ?? '').split(' ').filter(Boolean);
    if (!scopes.includes('openid')) {
      return fail('invalid_scope', 70011, "The provided request must include an 'openid' scope value.");
    }
    // Scopes of several resources are fine here: the user consents to all of them at once. Only a token request
    // is limited to one resource (AADSTS28000 at /token). https://learn.microsoft.com/entra/identity-platform/scopes-oidc
    const claimsParam = params.get('claims');
    const claims = parseClaimsRequest(claimsParam);
    if (claimsParam !== null && !claims) {
      return fail(
        'invalid_request',
        9002313,
        "Invalid request. Request is malformed or invalid: the 'claims' parameter is not a JSON object.",
      );
    }
    const codeChallenge = params.get('code_challenge');
    const method = params.get('code_challenge_method');
    if (!codeChallenge) {
      return fail(
        'invalid_request',
        9002325,
        'Proof Key for Code Exchange is required for cross-origin authorization code redemption.',
      );
    }
    if (method !== 'S256') {
      return fail(
        'invalid_request',
        501491,
        `Invalid code_challenge_method '${method ?? 'plain'}': only S256 is accepted.`,
      );
    }
    if (!/^[A-Za-z0-9_-]{43}$/.test(codeChallenge)) {
      return fail('invalid_request', 501491, 'Invalid size of Code_Challenge parameter.');
    }
    const prompt = params.get('prompt') ?? undefined;
    if (prompt !== undefined && !['login', 'none', 'consent', 'select_account', 'create'].includes(prompt)) {
      return fail('invalid_request', 90023, `Invalid prompt value '${prompt}'.`);
    }
    if (prompt === 'none') {
      // The stand-in keeps no browser session, so a silent request always needs interaction.
      return fail('login_required', 50058, 'A silent sign-in request was sent but no user is signed in.');
    }
    return {
      kind: 'ok',
      request: {
        client,
        redirectUri,
        scopes,
        state,
        nonce: params.get('nonce') ?? undefined,
        codeChallenge,
        prompt,
        loginHint: params.get('login_hint') ?? undefined,
        claims,
        authorityTenant: prefix.slice(1).toLowerCase(),
        params: [...params].filter(([name]) => !PAGE_FIELDS.has(name)),
      },
    };
  }

  function authorize(res: ServerResponse, method: string, params: URLSearchParams, prefix: string): void {
    const check = checkAuthorize(params, prefix);
    if (check.kind === 'page') return sendErrorPage(res, check.status, `AADSTS${check.aadsts}: ${check.text}`);
    if (check.kind === 'redirect') {
      return redirect(
        res,
        withParams(check.redirectUri, {
          error: check.error,
          error_description: describe(check.aadsts, check.text),
          state: check.state,
        }),
      );
    }
    const request = check.request;
    if (method === 'GET') return sendSignInPage(res, request, request.loginHint ?? '');

    const action = params.get('action') ?? 'signin';
    if (action === 'cancel') {
      return redirect(
        res,
        withParams(request.redirectUri, {
          error: 'access_denied',
          error_description: describe(65004, 'User declined to consent to access the app.'),
          state: request.state,
        }),
      );
    }
    if (action === 'pick') return sendSignInPage(res, request, params.get('select_user') ?? '');
    const username = (params.get('username') ?? '').trim();
    const user = users.find((u) => u.username.toLowerCase() === username.toLowerCase());
    if (!user || !safeEqual(params.get('password') ?? '', user.password)) {
      return sendSignInPage(
        res,
        request,
        username,
        "Your account or password is incorrect. If you don't remember your password, reset it now.",
      );
    }
    if (disabledUsers.has(user.username.toLowerCase())) {
      return sendSignInPage(res, request, username, 'AADSTS50057: The user account is disabled.');
    }
    // A tenant authority signs in only its own members (guests are out of scope); the multi-tenant alias anyone.
    if (
      protocol === 'entra' &&
      !isMultiTenantSegment(request.authorityTenant) &&
      tenantOf(user) !== request.authorityTenant
    ) {
      return sendSignInPage(
        res,
        request,
        username,
        `AADSTS50020: User account '${user.username}' from identity provider does not exist in tenant '${request.authorityTenant}' and cannot access the application.`,
      );
    }
    // Signing in is consenting to every scope asked for, of every resource (the consent prompt).
    const consent = consentOf(request.client.config.clientId, user);
    for (const scope of request.scopes) if (!OIDC_SCOPES.has(scope)) consent.add(permissionKey(scope));
    const code = `1.${randomBytes(96).toString('base64url')}`;
    // Entra's ID tokens carry `sid`, "a GUID ... generated when a new session is established"; the stand-in keeps
    // no browser session, so every completed sign-in page is a new one.
    // https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
    const sid = randomUUID();
    providerSessions.push({ username: user.username, sid });
    issued.add(sid);
    codes.set(code, {
      sid,
      clientId: request.client.config.clientId,
      redirectUri: request.redirectUri,
      codeChallenge: request.codeChallenge,
      nonce: request.nonce,
      user,
      scopes: request.scopes,
      claims: request.claims,
      expiresAt: now() + codeLifetimeMs,
      used: false,
    });
    issued.add(code);
    // Entra appends session_state too; clients must ignore parameters they do not know.
    return redirect(res, withParams(request.redirectUri, { code, state: request.state, session_state: randomUUID() }));
  }

  function consentOf(clientId: string, user: StandInUser): Set<string> {
    const key = `${clientId}|${tenantOf(user)}|${user.oid}`;
    let granted = consents.get(key);
    if (!granted) consents.set(key, (granted = new Set()));
    return granted;
  }

  /** What covers a token request: the user's own consent plus the tenant-wide admin consent. */
  function grantedPermissions(client: ClientState, user: StandInUser): Set<string> {
    return new Set([
      ...consentOf(client.config.clientId, user),
      ...(client.config.consentedScopes ?? []).map(permissionKey),
    ]);
  }

  function sendSignInPage(res: ServerResponse, request: AuthorizeRequest, username: string, error?: string): void {
    const html = renderSignInPage({
      action: pathsFor(`/${request.authorityTenant}`).authorize,
      appName: request.client.config.displayName ?? request.client.config.clientId,
      tenantId,
      protocol,
      hidden: request.params,
      users: users.map((u) => ({ username: u.username, name: u.name })),
      scopes: request.scopes,
      username,
      error,
      demoPassword: users.every((u) => u.password === DEMO_PASSWORD) ? DEMO_PASSWORD : undefined,
    });
    sendHtml(res, 200, html);
  }

  function sendErrorPage(res: ServerResponse, status: number, message: string): void {
    sendHtml(
      res,
      status,
      renderErrorPage({
        protocol,
        message,
        traceId: randomUUID(),
        correlationId: randomUUID(),
        timestamp: timestamp(),
      }),
    );
  }

  // -------------------------------------------------------------------------------------------------------
  // End session

  /**
   * Entra returns to `post_logout_redirect_uri` only when it is one of the app's registered redirect (reply) URIs;
   * anything else leaves the user on the signed-out page. `logout_hint` (the `login_hint` claim's value) names the
   * account to sign out, so Entra shows no account picker.
   * @see https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#send-a-sign-out-request
   */
  function endSession(res: ServerResponse, params: URLSearchParams): void {
    const target = params.get('post_logout_redirect_uri') ?? undefined;
    const logoutHint = params.get('logout_hint') ?? undefined;
    const redirected = target !== undefined && isRegisteredPostLogoutUri(target, params.get('client_id'));
    endSessionLog.push({
      postLogoutRedirectUri: target,
      logoutHint,
      hintedUser: logoutHint ? loginHints.get(logoutHint) : undefined,
      redirected,
    });
    if (redirected) return redirect(res, withParams(target, { state: params.get('state') ?? undefined }));
    sendHtml(res, 200, renderSignedOutPage(protocol));
  }

  function isRegisteredPostLogoutUri(target: string, clientId: string | null): boolean {
    const candidates = clientId ? [clients.get(clientId)].filter((c) => c !== undefined) : [...clients.values()];
    return candidates.some((c) => registeredRedirectUris(c).includes(target));
  }

  function registeredRedirectUris(client: ClientState): string[] {
    return [
      ...client.config.redirectUris,
      ...(client.config.spaRedirectUris ?? []),
      ...(client.config.publicClientRedirectUris ?? []),
    ];
  }

  // -------------------------------------------------------------------------------------------------------
  // Token endpoint

  async function token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    let form: URLSearchParams | undefined;
    if (contentType === 'application/x-www-form-urlencoded') {
      try {
        form = await readForm(req);
      } catch (error) {
        counters.failedTokenRequests++;
        return sendTokenError(
          req,
          res,
          error instanceof TokenError
            ? error
            : new TokenError(400, 'invalid_request', 900144, 'Malformed request body.'),
        );
      }
    } else {
      req.resume();
    }
    const grantType = form?.get('grant_type') ?? 'missing';
    counters.token[grantType] = (counters.token[grantType] ?? 0) + 1;
    const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
    tokenLog.push({
      grantType,
      scopes: (form?.get('scope') ?? '').split(' ').filter(Boolean),
      claims: parseClaimsRequest(form?.get('claims')),
      origin,
    });
    if (await applyFault('token', req, res)) {
      counters.failedTokenRequests++;
      return;
    }
    try {
      if (!form)
        throw new TokenError(
          400,
          'invalid_request',
          900144,
          "The request body must contain the following parameter: 'grant_type'.",
        );
      const body = await redeem(req, form);
      sendJson(res, 200, body, { 'Cache-Control': 'no-store', Pragma: 'no-cache', 'x-ms-request-id': randomUUID() });
    } catch (error) {
      counters.failedTokenRequests++;
      if (error instanceof TokenError) return sendTokenError(req, res, error);
      throw error;
    }
  }

  async function redeem(req: IncomingMessage, form: URLSearchParams): Promise<Record<string, unknown>> {
    for (const [name] of form) {
      if (form.getAll(name).length > 1)
        throw new TokenError(400, 'invalid_request', 90015, `Duplicate parameter '${name}'.`);
    }
    const grantType = form.get('grant_type');
    if (!grantType)
      throw new TokenError(
        400,
        'invalid_request',
        900144,
        "The request body must contain the following parameter: 'grant_type'.",
      );
    if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
      throw new TokenError(
        400,
        'unsupported_grant_type',
        70003,
        `The app requested an unsupported grant type '${grantType}'.`,
      );
    }
    const pendingCode = grantType === 'authorization_code' ? codes.get(form.get('code') ?? '') : undefined;
    if (pendingCode && isPublicClientRedirect(pendingCode) && hasClientCredential(req, form)) {
      // The redirect URI is registered under "Mobile and desktop applications": a public client has no secret.
      throw new TokenError(
        401,
        'invalid_client',
        700025,
        "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
      );
    }
    const client = await authenticateClient(req, form);

    if (grantType === 'authorization_code') {
      const code = form.get('code');
      if (!code)
        throw new TokenError(
          400,
          'invalid_request',
          900144,
          "The request body must contain the following parameter: 'code'.",
        );
      const record = codes.get(code);
      if (!record)
        throw new TokenError(400, 'invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid.');
      if (record.used)
        throw new TokenError(
          400,
          'invalid_grant',
          54005,
          'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.',
        );
      // Any redemption attempt by the right client burns the code (so a wrong verifier cannot be retried).
      if (record.clientId === client.config.clientId) record.used = true;
      if (record.expiresAt <= now())
        throw new TokenError(
          400,
          'invalid_grant',
          70008,
          'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.',
        );
      if (record.clientId !== client.config.clientId)
        throw new TokenError(
          400,
          'invalid_grant',
          70000,
          'The provided value for the input parameter code is not valid: it was issued to a different client.',
        );
      if (form.get('redirect_uri') !== record.redirectUri) {
        throw new TokenError(
          400,
          'invalid_grant',
          50011,
          `The redirect URI '${form.get('redirect_uri') ?? ''}' does not match the redirect URI used in the authorization request.`,
        );
      }
      const verifier = form.get('code_verifier');
      if (!verifier)
        throw new TokenError(
          400,
          'invalid_grant',
          50148,
          'The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.',
        );
      if (
        !/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) ||
        createHash('sha256').update(verifier).digest('base64url') !== record.codeChallenge
      ) {
        throw new TokenError(
          400,
          'invalid_grant',
          501481,
          'The Code_Verifier does not match the code_challenge supplied in the authorization request.',
        );
      }
      if ((client.config.spaRedirectUris ?? []).includes(record.redirectUri) && req.headers.origin === undefined) {
        // A code issued to a redirect URI of the SPA platform is redeemable only from a browser (CORS, `Origin`).
        throw new TokenError(
          400,
          'invalid_request',
          9002327,
          "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.",
        );
      }
      const scopes = requestedScopes(form, record.scopes);
      requireConsent(client, record.user, scopes, false);
      counters.codeRedemptions++;
      return tokenResponse(client, record.user, scopes, {
        nonce: record.nonce,
        sid: record.sid,
        claims: record.claims,
        wantClientInfo: form.get('client_info') === '1',
        form,
      });
    }

    const refreshToken = form.get('refresh_token');
    if (!refreshToken)
      throw new TokenError(
        400,
        'invalid_request',
        900144,
        "The request body must contain the following parameter: 'refresh_token'.",
      );
    const record = refreshTokens.get(refreshToken);
    if (!record || record.expiresAt <= now()) {
      throw new TokenError(
        400,
        'invalid_grant',
        700082,
        'The refresh token has expired due to inactivity. The token was issued on a date and was inactive for a long time.',
      );
    }
    if (record.revoked) {
      throw new TokenError(
        400,
        'invalid_grant',
        50173,
        'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.',
      );
    }
    if (record.clientId !== client.config.clientId) {
      throw new TokenError(
        400,
        'invalid_grant',
        700005,
        'Provided Authorization Code is intended to use against other tenant or client.',
      );
    }
    if (disabledUsers.has(record.user.username.toLowerCase())) {
      throw new TokenError(400, 'invalid_grant', 50057, 'The user account is disabled.');
    }
    // Entra's refresh token is multi-resource: it serves any resource the user (or an admin) consented to.
    const scopes = requestedScopes(form, record.scopes);
    requireConsent(client, record.user, scopes, true);
    requireSatisfiedClaims(record, scopes);
    if (options.revokeRefreshTokenOnUse) record.revoked = true;
    counters.refreshRedemptions++;
    return tokenResponse(client, record.user, scopes, {
      sid: record.sid,
      claims: record.claims,
      wantClientInfo: form.get('client_info') === '1',
      form,
    });
  }

  /**
   * AADSTS65001: no consent for a scope. On a refresh, Entra adds suberror `consent_required` (MSAL reads it as
   * "interaction required"): the user must sign in again and consent.
   * @see https://learn.microsoft.com/entra/identity-platform/permissions-consent-overview
   */
  function requireConsent(client: ClientState, user: StandInUser, scopes: readonly string[], refresh: boolean): void {
    if (protocol !== 'entra') return;
    const missing = unconsented(scopes, grantedPermissions(client, user));
    if (!missing.length) return;
    throw new TokenError(
      400,
      'invalid_grant',
      65001,
      `The user or administrator has not consented to use the application with ID '${client.config.clientId}'. Send an interactive authorization request for this user and resource.`,
      {},
      refresh ? { suberror: 'consent_required' } : {},
    );
  }

  /**
   * Conditional Access: a refresh token from a sign-in that did not meet a policy (MFA, an authentication
   * context) gets `invalid_grant` + suberror `basic_action` + a `claims` challenge (AADSTS50076).
   * @see https://learn.microsoft.com/entra/identity-platform/claims-challenge
   */
  function requireSatisfiedClaims(record: RefreshRecord, scopes: readonly string[]): void {
    const resource = resourceOf(scopes);
    for (const requirement of claimsRequirements) {
      if (requirement.username && requirement.username.toLowerCase() !== record.user.username.toLowerCase()) continue;
      if (requirement.resource && requirement.resource !== resource) continue;
      if (claimsSatisfy(record.claims, parseClaimsRequest(requirement.claims))) continue;
      throw new TokenError(
        400,
        requirement.error ?? 'invalid_grant',
        requirement.aadsts ?? 50076,
        'Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access this resource.',
        {},
        { suberror: requirement.suberror ?? 'basic_action', claims: requirement.claims },
      );
    }
  }

  function isPublicClientRedirect(code: CodeRecord): boolean {
    return (clients.get(code.clientId)?.config.publicClientRedirectUris ?? []).includes(code.redirectUri);
  }

  function hasClientCredential(req: IncomingMessage, form: URLSearchParams): boolean {
    return (
      form.has('client_secret') ||
      form.has('client_assertion') ||
      (req.headers.authorization ?? '').toLowerCase().startsWith('basic ')
    );
  }

  function requestedScopes(form: URLSearchParams, granted: string[]): string[] {
    const asked = (form.get('scope') ?? '').split(' ').filter(Boolean);
    const scopes = asked.length ? asked : granted;
    if (resourceOf(scopes) === 'multiple') {
      throw new TokenError(
        400,
        'invalid_scope',
        28000,
        'Provided value for the input parameter scope is not valid because it contains more than one resource.',
      );
    }
    // offline_access and openid granted at sign-in keep applying, as with Entra.
    return [...new Set([...scopes, ...granted.filter((s) => s === 'offline_access' || s === 'openid')])];
  }

  interface IssueContext {
    nonce?: string;
    sid: string;
    claims?: Record<string, unknown>;
    wantClientInfo: boolean;
    form: URLSearchParams;
  }

  function tokenResponse(
    client: ClientState,
    user: StandInUser,
    scopes: string[],
    context: IssueContext,
  ): Record<string, unknown> {
    const clientId = client.config.clientId;
    const tid = tenantOf(user);
    const iss = issuerFor(tid);
    const iat = Math.floor(now() / 1000);
    const resourceScopes = scopes.filter((s) => !OIDC_SCOPES.has(s));
    // With only OpenID scopes, Entra issues a Graph token for User.Read; a generic OP one for the client itself.
    const bareOidc = resourceScopes.length === 0;
    const resource = bareOidc && protocol === 'oidc' ? clientId : (resourceOf(scopes) as string);
    const scp = !bareOidc
      ? resourceScopes.map((s) => scopeName(s))
      : protocol === 'entra'
        ? ['User.Read']
        : scopes.filter((s) => s !== 'offline_access');
    // A claims-mapping policy signs this app's tokens with its own key (published only with ?appid=).
    // A claims-mapping policy signs this app's own tokens with its own key (published only with ?appid=).
    const key = appKeys.get(clientId) ?? signingKeys[0]!;
    // CAE: a client that declares the `cp1` capability gets tokens that say so (`xms_cc`), and long-lived ones.
    const capabilities = clientCapabilities(parseClaimsRequest(context.form.get('claims')));
    const common = {
      iat,
      nbf: iat,
      exp: iat + accessTokenLifetime,
      sub: user.sub,
      scp: scp.join(' '),
      name: user.name,
      uti: randomBytes(16).toString('base64url'),
      ...(capabilities.length ? { xms_cc: capabilities } : {}),
      ...(user.roles?.length && resource === clientId ? { roles: user.roles } : {}),
    };
    let accessToken: string;
    if (protocol === 'oidc') {
      accessToken = signCompact(
        { typ: 'JWT', kid: signingKeys[0]!.kid },
        { ...common, aud: resource, iss, azp: clientId, preferred_username: user.username },
        'RS256',
        signingKeys[0]!,
      );
    } else {
      const shape = accessTokenShape(resource);
      // v1 and v2 access tokens differ in aud, iss, ver and the names of the client and user claims.
      // https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference
      const claims =
        shape.version === 2
          ? {
              ...common,
              aud: shape.aud,
              iss,
              azp: clientId,
              preferred_username: user.username,
              oid: user.oid,
              tid,
              ver: '2.0',
            }
          : {
              ...common,
              aud: shape.aud,
              iss: `https://sts.windows.net/${tid}/`,
              appid: clientId,
              upn: user.username,
              unique_name: user.username,
              oid: user.oid,
              tid,
              ver: '1.0',
            };
      const header = { typ: 'JWT', kid: signingKeys[0]!.kid };
      // Graph's tokens are for Graph alone: a header nonce, hashed before signing, defeats third-party verification.
      accessToken =
        resource === GRAPH_RESOURCE_ID
          ? signGraphStyle(header, claims, signingKeys[0]!)
          : signCompact(header, claims, 'RS256', signingKeys[0]!);
    }
    issued.add(accessToken);

    const body: Record<string, unknown> = {
      token_type: 'Bearer',
      scope: (bareOidc && protocol === 'entra' ? [...scp, ...scopes] : scopes).join(' '),
      expires_in: accessTokenLifetime,
      ext_expires_in: accessTokenLifetime,
      access_token: accessToken,
    };
    if (scopes.includes('offline_access')) {
      const refreshToken = `1.${randomBytes(120).toString('base64url')}`;
      refreshTokens.set(refreshToken, {
        clientId,
        user,
        scopes,
        claims: context.claims,
        sid: context.sid,
        expiresAt: now() + refreshLifetimeMs,
        revoked: false,
      });
      issued.add(refreshToken);
      body.refresh_token = refreshToken;
    }
    if (scopes.includes('openid')) {
      const idClaims: Record<string, unknown> = {
        aud: clientId,
        iss,
        iat,
        nbf: iat,
        exp: iat + 3600,
        sub: user.sub,
        name: user.name,
        preferred_username: user.username,
        ...(context.nonce !== undefined ? { nonce: context.nonce } : {}),
        sid: context.sid,
        ...(protocol === 'entra'
          ? { oid: user.oid, tid, ver: '2.0', ...entraOptionalClaims(client, user, scopes) }
          : emailClaim(user, scopes)),
      };
      const mutate = idTokenMutators.shift();
      const idToken = mutate
        ? mutate(idClaims, signWith)
        : signCompact({ typ: 'JWT', kid: key.kid }, idClaims, 'RS256', key);
      issued.add(idToken);
      body.id_token = idToken;
    }
    if (protocol === 'entra' && context.wantClientInfo) {
      body.client_info = Buffer.from(JSON.stringify({ uid: user.oid, utid: tid })).toString('base64url');
    }
    return body;
  }

  /** The audience and version of an access token for `resource` (see `options.apis`); Graph issues v1 tokens. */
  function accessTokenShape(resource: string): { aud: string; version: 1 | 2 } {
    if (resource === GRAPH_RESOURCE_ID) return { aud: GRAPH_RESOURCE_ID, version: 1 };
    const api = (options.apis ?? []).find((a) => a.identifierUri === resource || a.appId === resource);
    if (api?.accessTokenVersion === 2) return { aud: api.appId, version: 2 };
    return { aud: resource, version: 1 };
  }

  /**
   * ID token claims that depend on the app registration: `email` (only when the user has a mail attribute and the
   * app asks, by scope or optional claim), `login_hint` (optional claim), app `roles` assigned to the user, and
   * `groups` — or, past 200 groups, the overage form that points at Graph instead.
   * @see https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
   * @see https://learn.microsoft.com/entra/identity-platform/optional-claims-reference
   */
  function entraOptionalClaims(
    client: ClientState,
    user: StandInUser,
    scopes: readonly string[],
  ): Record<string, unknown> {
    const optional = client.config.optionalClaims ?? [];
    const claims: Record<string, unknown> = {};
    if (user.email && (scopes.includes('email') || optional.includes('email'))) claims.email = user.email;
    if (optional.includes('login_hint')) {
      // Opaque and stable for the user, like Entra's; the end-session endpoint maps it back.
      const hint = createHash('sha256')
        .update(`login_hint:${tenantOf(user)}:${user.oid}`)
        .digest('base64url');
      loginHints.set(hint, user.username);
      claims.login_hint = hint;
    }
    if (user.roles?.length) claims.roles = [...user.roles];
    if (client.config.groupMembershipClaims && user.groups?.length) {
      if (user.groups.length > MAX_TOKEN_GROUPS) {
        claims._claim_names = { groups: 'src1' };
        claims._claim_sources = {
          src1: { endpoint: `https://graph.microsoft.com/v1.0/users/${user.oid}/getMemberObjects` },
        };
      } else {
        claims.groups = [...user.groups];
      }
    }
    return claims;
  }

  /** A generic OpenID Provider releases `email` for the `email` scope (OIDC Core §5.4). */
  function emailClaim(user: StandInUser, scopes: readonly string[]): Record<string, unknown> {
    return scopes.includes('email') ? { email: user.email ?? user.username } : {};
  }

  const signWith: SignFn = (claims, opts = {}) => {
    const current = signingKeys[0]!;
    let key = current;
    if (opts.key === 'foreign') key = foreignKey ??= newSigningKey(current.kid);
    return signCompact({ typ: 'JWT', kid: opts.kid ?? current.kid, ...opts.header }, claims, opts.alg ?? 'RS256', key);
  };

  /** Client authentication: RFC 6749 §2.3.1 (secret, post or Basic) and RFC 7523 §2.2 (jwt-bearer assertion). */
  async function authenticateClient(req: IncomingMessage, form: URLSearchParams): Promise<ClientState> {
    let basicId: string | undefined;
    let basicSecret: string | undefined;
    const authorization = req.headers.authorization;
    if (authorization?.toLowerCase().startsWith('basic ')) {
      const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0)
        throw new TokenError(401, 'invalid_client', 7000215, 'Invalid client secret provided.', {
          'WWW-Authenticate': 'Basic',
        });
      try {
        // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        basicId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
        basicSecret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, ' '));
      } catch {
        throw new TokenError(401, 'invalid_client', 7000215, 'Invalid client secret provided.', {
          'WWW-Authenticate': 'Basic',
        });
      }
    }
    const bodyId = form.get('client_id') ?? undefined;
    if (basicId !== undefined && bodyId !== undefined && basicId !== bodyId) {
      throw new TokenError(
        400,
        'invalid_request',
        900144,
        'client_id in the body and the Authorization header differ.',
      );
    }
    const clientId = basicId ?? bodyId;
    if (!clientId)
      throw new TokenError(
        400,
        'invalid_request',
        900144,
        "The request body must contain the following parameter: 'client_id'.",
      );
    const client = clients.get(clientId);
    if (!client) {
      throw new TokenError(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenantId}'.`,
      );
    }
    const postSecret = form.get('client_secret') ?? undefined;
    const assertion = form.get('client_assertion') ?? undefined;
    const methods = [basicSecret, postSecret, assertion].filter((m) => m !== undefined).length;
    if (methods > 1)
      throw new TokenError(
        400,
        'invalid_request',
        90014,
        'Only one client authentication method may be used per request.',
      );
    const secret = basicSecret ?? postSecret;
    if (secret !== undefined) {
      const match = client.secrets.find((s) => safeEqual(secretValue(s), secret));
      if (!match)
        throw new TokenError(
          401,
          'invalid_client',
          7000215,
          'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.',
        );
      if (typeof match !== 'string' && match.expiresAt <= now()) {
        throw new TokenError(
          401,
          'invalid_client',
          7000222,
          `The provided client secret keys for app '${clientId}' are expired.`,
        );
      }
      return client;
    }
    if (assertion !== undefined) {
      if (form.get('client_assertion_type') !== ASSERTION_TYPE) {
        throw new TokenError(400, 'invalid_request', 700023, `client_assertion_type must be '${ASSERTION_TYPE}'.`);
      }
      await verifyAssertion(client, assertion);
      return client;
    }
    throw new TokenError(
      401,
      'invalid_client',
      7000218,
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
    );
  }

  async function verifyAssertion(client: ClientState, assertion: string): Promise<void> {
    const clientId = client.config.clientId;
    let header: ReturnType<typeof decodeProtectedHeader>;
    let claims: ReturnType<typeof decodeJwt>;
    try {
      header = decodeProtectedHeader(assertion);
      claims = decodeJwt(assertion);
    } catch {
      throw new TokenError(
        401,
        'invalid_client',
        700027,
        'Client assertion failed signature validation: the assertion is not a well-formed JWT.',
      );
    }
    const currentDate = new Date(now());
    const thumbprint = (header['x5t#S256'] as string | undefined) ?? header.x5t;
    if (thumbprint !== undefined) {
      const publicKey = client.certificates.get(thumbprint);
      if (!publicKey) {
        throw new TokenError(
          401,
          'invalid_client',
          700027,
          `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprint}']`,
        );
      }
      try {
        // RFC 7523 §3: iss = sub = client_id, aud = the token endpoint. MSAL reuses one assertion for up to
        // 10 minutes, so a repeated jti is accepted, as Entra does.
        await jwtVerify(assertion, publicKey, {
          algorithms: ['RS256', 'PS256'],
          issuer: clientId,
          subject: clientId,
          audience: [tokenEndpoint, issuer],
          currentDate,
          // MSAL sets nbf = Math.round(now), up to 0.5 s ahead; Entra tolerates skew of minutes.
          clockTolerance: 300,
          requiredClaims: ['exp', 'jti'],
        });
      } catch (error) {
        throw assertionError(error, 'Client assertion failed signature validation.');
      }
      return;
    }
    const entry = (client.config.federated ?? []).find((f) => f.issuer === claims.iss && f.subject === claims.sub);
    if (!entry) {
      throw new TokenError(
        401,
        'invalid_client',
        70021,
        `No matching federated identity record found for presented assertion. Assertion Issuer: '${String(claims.iss)}'. Assertion Subject: '${String(claims.sub)}'.`,
      );
    }
    try {
      await jwtVerify(assertion, federatedKey(entry), {
        issuer: entry.issuer,
        subject: entry.subject,
        audience: entry.audience ?? FEDERATED_AUDIENCE,
        currentDate,
        clockTolerance: 300,
        requiredClaims: ['exp'],
      });
    } catch (error) {
      throw assertionError(error, 'AADSTS700213-style federated assertion failed validation.');
    }
    // A managed identity's token (it names the identity's resource in `xms_mirid`) is trusted only when the identity
    // is user-assigned: Learn "Configure an application to trust a managed identity" (prerequisites; "only
    // user-assigned managed identities are supported"). Entra has no federated record for a system-assigned one, so
    // the refusal is the no-matching-record answer, at the same step.
    const mirid = typeof claims.xms_mirid === 'string' ? claims.xms_mirid : undefined;
    if (mirid !== undefined && !/\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\//i.test(mirid)) {
      throw new TokenError(
        401,
        'invalid_client',
        70021,
        `No matching federated identity record found for presented assertion. Assertion Issuer: '${String(claims.iss)}'. Assertion Subject: '${String(claims.sub)}'. A federated identity credential trusts only a user-assigned managed identity.`,
      );
    }
  }

  function federatedKey(entry: FederatedCredential): KeyObject | JWTVerifyGetKey {
    if (entry.publicKeyPem) {
      return entry.publicKeyPem.includes('BEGIN CERTIFICATE')
        ? new X509Certificate(entry.publicKeyPem).publicKey
        : createPublicKey(entry.publicKeyPem);
    }
    if (!entry.jwksUri)
      throw new TokenError(
        401,
        'invalid_client',
        700027,
        'The federated credential has no key to verify the assertion with.',
      );
    let jwks = remoteJwks.get(entry.jwksUri);
    if (!jwks) remoteJwks.set(entry.jwksUri, (jwks = createRemoteJWKSet(new URL(entry.jwksUri))));
    return jwks;
  }

  function assertionError(error: unknown, fallback: string): TokenError {
    if (error instanceof joseErrors.JWTExpired)
      return new TokenError(401, 'invalid_client', 700024, 'Client assertion is not within its valid time range.');
    if (error instanceof joseErrors.JWTClaimValidationFailed) {
      return new TokenError(
        401,
        'invalid_client',
        700027,
        `Client assertion contains an invalid claim '${error.claim}': ${error.reason}.`,
      );
    }
    return new TokenError(401, 'invalid_client', 700027, fallback);
  }

  // -------------------------------------------------------------------------------------------------------
  // Responses

  function describe(
    aadsts: number,
    text: string,
    correlationId: string = randomUUID(),
    traceId: string = randomUUID(),
  ): string {
    if (protocol === 'oidc') return text;
    return `AADSTS${aadsts}: ${text}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp()}`;
  }

  function timestamp(): string {
    return new Date(now())
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, 'Z');
  }

  function sendTokenError(req: IncomingMessage, res: ServerResponse, error: TokenError): void {
    const requested = req.headers['client-request-id'];
    // Entra echoes the caller's client-request-id as the correlation id.
    const correlationId =
      typeof requested === 'string' && /^[0-9a-f-]{36}$/i.test(requested) ? requested : randomUUID();
    const traceId = randomUUID();
    const body =
      protocol === 'oidc'
        ? { error: error.error, error_description: error.text }
        : {
            error: error.error,
            error_description: describe(error.aadsts, error.text, correlationId, traceId),
            error_codes: [error.aadsts],
            timestamp: timestamp(),
            trace_id: traceId,
            correlation_id: correlationId,
            error_uri: `${url}/error?code=${error.aadsts}`,
            ...(error.extra.suberror !== undefined ? { suberror: error.extra.suberror } : {}),
            ...(error.extra.claims !== undefined ? { claims: error.extra.claims } : {}),
          };
    sendJson(res, error.status, body, { 'Cache-Control': 'no-store', Pragma: 'no-cache', ...error.headers });
  }

  // -------------------------------------------------------------------------------------------------------
  // signIn(): the sign-in page's own form post, without a browser

  async function signIn(
    authorizeUrl: string,
    username: string,
    opts: { password?: string; cancel?: boolean } = {},
  ): Promise<string> {
    const first = await request('GET', authorizeUrl);
    if (first.status === 302) return first.location!;
    if (first.status !== 200)
      throw new StandInSignInError(
        `authorize answered ${first.status}: ${pageError(first.body)}`,
        first.status,
        first.body,
      );
    const form = /<form method="post" action="([^"]*)" id="signin-form">([\s\S]*?)<\/form>/.exec(first.body);
    if (!form) throw new StandInSignInError('the sign-in page has no sign-in form', first.status, first.body);
    const fields = new URLSearchParams();
    for (const input of form[2]!.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
      fields.append(unescapeHtml(input[1]!), unescapeHtml(input[2]!));
    }
    fields.set('username', username);
    fields.set(
      'password',
      opts.password ?? users.find((u) => u.username.toLowerCase() === username.toLowerCase())?.password ?? '',
    );
    fields.set('action', opts.cancel ? 'cancel' : 'signin');
    const second = await request('POST', new URL(unescapeHtml(form[1]!), authorizeUrl).href, fields.toString());
    if (second.status === 302) return second.location!;
    throw new StandInSignInError(
      `sign-in did not complete (${second.status}): ${pageError(second.body)}`,
      second.status,
      second.body,
    );
  }

  function pageError(html: string): string {
    const match = /id="error" role="alert">([^<]*)</.exec(html);
    return match ? unescapeHtml(match[1]!) : 'no error message on the page';
  }

  /** node:https with the dev CA passed explicitly, so signIn() works even without NODE_EXTRA_CA_CERTS. */
  function request(
    method: string,
    target: string,
    body?: string,
  ): Promise<{ status: number; location?: string; body: string }> {
    return new Promise((resolve, reject) => {
      const parsed = new URL(target);
      const transport = parsed.protocol === 'https:' ? https : http;
      const req = transport.request(
        parsed,
        {
          method,
          ...(parsed.protocol === 'https:' ? { ca: ca.certPem } : {}),
          headers:
            body !== undefined
              ? { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) }
              : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              location: res.headers.location,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  // -------------------------------------------------------------------------------------------------------

  async function verifyAccessToken(tokenValue: string, audience?: string): Promise<Record<string, unknown>> {
    const keys = new Map([...signingKeys, ...appKeys.values()].map((k) => [k.kid, k.publicKey]));
    const { payload } = await jwtVerify(
      // As Graph itself does: the header nonce is hashed back before the signature is checked.
      unhashGraphNonce(tokenValue),
      (header) => {
        const key = keys.get(header.kid ?? '');
        if (!key) throw new Error('unknown kid');
        return key;
      },
      {
        issuer: [...userTenants, tenantId].flatMap((t) => [issuerFor(t), `https://sts.windows.net/${t}/`]),
        algorithms: ['RS256'],
        currentDate: new Date(now()),
        ...(audience ? { audience } : {}),
      },
    );
    if ((payload.iat ?? 0) * 1000 < accessTokensValidFrom)
      throw new Error('access token expired (expireAccessTokensNow)');
    return payload as Record<string, unknown>;
  }

  return {
    protocol,
    url,
    frontChannelUrl,
    authority,
    issuer,
    discoveryUrl,
    tokenEndpoint,
    jwksUri,
    tenantId,
    users,
    counters,
    caCertPem: ca.certPem,
    signIn,
    injectFault(endpoint, fault, times = 1) {
      faults[endpoint].push({ fault, remaining: times });
    },
    clearFaults() {
      for (const list of Object.values(faults)) list.length = 0;
    },
    nextIdToken(mutate) {
      idTokenMutators.push(mutate);
    },
    rotateSigningKey({ keepOld = false } = {}) {
      signingKeys = keepOld ? [newSigningKey(), ...signingKeys] : [newSigningKey()];
    },
    setClientSecrets(clientId, secrets) {
      const client = clients.get(clientId);
      if (!client) throw new Error(`unknown client ${clientId}`);
      client.secrets = [...secrets];
      for (const s of secrets) issued.add(secretValue(s));
    },
    revokeRefreshTokens(filter = {}) {
      for (const record of refreshTokens.values()) {
        if (filter.clientId && record.clientId !== filter.clientId) continue;
        if (filter.username && record.user.username.toLowerCase() !== filter.username.toLowerCase()) continue;
        record.revoked = true;
      }
    },
    disableUser(username, disabled = true) {
      if (disabled) disabledUsers.add(username.toLowerCase());
      else disabledUsers.delete(username.toLowerCase());
    },
    requireClaims(requirement) {
      claimsRequirements.push(requirement);
    },
    tokenRequests: () => [...tokenLog],
    endSessionRequests: () => [...endSessionLog],
    expireAccessTokensNow() {
      accessTokensValidFrom = now() + 1;
    },
    setAccessTokenLifetime(seconds) {
      accessTokenLifetime = seconds;
    },
    advanceTime(ms) {
      clockOffset += ms;
    },
    now,
    verifyAccessToken,
    issuedSecrets: () => [...issued],
    sessionIds: (username) =>
      providerSessions
        .filter((s) => username === undefined || s.username.toLowerCase() === username.toLowerCase())
        .map((s) => s.sid),
    issuedRefreshTokens: () => [...refreshTokens.keys()],
    async stop() {
      const closing = [backServer, frontServer]
        .filter((s) => s !== undefined)
        .map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      for (const socket of sockets) socket.destroy();
      backServer.closeAllConnections();
      frontServer?.closeAllConnections();
      await Promise.all(closing);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

function secretValue(secret: StandInSecret): string {
  return typeof secret === 'string' ? secret : secret.value;
}

function indexCertificates(pems: string[]): Map<string, KeyObject> {
  const index = new Map<string, KeyObject>();
  for (const pem of pems) {
    const cert = new X509Certificate(pem);
    index.set(createHash('sha256').update(cert.raw).digest('base64url'), cert.publicKey);
    index.set(createHash('sha1').update(cert.raw).digest('base64url'), cert.publicKey);
  }
  return index;
}

function safeEqual(a: string, b: string): boolean {
  // Hash first so lengths match and the comparison time does not depend on where the strings differ.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

function withParams(base: string, params: Record<string, string | undefined>): string {
  const target = new URL(base);
  for (const [name, value] of Object.entries(params)) if (value !== undefined) target.searchParams.append(name, value);
  return target.href;
}

function listen(server: http.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new TokenError(413, 'invalid_request', 90015, 'Request body too large.');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(html),
    'Cache-Control': 'no-store',
    'Content-Security-Policy': PAGE_CSP,
    'X-Frame-Options': 'DENY',
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  });
  res.end(html);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { Location: location, 'Cache-Control': 'no-store', 'Content-Length': 0 });
  res.end();
}
