/**
 * The in-memory RowStore: what the unit tier and the bench (`bench/login-memory.ts`) use in place of Table Storage.
 * It passes the same contract suite as the Table adapter (`test/_support/contracts/row-store.ts`), so a core test on
 * it says something about production. No imports beyond the port and the error type: the bench bundles this file.
 */
import { AuthError } from '../../../shared/errors';
import type { PartitionRange, PurgeResult, RowStore, StoredRow, StoredRowWithEtag } from '../../../shared/ports';

const ALL_OPERATIONS = ['insert', 'get', 'replace', 'consume', 'delete', 'purgePartitions', 'listPartition'] as const;
export type RowOperation = (typeof ALL_OPERATIONS)[number];

export class MemoryRowStore implements RowStore {
  private readonly rows = new Map<string, StoredRowWithEtag>();
  private etags = 0;
  /** Operations that currently fail as a storage outage does (see `outage`). */
  private readonly failing = new Set<RowOperation>();

  /** From now on the given operations (default: all) fail as the Table adapter fails when storage is down. */
  outage(operations: readonly RowOperation[] = ALL_OPERATIONS): void {
    for (const operation of operations) this.failing.add(operation);
  }

  /** Storage is back. */
  heal(): void {
    this.failing.clear();
  }

  /** A copy of every row, for asserting what was (and was not) written. */
  snapshot(): StoredRowWithEtag[] {
    return [...this.rows.values()].map((row) => ({ ...row }));
  }

  async insert(row: StoredRow): Promise<void> {
    this.enter('insert');
    const key = keyOf(row.partitionKey, row.rowKey);
    // Table Storage answers 409 EntityAlreadyExists; the row in place is left as it was. The same row again is a
    // retried insert whose first attempt landed (the RowStore contract).
    const existing = this.rows.get(key);
    if (existing && JSON.stringify(pick(existing)) === JSON.stringify(pick(row))) return;
    if (existing) throw new Error('row exists');
    this.rows.set(key, { ...pick(row), etag: this.nextEtag() });
  }

  async get(partitionKey: string, rowKey: string): Promise<StoredRowWithEtag | undefined> {
    this.enter('get');
    const row = this.rows.get(keyOf(partitionKey, rowKey));
    return row && { ...row };
  }

  async replace(row: StoredRow, etag: string): Promise<false | string> {
    this.enter('replace');
    const key = keyOf(row.partitionKey, row.rowKey);
    if (this.rows.get(key)?.etag !== etag) return false;
    const next = this.nextEtag();
    this.rows.set(key, { ...pick(row), etag: next });
    return next;
  }

  async consume(partitionKey: string, rowKey: string, etag: string): Promise<boolean> {
    this.enter('consume');
    const key = keyOf(partitionKey, rowKey);
    if (this.rows.get(key)?.etag !== etag) return false;
    return this.rows.delete(key);
  }

  async delete(partitionKey: string, rowKey: string): Promise<void> {
    this.enter('delete');
    this.rows.delete(keyOf(partitionKey, rowKey));
  }

  async purgePartitions(ranges: readonly PartitionRange[], budgetMs?: number): Promise<PurgeResult> {
    this.enter('purgePartitions');
    // Everything here takes no time: only a budget already spent stops the run (as the adapter checks it first).
    if (budgetMs !== undefined && budgetMs <= 0) return { deleted: 0, complete: false };
    let deleted = 0;
    for (const range of ranges) {
      for (const [key, row] of [...this.rows]) {
        if (row.partitionKey < range.from || row.partitionKey >= range.to) continue;
        // The row's links first, as the adapter does; links are not counted.
        for (const link of row.links ?? []) this.rows.delete(keyOf(link.partitionKey, link.rowKey));
        if (this.rows.delete(key)) deleted++;
      }
    }
    return { deleted, complete: true };
  }

  async listPartition(partitionKey: string, fromRowKey: string): Promise<StoredRowWithEtag[]> {
    this.enter('listPartition');
    return [...this.rows.values()]
      .filter((row) => row.partitionKey === partitionKey && row.rowKey >= fromRowKey)
      .sort((a, b) => (a.rowKey < b.rowKey ? -1 : a.rowKey > b.rowKey ? 1 : 0))
      .map((row) => ({ ...row }));
  }

  private enter(operation: RowOperation): void {
    if (this.failing.has(operation)) {
      throw new AuthError('storage_unavailable', {
        retryAfterSeconds: 5,
        logDetail: `memory store outage (${operation})`,
      });
    }
  }

  private nextEtag(): string {
    // Shaped like a Table Storage etag; only equality matters.
    return `W/"datetime'${++this.etags}'"`;
  }
}

function keyOf(partitionKey: string, rowKey: string): string {
  return `${partitionKey}\u0000${rowKey}`;
}

/** Only the row's own fields (a caller's extra properties are not stored); `links` always a list, as the adapter reads it. */
function pick(row: StoredRow): StoredRow {
  return {
    partitionKey: row.partitionKey,
    rowKey: row.rowKey,
    expiresAt: row.expiresAt,
    data: row.data,
    links: (row.links ?? []).map((l) => ({ ...l })),
  };
}
