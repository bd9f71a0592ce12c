// azure.yaml and the ignore files, read the way azd reads them (test/_support/azd-package.ts replays azd's rules):
// the package is built locally and shipped as built, from the folder `npm run build` stages, by an azd new enough
// to honour `remoteBuild` and to bring a Bicep that compiles the Graph extension. Each rule is shown to fail.
import { describe, expect, test } from '@jest/globals';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './_bicep';
import {
  AzdRefusal,
  functionService,
  packageFolder,
  readAzureYaml,
  resolveRemoteBuild,
  zipEntries,
  type AzdService,
} from '../_support/azd-package';

/** The first azd that honours `remoteBuild` (Azure/azure-dev #6748, in 1.23.5; it bundles Bicep 0.39.26 >= 0.36.1). */
const MIN_AZD = [1, 23, 5] as const;

const floorOf = (range: string | undefined): number[] | undefined => {
  const m = /^>=\s*(\d+)\.(\d+)\.(\d+)$/.exec(range?.trim() ?? '');
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
};
const atLeast = (v: number[], min: readonly number[]): boolean => {
  for (let i = 0; i < min.length; i++) if (v[i]! !== min[i]!) return v[i]! > min[i]!;
  return true;
};

function withProject(files: Record<string, string>, run: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'signin-azd-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    run(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('azure.yaml', () => {
  const service = functionService(ROOT);

  test('the api service is a TypeScript Function App, deployed as built from the dist folder', () => {
    expect(service).toMatchObject({ project: '.', language: 'ts', host: 'function', remoteBuild: false });
    expect(service.dist).toBeTruthy();
  });

  test('the dist folder is what `npm run build` stages, and git ignores it', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { build: string } };
    expect(pkg.scripts.build).toMatch(new RegExp(`--deploy ${service.dist!.replace(/\./g, '\\.')}(\\s|$)`));
    expect(readFileSync(join(ROOT, '.gitignore'), 'utf8').split('\n')).toContain(`${service.dist}/`);
  });

  test(`requiredVersions pins azd >= ${MIN_AZD.join('.')}`, () => {
    const floor = floorOf(readAzureYaml(ROOT).requiredVersions?.azd);
    expect(floor).toBeDefined();
    expect(atLeast(floor!, MIN_AZD)).toBe(true);
  });

  test('azd accepts the remote-build setting with the project ignore file (none, or one that keeps node_modules)', () => {
    expect(resolveRemoteBuild(ROOT, service)).toBe(false);
  });
});

describe('the azd rules can fail', () => {
  const svc = (extra: Partial<AzdService> = {}): AzdService => ({
    name: 'api',
    project: '.',
    language: 'ts',
    host: 'function',
    ...extra,
  });

  test('an ignore file excluding node_modules: remote build when unset, refused with remoteBuild false', () => {
    withProject({ '.funcignore': '*.ts\nnode_modules\n' }, (dir) => {
      expect(resolveRemoteBuild(dir, svc())).toBe(true);
      expect(() => resolveRemoteBuild(dir, svc({ remoteBuild: false }))).toThrow(AzdRefusal);
    });
    withProject({}, (dir) => expect(resolveRemoteBuild(dir, svc())).toBe(true)); // no ignore file: remote build
  });

  test('an empty or missing dist folder is refused', () => {
    withProject({ 'package.json': '{}' }, (dir) => {
      expect(() => packageFolder(dir, svc({ dist: '.deploy' }))).toThrow(AzdRefusal);
    });
  });

  test('the zip follows the ignore file of the package folder, and drops node_modules only without one (unless remoteBuild false)', () => {
    const files = {
      'host.json': '{}',
      'main.ts': '',
      'node_modules/x/index.js': '',
      'local.settings.json': '{}',
      '.azure/env': '',
    };
    withProject(files, (dir) => {
      expect(zipEntries(dir, svc())).toEqual(['host.json', 'main.ts']);
      expect(zipEntries(dir, svc({ remoteBuild: false }))).toEqual(['host.json', 'main.ts', 'node_modules/x/index.js']);
    });
    withProject({ ...files, '.funcignore': '*.ts\n' }, (dir) => {
      expect(zipEntries(dir, svc())).toEqual(['host.json', 'node_modules/x/index.js']);
    });
  });

  test('a floor below the first azd with remoteBuild is caught', () => {
    expect(atLeast(floorOf('>= 1.17.0')!, MIN_AZD)).toBe(false);
    expect(floorOf('1.23.5')).toBeUndefined();
  });
});
