import { describe, expect, test } from '@jest/globals';
import { TableClient } from '@azure/data-tables';
import { isPidAlive, isPortOpen, startAzurite } from '../../dev/azurite';

describe('startAzurite', () => {
  test('serves Table Storage in memory, stops by pid, and restarts on the same port', async () => {
    const first = await startAzurite();
    let second: Awaited<ReturnType<typeof startAzurite>> | undefined;
    try {
      expect(first.connectionString).toMatch(
        new RegExp(`TableEndpoint=http://127\\.0\\.0\\.1:${first.port}/devstoreaccount1;$`),
      );
      expect(first.tableEndpoint).toBe(`http://127.0.0.1:${first.port}/devstoreaccount1`);

      const client = TableClient.fromConnectionString(first.connectionString, 'DevTest', {
        allowInsecureConnection: true,
      });
      await client.createTable();
      await client.createEntity({ partitionKey: 'p', rowKey: 'r', value: 42 });
      expect((await client.getEntity<{ value: number }>('p', 'r')).value).toBe(42);

      await first.stop();
      expect(isPidAlive(first.pid)).toBe(false);
      expect(await isPortOpen(first.port)).toBe(false);
      await first.stop(); // idempotent

      // "Storage down, then back": same port, fresh (in-memory) state.
      second = await startAzurite({ port: first.port });
      expect(second.port).toBe(first.port);
      expect(second.pid).not.toBe(first.pid);
      const again = TableClient.fromConnectionString(second.connectionString, 'DevTest', {
        allowInsecureConnection: true,
      });
      await again.createTable();
      await expect(again.getEntity('p', 'r')).rejects.toSatisfy((e: { statusCode?: number }) => e.statusCode === 404);
    } finally {
      await first.stop();
      await second?.stop();
    }
  });

  test('fails clearly when the port is taken', async () => {
    const holder = await startAzurite();
    try {
      await expect(startAzurite({ port: holder.port, startTimeoutMs: 10_000 })).rejects.toThrow(
        /AzuriteStartError|could not start|exited/,
      );
    } finally {
      await holder.stop();
    }
  });
});
