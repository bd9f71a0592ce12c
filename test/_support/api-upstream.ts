/**
 * A loopback upstream API for the proxy tests (/auth/api/…). It records every request it receives (method, path
 * and query as sent on the wire, headers, body) and checks the Bearer token as a resource server would, with the
 * Entra stand-in's `verifyAccessToken` when one is given. Its paths choose the answer:
 *
 *   /echo…            200 JSON { method, path, headers, body } (anything not listed below)
 *   /large?bytes=N    200 with N bytes (Content-Length announced)
 *   /chunked?bytes=N  200 with N bytes, chunked (no Content-Length)
 *   /slow?ms=N        headers after N ms
 *   /stall            headers at once, then the body never ends
 *   /fail             the connection is destroyed before any answer
 *   /status/NNN       that status, a small JSON body, Retry-After on 429/503
 *   /challenge        401 with an Entra-style claims challenge (WWW-Authenticate insufficient_claims)
 *   /bad-challenge    401 with a claims parameter that is not base64 JSON
 *   /unauthorized     401 with a plain Bearer invalid_token challenge
 *   /headers          200 with headers that must not pass back (Set-Cookie, CORS, Server, …) beside allowed ones
 *   /redirect?to=URL  302 to URL (relative or absolute)
 *   /html             200 text/html with a script
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ReceivedRequest {
  method: string;
  /** Path and query exactly as on the request line. */
  target: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Claims of the access token, when a verifier was given and the token passed it. */
  tokenClaims?: Record<string, unknown>;
  tokenError?: string;
}

export interface ApiUpstream {
  /** e.g. http://127.0.0.1:PORT (no trailing slash). */
  origin: string;
  received: ReceivedRequest[];
  /** The claims request the /challenge answer asks for (JSON). */
  challengeClaims: string;
  stop(): Promise<void>;
}

export const CHALLENGE_CLAIMS = JSON.stringify({ access_token: { acrs: { essential: true, value: 'c1' } } });

export async function startApiUpstream(
  options: { verify?: (token: string) => Promise<Record<string, unknown>> } = {},
): Promise<ApiUpstream> {
  const received: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers))
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    const record: ReceivedRequest = {
      method: req.method ?? '',
      target: req.url ?? '',
      headers,
      body: Buffer.concat(chunks),
    };
    const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1];
    if (bearer && options.verify) {
      try {
        record.tokenClaims = await options.verify(bearer);
      } catch (error) {
        record.tokenError = (error as Error).message;
      }
    }
    received.push(record);

    const url = new URL(req.url ?? '/', 'http://upstream.invalid');
    const path = url.pathname.replace(/^\/base/, '');
    const json = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(text)),
        ...extra,
      });
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    if (path === '/large' || path === '/chunked') {
      const bytes = Number(url.searchParams.get('bytes') ?? 0);
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        ...(path === '/large' ? { 'content-length': String(bytes) } : {}),
      });
      const block = Buffer.alloc(64 * 1024, 0x61);
      let left = bytes;
      while (left > 0) {
        const part = block.subarray(0, Math.min(left, block.length));
        left -= part.length;
        if (!res.write(part)) await new Promise<void>((resolve) => res.once('drain', () => resolve()));
      }
      res.end();
      return;
    }
    if (path === '/slow') {
      await new Promise((resolve) => setTimeout(resolve, Number(url.searchParams.get('ms') ?? 1000)));
      return json(200, { slow: true });
    }
    if (path === '/stall') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial":');
      return; // never ends; stop() destroys the socket
    }
    if (path === '/fail') {
      req.socket.destroy();
      return;
    }
    const status = /^\/status\/(\d{3})$/.exec(path)?.[1];
    if (status)
      return json(
        Number(status),
        { upstream: Number(status) },
        Number(status) === 429 || Number(status) === 503 ? { 'retry-after': '7' } : {},
      );
    if (path === '/challenge') {
      const claims = Buffer.from(CHALLENGE_CLAIMS).toString('base64');
      return json(
        401,
        { error: 'insufficient_claims' },
        {
          'www-authenticate': `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="${claims}"`,
        },
      );
    }
    if (path === '/bad-challenge')
      return json(
        401,
        { error: 'insufficient_claims' },
        { 'www-authenticate': 'Bearer error="insufficient_claims", claims="not base64 json!"' },
      );
    if (path === '/unauthorized')
      return json(401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
    if (path === '/headers') {
      return json(
        200,
        { headers: true },
        {
          'set-cookie': 'upstream=1; Path=/',
          'access-control-allow-origin': '*',
          'access-control-allow-credentials': 'true',
          server: 'upstream/1.0',
          'x-powered-by': 'upstream',
          'strict-transport-security': 'max-age=1',
          'content-security-policy': 'default-src *',
          'cache-control': 'public, max-age=3600',
          etag: '"v1"',
          'x-request-id': 'req-123',
          'www-authenticate': 'Bearer realm="x"',
        },
      );
    }
    if (path === '/redirect') {
      res.writeHead(302, { location: url.searchParams.get('to') ?? '/', 'content-length': '0' });
      res.end();
      return;
    }
    if (path === '/html') {
      const page = '<!doctype html><script>parent.postMessage(document.cookie, "*")</script>';
      res.writeHead(200, { 'content-type': 'text/html', 'content-length': String(Buffer.byteLength(page)) });
      res.end(page);
      return;
    }
    return json(200, {
      method: record.method,
      target: record.target,
      headers: record.headers,
      body: record.body.toString('utf8'),
    });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    origin: `http://127.0.0.1:${port}`,
    received,
    challengeClaims: CHALLENGE_CLAIMS,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
