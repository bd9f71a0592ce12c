// Every .bicep file under infra/ parses with tree-sitter-bicep (offline; the Bicep CLI is not needed).
// A syntax error fails with file:line:col. The negative tests prove the check can fail.
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import {
  ROOT,
  formatProblem,
  getParser,
  listBicepFiles,
  maskExtensionStatements,
  parseBicep,
  syntaxProblems,
} from './_bicep';

describe('infra/*.bicep parse with tree-sitter-bicep', () => {
  const files = listBicepFiles();

  test('there are Bicep files to check (main.bicep and modules)', () => {
    const names = files.map((f) => relative(ROOT, f));
    expect(names.includes('infra/main.bicep')).toBeTruthy();
    expect(names.filter((n) => n.startsWith('infra/modules/')).length >= 5).toBeTruthy();
  });

  for (const path of files) {
    const name = relative(ROOT, path);
    test(`${name} has no syntax errors`, async () => {
      const file = await parseBicep(readFileSync(path, 'utf8'), name);
      const problems = syntaxProblems(file).map(formatProblem);
      expect(problems).toStrictEqual([]);
    });
  }
});

describe('the parse check can fail', () => {
  test('an unclosed object is reported with file:line:col', async () => {
    const source = [
      'param name string',
      "resource sa 'Microsoft.Storage/storageAccounts@2023-05-01' = {",
      '  name: name',
      '  properties: {',
      '    allowSharedKeyAccess: false',
      '}',
      '',
    ].join('\n');
    const problems = syntaxProblems(await parseBicep(source, 'infra/broken.bicep')).map(formatProblem);
    expect(problems.length > 0).toBeTruthy();
    expect(problems[0]!).toMatch(/^infra\/broken\.bicep:\d+:\d+: /);
  });

  test('a real module with one closing brace removed is detected', async () => {
    const path = listBicepFiles().find((f) => f.endsWith('storage.bicep'))!;
    const source = readFileSync(path, 'utf8');
    const broken = source.replace(/\n\}\n/, '\n\n');
    expect(broken).not.toBe(source);
    expect(syntaxProblems(await parseBicep(broken, 'infra/modules/storage.bicep')).length > 0).toBeTruthy();
  });

  test('a stray token is reported on its line', async () => {
    const source = 'var a = 1\nvar b = = 2\noutput c int = a\n';
    const problems = syntaxProblems(await parseBicep(source, 'x.bicep'));
    expect(problems.some((p) => p.line === 2)).toBeTruthy();
  });

  test('a misspelled keyword is an error', async () => {
    const problems = syntaxProblems(
      await parseBicep("resorce sa 'Microsoft.Storage/storageAccounts@2023-05-01' = {}\n", 'x.bicep'),
    );
    expect(problems.length > 0).toBeTruthy();
  });
});

describe('the `extension` statement (grammar gap in tree-sitter-bicep 1.1.0)', () => {
  test('well-formed extension statements are masked, keeping lines and columns', async () => {
    const source =
      "extension microsoftGraphV1\nextension 'br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0' as graph\nparam x string\n";
    const masked = maskExtensionStatements(source);
    expect(masked.length).toBe(source.length);
    expect(masked.split('\n').length).toBe(source.split('\n').length);
    expect(syntaxProblems(await parseBicep(source, 'x.bicep'))).toStrictEqual([]);
  });

  test('the unmasked grammar does reject it (so the mask is needed, not a silent skip)', async () => {
    const tree = (await getParser()).parse('extension microsoftGraphV1\nparam x string\n');
    expect(tree?.rootNode.hasError).toBeTruthy();
  });

  test('anything else starting with `extension` is still a syntax error', async () => {
    for (const bad of ['extension\nparam x string\n', 'extension foo bar baz\n', 'extensoin microsoftGraphV1\n']) {
      expect(syntaxProblems(await parseBicep(bad, 'x.bicep')).length > 0).toBeTruthy();
    }
  });
});
