/**
 * The CPU-per-login figure's functions, all on one host in one process (bundled by the bench like the app):
 * - `/auth/login`: the real login function on Table Storage (Azurite), as deployed;
 * - `bench/login-memory`: the same handler with storage taken out (an in-memory store): the login's own work;
 * - `bench/callback-memory`: the real callback handler on that in-memory store (step (q): the callback's own work);
 * - `bench/hello`: the hello-world function (bench/hello-world.ts): the host and programming-model floor;
 * - `bench/insert`: one `@azure/data-tables` insert of a pending sign-in's size, then a 302: the storage floor.
 */
import { app } from '@azure/functions';
import { TableClient } from '@azure/data-tables';
import { randomBytes } from 'node:crypto';
import { HELLO_ANSWER } from './hello-world';
// Importing it registers the real `/auth/login` too.
import { createLoginHandler } from '../functions/login';
import { createCallbackHandler } from '../functions/callback';
import { getConfig } from '../shared/config';
import { beginSignIn } from '../shared/core/flow';
import { SHARDS, shardedPartition, stateExpiryBucket } from '../shared/core/keys';
import { createServices } from '../shared/services';
// The unit tier's in-memory store (it passes the RowStore contract); esbuild bundles it into this module.
import { MemoryRowStore } from '../test/_support/fakes/memory-row-store';

const deps = createServices(getConfig(), { states: new MemoryRowStore(), sessions: new MemoryRowStore() });
app.http('loginmem', {
  methods: ['GET'],
  route: 'bench/login-memory',
  authLevel: 'anonymous',
  handler: createLoginHandler(() => deps),
});
app.http('callbackmem', {
  methods: ['GET'],
  route: 'bench/callback-memory',
  authLevel: 'anonymous',
  handler: createCallbackHandler(() => deps),
});

/** A sealed pending row of a web sign-in's size, from one real beginSignIn into a scratch store. */
async function samplePendingRow(): Promise<string> {
  const scratch = new MemoryRowStore();
  await beginSignIn({ returnTo: '/app' }, { ...deps, states: scratch });
  return scratch.snapshot()[0]!.data;
}
let pendingRowData: Promise<string> | undefined;
const rowKeyPrefix = randomBytes(32).toString('hex').slice(0, 48);
let inserted = 0;

const table = TableClient.fromConnectionString(process.env['AUTH_STORAGE_CONNECTION_STRING']!, 'BenchFloor', {
  allowInsecureConnection: true,
});
let tableReady: Promise<unknown> | undefined;

app.http('insertfloor', {
  methods: ['GET'],
  route: 'bench/insert',
  authLevel: 'anonymous',
  handler: async () => {
    const [data] = await Promise.all([(pendingRowData ??= samplePendingRow()), (tableReady ??= table.createTable())]);
    const expiresAt = Date.now() + 600_000;
    // The entity the Table adapter writes for a pending sign-in (keys, expiry, one data chunk of the same size),
    // with nothing computed per request but a 64-character row key: the floor is the SDK's insert alone.
    await table.createEntity({
      partitionKey: shardedPartition(SHARDS[inserted % SHARDS.length]!, stateExpiryBucket(expiresAt)),
      rowKey: `${rowKeyPrefix}${(inserted++).toString(16).padStart(16, '0')}`,
      expiresAt,
      chunks: 1,
      d0: data,
    });
    return HELLO_ANSWER;
  },
});
