/**
 * The small interfaces between the pure flow (`shared/core/`) and the outside world (`shared/adapters/`).
 *
 * Each port has one contract suite in `test/_support/contracts/`, run against an in-memory fake in the unit tier
 * (`test/unit/contracts/`) and against the real adapter in the integration tier (`test/adapters/*.contract.test.ts`):
 * - RowStore: `row-store.ts`; fake `test/_support/fakes/memory-row-store.ts` (also the bench's store); real
 *   `adapters/table-store.ts` on Azurite.
 * - TokenClient: `token-client.ts`; fake `fakes/fake-identity-provider.ts`; real `adapters/msal-token-client.ts`
 *   on the Entra stand-in.
 * - ProviderMetadataSource: `provider-metadata.ts`; fake `fakes/static-metadata-source.ts`; real
 *   `adapters/provider-metadata.ts` on the Entra stand-in.
 * - ClientCredentialProvider: `credential-provider.ts`; fake `fakes/fake-credential-provider.ts`; real
 *   `adapters/credential.ts` (Key Vault secret) on the Key Vault and managed-identity stand-ins.
 * - ApiClient (the API proxy's HTTP client): no contract suite or fake yet; `adapters/api-client.ts` is tested
 *   against `test/_support/api-upstream.ts` in the integration and security tiers.
 * Clock and Logger have no contract: tests pass a fixed clock and a capturing logger
 * (`test/_support/core-world.ts` builds the core's dependencies from the fakes).
 */

/** Milliseconds since the epoch. Injected so tests can move time. */
export interface Clock {
  now(): number;
}

/** Structured log sink. Messages and properties must never carry codes, tokens, state, secrets or cookies. */
export interface Logger {
  info(message: string, properties?: Record<string, unknown>): void;
  warn(message: string, properties?: Record<string, unknown>): void;
  error(message: string, properties?: Record<string, unknown>): void;
}

/**
 * One row of `AuthState` or `AuthSessions`. `data` is sealed (encrypted) by the core before it gets here, so a
 * store only ever sees ciphertext, key hashes and expiry times.
 *
 * `partitionKey` is a shard and the expiry-time bucket (`<shard>-<bucket>`, see `core/keys.ts`), so purging
 * expired rows reads only the partitions that have expired, not the whole table.
 */
export interface StoredRow {
  partitionKey: string;
  rowKey: string;
  /** Absolute expiry, ms since the epoch. */
  expiresAt: number;
  data: string;
  /**
   * Rows that exist only because of this one (a session's index entries, see `core/session-index.ts`): stored
   * beside the row as plain keys, so the purge deletes them with it without reading anything sealed.
   */
  links?: readonly RowKeyPair[];
}

export interface RowKeyPair {
  partitionKey: string;
  rowKey: string;
}

export interface StoredRowWithEtag extends StoredRow {
  etag: string;
}

/** A table of sealed rows. Every method throws AuthError('storage_unavailable') on a storage fault. */
export interface RowStore {
  /**
   * Inserts a new row; fails if another row has its keys. The same row again (keys, data, expiry and links: an
   * insert retried after its answer was lost, whose first attempt landed) succeeds and changes nothing.
   */
  insert(row: StoredRow): Promise<void>;
  get(partitionKey: string, rowKey: string): Promise<StoredRowWithEtag | undefined>;
  /** Replaces the row if its etag still matches. Returns false when another writer got there first. */
  replace(row: StoredRow, etag: string): Promise<false | string>;
  /**
   * Deletes the row only if its etag still matches: the single-use primitive. Returns true for the one caller
   * that deleted it; false when it was already gone or changed (404 and 412 both mean "already used").
   */
  consume(partitionKey: string, rowKey: string, etag: string): Promise<boolean>;
  /** Deletes the row whatever its etag; a missing row is not an error. */
  delete(partitionKey: string, rowKey: string): Promise<void>;
  /**
   * Deletes the rows whose partition key is in one of `ranges` (one key-range query each, in order), each row's
   * `links` first (so a purge interrupted halfway leaves no link behind: the next run finds the row again), until
   * none is left or `budgetMs` has passed; the budget is shared by all the ranges. A run that stops at its budget
   * is not a failure: the next run goes on with what is left. Links are not counted.
   */
  purgePartitions(ranges: readonly PartitionRange[], budgetMs?: number): Promise<PurgeResult>;
  /**
   * The rows of one partition whose row key sorts at or after `fromRowKey`: one key-range query inside one
   * partition, so its cost grows with the rows returned, not with the table.
   */
  listPartition(partitionKey: string, fromRowKey: string): Promise<StoredRowWithEtag[]>;
}

/** A key range of partitions: `from` ≤ PartitionKey < `to`; an empty `from` is no lower bound. */
export interface PartitionRange {
  from: string;
  to: string;
}

export interface PurgeResult {
  deleted: number;
  /** False when the time budget ended first and expired rows remain. */
  complete: boolean;
}

/** The provider's OpenID configuration (OpenID Connect Discovery 1.0 §3), the fields this service uses. */
export interface ProviderMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  end_session_endpoint?: string;
}

export interface ProviderMetadataSource {
  /** Throws AuthError('upstream_unavailable' | 'upstream_timeout') when the provider cannot be reached. */
  get(): Promise<ProviderMetadata>;
}

/** The client credential MSAL presents at the token endpoint. */
export type ClientCredential =
  | { kind: 'secret'; clientSecret: string }
  | { kind: 'certificate'; thumbprintSha256: string; privateKey: string; x5c?: string }
  | { kind: 'assertion'; getAssertion: () => Promise<string> };

export interface ClientCredentialProvider {
  /** The current credential. Throws AuthError('credential_unavailable') when none can be had. */
  get(): Promise<ClientCredential>;
  /**
   * The provider rejected `rejected` with `invalid_client` (a rotated or expired secret). Fetch a fresh
   * credential once; resolve true when the current credential now differs, so the caller may retry once.
   */
  renewAfterRejection(rejected: ClientCredential): Promise<boolean>;
}

/** One session's serialized MSAL token cache, loaded and saved by the cache plugin around each call. */
export interface TokenCacheBox {
  serialized: string | undefined;
  changed: boolean;
}

export interface CodeRedemption {
  code: string;
  codeVerifier: string;
  redirectUri: string;
  scopes: readonly string[];
  /** The nonce sent at authorize: MSAL 7 refuses an ID token carrying a nonce it was not told to expect. */
  nonce: string;
}

export interface RedeemedTokens {
  idToken: string;
  /** MSAL's account key, used to find this session's account in its own cache partition. */
  homeAccountId: string;
}

export interface AccessToken {
  accessToken: string;
  expiresOn: number;
  scopes: readonly string[];
}

/** The token endpoint, through MSAL. Each call sees only the one session's cache partition in `cache`. */
export interface TokenClient {
  /**
   * Makes sure a client credential is at hand before a single-use sign-in state is consumed, so that a Key
   * Vault outage answers 503 and leaves the user's sign-in retryable. Throws AuthError('credential_unavailable').
   */
  prepare(): Promise<void>;
  redeemCode(request: CodeRedemption, cache: TokenCacheBox): Promise<RedeemedTokens>;
  acquireSilent(
    request: { homeAccountId: string; scopes: readonly string[] },
    cache: TokenCacheBox,
  ): Promise<AccessToken>;
}

/** One call to an upstream API of the proxy, with the user's access token for it. */
export interface ApiCall {
  method: string;
  /** Absolute upstream URL, already checked to lie below the API's base URL. */
  url: string;
  accessToken: string;
  /** Lower-case names; the allow-listed request headers only (no cookie, no Authorization). */
  headers: Record<string, string>;
  body: Uint8Array | undefined;
}

export interface ApiChallenge {
  /** Lower-case auth scheme, e.g. `bearer`. */
  scheme: string;
  /** Auth-params by lower-case name (RFC 9110 §11.2). */
  parameters: Readonly<Record<string, string>>;
}

export interface ApiAnswer {
  status: number;
  /** Lower-case names, as the upstream sent them (filtered by the caller). */
  headers: Record<string, string>;
  body: Uint8Array;
  /** The parsed `WWW-Authenticate` challenges of the answer, if any. */
  challenges: readonly ApiChallenge[];
}

/**
 * The proxy's HTTP client. Follows no redirect; reads the whole answer within the deadline and the size bound.
 * Throws AuthError('api_timeout') past the deadline and AuthError('api_unavailable') when the upstream cannot be
 * reached or answers more than the bound.
 */
export interface ApiClient {
  send(call: ApiCall): Promise<ApiAnswer>;
}
