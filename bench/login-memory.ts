/**
 * Bench module (bundled by bench/run.ts like the app): the real /auth/login handler with storage taken out, so
 * the CPU figure is the function's own cost (flow, PKCE, sealing, cookies, the Functions programming model).
 * Registered as `loginmem` on `bench/login-memory`; the real functions are not loaded in this process.
 */
import { app } from '@azure/functions';
import { createLoginHandler } from '../functions/login';
import { getConfig } from '../shared/config';
import { createServices } from '../shared/services';
import type { RowStore, StoredRow, StoredRowWithEtag } from '../shared/ports';

export class MemoryRowStore implements RowStore {
  private readonly rows = new Map<string, StoredRowWithEtag>();
  private etags = 0;
  private key(pk: string, rk: string): string {
    return `${pk}\u0000${rk}`;
  }
  async insert(row: StoredRow): Promise<void> {
    const k = this.key(row.partitionKey, row.rowKey);
    if (this.rows.has(k)) throw new Error('exists');
    this.rows.set(k, { ...row, etag: String(++this.etags) } as StoredRowWithEtag);
  }
  async get(pk: string, rk: string): Promise<StoredRowWithEtag | undefined> {
    return this.rows.get(this.key(pk, rk));
  }
  async replace(row: StoredRow, etag: string): Promise<false | string> {
    const k = this.key(row.partitionKey, row.rowKey);
    if (this.rows.get(k)?.etag !== etag) return false;
    const next = String(++this.etags);
    this.rows.set(k, { ...row, etag: next } as StoredRowWithEtag);
    return next;
  }
  async consume(pk: string, rk: string, etag: string): Promise<boolean> {
    const k = this.key(pk, rk);
    if (this.rows.get(k)?.etag !== etag) return false;
    return this.rows.delete(k);
  }
  async delete(pk: string, rk: string): Promise<void> {
    this.rows.delete(this.key(pk, rk));
  }
  async purgePartitionsBefore(pk: string): Promise<{ deleted: number; complete: boolean }> {
    let n = 0;
    for (const [k, row] of this.rows) if (row.partitionKey < pk && this.rows.delete(k)) n++;
    return { deleted: n, complete: true };
  }
  async listPartition(pk: string, fromRowKey: string): Promise<StoredRowWithEtag[]> {
    return [...this.rows.values()].filter((row) => row.partitionKey === pk && row.rowKey >= fromRowKey);
  }
}

const deps = createServices(getConfig(), { states: new MemoryRowStore(), sessions: new MemoryRowStore() });
app.http('loginmem', { methods: ['GET'], route: 'bench/login-memory', authLevel: 'anonymous', handler: createLoginHandler(() => deps) });

/** The floor of the same host and programming model: a function that only answers a 302. */
app.http('noop302', {
  methods: ['GET'],
  route: 'bench/noop-302',
  authLevel: 'anonymous',
  handler: async () => ({ status: 302, headers: { location: 'https://login.example/authorize', 'cache-control': 'no-store' } }),
});
