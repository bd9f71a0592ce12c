/**
 * The RowStore contract on the real Table Storage adapter (`shared/adapters/table-store.ts`) against Azurite: each
 * test gets a table of its own, created by the adapter on first use as in production. The unreachable store points
 * the same adapter at a loopback port where nothing listens. Last, what only the real adapter meets: an insert the
 * SDK sends again after its answer was lost to a reset.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { findFreePort, startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { createTableClient, createTableRowStore } from '../../shared/adapters/table-store';
import type { RowStore, StoredRow } from '../../shared/ports';
import { describeRowStoreContract } from '../_support/contracts/row-store';
import { proxiedConnectionString } from '../_support/fault-kit';
import { startSlowProxy, type SlowProxy } from '../_support/slow-proxy';

let azurite: AzuriteInstance;
let tables = 0;

beforeAll(async () => {
  azurite = await startAzurite({ startTimeoutMs: 60_000 }); // a shared, busy machine: be patient
});

afterAll(async () => {
  await azurite?.stop();
});

describeRowStoreContract(
  'table-store on Azurite',
  () => createTableRowStore(createTableClient({ connectionString: azurite.connectionString }, `Contract${++tables}`)),
  {
    makeUnreachableStore: async () => {
      const closed = await findFreePort();
      const connectionString = azurite.connectionString.replace(`:${azurite.port}/`, `:${closed}/`);
      if (connectionString === azurite.connectionString)
        throw new Error(`cannot find the port in ${azurite.connectionString}`);
      return createTableRowStore(createTableClient({ connectionString }, 'Unreachable'), { timeoutMs: 2_000 });
    },
  },
);

describe('table-store: an insert whose answer is lost to a reset', () => {
  let proxy: SlowProxy;
  let store: RowStore;
  beforeAll(async () => {
    proxy = await startSlowProxy(azurite.port);
    store = createTableRowStore(
      createTableClient({ connectionString: proxiedConnectionString(azurite, proxy) }, 'Retried'),
    );
    await store.get('a-0000480000', 'creates-the-table'); // the table exists before any answer is lost
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  const lostRow = (): StoredRow => ({
    partitionKey: 'a-0000480000',
    rowKey: `lost-${process.pid}-${Math.random().toString(36).slice(2)}`,
    expiresAt: 1_728_000_000_000,
    data: 'sealed-data',
    links: [{ partitionKey: 'u.abc', rowKey: 'def' }],
  });

  test('the SDK sends it again, finds its own first attempt (409) and the insert succeeds, once', async () => {
    const written = lostRow();
    proxy.mode = { kind: 'reset-answers', times: 1 };
    try {
      await store.insert(written);
    } finally {
      proxy.mode = { kind: 'forward' };
    }
    expect(proxy.resetAnswers).toBe(1);
    expect(await store.get(written.partitionKey, written.rowKey)).toMatchObject(written);
  });

  test('a 409 for another writer’s row at the same keys still fails, and that row stays', async () => {
    const theirs = lostRow();
    await store.insert(theirs);
    const before = await store.get(theirs.partitionKey, theirs.rowKey);
    await expect(store.insert({ ...theirs, data: 'another writer' })).rejects.toMatchObject({
      code: 'storage_unavailable',
    });
    expect(await store.get(theirs.partitionKey, theirs.rowKey)).toEqual(before);
  });
});
