/**
 * `npm run revoke -- <user id>`: ends every session of one user (web and native) in the configured storage and
 * prints how many. For an operator responding to a stolen device or a departed employee; the user's sessions are
 * found through the user index (one single-partition query), never by scanning the table.
 *
 * Storage comes from the environment (then local.settings.json, as `npm run serve` reads it):
 * - `AUTH_STORAGE_CONNECTION_STRING` (Azurite, or a key-based connection string);
 * - `AUTH_STORAGE_ACCOUNT_URL` with the operator's own Entra identity through DefaultAzureCredential, e.g. after
 *   `azd auth login` (no Azure CLI needed). The identity needs *Storage Table Data Contributor* on the account.
 *
 * The user id is what `/auth/me` reports as `user.id` (Entra object id, or OIDC subject), or `<tenantId>/<id>` with
 * the `tenantId` it reports. For Entra a bare id takes AUTH_TENANT_ID (when it is a GUID) or the single
 * AUTH_ALLOWED_TENANTS entry as its tenant.
 * Exit codes: 0 done, 2 usage or settings, 1 storage failed (safe to run again: it finishes what is left).
 */
import { applyLocalSettings, loadLocalSettings } from '../dev/local-settings';
import { createTableClient, createTableRowStore } from '../shared/adapters/table-store';
import { parseStorageConfig, type Environment } from '../shared/config';
import { endUserSessions } from '../shared/core/session-index';
import { ConfigError } from '../shared/errors';
import { SESSION_TABLE, systemClock } from '../shared/services';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const USAGE = 'usage: npm run revoke -- <user id>   (Entra object id, <tenant id>/<object id>, or the OIDC subject)';

class UsageError extends Error {}

/** The key sessions are filed under (`userKeyOf` in session-index.ts) for what the operator typed. */
export function userKeyFor(userId: string, env: Environment): string {
  if (!/^[\x21-\x7e]{1,512}$/.test(userId))
    throw new UsageError(`the user id must be printable ASCII without spaces\n${USAGE}`);
  const slash = userId.indexOf('/');
  const tenant = slash >= 0 ? userId.slice(0, slash) : undefined;
  if (tenant !== undefined && GUID.test(tenant)) return `${tenant.toLowerCase()}/${userId.slice(slash + 1)}`;
  // A generic OpenID Provider's user is its subject (plus `tid`, when the provider sends one: then pass both).
  if (env.AUTH_PROTOCOL?.trim() === 'oidc') return `/${userId}`;
  if (tenant !== undefined) throw new UsageError(`"<tenant id>/<object id>" needs the tenant's GUID\n${USAGE}`);
  const tenants = [
    env.AUTH_TENANT_ID?.trim(),
    ...(env.AUTH_ALLOWED_TENANTS ?? '').split(',').map((t) => t.trim()),
  ].filter((t): t is string => !!t && GUID.test(t));
  const distinct = [...new Set(tenants.map((t) => t.toLowerCase()))];
  if (distinct.length !== 1)
    throw new UsageError(`which tenant? Set AUTH_TENANT_ID to its GUID or pass <tenant id>/<object id>\n${USAGE}`);
  return `${distinct[0]}/${userId}`;
}

async function main(args: string[]): Promise<number> {
  if (args.length !== 1 || args[0] === '--help' || args[0] === '-h') {
    console.error(USAGE);
    return 2;
  }
  applyLocalSettings(loadLocalSettings().values);
  const env = process.env as Environment;
  let userKey: string;
  let storage: ReturnType<typeof parseStorageConfig>;
  try {
    userKey = userKeyFor(args[0]!, env);
    storage = parseStorageConfig(env);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  let credential: import('@azure/core-auth').TokenCredential | undefined;
  if ('accountUrl' in storage) {
    const { DefaultAzureCredential } = await import('@azure/identity');
    credential = new DefaultAzureCredential();
  }
  const sessions = createTableRowStore(createTableClient(storage, SESSION_TABLE, { credential }));
  try {
    const ended = await endUserSessions(userKey, { sessions, clock: systemClock });
    console.log(`revoked ${ended} session${ended === 1 ? '' : 's'}`);
    return 0;
  } catch (error) {
    console.error(
      `storage failed (${error instanceof Error ? error.message : 'error'}); nothing is half-done: run the command again`,
    );
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    },
  );
}
