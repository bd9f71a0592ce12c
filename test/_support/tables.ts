import { TableClient } from '@azure/data-tables';

/** Every row of a table (Azurite), for asserting what was — and was not — written. */
export async function tableRows(connectionString: string, table: string): Promise<Record<string, unknown>[]> {
  const client = TableClient.fromConnectionString(connectionString, table, { allowInsecureConnection: true });
  const rows: Record<string, unknown>[] = [];
  try {
    for await (const row of client.listEntities()) rows.push(row);
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return [];
    throw error;
  }
  return rows;
}
