/**
 * A TLS listener on loopback with a certificate from the dev CA: what stands for Azure Front Door (or the site's
 * own HTTPS server) locally. Used by `npm start -- --https` and the topology tests, which reach it under real
 * host names mapped to 127.0.0.1.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { Socket } from 'node:net';
import type { ServerCertificate } from './ca';

export interface HttpsFront {
  port: number;
  /** `https://<hostName>:<port>` */
  url: string;
  stop(): Promise<void>;
}

export async function startHttpsFront(options: {
  certificate: ServerCertificate;
  hostName: string;
  /** 0: a free port. */
  port?: number;
  listener: (req: IncomingMessage, res: ServerResponse) => void;
}): Promise<HttpsFront> {
  const server = createServer({ cert: options.certificate.certPem, key: options.certificate.keyPem }, options.listener);
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await new Promise<number>((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen({ port: options.port ?? 0, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      resolvePromise(typeof address === 'object' && address ? address.port : 0);
    });
  });
  return {
    port,
    url: `https://${options.hostName}:${port}`,
    stop: () =>
      new Promise<void>((resolvePromise) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolvePromise());
      }),
  };
}

/**
 * Base64 SHA-256 of a certificate's SubjectPublicKeyInfo: the form Chromium's `--ignore-certificate-errors-spki-list`
 * takes, to trust exactly this dev-CA leaf without touching the machine's trust store.
 */
export function spkiSha256(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}
