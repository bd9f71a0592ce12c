import { TableClient } from '@azure/data-tables';

/**
 * Session index entries live in AuthSessions beside the sessions, in partitions `u.<hash>` / `s.<hash>`
 * (shared/core/session-index.ts); session rows are in `<shard>-<bucket>` partitions (shards a..p; a bare
 * ten-digit bucket from before the shards), which sort before them.
 */
export const INDEX_PARTITION = /^[us]\./;

/**
 * Every row of a table (Azurite), for asserting what was — and was not — written. For AuthSessions these are the
 * session rows; `{ index: true }` lists the session index entries instead, `{ index: 'also' }` both.
 */
export async function tableRows(
  connectionString: string,
  table: string,
  options: { index?: boolean | 'also' } = {},
): Promise<Record<string, unknown>[]> {
  const client = TableClient.fromConnectionString(connectionString, table, { allowInsecureConnection: true });
  const rows: Record<string, unknown>[] = [];
  const wanted = (row: { partitionKey?: string }) => {
    if (table !== 'AuthSessions' || options.index === 'also') return true;
    return INDEX_PARTITION.test(row.partitionKey ?? '') === (options.index === true);
  };
  try {
    for await (const row of client.listEntities()) if (wanted(row)) rows.push(row);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return [];
    throw error;
  }
  return rows;
}
