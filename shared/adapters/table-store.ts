/**
 * RowStore on Azure Table Storage (`@azure/data-tables`): Azurite locally, a storage account in Azure.
 *
 * - Single use is a conditional delete with the row's etag; 404 and 412 both mean "someone else got it"
 *   (Azurite answers the losing concurrent delete with 404, Azure with 412).
 * - Every call is bounded in time and retried briefly, so a storage outage answers 503 in seconds, not minutes.
 * - Tables are created on first "table not found", not on every cold start: one fewer transaction per sign-in.
 * - An insert the SDK sent again after losing its answer (a reset, a 5xx) may find its own first attempt: 409.
 *   The row in place being this one, field for field, the insert succeeded (every row we insert is new: random
 *   keys and sealed data with a random IV, so no other writer's row can be equal).
 * - Sealed data is split over several string properties: Table Storage caps one property at 64 KiB.
 */
import { odata, RestError, TableClient, type TableEntityResult, type TransactionAction } from '@azure/data-tables';
import type { StorageConfig } from '../config';
import { AuthError } from '../errors';
import type { PartitionRange, RowKeyPair, RowStore, StoredRow, StoredRowWithEtag } from '../ports';

/** Characters per property: 32K UTF-16 code units is the Table Storage limit; stay below it. */
const CHUNK = 30_000;
/** At most this many chunks (~900 KB, under the 1 MiB entity limit). */
const MAX_CHUNKS = 30;
const CALL_TIMEOUT_MS = 5_000;
/**
 * How long one purge run may go on: under the timer's 5-minute period (runs never pile up) and far under the
 * Functions timeout. At the measured throughput this is millions of rows (BENCHMARKS.md, purge capacity).
 */
export const PURGE_BUDGET_MS = 4 * 60_000;
/** Rows per listing page: the Table service's maximum. */
const PURGE_PAGE_SIZE = 1_000;
/** An entity group transaction holds at most 100 operations, all in one partition. */
const TRANSACTION_MAX_OPERATIONS = 100;
/** Deadline of one purge call (a page, a transaction): no user waits on it, and a big backlog makes pages slow. */
const PURGE_CALL_TIMEOUT_MS = 30_000;
/** Transactions in flight at once during a purge. */
const PURGE_PARALLEL_BATCHES = 4;

type Entity = { partitionKey: string; rowKey: string; expiresAt: number; chunks: number; links?: string } & Record<
  string,
  unknown
>;

/** At most this many rows a single-partition listing returns (a user's sessions); more is refused, not truncated. */
const MAX_LISTED_ROWS = 1_000;

export interface TableStoreOptions {
  /** Token credential for `AUTH_STORAGE_ACCOUNT_URL` (managed identity); loaded lazily by the caller. */
  credential?: import('@azure/core-auth').TokenCredential;
  timeoutMs?: number;
}

export function createTableClient(
  storage: StorageConfig,
  tableName: string,
  options: TableStoreOptions = {},
): TableClient {
  const clientOptions = {
    retryOptions: { maxRetries: 2, retryDelayInMs: 100, maxRetryDelayInMs: 1_000 },
  };
  if ('connectionString' in storage) {
    const local = /UseDevelopmentStorage=true|127\.0\.0\.1|localhost/i.test(storage.connectionString);
    return TableClient.fromConnectionString(storage.connectionString, tableName, {
      ...clientOptions,
      allowInsecureConnection: local,
    });
  }
  if (!options.credential) throw new Error('AUTH_STORAGE_ACCOUNT_URL needs a token credential');
  return new TableClient(storage.accountUrl, tableName, options.credential, clientOptions);
}

export function createTableRowStore(client: TableClient, options: TableStoreOptions = {}): RowStore {
  const timeoutMs = options.timeoutMs ?? CALL_TIMEOUT_MS;
  let tableReady: Promise<void> | undefined;

  /** Runs one storage call; creates the table once if it does not exist yet, then retries the call. */
  async function call<T>(operation: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await operation(AbortSignal.timeout(timeoutMs));
    } catch (error) {
      if (!isTableNotFound(error)) throw error;
      // Concurrent callers share one creation; once settled, a table lost later (a wiped account) is created again.
      tableReady ??= client.createTable({ abortSignal: AbortSignal.timeout(timeoutMs) }).finally(() => {
        tableReady = undefined;
      });
      await tableReady;
      return operation(AbortSignal.timeout(timeoutMs));
    }
  }

  /** Whether the row in place at `row`'s keys is `row` itself (a retried insert whose first attempt landed). */
  async function holds(row: StoredRow): Promise<boolean> {
    const entity = await call((abortSignal) => client.getEntity<Entity>(row.partitionKey, row.rowKey, { abortSignal }));
    const stored = fromEntity(entity);
    return (
      stored.data === row.data &&
      stored.expiresAt === row.expiresAt &&
      formatLinks(stored.links) === formatLinks(row.links)
    );
  }

  return {
    async insert(row) {
      const entity = toEntity(row);
      await guard(async () => {
        try {
          await call((abortSignal) => client.createEntity(entity, { abortSignal }));
        } catch (error) {
          if (statusOf(error) !== 409 || !(await holds(row))) throw error;
        }
      });
    },

    async get(partitionKey, rowKey) {
      return guard(async () => {
        try {
          const entity = await call((abortSignal) => client.getEntity<Entity>(partitionKey, rowKey, { abortSignal }));
          return fromEntity(entity);
        } catch (error) {
          if (statusOf(error) === 404) return undefined;
          throw error;
        }
      });
    },

    async replace(row, etag) {
      return guard(async () => {
        try {
          const result = await call((abortSignal) =>
            client.updateEntity(toEntity(row), 'Replace', { etag, abortSignal }),
          );
          return result.etag ?? '';
        } catch (error) {
          const status = statusOf(error);
          if (status === 412 || status === 404) return false;
          throw error;
        }
      });
    },

    async consume(partitionKey, rowKey, etag) {
      return guard(async () => {
        try {
          await call((abortSignal) => client.deleteEntity(partitionKey, rowKey, { etag, abortSignal }));
          return true;
        } catch (error) {
          const status = statusOf(error);
          if (status === 412 || status === 404) return false;
          throw error;
        }
      });
    },

    async delete(partitionKey, rowKey) {
      await guard(async () => {
        try {
          await call((abortSignal) => client.deleteEntity(partitionKey, rowKey, { abortSignal }));
        } catch (error) {
          if (statusOf(error) !== 404) throw error;
        }
      });
    },

    async purgePartitions(ranges, budgetMs = PURGE_BUDGET_MS) {
      const deadline = Date.now() + budgetMs;
      const purgeCallTimeoutMs = Math.max(timeoutMs, PURGE_CALL_TIMEOUT_MS);
      let deleted = 0;
      return guard(async () => {
        try {
          for (const range of ranges) {
            // A key-range query on PartitionKey: reads only the expired partitions, never the live ones.
            const queryOptions = { filter: rangeFilter(range), select: ['PartitionKey', 'RowKey', 'links'] };
            let continuationToken: string | undefined;
            do {
              if (Date.now() >= deadline) return { deleted, complete: false };
              // One page at a time, each with its own deadline: a long backlog is many short calls, not one long one.
              const page = await call(async () => {
                const abortSignal = AbortSignal.timeout(purgeCallTimeoutMs);
                const pages = client
                  .listEntities<Entity>({ queryOptions, abortSignal })
                  .byPage({ maxPageSize: PURGE_PAGE_SIZE, continuationToken });
                return (await pages.next()).value as (Entity[] & { continuationToken?: string }) | undefined;
              });
              if (!page) break;
              // Each row's links (its index entries) first: if this run stops between the two, the next finds the row again.
              const links = page.flatMap((row) => parseLinks(row.links));
              if (links.length > 0) await deleteInBatches(links, purgeCallTimeoutMs);
              deleted += await deleteInBatches(page, purgeCallTimeoutMs);
              continuationToken = page.continuationToken;
            } while (continuationToken);
          }
        } catch (error) {
          if (!isTableNotFound(error)) throw error;
        }
        return { deleted, complete: true };
      });
    },

    async listPartition(partitionKey, fromRowKey) {
      return guard(async () => {
        const listed: StoredRowWithEtag[] = [];
        try {
          const rows = client.listEntities<Entity>({
            queryOptions: { filter: odata`PartitionKey eq ${partitionKey} and RowKey ge ${fromRowKey}` },
            abortSignal: AbortSignal.timeout(timeoutMs * 2),
          });
          for await (const row of rows) {
            if (listed.length === MAX_LISTED_ROWS)
              throw new AuthError('request_too_large', { logDetail: `partition lists over ${MAX_LISTED_ROWS} rows` });
            listed.push(fromEntity(row));
          }
        } catch (error) {
          if (!isTableNotFound(error)) throw error;
        }
        return listed;
      });
    },
  };

  /**
   * Entity group transactions: up to 100 deletes of one partition per request (a few requests in parallel), so the
   * purge's cost per row is a hundredth of a round trip.
   * @see https://learn.microsoft.com/rest/api/storageservices/performing-entity-group-transactions
   */
  async function deleteInBatches(rows: readonly RowKeyPair[], timeoutMs: number): Promise<number> {
    const batches: RowKeyPair[][] = [];
    const byPartition = new Map<string, RowKeyPair[]>();
    for (const row of rows) {
      const partition = byPartition.get(row.partitionKey);
      if (partition) partition.push(row);
      else byPartition.set(row.partitionKey, [row]);
    }
    for (const partition of byPartition.values()) {
      for (let i = 0; i < partition.length; i += TRANSACTION_MAX_OPERATIONS)
        batches.push(partition.slice(i, i + TRANSACTION_MAX_OPERATIONS));
    }
    let deleted = 0;
    for (let i = 0; i < batches.length; i += PURGE_PARALLEL_BATCHES) {
      const counts = await Promise.all(
        batches.slice(i, i + PURGE_PARALLEL_BATCHES).map((batch) => deleteBatch(batch, timeoutMs)),
      );
      deleted += counts.reduce((a, b) => a + b, 0);
    }
    return deleted;
  }

  async function deleteBatch(batch: readonly RowKeyPair[], timeoutMs: number): Promise<number> {
    try {
      const actions: TransactionAction[] = batch.map((row) => [
        'delete',
        { partitionKey: row.partitionKey, rowKey: row.rowKey },
      ]);
      await client.submitTransaction(actions, { abortSignal: AbortSignal.timeout(timeoutMs) });
      return batch.length;
    } catch (error) {
      // A transaction is all or nothing: one row gone meanwhile (consumed, or deleted on use) fails the batch.
      if (statusOf(error) !== 404) throw error;
    }
    let deleted = 0;
    for (const row of batch) {
      try {
        await client.deleteEntity(row.partitionKey, row.rowKey, { abortSignal: AbortSignal.timeout(timeoutMs) });
        deleted++;
      } catch (error) {
        if (statusOf(error) !== 404) throw error;
      }
    }
    return deleted;
  }
}

/** The OData filter of one partition key range (quotes doubled, as OData string literals escape them). */
function rangeFilter(range: PartitionRange): string {
  const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;
  const below = `PartitionKey lt ${literal(range.to)}`;
  return range.from === '' ? below : `PartitionKey ge ${literal(range.from)} and ${below}`;
}

/** `links` is stored as `<partition> <row>` pairs separated by `;` (keys here never hold either character). */
function formatLinks(links: StoredRow['links']): string | undefined {
  return links && links.length > 0 ? links.map((l) => `${l.partitionKey} ${l.rowKey}`).join(';') : undefined;
}

function parseLinks(value: unknown): RowKeyPair[] {
  if (typeof value !== 'string' || value === '') return [];
  return value.split(';').flatMap((pair) => {
    const [partitionKey, rowKey, extra] = pair.split(' ');
    return partitionKey && rowKey && extra === undefined ? [{ partitionKey, rowKey }] : [];
  });
}

function toEntity(row: StoredRow): Entity {
  const chunkCount = Math.max(1, Math.ceil(row.data.length / CHUNK));
  if (chunkCount > MAX_CHUNKS)
    throw new AuthError('request_too_large', { logDetail: `row data ${row.data.length} chars` });
  const entity: Entity = {
    partitionKey: row.partitionKey,
    rowKey: row.rowKey,
    expiresAt: row.expiresAt,
    chunks: chunkCount,
  };
  const links = formatLinks(row.links);
  if (links !== undefined) entity.links = links;
  for (let i = 0; i < chunkCount; i++) entity[`d${i}`] = row.data.slice(i * CHUNK, (i + 1) * CHUNK);
  return entity;
}

function fromEntity(entity: TableEntityResult<Entity>): StoredRowWithEtag {
  let data = '';
  for (let i = 0; i < Number(entity.chunks); i++) data += String(entity[`d${i}`] ?? '');
  return {
    partitionKey: entity.partitionKey,
    rowKey: entity.rowKey,
    expiresAt: Number(entity.expiresAt),
    data,
    links: parseLinks(entity.links),
    etag: entity.etag,
  };
}

function statusOf(error: unknown): number | undefined {
  return error instanceof RestError ? error.statusCode : undefined;
}

function isTableNotFound(error: unknown): boolean {
  return (
    error instanceof RestError && error.statusCode === 404 && /TableNotFound/i.test(String(error.code ?? error.message))
  );
}

/** Maps anything that is not an answer from storage (refused, timed out, 5xx) to a 503 the caller can retry. */
async function guard<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof AuthError) throw error;
    const status = statusOf(error);
    throw new AuthError('storage_unavailable', {
      cause: error,
      retryAfterSeconds: 5,
      logDetail: `table storage ${status ?? (error instanceof Error ? error.name : 'error')}`,
    });
  }
}
