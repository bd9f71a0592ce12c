/** The RowStore contract on the in-memory store the unit tier and the bench use (its twin runs on Azurite). */
import { describeRowStoreContract } from '../../_support/contracts/row-store';
import { MemoryRowStore } from '../../_support/fakes/memory-row-store';

describeRowStoreContract('MemoryRowStore', () => new MemoryRowStore(), {
  makeUnreachableStore: () => {
    const store = new MemoryRowStore();
    store.outage();
    return store;
  },
});
