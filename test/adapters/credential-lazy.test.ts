/**
 * Lazy loading: `/auth/login` never needs a client credential, so loading the credential seam and building
 * providers must not load `@azure/keyvault-secrets` or `@azure/identity` (nor node-forge). Checked in a fresh
 * process, because this test runner's own process may have loaded anything.
 */
import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const root = resolve(__dirname, '..', '..');

function loadedModules(script: string): { keyVault: boolean; identity: boolean; forge: boolean } {
  const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(child.status).toBe(0);
  const last = child.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last);
}

const REPORT = `
  const keys = Object.keys(require.cache);
  console.log(JSON.stringify({
    keyVault: keys.some((k) => k.includes('/@azure/keyvault-secrets/')),
    identity: keys.some((k) => k.includes('/@azure/identity/')),
    forge: keys.some((k) => k.includes('/node-forge/')),
  }));`;

describe('credential.ts loads the Azure SDKs lazily', () => {
  test('loading it and creating every kind of provider loads neither SDK', () => {
    const loaded = loadedModules(`
      const { createClientCredentialProvider } = require('./shared/adapters/credential.ts');
      const setting = createClientCredentialProvider({ kind: 'secret', source: 'setting', clientSecret: 'local-only' }, { clientId: 'c' });
      createClientCredentialProvider({ kind: 'secret', source: 'key-vault', keyVaultUrl: 'https://x.vault.azure.net', secretName: 's' }, { clientId: 'c' });
      createClientCredentialProvider({ kind: 'certificate', keyVaultUrl: 'https://x.vault.azure.net', certificateName: 'c' }, { clientId: 'c' });
      createClientCredentialProvider({ kind: 'managed-identity' }, { clientId: 'c' });
      setting.get().then(() => { ${REPORT} });`);
    expect(loaded).toStrictEqual({ keyVault: false, identity: false, forge: false });
  });

  test('the first get() of a Key Vault provider is what loads them (the check above can see them)', () => {
    const loaded = loadedModules(`
      const { createClientCredentialProvider } = require('./shared/adapters/credential.ts');
      const p = createClientCredentialProvider({ kind: 'secret', source: 'key-vault', keyVaultUrl: 'https://127.0.0.1:1', secretName: 's' },
        { clientId: 'c', keyVault: { totalBudgetMs: 200, callTimeoutMs: 200 }, tokenTimeoutMs: 200, env: {} });
      p.get().catch(() => undefined).then(() => { ${REPORT} });`);
    expect(loaded.keyVault).toBe(true);
    expect(loaded.identity).toBe(true);
  });
});
