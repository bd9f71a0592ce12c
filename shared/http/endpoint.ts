/**
 * The one wrapper every HTTP function goes through: method and size checks, request parsing with duplicates
 * refused, the coded-error mapping (never a 500 with a stack), and one log line per request that names the
 * function, status, error code and duration — never the URL, a header, a cookie or a body.
 */
import type { HttpHandler, HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { CoreDeps } from '../core/deps';
import { AuthError, ConfigError } from '../errors';
import type { Logger } from '../ports';
import { securityEvent } from '../telemetry';
import { parseCookieHeader } from './cookies';
import { isPreflight, preflightResponse, tokenFlowCorsHeaders } from './cors';
import { errorPageResponse, oauthErrorResponse, problemResponse } from './responses';

/**
 * Input bounds (design §7): oversized input is refused with a 4xx before any work. The cookie header's bound is
 * the platform's own (Kestrel's 32 KB of request headers, see cookies.ts): other sites' cookies on a shared
 * parent domain must not lock anyone out, and only our own cookies are parsed out of it.
 */
export const LIMITS = { queryBytes: 4096, cookieHeaderBytes: 32_768, bodyBytes: 16_384 } as const;

export interface EndpointSpec {
  name: string;
  methods: readonly string[];
  /**
   * `page` endpoints are browser navigations: errors are an HTML page; `json` endpoints answer problem+json;
   * `oauth` (the token endpoint) answers RFC 6749 §5.2 error JSON.
   */
  kind: 'json' | 'page' | 'oauth';
  /** Login and callback: a refused request is a failed sign-in in the security telemetry. */
  signIn?: boolean;
  /** Content types a body may have (POST); a body of another type is 415. */
  bodyTypes?: readonly string[];
  /**
   * Health only: an invalid configuration's public problems (cross-site origins, which name nothing secret) go
   * into the 503 body as `problems`, so a deployment shows why without anyone reading the logs.
   */
  showPublicConfigProblems?: boolean;
  /** The token flow's routes: CORS (no credentials) for the token-flow origins, preflights answered here. */
  tokenFlowCors?: boolean;
  /** The API proxy: any content type, the body kept as bytes (`ParsedRequest.bytes`), bounded by `maxBytes`. */
  rawBody?: { maxBytes: number };
}

export interface ParsedRequest {
  method: string;
  url: URL;
  /** A query parameter; present twice is a 400, not "the first one wins". */
  query(name: string): string | undefined;
  header(name: string): string | undefined;
  cookies: Readonly<Record<string, string | undefined>>;
  /** The body as text (bounded), or '' when there is none (or when the endpoint takes it as `bytes`). */
  body: string;
  /** The body as bytes, for endpoints with `rawBody`; undefined when there is none. */
  bytes?: Uint8Array;
  contentType: string | undefined;
}

export type EndpointLogic = (request: ParsedRequest, deps: CoreDeps) => Promise<HttpResponseInit>;

/** The services an endpoint runs with; a function so configuration is parsed on first request, not on import. */
export type ServicesProvider = () => CoreDeps;

export function endpoint(spec: EndpointSpec, services: ServicesProvider, logic: EndpointLogic): HttpHandler {
  const allow = spec.methods.join(', ');
  return async (request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    const started = performance.now();
    const logger = invocationLogger(context);
    let response: HttpResponseInit;
    let code: string | undefined;
    let corsHeaders: Record<string, string> = {};
    try {
      if (spec.tokenFlowCors) {
        const { config } = services();
        if (isPreflight(request.method, request.headers))
          return preflightResponse(config, spec.methods, request.headers);
        corsHeaders = tokenFlowCorsHeaders(config, request.headers.get('origin') ?? undefined);
      }
      const parsed = await parseRequest(request, spec);
      const deps = { ...services(), logger };
      response = await logic(parsed, deps);
    } catch (error) {
      const authError = toAuthError(error, logger);
      code = authError.code;
      if (authError.status >= 500) {
        logger.warn(`${spec.name} failed`, {
          code,
          detail: authError.logDetail,
          cause: describeCause(authError.cause),
        });
      }
      // What the provider said, whatever our status: the AADSTS number and Entra's correlation/trace ids are what
      // its troubleshooting pages and support ask for. Never its free-text description.
      if (authError.provider) logger.warn(`${spec.name} provider refused`, { code, provider: authError.provider });
      if (spec.signIn) securityEvent(logger, 'signin_failed', { endpoint: spec.name, code, status: authError.status });
      const allowHeader = authError.code === 'method_not_allowed' ? allow : undefined;
      const publicProblems = authError.cause instanceof ConfigError ? authError.cause.publicProblems : [];
      response =
        spec.showPublicConfigProblems && spec.kind === 'json' && publicProblems.length
          ? problemResponse(authError, [], allowHeader, { problems: publicProblems })
          : ERROR_RESPONSES[spec.kind](authError, allowHeader);
    }
    logger.info(`${spec.name} ${response.status ?? 200}`, { code, ms: Math.round(performance.now() - started) });
    return Object.keys(corsHeaders).length ? withHeaders(response, corsHeaders) : response;
  };
}

const ERROR_RESPONSES: Record<EndpointSpec['kind'], (error: AuthError, allow?: string) => HttpResponseInit> = {
  page: (error, allow) => errorPageResponse(error, [], allow),
  json: (error, allow) => problemResponse(error, [], allow),
  oauth: oauthErrorResponse,
};

async function parseRequest(request: HttpRequest, spec: EndpointSpec): Promise<ParsedRequest> {
  if (!spec.methods.includes(request.method)) throw new AuthError('method_not_allowed');
  const url = new URL(request.url);
  if (Buffer.byteLength(url.search) > LIMITS.queryBytes)
    throw new AuthError('request_too_large', { logDetail: 'query' });
  const cookieHeader = request.headers.get('cookie');
  if (cookieHeader && Buffer.byteLength(cookieHeader) > LIMITS.cookieHeaderBytes)
    throw new AuthError('request_too_large', { logDetail: 'cookie header' });

  const bodyLimit = spec.rawBody?.maxBytes ?? LIMITS.bodyBytes;
  const declaredLength = Number(request.headers.get('content-length') ?? 0);
  if (declaredLength > bodyLimit) throw new AuthError('request_too_large', { logDetail: 'body' });
  const contentType = request.headers.get('content-type')?.split(';')[0]?.trim().toLowerCase() || undefined;
  let body = '';
  let bytes: Uint8Array | undefined;
  if (spec.rawBody) {
    bytes = request.body ? new Uint8Array(await request.arrayBuffer()) : undefined;
    if (bytes && bytes.byteLength > bodyLimit) throw new AuthError('request_too_large', { logDetail: 'body' });
  } else {
    body = request.body ? await request.text() : '';
    if (Buffer.byteLength(body) > bodyLimit) throw new AuthError('request_too_large', { logDetail: 'body' });
    if (body.length > 0 && !(spec.bodyTypes ?? []).includes(contentType ?? ''))
      throw new AuthError('unsupported_media_type');
  }

  return {
    method: request.method,
    url,
    query(name) {
      const values = url.searchParams.getAll(name);
      if (values.length > 1) throw new AuthError('invalid_request', { logDetail: `duplicate ${name}` });
      return values[0];
    },
    header: (name) => request.headers.get(name) ?? undefined,
    cookies: parseCookieHeader(cookieHeader),
    body,
    bytes,
    contentType,
  };
}

function withHeaders(response: HttpResponseInit, extra: Record<string, string>): HttpResponseInit {
  const headers = new Headers(response.headers as ConstructorParameters<typeof Headers>[0]);
  for (const [name, value] of Object.entries(extra)) headers.set(name, value);
  return { ...response, headers: Object.fromEntries(headers.entries()) };
}

export function toAuthError(error: unknown, logger: Logger): AuthError {
  if (error instanceof AuthError) return error;
  if (error instanceof ConfigError) {
    // Setting names and what is wrong with them; never their values' secrets (the parser does not echo them).
    logger.error('configuration invalid', { problems: error.problems });
    return new AuthError('configuration_invalid', { cause: error });
  }
  // A URIError from decoding, a TypeError from a malformed header: the request's fault, not ours.
  if (error instanceof URIError) return new AuthError('invalid_request', { cause: error });
  logger.error('unexpected error', { cause: describeCause(error) });
  return new AuthError('internal_error', { cause: error });
}

/** The error's class and code only: SDK messages may quote URLs, and URLs here may hold codes or state. */
function describeCause(cause: unknown): string | undefined {
  if (!(cause instanceof Error)) return cause === undefined ? undefined : typeof cause;
  const code = cause as { code?: unknown; errorCode?: unknown; statusCode?: unknown };
  return [cause.name, code.errorCode ?? code.code, code.statusCode].filter((v) => v !== undefined).join(' ');
}

/** Events carry the request's correlation id: the W3C trace id (App Insights operation_Id), else the invocation id. */
function invocationLogger(context: InvocationContext): Logger {
  const correlationId = context.traceContext?.traceParent?.split('-')[1] ?? context.invocationId;
  const format = (message: string, properties?: Record<string, unknown>) =>
    properties
      ? `${message} ${JSON.stringify(properties.event ? { ...properties, correlationId } : properties)}`
      : message;
  return {
    info: (message, properties) => context.log(format(message, properties)),
    warn: (message, properties) => context.warn(format(message, properties)),
    error: (message, properties) => context.error(format(message, properties)),
  };
}
