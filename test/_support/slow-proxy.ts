/**
 * A TCP proxy on 127.0.0.1 (a free port) in front of another loopback service, for storage faults a stopped
 * process cannot show: a store that is slow, that accepts connections and never answers, that resets them, that
 * answers every request with an HTTP error, or that applies a write and loses the answer (to silence, or to a reset
 * that the client's retry policy answers by sending the write again).
 *
 * The mode is read for every chunk, not once per connection, so a keep-alive connection opened while forwarding
 * turns into a black hole as soon as the mode says so. Nothing here parses HTTP except `status`, which answers
 * the first chunk of each connection with a canned response and closes it.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export type ProxyMode =
  /** Pass bytes through untouched. */
  | { kind: 'forward' }
  /** Pass bytes through, each chunk held back this long (in both directions). */
  | { kind: 'delay'; ms: number }
  /** Accept and read everything, forward nothing, answer nothing: only the client's own deadline ends it. */
  | { kind: 'blackhole' }
  /** Close every connection as soon as it sends something (a reset, as from a crashed server or a load balancer). */
  | { kind: 'reset' }
  /** Forward requests, drop the answers: the write happens, the client never hears of it. */
  | { kind: 'drop-responses' }
  /**
   * Forward requests; the next `times` answers are lost to a connection reset (the write happens, the client sees
   * ECONNRESET), then answers pass again.
   */
  | { kind: 'reset-answers'; times: number }
  /** Answer every request with this HTTP status and an Azure Storage-shaped error body, then close. */
  | { kind: 'status'; status: number; code?: string };

export interface SlowProxy {
  readonly port: number;
  /** `host:port` of the proxy, to swap into a URL or connection string. */
  readonly hostPort: string;
  mode: ProxyMode;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Bytes passed on to the target so far: 0 since a moment means "nothing reached the store". */
  readonly forwardedBytes: number;
  /** Answers lost to a reset in `reset-answers` mode so far. */
  readonly resetAnswers: number;
  stop(): Promise<void>;
}

export async function startSlowProxy(targetPort: number, mode: ProxyMode = { kind: 'forward' }): Promise<SlowProxy> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let forwardedBytes = 0;
  let resetAnswers = 0;
  const state = { mode, resetsLeft: mode.kind === 'reset-answers' ? mode.times : 0 };

  const server: Server = createServer((client) => {
    accepted++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    let upstream: Socket | undefined;
    // Chunks keep their order even when delayed: each waits for the one before it.
    let toTarget = Promise.resolve();
    let toClient = Promise.resolve();
    const hold = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

    const target = (): Socket => {
      if (upstream) return upstream;
      const socket = connect({ host: '127.0.0.1', port: targetPort });
      upstream = socket;
      sockets.add(socket);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
      });
      socket.on('error', () => socket.destroy());
      socket.on('data', (chunk: Buffer) => {
        const current = state.mode;
        if (current.kind === 'forward') client.write(chunk);
        else if (current.kind === 'reset-answers') {
          if (state.resetsLeft > 0) {
            state.resetsLeft--;
            resetAnswers++;
            client.resetAndDestroy();
            socket.destroy();
          } else if (!client.destroyed) client.write(chunk);
        } else if (current.kind === 'delay') {
          toClient = toClient.then(() => hold(current.ms)).then(() => void (client.destroyed || client.write(chunk)));
        }
        // Every other mode: the answer is lost.
      });
      return socket;
    };

    client.on('data', (chunk: Buffer) => {
      const current = state.mode;
      switch (current.kind) {
        case 'forward':
        case 'drop-responses':
        case 'reset-answers':
          forwardedBytes += chunk.length;
          target().write(chunk);
          return;
        case 'delay':
          toTarget = toTarget
            .then(() => hold(current.ms))
            .then(() => {
              if (client.destroyed) return;
              forwardedBytes += chunk.length;
              target().write(chunk);
            });
          return;
        case 'blackhole':
          return;
        case 'reset':
          client.resetAndDestroy();
          upstream?.destroy();
          return;
        case 'status': {
          const body = JSON.stringify({
            'odata.error': {
              code: current.code ?? 'InternalError',
              message: { lang: 'en-US', value: `Injected ${current.status} from the slow proxy.` },
            },
          });
          client.end(
            `HTTP/1.1 ${current.status} Injected\r\nContent-Type: application/json;odata=minimalmetadata;charset=utf-8\r\n` +
              `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
          );
          upstream?.destroy();
          return;
        }
      }
    });
    client.on('close', () => upstream?.destroy());
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });

  return {
    port,
    hostPort: `127.0.0.1:${port}`,
    get mode() {
      return state.mode;
    },
    set mode(next: ProxyMode) {
      state.mode = next;
      state.resetsLeft = next.kind === 'reset-answers' ? next.times : 0;
    },
    get accepted() {
      return accepted;
    },
    get forwardedBytes() {
      return forwardedBytes;
    },
    get resetAnswers() {
      return resetAnswers;
    },
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
