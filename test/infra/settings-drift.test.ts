// Drift between infra and code: the AUTH_* app settings in Bicep and the AUTH_* keys of
// local.settings.sample.json must be exactly the settings shared/config.ts parses (SETTINGS).
import { beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS } from '../../shared/config';
import { type BicepFile, ROOT, descendants, loadInfra, parseBicep } from './_bicep';
import { appSettingGroups } from './_policy';

/**
 * Settings the code knows that Azure deliberately does NOT set. Each entry says why; an entry that is no
 * longer in SETTINGS, or that shows up in the Bicep after all, fails the test (no silent skips).
 */
const NOT_SET_IN_AZURE: Readonly<Record<string, string>> = {
  AUTH_CLIENT_SECRET:
    'the client secret in plain text is for local development only; in Azure the app reads it from Key Vault (AUTH_KEY_VAULT_URL + AUTH_CLIENT_SECRET_NAME) or needs none (managed-identity)',
  AUTH_STORAGE_CONNECTION_STRING:
    'connection strings carry account keys and the storage account has shared-key access disabled; Azure uses AUTH_STORAGE_ACCOUNT_URL with the managed identity',
};

const sorted = (values: Iterable<string>): string[] => [...values].sort();

describe('AUTH_* settings: infra and local sample match shared/config.ts', () => {
  let files: BicepFile[];
  let bicepAuthSettings: string[];
  beforeAll(async () => {
    files = await loadInfra();
    bicepAuthSettings = appSettingGroups(files)
      .flatMap((g) => g.settings.map((s) => s.name))
      .filter((name) => name.startsWith('AUTH_'));
  });

  test('SETTINGS is non-empty and every name is AUTH_-prefixed', () => {
    expect(SETTINGS.length > 0).toBeTruthy();
    for (const name of SETTINGS) expect(name).toMatch(/^AUTH_[A-Z0-9_]+$/);
  });

  test('the exception list names only real settings', () => {
    for (const name of Object.keys(NOT_SET_IN_AZURE)) {
      expect((SETTINGS as readonly string[]).includes(name)).toBeTruthy();
    }
  });

  test('Bicep app settings = SETTINGS minus the documented exceptions', () => {
    const expected = sorted(SETTINGS.filter((name) => !(name in NOT_SET_IN_AZURE)));
    expect(sorted(new Set(bicepAuthSettings))).toStrictEqual(expected);
  });

  test('no AUTH_* app setting is declared twice', () => {
    const dupes = bicepAuthSettings.filter((name, i) => bicepAuthSettings.indexOf(name) !== i);
    expect(dupes).toStrictEqual([]);
  });

  test('the exceptions really are absent from the Bicep app settings', () => {
    for (const name of Object.keys(NOT_SET_IN_AZURE)) expect(!bicepAuthSettings.includes(name)).toBeTruthy();
  });

  test('AUTH_* outputs of the templates name real settings', () => {
    const outputs = files.flatMap((f) =>
      descendants(f.root, 'output_declaration').map((o) => o.namedChildren[0]?.text ?? ''),
    );
    const unknown = outputs.filter(
      (name) => name.startsWith('AUTH_') && !(SETTINGS as readonly string[]).includes(name),
    );
    expect(unknown).toStrictEqual([]);
  });

  test('local.settings.sample.json AUTH_* keys = SETTINGS', () => {
    const sample = JSON.parse(readFileSync(join(ROOT, 'local.settings.sample.json'), 'utf8')) as {
      Values: Record<string, string>;
    };
    const keys = Object.keys(sample.Values).filter((key) => key.startsWith('AUTH_'));
    expect(sorted(keys)).toStrictEqual(sorted(SETTINGS));
  });
});

describe('the drift check can fail', () => {
  test('a setting missing from, or unknown to, the Bicep is reported', async () => {
    const file = await parseBicep(
      "resource app 'Microsoft.Web/sites@2024-04-01' = {\n  name: 'a'\n  properties: {\n    siteConfig: {\n      appSettings: [\n        { name: 'AUTH_CLIENT_ID', value: 'x' }\n        { name: 'AUTH_CLIENTID', value: 'typo' }\n      ]\n    }\n  }\n}\n",
      'drift.bicep',
    );
    const names = appSettingGroups([file]).flatMap((g) => g.settings.map((s) => s.name));
    const expected = sorted(SETTINGS.filter((name) => !(name in NOT_SET_IN_AZURE)));
    expect(sorted(names)).not.toStrictEqual(expected);
    expect(names.includes('AUTH_CLIENTID') && !(SETTINGS as readonly string[]).includes('AUTH_CLIENTID')).toBeTruthy();
  });
});
