/**
 * A local Azure Key Vault (secrets only), for tests and `npm start`. Local development only.
 *
 * HTTPS on 127.0.0.1 with a leaf certificate from the dev CA (`dev/ca.ts`; the client process trusts it through
 * `NODE_EXTRA_CA_CERTS`). It speaks what `@azure/keyvault-secrets` 4.11 sends, including the challenge-based auth
 * of `@azure/keyvault-common`'s `keyVaultAuthenticationPolicy`:
 *
 * 1. The client's first request goes out WITHOUT a token (and, for requests with a body, with the body held
 *    back; a GET is simply sent as is). The vault answers
 *      401  WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>", resource="https://vault.azure.net"
 *    The SDK splits the header on `, ` and reads `authorization` (tenant = its path) and `resource` (scope =
 *    resource + "/.default"). For a vault host outside the Azure vault domains (this one) the client must set
 *    `disableChallengeResourceVerification`, because the resource host is not a parent of 127.0.0.1.
 * 2. The client gets a token for that scope (here from the managed-identity stand-in) and repeats the request
 *    with `Authorization: Bearer …`; the policy then sends the bearer on every later request of that client.
 * 3. The vault verifies the token: RS256 signature by a trusted issuer, `aud` = the resource, expiry, and
 *    optionally the caller's `oid` (an RBAC stand-in). A bad token gets 401 + the challenge again.
 *
 * Routes: `GET /secrets/{name}` and `GET /secrets/{name}/{version}` (with or without a trailing slash), each
 * needing `api-version`. Bodies are Key Vault-shaped: `{ value, id, contentType, attributes: { enabled, created,
 * updated, recoveryLevel, recoverableDays }, tags }`, errors `{ error: { code, message } }` (`SecretNotFound`,
 * `Unauthorized`, `Forbidden`, `Throttled`, `ServiceUnavailable`).
 *
 * Usage (one call):
 *   const mi = await startManagedIdentityStandIn();          // dev/managed-identity-standin.ts
 *   const vault = await startKeyVaultStandIn({ trust: mi });  // trusts the MI stand-in's tokens
 *   vault.setSecret('auth-client-secret', 's3cret');          // → version id; call again to rotate
 *   AUTH_KEY_VAULT_URL = vault.url
 *   vault.counters.secretReads; vault.injectFault({ kind: 'status', status: 429, retryAfterSeconds: 1 }, 1);
 *   vault.injectFault({ kind: 'hang' }); vault.injectFault({ kind: 'down' }); vault.clearFaults(); await vault.stop();
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { devCaFromEnvironment, issueServerCertificate, type DevCa, type ServerCertificate } from './ca';
import { verifyStandInJwt, type TrustedTokenIssuer } from './managed-identity-standin';
import { FaultSwitch, type StandInFault } from './stand-in-faults';

export type { StandInFault } from './stand-in-faults';

export interface KeyVaultStandInOptions {
  /** Loopback port; 0 (default) picks a free one. */
  port?: number;
  /** CA that signs the server certificate (default: `devCaFromEnvironment()`, i.e. `DEV_CA_DIR`). */
  ca?: DevCa;
  /** A ready server certificate instead of issuing one from `ca`. */
  tls?: ServerCertificate;
  /** Tenant named in the challenge's `authorization` URL. */
  tenantId?: string;
  /** Authority host in the challenge (default `https://login.microsoftonline.com`). */
  authorityHost?: string;
  /** The challenge's `resource` (default `https://vault.azure.net`, as the real service). */
  challengeResource?: string;
  /** The `aud` a token must carry (default: the challenge resource). */
  acceptedTokenAudience?: string;
  /** Who may issue tokens (a `ManagedIdentityStandIn` fits: it has `issuer` and `publicKeyPem`). */
  trust: TrustedTokenIssuer | readonly TrustedTokenIssuer[];
  /** If set, only these principal ids (`oid`) may read secrets; others get 403 Forbidden. */
  allowedPrincipals?: readonly string[];
  /** Initial secrets: name → value, or `{ value, contentType }`. */
  secrets?: Record<string, string | { value: string; contentType?: string }>;
}

export interface KeyVaultStandIn {
  /** The vault URL (`https://127.0.0.1:<port>`), for AUTH_KEY_VAULT_URL. */
  url: string;
  /** Adds a new current version of `name` (a rotation if it existed). Returns the version id. */
  setSecret(name: string, value: string, contentType?: string): string;
  /** Disables every version of `name`: reads then answer 403 `Forbidden` (SecretDisabled), like Key Vault. */
  disableSecret(name: string): void;
  counters: {
    /** Authorized secret reads answered (200 or 404): the number that matters for cost and throttling. */
    secretReads: number;
    /** 401 challenges sent to requests without a token. */
    challenges: number;
    /** Requests with a bearer the vault refused (bad signature, audience, expiry, principal). */
    unauthorized: number;
    /** Every request received, faults included. */
    requests: number;
    faultsServed: number;
  };
  /** Serve `fault` to the next `times` requests (default: until `clearFaults`). */
  injectFault(fault: StandInFault, times?: number): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

const DEFAULT_TENANT = '11111111-1111-4111-8111-111111111111';
const NAME = /^[0-9A-Za-z-]{1,127}$/;

interface SecretVersion {
  version: string;
  value: string;
  contentType: string | undefined;
  created: number;
  enabled: boolean;
}

export async function startKeyVaultStandIn(options: KeyVaultStandInOptions): Promise<KeyVaultStandIn> {
  const tenantId = options.tenantId ?? DEFAULT_TENANT;
  const authorityHost = (options.authorityHost ?? 'https://login.microsoftonline.com').replace(/\/+$/, '');
  const resource = options.challengeResource ?? 'https://vault.azure.net';
  const audience = options.acceptedTokenAudience ?? resource;
  const trusted = (Array.isArray(options.trust) ? options.trust : [options.trust]) as readonly TrustedTokenIssuer[];
  const trustedIssuers = trusted.map((t) => ({ issuer: t.issuer, publicKeyPem: t.publicKeyPem }));
  const challenge = `Bearer authorization="${authorityHost}/${tenantId}", resource="${resource}"`;
  const store = new Map<string, SecretVersion[]>();
  const counters = { secretReads: 0, challenges: 0, unauthorized: 0, requests: 0, faultsServed: 0 };
  const faults = new FaultSwitch();
  const sockets = new Set<Socket>();
  let url = '';

  const tls = options.tls ?? issueServerCertificate(options.ca ?? devCaFromEnvironment(), ['127.0.0.1', 'localhost']);
  const server: Server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    try {
      handle(req, res);
    } catch {
      if (!res.headersSent) kvError(res, 500, 'InternalServerError', 'stand-in error');
    }
  });
  server.on('secureConnection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  function setSecret(name: string, value: string, contentType?: string): string {
    if (!NAME.test(name)) throw new Error(`invalid Key Vault secret name "${name}"`);
    const version = randomBytes(16).toString('hex');
    const versions = store.get(name) ?? [];
    versions.push({ version, value, contentType, created: Math.floor(Date.now() / 1000), enabled: true });
    store.set(name, versions);
    return version;
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    counters.requests += 1;
    const injected = faults.serve(req);
    if (injected) {
      counters.faultsServed += 1;
      if (injected === 'answered') return;
      const code =
        injected.status === 429 ? 'Throttled' : injected.status === 503 ? 'ServiceUnavailable' : 'InternalServerError';
      return kvError(res, injected.status, code, 'Injected fault.', injected.headers);
    }

    const requestUrl = new URL(req.url ?? '/', 'https://127.0.0.1');
    const segments = requestUrl.pathname.split('/').filter(Boolean);
    if (segments[0] !== 'secrets' || segments.length < 2 || segments.length > 3) {
      return kvError(res, 404, 'NotFound', 'The requested path is not supported by this stand-in.');
    }

    // Authentication first, as the real service: no token → challenge, whatever the request.
    const authorization = req.headers.authorization;
    if (!authorization) {
      counters.challenges += 1;
      return kvError(res, 401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.', {
        'WWW-Authenticate': challenge,
      });
    }
    const bearer = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(authorization)?.[1];
    const verified = bearer
      ? verifyStandInJwt(bearer, { trusted: trustedIssuers, audience })
      : { ok: false as const, reason: 'not a Bearer token' };
    if (!verified.ok) {
      counters.unauthorized += 1;
      return kvError(res, 401, 'Unauthorized', `AKV10022: Invalid token: ${verified.reason}.`, {
        'WWW-Authenticate': challenge,
      });
    }
    const oid = verified.claims.oid;
    if (options.allowedPrincipals && (typeof oid !== 'string' || !options.allowedPrincipals.includes(oid))) {
      counters.unauthorized += 1;
      return kvError(res, 403, 'Forbidden', 'Caller is not authorized to perform action on resource (stand-in RBAC).');
    }

    if (!requestUrl.searchParams.get('api-version')) {
      return kvError(
        res,
        400,
        'MissingApiVersionParameter',
        'The api-version query parameter (?api-version=) is required for all requests.',
      );
    }
    if (req.method !== 'GET') return kvError(res, 405, 'MethodNotAllowed', 'Only GET is supported by this stand-in.');

    counters.secretReads += 1;
    const name = decodeURIComponent(segments[1]!);
    const wanted = segments[2] ? decodeURIComponent(segments[2]) : undefined;
    const versions = store.get(name) ?? [];
    const found = wanted ? versions.find((v) => v.version === wanted) : versions[versions.length - 1];
    if (!found) {
      return kvError(
        res,
        404,
        'SecretNotFound',
        `A secret with (name/id) ${name}${wanted ? `/${wanted}` : ''} was not found in this key vault.`,
      );
    }
    if (!found.enabled)
      return kvError(res, 403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', {}, 'SecretDisabled');
    json(res, 200, {
      value: found.value,
      id: `${url}/secrets/${name}/${found.version}`,
      ...(found.contentType ? { contentType: found.contentType } : {}),
      attributes: {
        enabled: true,
        created: found.created,
        updated: found.created,
        recoveryLevel: 'Recoverable+Purgeable',
        recoverableDays: 90,
      },
      tags: {},
    });
  }

  for (const [name, secret] of Object.entries(options.secrets ?? {})) {
    if (typeof secret === 'string') setSecret(name, secret);
    else setSecret(name, secret.value, secret.contentType);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;

  return {
    url,
    setSecret,
    disableSecret(name) {
      for (const version of store.get(name) ?? []) version.enabled = false;
    },
    counters,
    injectFault: (next, times) => faults.arm(next, times),
    clearFaults: () => faults.clear(),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function kvError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
  innerCode?: string,
): void {
  json(
    res,
    status,
    { error: { code, message, ...(innerCode ? { innererror: { code: innerCode } } : {}) } },
    { 'x-ms-request-id': randomUUID(), ...headers },
  );
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
