/**
 * A local App Service-style managed identity endpoint, for tests and `npm start`. Local development only.
 *
 * It answers what `@azure/identity` 4.13's `ManagedIdentityCredential` (through MSAL Node's `AppService` source)
 * sends when `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set, as App Service / Functions set them:
 *
 *   GET <IDENTITY_ENDPOINT>?api-version=2019-08-01&resource=<resource>[&client_id=<user-assigned client id>]
 *   X-IDENTITY-HEADER: <IDENTITY_HEADER>
 *   → 200 { access_token, expires_on: "<unix seconds>", resource, token_type: "Bearer", client_id }
 *
 * (`resource` is the scope without `/.default`; a user-assigned identity is named by `client_id`, or `mi_res_id` /
 * `principal_id` which this stand-in refuses: give the client id.) Plain http on loopback is what App Service
 * uses too, and the credential accepts it.
 *
 * Tokens are RS256 JWTs shaped like Entra's: `iss` = `https://login.microsoftonline.com/<tenant>/v2.0` (what a
 * federated identity credential names as its issuer), `sub` = `oid` = the identity's principal (object) id,
 * `aud` = the resource, `tid`, `azp`/`appid` = the identity's client id, `idtyp: "app"`, and `xms_mirid` = the
 * identity's Azure resource id, as Entra puts it in managed-identity tokens: a `userAssignedIdentities/<name>` id for a
 * user-assigned identity, the site's own id (`Microsoft.Web/sites/<name>`) for the system-assigned one. The Entra
 * stand-in reads it to refuse a system-assigned identity as a federated credential, as Entra does. The signing key is
 * published as `publicKeyPem` and at `jwksUri`, so the Key Vault stand-in and the Entra stand-in's federated
 * credential check can verify them.
 *
 * Usage (one call):
 *   const mi = await startManagedIdentityStandIn();
 *   Object.assign(process.env, mi.env);            // IDENTITY_ENDPOINT, IDENTITY_HEADER
 *   … mi.counters.tokenRequests, mi.injectFault({ kind: 'status', status: 503 }, 1), await mi.stop()
 *
 * Process-wide caveat of @azure/identity 4.x / MSAL Node: the managed-identity source (endpoint URL, header and
 * network client) is chosen at the first token request and kept for the life of the process, and issued tokens
 * are cached process-wide per (client id, resource). So start ONE stand-in per test process, set its env before
 * the first token request, and simulate outages with `injectFault` rather than by restarting on a new port.
 * `stop()` then `start` again on the same `port` works too. To get a cache miss in a later test, ask with a new
 * user-assigned client id (any GUID is accepted and gets its own principal id).
 */
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

import { FaultSwitch, type StandInFault } from './stand-in-faults';

export type { StandInFault } from './stand-in-faults';

export interface ManagedIdentityStandInOptions {
  /** Loopback port; 0 (default) picks a free one. */
  port?: number;
  tenantId?: string;
  /** The `iss` claim; default `https://login.microsoftonline.com/<tenant>/v2.0`. */
  issuer?: string;
  /** Principal (object) id of the system-assigned identity. */
  principalId?: string;
  /** Client id of the system-assigned identity (its `azp`/`appid`). */
  clientId?: string;
  /** Known user-assigned identities: client id → principal id. Unknown client ids get a derived principal id. */
  userAssigned?: Record<string, string>;
  /** The secret App Service puts in IDENTITY_HEADER. */
  identityHeader?: string;
  /** Where the identities live, for `xms_mirid` (defaults: a fixed subscription, `rg-signin`, `func-api-signin`). */
  subscriptionId?: string;
  resourceGroup?: string;
  siteName?: string;
  tokenLifetimeSeconds?: number;
  /** Reuse a signing key (e.g. across a restart on the same port, so earlier tokens stay verifiable). */
  signingKey?: { privateKey: KeyObject; publicKeyPem: string; kid: string };
}

export interface ManagedIdentityTokenRequest {
  resource: string;
  clientId: string | undefined;
  at: number;
}

export interface ManagedIdentityStandIn {
  /** The IDENTITY_ENDPOINT value. */
  endpoint: string;
  identityHeader: string;
  /** `{ IDENTITY_ENDPOINT, IDENTITY_HEADER }` to merge into `process.env` or a child's env. */
  env: { IDENTITY_ENDPOINT: string; IDENTITY_HEADER: string };
  tenantId: string;
  issuer: string;
  /** Principal id of the system-assigned identity: the `sub` a federated identity credential must name. */
  subject: string;
  clientId: string;
  /** The `sub` of tokens for a user-assigned client id (or the system-assigned one when undefined). */
  subjectFor(clientId?: string): string;
  publicKeyPem: string;
  kid: string;
  jwks: { keys: Array<Record<string, string>> };
  /** `http://127.0.0.1:<port>/keys`: the JWKS. */
  jwksUri: string;
  signingKey: { privateKey: KeyObject; publicKeyPem: string; kid: string };
  counters: { tokenRequests: number; tokensIssued: number; rejected: number; faultsServed: number };
  /** Every token request (resource and client id; no tokens), oldest first. */
  requests: ManagedIdentityTokenRequest[];
  /** Serve `fault` to the next `times` token requests (default: until `clearFaults`). */
  injectFault(fault: StandInFault, times?: number): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

const API_VERSION = '2019-08-01';
const DEFAULT_TENANT = '11111111-1111-4111-8111-111111111111';
const DEFAULT_PRINCIPAL = '22222222-2222-4222-8222-222222222222';
const DEFAULT_CLIENT = '33333333-3333-4333-8333-333333333333';
const DEFAULT_SUBSCRIPTION = '44444444-4444-4444-8444-444444444444';

export function createStandInSigningKey(): { privateKey: KeyObject; publicKeyPem: string; kid: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const kid = createHash('sha256').update(publicKeyPem).digest('base64url').slice(0, 16);
  return { privateKey, publicKeyPem, kid };
}

export async function startManagedIdentityStandIn(
  options: ManagedIdentityStandInOptions = {},
): Promise<ManagedIdentityStandIn> {
  const tenantId = options.tenantId ?? DEFAULT_TENANT;
  const issuer = options.issuer ?? `https://login.microsoftonline.com/${tenantId}/v2.0`;
  const principalId = options.principalId ?? DEFAULT_PRINCIPAL;
  const systemClientId = options.clientId ?? DEFAULT_CLIENT;
  const identityHeader = options.identityHeader ?? randomUUID();
  const lifetime = options.tokenLifetimeSeconds ?? 3600;
  const signingKey = options.signingKey ?? createStandInSigningKey();
  const counters = { tokenRequests: 0, tokensIssued: 0, rejected: 0, faultsServed: 0 };
  const requests: ManagedIdentityTokenRequest[] = [];
  const faults = new FaultSwitch();
  const sockets = new Set<Socket>();

  const resourceGroupId = `/subscriptions/${options.subscriptionId ?? DEFAULT_SUBSCRIPTION}/resourcegroups/${options.resourceGroup ?? 'rg-signin'}`;
  const miridFor = (clientId?: string): string =>
    !clientId || clientId === systemClientId
      ? `${resourceGroupId}/providers/Microsoft.Web/sites/${options.siteName ?? 'func-api-signin'}`
      : `${resourceGroupId}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-${clientId.slice(0, 8)}`;
  const subjectFor = (clientId?: string): string => {
    if (!clientId || clientId === systemClientId) return principalId;
    return options.userAssigned?.[clientId] ?? derivedGuid(`principal:${clientId}`);
  };

  const jwk = {
    ...(createPublicJwk(signingKey.publicKeyPem) as Record<string, string>),
    kid: signingKey.kid,
    use: 'sig',
    alg: 'RS256',
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) json(res, 500, { statusCode: 500, message: 'stand-in error' });
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method === 'GET' && url.pathname === '/keys') return json(res, 200, { keys: [jwk] });
    if (url.pathname !== '/msi/token') return json(res, 404, { statusCode: 404, message: 'not found' });
    counters.tokenRequests += 1;

    const injected = faults.serve(req);
    if (injected) {
      counters.faultsServed += 1;
      if (injected === 'answered') return;
      return json(
        res,
        injected.status,
        { statusCode: injected.status, message: 'injected fault', correlationId: randomUUID() },
        injected.headers,
      );
    }

    const reject = (status: number, message: string): void => {
      counters.rejected += 1;
      json(res, status, { statusCode: status, message, correlationId: randomUUID() });
    };
    if (req.method !== 'GET') return reject(405, 'method not allowed');
    if (req.headers['x-identity-header'] !== identityHeader)
      return reject(401, 'X-IDENTITY-HEADER is missing or wrong');
    if (url.searchParams.get('api-version') !== API_VERSION) return reject(400, `api-version must be ${API_VERSION}`);
    const resource = url.searchParams.get('resource');
    if (!resource) return reject(400, 'resource is required');
    if (
      url.searchParams.has('mi_res_id') ||
      url.searchParams.has('principal_id') ||
      url.searchParams.has('object_id')
    ) {
      return reject(400, 'this stand-in names user-assigned identities by client_id only');
    }
    const clientId = url.searchParams.get('client_id') ?? undefined;
    requests.push({ resource, clientId, at: Date.now() });

    const now = Math.floor(Date.now() / 1000);
    const azp = clientId ?? systemClientId;
    const sub = subjectFor(clientId);
    const claims = {
      aud: resource,
      iss: issuer,
      iat: now,
      nbf: now,
      exp: now + lifetime,
      sub,
      oid: sub,
      tid: tenantId,
      azp,
      appid: azp,
      idtyp: 'app',
      xms_mirid: miridFor(clientId),
      ver: '2.0',
      uti: randomUUID(),
    };
    const accessToken = signJwt(claims, signingKey.privateKey, signingKey.kid);
    counters.tokensIssued += 1;
    json(res, 200, {
      access_token: accessToken,
      expires_on: String(now + lifetime),
      resource,
      token_type: 'Bearer',
      client_id: azp,
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const endpoint = `http://127.0.0.1:${port}/msi/token`;

  return {
    endpoint,
    identityHeader,
    env: { IDENTITY_ENDPOINT: endpoint, IDENTITY_HEADER: identityHeader },
    tenantId,
    issuer,
    subject: principalId,
    clientId: systemClientId,
    subjectFor,
    publicKeyPem: signingKey.publicKeyPem,
    kid: signingKey.kid,
    jwks: { keys: [jwk] },
    jwksUri: `http://127.0.0.1:${port}/keys`,
    signingKey,
    counters,
    requests,
    injectFault: (next, times) => faults.arm(next, times),
    clearFaults: () => faults.clear(),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** RS256 compact JWS (RFC 7515) over `claims`. */
export function signJwt(claims: Record<string, unknown>, privateKey: KeyObject, kid: string): string {
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid })).toString('base64url');
  const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), privateKey).toString('base64url');
  return `${header}.${payload}.${signature}`;
}

/** The trust a verifier needs: who issues, and the key it signs with. */
export interface TrustedTokenIssuer {
  issuer: string;
  publicKeyPem: string;
}

export type JwtVerification = { ok: true; claims: Record<string, unknown> } | { ok: false; reason: string };

/**
 * Verifies an RS256 token from this stand-in (or any issuer in `trusted`): signature, `iss`, `aud` (exact, or
 * with/without one trailing slash as Azure resources are written both ways), `exp`/`nbf` with `skewSeconds`.
 * For the other stand-ins (Key Vault, Entra federated credentials); not a production validator.
 */
export function verifyStandInJwt(
  token: string,
  expected: {
    trusted: readonly TrustedTokenIssuer[];
    audience: string | readonly string[];
    skewSeconds?: number;
    now?: number;
  },
): JwtVerification {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'not a compact JWS' };
  const [headerB64, payloadB64, signatureB64] = parts as [string, string, string];
  let header: { alg?: unknown };
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(headerB64, 'base64url').toString('utf8'));
    claims = JSON.parse(Buffer.from(payloadB64, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed token' };
  }
  if (header.alg !== 'RS256') return { ok: false, reason: 'alg must be RS256' };
  const issuer = expected.trusted.find((t) => t.issuer === claims.iss);
  if (!issuer) return { ok: false, reason: 'untrusted issuer' };
  const valid = verify(
    'sha256',
    Buffer.from(`${headerB64}.${payloadB64}`),
    createPublicKey(issuer.publicKeyPem),
    Buffer.from(signatureB64, 'base64url'),
  );
  if (!valid) return { ok: false, reason: 'bad signature' };
  const audiences = (typeof expected.audience === 'string' ? [expected.audience] : expected.audience).flatMap((a) => [
    a,
    a.replace(/\/$/, ''),
    `${a.replace(/\/$/, '')}/`,
  ]);
  if (typeof claims.aud !== 'string' || !audiences.includes(claims.aud)) return { ok: false, reason: 'wrong audience' };
  const now = expected.now ?? Math.floor(Date.now() / 1000);
  const skew = expected.skewSeconds ?? 300;
  if (typeof claims.exp !== 'number' || claims.exp + skew < now) return { ok: false, reason: 'expired' };
  if (typeof claims.nbf === 'number' && claims.nbf - skew > now) return { ok: false, reason: 'not yet valid' };
  return { ok: true, claims };
}

function createPublicJwk(publicKeyPem: string): object {
  return createPublicKey(publicKeyPem).export({ format: 'jwk' });
}

/** A stable GUID-shaped id derived from `seed` (so a user-assigned client id always maps to the same principal). */
function derivedGuid(seed: string): string {
  const hex = createHash('sha256').update(seed).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}
