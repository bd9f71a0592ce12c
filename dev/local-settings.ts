/**
 * local.settings.json, read the way Azure Functions Core Tools reads it: `Values` become environment variables
 * (an existing environment variable wins over the file), `Host.LocalHttpPort`, `Host.CORS` (comma-separated) and
 * `Host.CORSCredentials` configure the local host. A missing file is fine; a malformed one is an error naming
 * the file, never a silently ignored setting.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface LocalSettings {
  values: Record<string, string>;
  host: { port?: number; cors?: string[]; corsCredentials?: boolean };
}

export class LocalSettingsError extends Error {
  override readonly name = 'LocalSettingsError';
}

/** Reads the file (relative paths from the current directory). Pure: use `applyLocalSettings` to fill the env. */
export function loadLocalSettings(path = 'local.settings.json'): LocalSettings {
  const file = resolve(path);
  if (!existsSync(file)) return { values: {}, host: {} };
  let json: unknown;
  try {
    // Core Tools tolerates a BOM; so do we.
    json = JSON.parse(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new LocalSettingsError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new LocalSettingsError(`${path} must contain a JSON object.`);
  }
  const root = json as { IsEncrypted?: unknown; Values?: unknown; Host?: unknown };
  if (root.IsEncrypted === true) {
    throw new LocalSettingsError(`${path} is encrypted (IsEncrypted: true); decrypt it with Core Tools first.`);
  }

  const problems: string[] = [];
  const values: Record<string, string> = {};
  if (root.Values !== undefined) {
    if (typeof root.Values !== 'object' || root.Values === null || Array.isArray(root.Values)) {
      problems.push('Values must be an object');
    } else {
      for (const [name, value] of Object.entries(root.Values)) {
        if (typeof value === 'string') values[name] = value;
        else if (typeof value === 'number' || typeof value === 'boolean') values[name] = String(value);
        else if (value !== null) problems.push(`Values.${name} must be a string`);
      }
    }
  }

  const host: LocalSettings['host'] = {};
  const rawHost = root.Host as Record<string, unknown> | undefined;
  if (rawHost !== undefined && (typeof rawHost !== 'object' || rawHost === null))
    problems.push('Host must be an object');
  else if (rawHost) {
    const port = rawHost['LocalHttpPort'];
    if (port !== undefined) {
      const n = typeof port === 'string' ? Number(port) : port;
      if (typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 65536) host.port = n;
      else problems.push('Host.LocalHttpPort must be a port number');
    }
    const cors = rawHost['CORS'];
    if (cors !== undefined) {
      if (typeof cors === 'string')
        host.cors = cors
          .split(',')
          .map((o) => o.trim())
          .filter(Boolean);
      else problems.push('Host.CORS must be a comma-separated string');
    }
    const credentials = rawHost['CORSCredentials'];
    if (credentials !== undefined) {
      if (typeof credentials === 'boolean') host.corsCredentials = credentials;
      else if (credentials === 'true' || credentials === 'false') host.corsCredentials = credentials === 'true';
      else problems.push('Host.CORSCredentials must be true or false');
    }
  }
  if (problems.length) throw new LocalSettingsError(`${path}: ${problems.join('; ')}`);
  return { values, host };
}

/** Copies Values into `env` where the name is not already set (the environment wins). Returns the names set. */
export function applyLocalSettings(values: Record<string, string>, env: NodeJS.ProcessEnv = process.env): string[] {
  const applied: string[] = [];
  for (const [name, value] of Object.entries(values)) {
    if (env[name] !== undefined) continue;
    env[name] = value;
    applied.push(name);
  }
  return applied;
}
