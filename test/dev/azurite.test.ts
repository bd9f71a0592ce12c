import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { TableClient } from '@azure/data-tables';
import { isPidAlive, isPortOpen, startAzurite } from '../../dev/azurite';

describe('startAzurite', () => {
  test('serves Table Storage in memory, stops by pid, and restarts on the same port', async () => {
    const first = await startAzurite();
    let second: Awaited<ReturnType<typeof startAzurite>> | undefined;
    try {
      assert.match(first.connectionString, new RegExp(`TableEndpoint=http://127\\.0\\.0\\.1:${first.port}/devstoreaccount1;$`));
      assert.equal(first.tableEndpoint, `http://127.0.0.1:${first.port}/devstoreaccount1`);

      const client = TableClient.fromConnectionString(first.connectionString, 'DevTest', { allowInsecureConnection: true });
      await client.createTable();
      await client.createEntity({ partitionKey: 'p', rowKey: 'r', value: 42 });
      assert.equal((await client.getEntity<{ value: number }>('p', 'r')).value, 42);

      await first.stop();
      assert.equal(isPidAlive(first.pid), false, 'the Azurite process is gone');
      assert.equal(await isPortOpen(first.port), false, 'the port refuses connections');
      await first.stop(); // idempotent

      // "Storage down, then back": same port, fresh (in-memory) state.
      second = await startAzurite({ port: first.port });
      assert.equal(second.port, first.port);
      assert.notEqual(second.pid, first.pid);
      const again = TableClient.fromConnectionString(second.connectionString, 'DevTest', { allowInsecureConnection: true });
      await again.createTable();
      await assert.rejects(again.getEntity('p', 'r'), (e: { statusCode?: number }) => e.statusCode === 404);
    } finally {
      await first.stop();
      await second?.stop();
    }
  });

  test('fails clearly when the port is taken', async () => {
    const holder = await startAzurite();
    try {
      await assert.rejects(startAzurite({ port: holder.port, startTimeoutMs: 10_000 }), /AzuriteStartError|could not start|exited/);
    } finally {
      await holder.stop();
    }
  });
});
