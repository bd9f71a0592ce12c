/**
 * The design's floor (bench steps (a), cold, and (q), CPU per request): what ../shared/design.md requires of a
 * start, a login and a callback, and nothing more. No input validation, no sealing, no binding cookie, no rate
 * limit, no session index, no error handling: a lower bound for the app, never a product. It uses the app's own
 * vendor files (the same SDK builds, lazily loaded as the app loads them), so only the work differs. Its routes are
 * the app's, so the bench drives both with the same client.
 * - load: design §4's start-up check of `AUTH_ALLOWED_RETURN_ORIGINS` (same-site with `AUTH_REDIRECT_URI`'s host,
 *   by the Public Suffix List), beside the hello-world function's registration;
 * - GET /auth/login: discovery over TLS, one Table insert (state, verifier, nonce), 302 to the authorize endpoint
 *   with PKCE (design §2);
 * - GET /auth/login-direct: the same without discovery, to `<authority>/oauth2/v2.0/authorize` as design §2 writes
 *   it (Entra's documented form): what a login would cost if it did not check the provider first (the app does, so a
 *   provider outage at login answers 502 with nothing written);
 * - GET /auth/callback: the row read and deleted with its etag, the code redeemed by MSAL with the verifier and
 *   the client secret (MSAL checks the nonce), the ID token verified with jose (signature, issuer, audience), one
 *   session row insert with MSAL's cache, 302 with the session cookie (design §2).
 */
import { app, type HttpRequest } from '@azure/functions';
import { createHash, randomBytes } from 'node:crypto';

type Tables = typeof import('@azure/data-tables');
type Msal = typeof import('@azure/msal-node');
type Jose = typeof import('jose');
type Tldts = typeof import('tldts');

/*
 * The app's vendor files, beside this bundle's folder (bench.ts builds both under .local/bench), required at run
 * time as main.js requires them (the bench bundles this module with `../dist/vendor/*` external).
 */
const vendor = {
  tldts: () => require('../dist/vendor/tldts.js') as Tldts,
  tables: () => require('../dist/vendor/azure-data-tables.js') as Tables,
  msal: () => require('../dist/vendor/azure-msal-node.js') as Msal,
  jose: () => require('../dist/vendor/jose.js') as Jose,
};

const env = (name: string): string => process.env[name] ?? '';

// Design §4: the return origins must be same-site with the callback's host, checked at start-up (by the list only
// for a host other than the callback's, as the app does).
const site = (host: string) => vendor.tldts().getDomain(host, { allowPrivateDomains: true }) ?? host;
const callbackHost = new URL(env('AUTH_REDIRECT_URI')).hostname;
for (const origin of env('AUTH_ALLOWED_RETURN_ORIGINS').split(',').filter(Boolean)) {
  const host = new URL(origin).hostname;
  if (host !== callbackHost && site(host) !== site(callbackHost)) throw new Error(`${origin} is not same-site`);
}

const b64 = (bytes: Buffer): string => bytes.toString('base64url');
/** A row key from a secret value (state, session id): its SHA-256, as the app keys its rows. */
const rowKeyOf = (secret: string): string => createHash('sha256').update(secret).digest('hex');
const PARTITION = 'floor';

interface Metadata {
  issuer: string;
  authorization_endpoint: string;
  jwks_uri: string;
}
let metadata: Promise<Metadata> | undefined;
const discovery = (): Promise<Metadata> =>
  (metadata ??= fetch(`${env('AUTH_AUTHORITY')}/v2.0/.well-known/openid-configuration`).then(
    (res) => res.json() as Promise<Metadata>,
  ));

let tables: Record<'state' | 'sessions', InstanceType<Tables['TableClient']>> | undefined;
function table(name: 'state' | 'sessions') {
  if (!tables) {
    const { TableClient } = vendor.tables();
    const open = (t: string) =>
      TableClient.fromConnectionString(env('AUTH_STORAGE_CONNECTION_STRING'), t, { allowInsecureConnection: true });
    tables = { state: open('AuthState'), sessions: open('AuthSessions') };
  }
  return tables[name];
}

/** design §2's login: state, nonce and PKCE verifier in one AuthState row, then the 302 to the provider. */
async function login(authorizationEndpoint: string) {
  const [state, verifier, nonce] = [b64(randomBytes(32)), b64(randomBytes(32)), b64(randomBytes(32))];
  await table('state').createEntity({
    partitionKey: PARTITION,
    rowKey: rowKeyOf(state),
    data: JSON.stringify({ verifier, nonce }),
  });
  const url = new URL(authorizationEndpoint);
  url.search = new URLSearchParams({
    client_id: env('AUTH_CLIENT_ID'),
    response_type: 'code',
    redirect_uri: env('AUTH_REDIRECT_URI'),
    response_mode: 'query',
    scope: `openid profile offline_access ${env('AUTH_SCOPES')}`,
    state,
    nonce,
    code_challenge: b64(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  }).toString();
  return { status: 302, headers: { location: url.href, 'cache-control': 'no-store' } };
}

app.http('floorlogin', {
  methods: ['GET'],
  route: 'auth/login',
  authLevel: 'anonymous',
  handler: async () => login((await discovery()).authorization_endpoint),
});

app.http('floorlogindirect', {
  methods: ['GET'],
  route: 'auth/login-direct',
  authLevel: 'anonymous',
  handler: () => login(`${env('AUTH_AUTHORITY')}/oauth2/v2.0/authorize`),
});

/** MSAL's network module on fetch (the app's does the same, with deadlines): one pool with the discovery call. */
const network: import('@azure/msal-node').INetworkModule = {
  sendGetRequestAsync: (url, options) => send(url, 'GET', options),
  sendPostRequestAsync: (url, options) => send(url, 'POST', options),
};
async function send<T>(url: string, method: string, options?: { headers?: Record<string, string>; body?: string }) {
  const res = await fetch(url, { method, headers: options?.headers, body: options?.body });
  const body = (await res.json()) as T;
  return { headers: Object.fromEntries(res.headers), body, status: res.status };
}

let jwks: ReturnType<Jose['createRemoteJWKSet']> | undefined;

app.http('floorcallback', {
  methods: ['GET'],
  route: 'auth/callback',
  authLevel: 'anonymous',
  handler: async (request: HttpRequest) => {
    const [code, state] = [request.query.get('code') ?? '', request.query.get('state') ?? ''];
    const rowKey = rowKeyOf(state);
    const row = await table('state').getEntity<{ data: string }>(PARTITION, rowKey);
    await table('state').deleteEntity(PARTITION, rowKey, { etag: row.etag });
    const { verifier, nonce } = JSON.parse(row.data) as { verifier: string; nonce: string };

    const meta = await discovery();
    const { ConfidentialClientApplication } = vendor.msal();
    const msal = new ConfidentialClientApplication({
      auth: {
        clientId: env('AUTH_CLIENT_ID'),
        authority: env('AUTH_AUTHORITY'),
        clientSecret: env('AUTH_CLIENT_SECRET'),
        knownAuthorities: [new URL(env('AUTH_AUTHORITY')).host],
        authorityMetadata: JSON.stringify(meta),
      },
      system: { networkClient: network },
    });
    const result = await msal.acquireTokenByCode({
      code,
      codeVerifier: verifier,
      redirectUri: env('AUTH_REDIRECT_URI'),
      scopes: ['openid', 'profile', 'offline_access', env('AUTH_SCOPES')],
      nonce, // MSAL compares it with the ID token's
    });

    const jose = vendor.jose();
    jwks ??= jose.createRemoteJWKSet(new URL(meta.jwks_uri));
    const { payload } = await jose.jwtVerify(result.idToken, jwks, {
      issuer: meta.issuer,
      audience: env('AUTH_CLIENT_ID'),
    });

    const session = b64(randomBytes(32));
    await table('sessions').createEntity({
      partitionKey: PARTITION,
      rowKey: rowKeyOf(session),
      data: JSON.stringify({ claims: payload, cache: msal.getTokenCache().serialize() }),
    });
    return {
      status: 302,
      headers: { location: '/app', 'cache-control': 'no-store' },
      cookies: [{ name: '__Host-session', value: session, path: '/', secure: true, httpOnly: true, sameSite: 'Lax' }],
    };
  },
});
