/**
 * What `azd package` / `azd deploy` make of this project for a Function App, replayed offline from azure.yaml and
 * the ignore files, following azd's own source (Azure/azure-dev, cli/azd/pkg/project):
 *
 * - framework_service_node.go `Build` and `Package`: run the package.json `build` script in the service's project
 *   folder (npm run build), then take `<project>/<dist>` as the package folder (the project folder when `dist` is
 *   unset); an empty or missing folder is an error.
 * - project_utils.go `createDeployableZip`: zip that folder, leaving out `.azure/` folders, the ignore file itself
 *   (`.funcignore` for `host: function`) and `local.settings.json`; with an ignore file IN THAT FOLDER, everything it
 *   ignores (gitignore rules); without one, `node_modules/` unless `remoteBuild` is false.
 * - service_target_functionapp.go `resolveFunctionAppRemoteBuild` (Flex Consumption, js/ts): reads `.funcignore` of
 *   the PROJECT folder. Unset `remoteBuild` means remote build exactly when it excludes node_modules; `remoteBuild:
 *   false` while it excludes node_modules is refused, and so is `true` while it does not.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ignore from 'ignore';
import { parse } from 'yaml';

export interface AzdService {
  name: string;
  project: string;
  language: string;
  host: string;
  dist?: string;
  remoteBuild?: boolean;
}

export interface AzureYaml {
  requiredVersions?: { azd?: string };
  services: Record<string, Omit<AzdService, 'name'>>;
}

export function readAzureYaml(projectRoot: string): AzureYaml {
  return parse(readFileSync(join(projectRoot, 'azure.yaml'), 'utf8')) as AzureYaml;
}

export function functionService(projectRoot: string, name = 'api'): AzdService {
  const service = readAzureYaml(projectRoot).services[name];
  if (!service) throw new Error(`azure.yaml has no service ${name}`);
  return { name, ...service };
}

export class AzdRefusal extends Error {
  override readonly name = 'AzdRefusal';
}

/** `resolveFunctionAppRemoteBuild` for js/ts on Flex Consumption: true = Oryx builds the zip on the server. */
export function resolveRemoteBuild(serviceDir: string, service: AzdService): boolean {
  const ignoreFile = join(serviceDir, '.funcignore');
  if (!existsSync(ignoreFile)) return service.remoteBuild ?? true;
  const nodeModulesExcluded = ignore()
    .add(readFileSync(ignoreFile, 'utf8').replace(/^\uFEFF/, ''))
    .ignores('node_modules/');
  if (service.remoteBuild === undefined) return nodeModulesExcluded;
  if (service.remoteBuild && !nodeModulesExcluded)
    throw new AzdRefusal("'remoteBuild: true' requires '.funcignore' to exclude node_modules");
  if (!service.remoteBuild && nodeModulesExcluded)
    throw new AzdRefusal("'remoteBuild: false' cannot be used when '.funcignore' excludes node_modules");
  return service.remoteBuild;
}

/**
 * `npm run build` in the service's folder, as azd's node framework runs it (Build, and again in Package). Run at the
 * lowest CPU priority (`nice`, where there is one): the type-check and bundle take a core for a minute, and the
 * tests running beside it keep their deadlines.
 */
export function runBuildScript(serviceDir: string): { status: number | null; output: string } {
  const nice = process.platform !== 'win32' && existsSync('/usr/bin/nice');
  const [command, args] = nice ? ['/usr/bin/nice', ['-n', '19', 'npm', 'run', 'build']] : ['npm', ['run', 'build']];
  const r = spawnSync(command, args, {
    cwd: serviceDir,
    encoding: 'utf8',
    env: { ...process.env, npm_config_loglevel: 'error' },
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The folder azd zips: `<project>/<dist>`. */
export function packageFolder(serviceDir: string, service: AzdService): string {
  const folder = service.dist ? join(serviceDir, service.dist) : serviceDir;
  if (!existsSync(folder) || readdirSync(folder).length === 0) {
    throw new AzdRefusal(`package source '${folder}' is empty or does not exist`);
  }
  return folder;
}

/** The files `createDeployableZip` puts in the zip, as paths relative to the package folder ('/'-separated). */
export function zipEntries(folder: string, service: AzdService): string[] {
  const ignoreFile = join(folder, '.funcignore');
  const rules = existsSync(ignoreFile)
    ? ignore().add(readFileSync(ignoreFile, 'utf8').replace(/^\uFEFF/, ''))
    : undefined;
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const isDir = statSync(path).isDirectory();
      const rel = relative(folder, path).split('\\').join('/');
      if (name === '.azure' && isDir) continue;
      if (name === '.funcignore' && !isDir) continue;
      if (name === 'local.settings.json' && !isDir) continue;
      if (rules) {
        if (rules.ignores(isDir ? `${rel}/` : rel)) continue;
      } else if (name === 'node_modules' && isDir && service.remoteBuild !== false) {
        continue;
      }
      if (isDir) walk(path);
      else out.push(rel);
    }
  };
  walk(folder);
  return out;
}
