/**
 * Helpers shared by the fault suite (test/faults/): reading the stable error code of any response, looking at
 * what Table Storage holds, a RowStore whose chosen operations go through a faulty path, and the counters the
 * Entra stand-in keeps. Built on the public surface of `harness.ts`, which this file does not change.
 */
import { expect, test } from '@jest/globals';
import { expectPresent } from './expect-present';
import type { AzuriteInstance } from '../../dev/azurite';
import type { EntraStandIn } from '../../dev/entra-standin';
import { createTableClient, createTableRowStore } from '../../shared/adapters/table-store';
import { SESSION_COOKIE } from '../../shared/core/session';
import { ERROR_CODES } from '../../shared/errors';
import { sessionRowRef, stateRowRef } from '../../shared/core/keys';
import { open } from '../../shared/core/seal';
import type { RowStore } from '../../shared/ports';
import { SESSION_TABLE, STATE_TABLE } from '../../shared/services';
import type { Harness, Response } from './harness';
import type { SlowProxy } from './slow-proxy';
import { tableRows } from './tables';

/** The stable `code` of an error response: problem+json (`code`), OAuth JSON (`error`) or the HTML error page. */
export function errorCode(response: Response): string | undefined {
  const type = response.headers['content-type'] ?? '';
  if (/json/.test(type)) {
    try {
      const body = response.json() as { code?: unknown; error?: unknown };
      const code = body.code ?? body.error;
      return typeof code === 'string' ? code : undefined;
    } catch {
      return undefined;
    }
  }
  return /<code>([a-z_]+)<\/code>/.exec(response.body)?.[1];
}

/**
 * A coded error, never a 500: the status, the stable code, `Retry-After` on a 503, and no session cookie handed out.
 */
export function assertCodedError(response: Response, status: number, code: string, what = ''): void {
  labelled(what, response, () => {
    expect(response.status).not.toBe(500);
    expect(response.status).toBe(status);
    expect(errorCode(response)).toBe(code);
    if (status === 503) expect(response.headers['retry-after'] ?? '').toMatch(/^\d+$/);
    expect(!newSessionCookie(response)).toBeTruthy();
  });
}

/** Any coded error of the contract (`shared/errors.ts`), never a 500: what a case with a known product gap still holds. */
export function assertCleanError(response: Response, what = ''): void {
  labelled(what, response, () => {
    expect(response.status).not.toBe(500);
    expect(response.status >= 400 && response.status < 600).toBeTruthy();
    expect(Object.hasOwn(ERROR_CODES, errorCode(response) ?? '')).toBeTruthy();
    if (response.status === 503) expect(response.headers['retry-after'] ?? '').toMatch(/^\d+$/);
    expect(!newSessionCookie(response)).toBeTruthy();
  });
}

/** Runs the checks; a failure names what was checked and the response's status and first bytes (Jest's expect cannot). */
function labelled(what: string, response: Response, checks: () => void): void {
  try {
    checks();
  } catch (error) {
    if (error instanceof Error)
      error.message = `${what} (${response.status} ${response.body.slice(0, 300)})\n${error.message}`.trim();
    throw error;
  }
}

export interface FaultCaseBase {
  name: string;
  /** `product gap: …` when the product does not meet the expectation yet. */
  skip?: string;
}

/**
 * One test per case. A case with a known product gap is skipped with its correct expectation, and runs once more
 * with `strict` false: the invariants that hold even now (a coded error, never a 500, what was stored) keep guarding.
 */
export function faultCases<C extends FaultCaseBase>(
  cases: readonly C[],
  run: (c: C, strict: boolean) => Promise<void>,
): void {
  for (const c of cases) {
    (c.skip ? test.skip : test)(c.name, () => run(c, true));
    if (c.skip) test(`${c.name} [until the gap is fixed: a clean coded error, never a 500]`, () => run(c, false));
  }
}

/** The session cookie a response sets (not one it clears). */
export function newSessionCookie(response: Response): string | undefined {
  return response.setCookies.find((c) => c.name === SESSION_COOKIE && c.maxAge !== 0 && c.value)?.value;
}

// ------------------------------------------------------------------------------------------- storage

export interface TableView {
  states(): Promise<Record<string, unknown>[]>;
  sessions(): Promise<Record<string, unknown>[]>;
  /** Is the AuthState row of this sign-in still there? */
  hasState(state: string): Promise<boolean>;
  /** Is the AuthSessions row of this session cookie still there? */
  hasSession(cookie: string): Promise<boolean>;
  /** The session row's etag (`undefined` when there is none): unchanged etag = nothing written. */
  sessionEtag(cookie: string): Promise<string | undefined>;
  /** The session record opened with the cookie's secret, as JSON text (to look for tokens in it); undefined if none. */
  openSession(cookie: string): Promise<string | undefined>;
}

/** Reads the tables directly (never through a proxy), whatever the service under test is going through. */
export function tableView(connectionString: () => string): TableView {
  const states = () => tableRows(connectionString(), STATE_TABLE);
  const sessions = () => tableRows(connectionString(), SESSION_TABLE);
  const sessionRow = async (cookie: string) => {
    const ref = sessionRowRef(cookie);
    if (!ref) return undefined;
    return (await sessions()).find((r) => r.rowKey === ref.rowKey);
  };
  return {
    states,
    sessions,
    async hasState(state) {
      const { rowKey } = stateRowRef(state);
      return (await states()).some((r) => r.rowKey === rowKey);
    },
    async hasSession(cookie) {
      return (await sessionRow(cookie)) !== undefined;
    },
    async sessionEtag(cookie) {
      return (await sessionRow(cookie))?.etag as string | undefined;
    },
    async openSession(cookie) {
      const ref = sessionRowRef(cookie);
      if (!ref) return undefined;
      // Through the Table adapter (it passes the RowStore contract), not a copy of its property layout.
      const row = await createTableRowStore(
        createTableClient({ connectionString: connectionString() }, SESSION_TABLE),
      ).get(ref.partitionKey, ref.rowKey);
      if (!row) return undefined;
      const { data } = row;
      // The sealed record, then (after a native rotation) `~` and a grace blob: JWE compact never contains `~`.
      const record = await open<unknown>(data.split('~')[0] ?? '', ref.secret, 'session', ref.rowKey);
      return record === undefined ? undefined : JSON.stringify(record);
    },
  };
}

export type RowOperation = 'insert' | 'get' | 'replace' | 'consume' | 'delete' | 'purgePartitions' | 'listPartition';

/**
 * A RowStore that sends the operations it is told to through `faulty` (the real Table adapter behind a slow proxy)
 * and everything else through `normal`: "the session insert fails, nothing else does", with the real adapter's
 * timeouts and error mapping doing the work.
 */
export class SwitchRowStore implements RowStore {
  private readonly armed = new Map<RowOperation, { after: number; times: number }>();
  /** Calls per operation, faulty or not. */
  readonly calls: Record<RowOperation, number> = {
    insert: 0,
    get: 0,
    replace: 0,
    consume: 0,
    delete: 0,
    purgePartitions: 0,
    listPartition: 0,
  };

  constructor(
    private readonly normal: RowStore,
    private readonly faulty: RowStore,
  ) {}

  /** After `after` more calls of `operation` on the normal path, the next `times` go through the faulty path. */
  failNext(operation: RowOperation, times = 1, after = 0): void {
    this.armed.set(operation, { after, times });
  }

  reset(): void {
    this.armed.clear();
  }

  private pick(operation: RowOperation): RowStore {
    this.calls[operation]++;
    const armed = this.armed.get(operation);
    if (!armed || armed.times <= 0) return this.normal;
    if (armed.after > 0) {
      armed.after--;
      return this.normal;
    }
    armed.times--;
    return this.faulty;
  }

  insert: RowStore['insert'] = (row) => this.pick('insert').insert(row);
  get: RowStore['get'] = (pk, rk) => this.pick('get').get(pk, rk);
  replace: RowStore['replace'] = (row, etag) => this.pick('replace').replace(row, etag);
  consume: RowStore['consume'] = (pk, rk, etag) => this.pick('consume').consume(pk, rk, etag);
  delete: RowStore['delete'] = (pk, rk) => this.pick('delete').delete(pk, rk);
  purgePartitions: RowStore['purgePartitions'] = (ranges, budgetMs) =>
    this.pick('purgePartitions').purgePartitions(ranges, budgetMs);
  listPartition: RowStore['listPartition'] = (pk, from) => this.pick('listPartition').listPartition(pk, from);
}

/**
 * A RowStore that can hold back the answer of its next `get`: the read happens at once, its result is handed over
 * only on `release()`. "A request that read the row before another one wrote it, and went on after" — on cue.
 */
export class HoldRowStore implements RowStore {
  private next: { read: () => void; gate: Promise<void> } | undefined;

  constructor(private readonly inner: RowStore) {}

  /** Holds the next `get`. `read` resolves once the store has answered it; `release` lets the caller have it. */
  holdNextGet(): { read: Promise<void>; release(): void } {
    let read!: () => void;
    let release!: () => void;
    const readPromise = new Promise<void>((resolve) => (read = resolve));
    const gate = new Promise<void>((resolve) => (release = resolve));
    this.next = { read, gate };
    return { read: readPromise, release };
  }

  async get(partitionKey: string, rowKey: string) {
    const held = this.next;
    this.next = undefined;
    const row = await this.inner.get(partitionKey, rowKey);
    if (held) {
      held.read();
      await held.gate;
    }
    return row;
  }

  insert: RowStore['insert'] = (row) => this.inner.insert(row);
  replace: RowStore['replace'] = (row, etag) => this.inner.replace(row, etag);
  consume: RowStore['consume'] = (pk, rk, etag) => this.inner.consume(pk, rk, etag);
  delete: RowStore['delete'] = (pk, rk) => this.inner.delete(pk, rk);
  purgePartitions: RowStore['purgePartitions'] = (ranges, budgetMs) => this.inner.purgePartitions(ranges, budgetMs);
  listPartition: RowStore['listPartition'] = (pk, from) => this.inner.listPartition(pk, from);
}

/** Azurite's connection string with the Table endpoint moved to the proxy. */
export function proxiedConnectionString(azurite: AzuriteInstance, proxy: SlowProxy): string {
  const moved = azurite.connectionString.replace(`127.0.0.1:${azurite.port}/`, `${proxy.hostPort}/`);
  expect(moved).not.toBe(azurite.connectionString);
  return moved;
}

/** The real Table adapter for one table at `connectionString`, with its own call deadline. */
export function tableStore(
  connectionString: string,
  table: typeof STATE_TABLE | typeof SESSION_TABLE,
  timeoutMs?: number,
): RowStore {
  return createTableRowStore(createTableClient({ connectionString }, table), { timeoutMs });
}

/** Both tables as SwitchRowStores: direct to Azurite normally, through `proxy` when armed. */
export function switchableStores(
  azurite: AzuriteInstance,
  proxy: SlowProxy,
  faultyTimeoutMs: number,
): { states: SwitchRowStore; sessions: SwitchRowStore } {
  const viaProxy = proxiedConnectionString(azurite, proxy);
  return {
    states: new SwitchRowStore(
      tableStore(azurite.connectionString, STATE_TABLE),
      tableStore(viaProxy, STATE_TABLE, faultyTimeoutMs),
    ),
    sessions: new SwitchRowStore(
      tableStore(azurite.connectionString, SESSION_TABLE),
      tableStore(viaProxy, SESSION_TABLE, faultyTimeoutMs),
    ),
  };
}

// ------------------------------------------------------------------------------------------- provider

/** Token requests the stand-in received for one grant type (faulted or not): what the service sent to Entra. */
export function tokenPosts(standIn: EntraStandIn, grant: 'authorization_code' | 'refresh_token'): number {
  return standIn.counters.token[grant] ?? 0;
}

// ------------------------------------------------------------------------------------------- flows

export const REFRESH = { method: 'POST', url: '/auth/refresh', headers: { 'x-csrf': '1' } } as const;

/** A browser that has started a sign-in and signed in at the provider: the callback URL is ready to be called. */
export async function pendingCallback(h: Harness) {
  const browser = h.newBrowser();
  const { authorizeUrl, state } = await browser.startSignIn();
  expect(state).toBeTruthy();
  const callbackUrl = await browser.signInAtProvider(authorizeUrl);
  return { browser, state, callbackUrl };
}

/** A signed-in browser and its session cookie. */
export async function signedIn(h: Harness) {
  const browser = h.newBrowser();
  const response = await browser.signIn();
  expect(response.status).toBe(302);
  const cookie = browser.jar.get(SESSION_COOKIE);
  expectPresent(cookie);
  return { browser, cookie };
}
