// Baselines for the bench: a bare node:http server, no framework.
//   BARE_MODE=plain   answers every request with a 302 (and one Set-Cookie), nothing else;
//   BARE_MODE=insert  inserts one row into Azure Table Storage (@azure/data-tables, BARE_CONNECTION_STRING), then 302.
//   BARE_MODE=api     an upstream API: answers every request 200 with the same small JSON body (the proxy's upstream).
// Speaks the bench protocol: prints `@@READY {"url":...}`; stdin "usage" → `@@USAGE {cpu, heap}`, "stop" → exit.
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { speakBenchProtocol } from './child-protocol.mjs';

const mode = process.env.BARE_MODE ?? 'plain';
let insert = async () => {};
if (mode === 'insert') {
  const { TableClient } = createRequire(import.meta.url)('@azure/data-tables');
  const client = TableClient.fromConnectionString(process.env.BARE_CONNECTION_STRING, 'BenchBare', {
    allowInsecureConnection: true,
  });
  await client.createTable();
  const partitionKey = new Date().toISOString().slice(0, 13);
  // About the size of a sign-in state row: a random key and a sealed blob.
  insert = () =>
    client.createEntity({
      partitionKey,
      rowKey: randomBytes(16).toString('hex'),
      data: randomBytes(300).toString('base64url'),
      expiresAt: Date.now() + 600000,
    });
}

const location = 'https://login.example/authorize?client_id=x&state=' + 'a'.repeat(43);
const apiBody = JSON.stringify({
  items: Array.from({ length: 8 }, (_, i) => ({ id: i, name: `item ${i}`, price: 10 + i })),
});
const server = createServer((req, res) => {
  if (mode === 'api') {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(apiBody),
        'cache-control': 'no-store',
      });
      res.end(apiBody);
    });
    return;
  }
  insert().then(
    () => {
      res.writeHead(302, {
        location,
        'set-cookie': `__Host-bench=${randomBytes(32).toString('base64url')}; Path=/; Secure; HttpOnly; SameSite=Lax`,
        'cache-control': 'no-store',
      });
      res.end();
    },
    (error) => {
      res.writeHead(503);
      res.end(String(error?.message ?? error));
    },
  );
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () =>
  speakBenchProtocol(
    { url: `http://127.0.0.1:${server.address().port}` },
    { stop: () => new Promise((resolve) => (server.close(resolve), server.closeAllConnections())) },
  ),
);
