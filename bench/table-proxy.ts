/**
 * A counting HTTP proxy in front of Azurite: every request is one Table transaction (an entity group transaction,
 * `$batch`, is one request and one transaction). Besides the total and the count by `<method> <table>`, it counts
 * the operations of each partition, per second, so the scale-out step can say how hot the busiest partition runs.
 *
 * Where the partition key is:
 * - point reads, deletes, merges and replaces: in the URL, `/<account>/<Table>(PartitionKey='…',RowKey='…')`;
 * - an insert (`POST /<account>/<Table>`): in the JSON body, `"PartitionKey":"…"`;
 * - a query: in `$filter` when it names one partition (`PartitionKey eq '…'`), else it is a range query, counted as
 *   `(range query)`;
 * - a `$batch`: every operation of one transaction is in one partition, so the first `PartitionKey='…'` in the body.
 * @see https://learn.microsoft.com/rest/api/storageservices/query-entities
 * @see https://learn.microsoft.com/rest/api/storageservices/performing-entity-group-transactions
 */
import { createServer, request as httpRequest, Agent, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AzuriteInstance } from '../dev/azurite';

export interface TableProxy {
  server: Server;
  port: number;
  /** Requests (transactions) so far. */
  count: () => number;
  /** Requests by `<method> <table>`. */
  byKind: Map<string, number>;
  /** Operations by table, then partition key, then whole second since the proxy started. */
  byPartition: Map<string, Map<string, Map<number, number>>>;
  /** Forgets the per-partition counts (the total and byKind keep counting). */
  resetPartitions(): void;
}

export const RANGE_QUERY = '(range query)';
export const UNKNOWN_PARTITION = '(unknown)';

/** Table and partition key of one Table REST request, from its URL and (for inserts and batches) its body. */
export function partitionOf(method: string, url: string, body: string): { table: string; partition: string } {
  const [path = '', query = ''] = url.split('?');
  const decodedPath = safeDecode(path);
  const segment = decodedPath.split('/')[2] ?? '';
  const table = segment.replace(/\(.*$/, '');
  if (table === '$batch') {
    const text = body.includes('%27') ? safeDecode(body) : body;
    const inBody = /PartitionKey='((?:[^']|'')*)'/.exec(text) ?? /"PartitionKey"\s*:\s*"([^"]*)"/.exec(text);
    const tableInBody = /^(?:POST|PUT|MERGE|PATCH|DELETE|GET) \S*\/([A-Za-z][A-Za-z0-9]{2,62})(?:\(|\s)/m.exec(text);
    return { table: tableInBody?.[1] ?? '$batch', partition: inBody ? unquote(inBody[1]!) : UNKNOWN_PARTITION };
  }
  const inPath = /PartitionKey='((?:[^']|'')*)'/.exec(decodedPath);
  if (inPath) return { table, partition: unquote(inPath[1]!) };
  if (method === 'POST') {
    const inBody = /"PartitionKey"\s*:\s*"([^"]*)"/.exec(body);
    return { table, partition: inBody ? inBody[1]! : UNKNOWN_PARTITION };
  }
  const filter = new URLSearchParams(query).get('$filter') ?? '';
  const eq = /PartitionKey eq '((?:[^']|'')*)'/.exec(filter);
  if (eq) return { table, partition: unquote(eq[1]!) };
  return { table, partition: filter ? RANGE_QUERY : UNKNOWN_PARTITION };
}

function unquote(value: string): string {
  return value.replace(/''/g, "'");
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

export async function startTableProxy(azurite: AzuriteInstance): Promise<TableProxy> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let count = 0;
  let started = performance.now();
  const byKind = new Map<string, number>();
  const byPartition = new Map<string, Map<string, Map<number, number>>>();
  const server = createServer((req, res) => {
    count++;
    const table = (req.url ?? '').split('?')[0]!.split('/')[2]?.replace(/\(.*$/, '') ?? '';
    const kind = `${req.method} ${table}`;
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    const second = Math.floor((performance.now() - started) / 1000);
    // The body is read whole before it is forwarded: inserts and batches carry their partition key in it.
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const where = partitionOf(req.method ?? 'GET', req.url ?? '', body.toString('utf8'));
      if (where.table && where.table !== 'Tables') {
        let partitions = byPartition.get(where.table);
        if (!partitions) byPartition.set(where.table, (partitions = new Map()));
        let seconds = partitions.get(where.partition);
        if (!seconds) partitions.set(where.partition, (seconds = new Map()));
        seconds.set(second, (seconds.get(second) ?? 0) + 1);
      }
      const upstream = httpRequest(
        { host: '127.0.0.1', port: azurite.port, method: req.method, path: req.url, headers: req.headers, agent },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => (res.headersSent ? res.destroy() : (res.writeHead(502), res.end())));
      upstream.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    count: () => count,
    byKind,
    byPartition,
    resetPartitions() {
      byPartition.clear();
      started = performance.now();
    },
  };
}
