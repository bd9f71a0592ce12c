/**
 * The RowStore contract on the real Table Storage adapter (`shared/adapters/table-store.ts`) against Azurite: each
 * test gets a table of its own, created by the adapter on first use as in production. The unreachable store points
 * the same adapter at a loopback port where nothing listens.
 */
import { afterAll, beforeAll } from '@jest/globals';
import { findFreePort, startAzurite, type AzuriteInstance } from '../../dev/azurite';
import { createTableClient, createTableRowStore } from '../../shared/adapters/table-store';
import { describeRowStoreContract } from '../_support/contracts/row-store';

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
