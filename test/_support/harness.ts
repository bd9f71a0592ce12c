/**
 * Integration harness: real Azurite, the Entra stand-in over HTTPS, and the real function handlers called with
 * real `HttpRequest` / `InvocationContext` objects. A `TestBrowser` keeps a cookie jar like a browser would.
 * Everything the functions log is captured so tests can prove no secret ever reached a log.
 */
import { HttpRequest, InvocationContext, type HttpHandler, type HttpResponseInit } from '@azure/functions';
import { parseConfig, type AuthConfig, type Environment } from '../../shared/config';
import type { CoreDeps } from '../../shared/core/deps';
import type { Logger } from '../../shared/ports';
import { createServices, type ServiceOverrides } from '../../shared/services';
import { startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { startEntraStandIn, type EntraStandIn, type EntraStandInOptions } from '../../dev/entra-standin';
import { createApiHandler } from '../../functions/api';
import { createCallbackHandler } from '../../functions/callback';
import { createHealthHandler } from '../../functions/health';
import { createLoginHandler } from '../../functions/login';
import { createLogoutHandler } from '../../functions/logout';
import { createMeHandler } from '../../functions/me';
import { createMetadataHandler } from '../../functions/metadata';
import { createRefreshHandler } from '../../functions/refresh';
import { createTokenHandler } from '../../functions/token';
import { createSessionsHandler } from '../../functions/sessions';
import { createFrontChannelLogoutHandler } from '../../functions/frontchannel-logout';
import { createVerifyHandler } from '../../functions/verify';

export const PUBLIC_ORIGIN = 'https://auth.contoso.example';
export const REDIRECT_URI = `${PUBLIC_ORIGIN}/auth/callback`;
export const APP_ORIGIN = 'https://app.contoso.example';
export const CLIENT_ID = '11111111-2222-4333-8444-555555555555';
export const CLIENT_SECRET = 'stand-in-client-secret-value-0123456789';
/** Redirect URIs of the simulated native apps: a private-use scheme, a claimed https link, a loopback one. */
/** The name configured for the first native redirect URI: the confirmation page shows it. */
export const NATIVE_APP_NAME = 'Contoso Mobile';
export const NATIVE_REDIRECT_URIS = [
  'com.contoso.app:/oauth2redirect',
  `${APP_ORIGIN}/native/callback`,
  'http://127.0.0.1/callback',
] as const;

export interface HarnessOptions {
  protocol?: 'entra' | 'oidc';
  env?: Record<string, string>;
  standIn?: Partial<EntraStandInOptions>;
  overrides?: ServiceOverrides;
  /** Reuse an Azurite already started by the test file. */
  azurite?: AzuriteInstance;
}

export interface Response {
  status: number;
  headers: Record<string, string>;
  setCookies: { name: string; value: string; maxAge?: number; attributes: Record<string, unknown> }[];
  body: string;
  json(): any;
}

export class Harness {
  readonly logs: string[] = [];
  /** Every state, code, verifier, cookie value the tests saw: none may appear in the logs. */
  readonly seenSecrets = new Set<string>();
  clockOffsetMs = 0;
  readonly handlers: Record<
    | 'login'
    | 'callback'
    | 'me'
    | 'refresh'
    | 'logout'
    | 'health'
    | 'token'
    | 'metadata'
    | 'sessions'
    | 'frontchannel-logout'
    | 'api'
    | 'verify',
    HttpHandler
  >;

  private constructor(
    readonly azurite: AzuriteInstance,
    readonly standIn: EntraStandIn,
    readonly config: AuthConfig,
    readonly deps: CoreDeps,
    private readonly ownsAzurite: boolean,
  ) {
    const services = () => this.deps;
    this.handlers = {
      login: createLoginHandler(services),
      callback: createCallbackHandler(services),
      me: createMeHandler(services),
      refresh: createRefreshHandler(services),
      logout: createLogoutHandler(services),
      health: createHealthHandler(services),
      token: createTokenHandler(services),
      metadata: createMetadataHandler(services),
      sessions: createSessionsHandler(services),
      'frontchannel-logout': createFrontChannelLogoutHandler(services),
      api: createApiHandler(services),
      verify: createVerifyHandler(services),
    };
  }

  static async start(options: HarnessOptions = {}): Promise<Harness> {
    const azurite = options.azurite ?? (await startAzurite());
    const standIn = await startEntraStandIn({
      protocol: options.protocol ?? 'entra',
      clients: [
        {
          clientId: CLIENT_ID,
          secrets: [CLIENT_SECRET],
          redirectUris: [REDIRECT_URI, `${PUBLIC_ORIGIN}/`, `${APP_ORIGIN}/`],
        },
      ],
      ...options.standIn,
    });
    const env: Environment = {
      AUTH_CLIENT_ID: CLIENT_ID,
      AUTH_AUTHORITY: standIn.authority,
      AUTH_PROTOCOL: options.protocol ?? 'entra',
      AUTH_TENANT_ID: options.protocol === 'oidc' ? undefined : standIn.tenantId,
      AUTH_REDIRECT_URI: REDIRECT_URI,
      AUTH_CLIENT_SECRET: CLIENT_SECRET,
      AUTH_STORAGE_CONNECTION_STRING: azurite.connectionString,
      AUTH_ALLOWED_RETURN_ORIGINS: APP_ORIGIN,
      AUTH_NATIVE_REDIRECT_URIS: [
        `${NATIVE_REDIRECT_URIS[0]} ${NATIVE_APP_NAME}`,
        ...NATIVE_REDIRECT_URIS.slice(1),
      ].join(','),
      AUTH_SCOPES: options.protocol === 'oidc' ? 'api.read' : 'User.Read',
      ...options.env,
    };
    const config = parseConfig(env);
    let harness: Harness | undefined;
    const logger: Logger = {
      info: (m, p) => harness?.logs.push(`info ${m} ${JSON.stringify(p ?? {})}`),
      warn: (m, p) => harness?.logs.push(`warn ${m} ${JSON.stringify(p ?? {})}`),
      error: (m, p) => harness?.logs.push(`error ${m} ${JSON.stringify(p ?? {})}`),
    };
    const deps = createServices(config, {
      logger,
      clock: { now: () => Date.now() + (harness?.clockOffsetMs ?? 0) },
      ...options.overrides,
    });
    harness = new Harness(azurite, standIn, config, deps, !options.azurite);
    return harness;
  }

  async stop(): Promise<void> {
    await this.standIn.stop();
    if (this.ownsAzurite) await this.azurite.stop();
  }

  newBrowser(): TestBrowser {
    return new TestBrowser(this);
  }

  async call(
    name: keyof Harness['handlers'],
    init: { method?: string; url: string; headers?: Record<string, string>; body?: string },
  ): Promise<Response> {
    const url = new URL(init.url, PUBLIC_ORIGIN).href;
    const request = new HttpRequest({
      method: init.method ?? 'GET',
      url,
      headers: init.headers ?? {},
      body: init.body !== undefined ? { string: init.body } : undefined,
    });
    const context = new InvocationContext({
      functionName: name,
      invocationId: `test-${Math.random().toString(16).slice(2)}`,
      logHandler: (level, ...args) => this.logs.push(`${level} ${args.map(String).join(' ')}`),
    });
    const result: HttpResponseInit = await this.handlers[name](request, context);
    return toResponse(result);
  }

  /** Every log line, checked against every secret the run has seen or the stand-in issued. */
  leakedSecrets(): string[] {
    const secrets = [...this.seenSecrets, ...this.standIn.issuedSecrets()].filter((s) => s.length >= 8);
    const text = this.logs.join('\n');
    return secrets.filter((secret) => text.includes(secret));
  }
}

function toResponse(result: HttpResponseInit): Response {
  const headers: Record<string, string> = {};
  const raw = result.headers ?? {};
  const entries = raw instanceof Headers ? [...raw.entries()] : Array.isArray(raw) ? raw : Object.entries(raw);
  for (const [name, value] of entries) headers[String(name).toLowerCase()] = String(value);
  const sent = result.body;
  const body =
    typeof sent === 'string'
      ? sent
      : sent === undefined || sent === null
        ? ''
        : sent instanceof Uint8Array
          ? Buffer.from(sent).toString('utf8')
          : String(sent);
  return {
    status: result.status ?? 200,
    headers,
    setCookies: (result.cookies ?? []).map((c) => ({
      name: c.name,
      value: c.value,
      maxAge: c.maxAge,
      attributes: { ...c },
    })),
    body,
    json: () => JSON.parse(body),
  };
}

/** A browser: a cookie jar, following the sign-in redirects through the stand-in's sign-in page. */
export class TestBrowser {
  readonly jar = new Map<string, string>();

  constructor(private readonly harness: Harness) {}

  cookieHeader(): string {
    return [...this.jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  private absorb(response: Response): Response {
    for (const cookie of response.setCookies) {
      if (cookie.maxAge === 0) this.jar.delete(cookie.name);
      else {
        this.jar.set(cookie.name, cookie.value);
        this.harness.seenSecrets.add(cookie.value);
      }
    }
    return response;
  }

  async call(
    name: keyof Harness['handlers'],
    init: { method?: string; url: string; headers?: Record<string, string>; body?: string },
  ): Promise<Response> {
    const headers = { ...(this.jar.size ? { cookie: this.cookieHeader() } : {}), ...init.headers };
    return this.absorb(await this.harness.call(name, { ...init, headers }));
  }

  /** GET /auth/login; returns the authorize URL the browser is sent to. */
  async startSignIn(query = 'returnTo=%2Fapp'): Promise<{ response: Response; authorizeUrl: string; state: string }> {
    const response = await this.call('login', { url: `/auth/login?${query}` });
    // A native sign-in answers the page naming the app; the user clicks Continue (its link is the authorize URL).
    const authorizeUrl =
      response.headers.location ?? (response.status === 200 ? continueLink(response.body) : undefined) ?? '';
    const state = authorizeUrl ? (new URL(authorizeUrl).searchParams.get('state') ?? '') : '';
    if (state) this.harness.seenSecrets.add(state);
    return { response, authorizeUrl, state };
  }

  /** The user signs in at the stand-in; returns the callback URL the provider redirects to. */
  async signInAtProvider(
    authorizeUrl: string,
    username = this.harness.standIn.users[0]!.username,
    opts?: { cancel?: boolean },
  ): Promise<string> {
    const callbackUrl = await this.harness.standIn.signIn(authorizeUrl, username, opts);
    const code = new URL(callbackUrl).searchParams.get('code');
    if (code) this.harness.seenSecrets.add(code);
    return callbackUrl;
  }

  async callback(callbackUrl: string): Promise<Response> {
    const url = new URL(callbackUrl);
    return this.call('callback', { url: `/auth/callback${url.search}` });
  }

  /** The whole web sign-in: login → provider → callback. */
  async signIn(query?: string): Promise<Response> {
    const { authorizeUrl } = await this.startSignIn(query);
    return this.callback(await this.signInAtProvider(authorizeUrl));
  }
}

/** The Continue link of the native sign-in confirmation page (shared/http/responses.ts), unescaped. */
export function continueLink(html: string): string | undefined {
  const href = /<a [^>]*id="continue" href="([^"]*)"/.exec(html)?.[1];
  return href?.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));
}
