/**
 * ApiClient on oauth4webapi's `protectedResourceRequest` (RFC 6750 §2.1 Bearer request; no redirect followed;
 * the answer's `WWW-Authenticate` challenges parsed by the library, RFC 9110 §11.6.1).
 *
 * The whole answer is read here, within one deadline and a size bound, before anything is returned: the Node.js
 * worker buffers HTTP bodies anyway (unless `enableHttpStream` is on), and reading first is what lets a stall or
 * an oversized answer end as a clean 504 / 502 instead of a status already sent and a body cut short.
 */
import { allowInsecureRequests, protectedResourceRequest, WWWAuthenticateChallengeError } from 'oauth4webapi';
import { AuthError } from '../errors';
import type { ApiAnswer, ApiCall, ApiChallenge, ApiClient } from '../ports';

export interface ApiClientOptions {
  timeoutMs: number;
  maxResponseBytes: number;
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  return {
    async send(call: ApiCall): Promise<ApiAnswer> {
      const url = new URL(call.url);
      const signal = AbortSignal.timeout(options.timeoutMs);
      let response: Response;
      let challenges: readonly ApiChallenge[] = [];
      try {
        response = await protectedResourceRequest(
          call.accessToken,
          call.method,
          url,
          new Headers(call.headers),
          call.body ?? null,
          {
            signal,
            // Configuration allows http only for loopback upstreams (local development and tests).
            [allowInsecureRequests]: url.protocol === 'http:',
          },
        );
      } catch (error) {
        if (!(error instanceof WWWAuthenticateChallengeError)) throw transportError(error, 'request');
        response = error.response;
        challenges = error.cause.map((c) => ({
          scheme: c.scheme,
          parameters: { ...c.parameters } as Record<string, string>,
        }));
      }
      const body = await boundedBody(response, options.maxResponseBytes);
      const headers: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        headers[name] = value;
      });
      return { status: response.status, headers, body, challenges };
    },
  };
}

async function boundedBody(response: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new AuthError('api_unavailable', { logDetail: 'API answer larger than the bound (declared)' });
  }
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new AuthError('api_unavailable', { logDetail: 'API answer larger than the bound' });
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof AuthError) throw error;
    throw transportError(error, 'body');
  }
  return Buffer.concat(chunks);
}

/** Past the deadline: 504; any other failure to get an answer: 502. Never the URL (it may carry ids). */
function transportError(cause: unknown, what: string): AuthError {
  // By name, not instanceof: fetch's DOMException may come from another realm (a test VM, a bundled copy).
  const name = typeof cause === 'object' && cause !== null ? (cause as { name?: unknown }).name : undefined;
  const timedOut = name === 'TimeoutError' || name === 'AbortError';
  return new AuthError(timedOut ? 'api_timeout' : 'api_unavailable', {
    cause,
    logDetail: `API ${what} ${timedOut ? 'timed out' : 'failed'}`,
  });
}
