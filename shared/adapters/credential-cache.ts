/**
 * An in-memory, single-flight cache of one client credential fetched from somewhere slow (Key Vault), with the
 * rotation rule of `ClientCredentialProvider.renewAfterRejection`.
 *
 * Rules (design §7, issue 3):
 * - The first `get()` fetches; concurrent cold callers share that one fetch. Afterwards `get()` never waits on
 *   the source: steady state is one read per instance lifetime.
 * - A failed refresh keeps serving the last good copy (logged as a warning, never with the value).
 * - With nothing cached, a failure answers `credential_unavailable` and starts a short cool-down, so an outage is
 *   not hammered by every sign-in (each would otherwise spend the whole retry budget on the vault again).
 * - `renewAfterRejection(rejected)` reads the source at most once per rejected value, however many callers
 *   report it: callers that saw the same rejection share the one read, and later ones are answered from memory
 *   (for `rejectedRecheckMs`, 30 s by default; then one more read, so a value fixed in the vault is picked up).
 *
 * No SDK is imported here: the source is a function.
 */
import { AuthError, isAuthError } from '../errors';
import type { Clock, Logger } from '../ports';
import { securityEvent } from '../telemetry';

export interface CredentialCacheOptions<T> {
  /** What is cached, for log lines, e.g. `Key Vault secret "auth-client-secret"`. Never a value. */
  description: string;
  /** Reads the credential. Should throw AuthError('credential_unavailable'); anything else is wrapped. */
  fetch: () => Promise<T>;
  /** True when two fetched values are the same credential material. */
  isSame: (a: T, b: T) => boolean;
  /** Non-secret properties for log lines (version id, thumbprint, content type). */
  describe: (value: T) => Record<string, unknown>;
  clock: Clock;
  logger?: Logger;
  /** Re-read in the background once the copy is this old. Undefined (the default): only on rejection. */
  refreshAfterMs?: number;
  /** After a failed read with nothing cached, refuse new reads for this long (answers 503 at once). */
  failureCooldownMs: number;
  /**
   * After the source was read for a rejected value and still held it, do not read it again for that value for
   * this long (default 30 s). After that, the next rejection reads once more: an operator who fixes a wrong value
   * in the vault must not need a restart to have it picked up.
   */
  rejectedRecheckMs?: number;
}

export class CredentialCache<T> {
  private current: { value: T; fetchedAt: number } | undefined;
  private inflight: Promise<T> | undefined;
  private lastFailure: { at: number; error: AuthError } | undefined;
  /** The rejected value whose renewal is running now, and its outcome. */
  private renewal: { rejected: T; result: Promise<boolean> } | undefined;
  /**
   * The last rejected value for which the source was read successfully, and when: it is not read again for it
   * until `rejectedRecheckMs` has passed.
   */
  private renewedFor: { value: T; at: number } | undefined;
  /** Number of reads started, for tests and the cold-start note. */
  reads = 0;

  constructor(private readonly options: CredentialCacheOptions<T>) {}

  async get(): Promise<T> {
    const current = this.current;
    if (current) {
      const { refreshAfterMs } = this.options;
      if (
        refreshAfterMs !== undefined &&
        this.options.clock.now() - current.fetchedAt >= refreshAfterMs &&
        !this.inCooldown()
      ) {
        // Stale-while-revalidate: the caller never waits for (or fails on) a background refresh.
        this.read().catch(() => undefined);
      }
      return current.value;
    }
    return this.read();
  }

  /** The value in memory, if any (for the provider's own comparisons; no read). */
  peek(): T | undefined {
    return this.current?.value;
  }

  async renewAfterRejection(rejected: T): Promise<boolean> {
    const { isSame } = this.options;
    const current = this.current?.value;
    // Someone already renewed past the rejected value: the caller should retry with the current one.
    if (current !== undefined && !isSame(current, rejected)) return true;
    if (this.renewal && isSame(this.renewal.rejected, rejected)) return this.renewal.result;
    // The source was already asked recently about this value and had nothing newer: asking again would only add
    // vault reads while the identity provider keeps refusing the same credential. After `rejectedRecheckMs` it is
    // asked once more, so a corrected value is picked up without a restart.
    if (
      this.renewedFor !== undefined &&
      isSame(this.renewedFor.value, rejected) &&
      this.options.clock.now() - this.renewedFor.at < (this.options.rejectedRecheckMs ?? 30_000)
    ) {
      return false;
    }

    const result = this.read().then((fresh) => {
      this.renewedFor = { value: rejected, at: this.options.clock.now() };
      const changed = !isSame(fresh, rejected);
      if (!changed) {
        this.options.logger?.warn(
          'client credential rejected by the identity provider and the source holds no newer one',
          {
            credentialSource: this.options.description,
            ...this.options.describe(fresh),
          },
        );
      } else {
        if (this.options.logger)
          securityEvent(this.options.logger, 'credential_rotated', { credentialSource: this.options.description });
      }
      return changed;
    });
    const renewal = { rejected, result };
    this.renewal = renewal;
    const clear = (): void => {
      if (this.renewal === renewal) this.renewal = undefined;
    };
    result.then(clear, clear);
    return result;
  }

  /** One read at a time: every caller during a read shares it. */
  private read(): Promise<T> {
    if (this.inflight) return this.inflight;
    // Applies to cold reads and to renewals alike: during an outage nothing hammers the source.
    if (this.inCooldown()) {
      const failure = this.lastFailure!;
      const waitMs = failure.at + this.options.failureCooldownMs - this.options.clock.now();
      return Promise.reject(
        new AuthError('credential_unavailable', {
          retryAfterSeconds: Math.max(failure.error.retryAfterSeconds ?? 1, Math.ceil(waitMs / 1000)),
          logDetail: `${this.options.description}: not retried during the cool-down after: ${failure.error.logDetail ?? 'a failure'}`,
          cause: failure.error,
        }),
      );
    }
    this.reads += 1;
    const started = this.options.clock.now();
    const inflight = this.options.fetch().then(
      (value) => {
        this.current = { value, fetchedAt: this.options.clock.now() };
        this.lastFailure = undefined;
        this.options.logger?.info('client credential loaded', {
          credentialSource: this.options.description,
          durationMs: this.options.clock.now() - started,
          ...this.options.describe(value),
        });
        return value;
      },
      (cause: unknown) => {
        const error = isAuthError(cause, 'credential_unavailable')
          ? cause
          : new AuthError('credential_unavailable', {
              logDetail: `${this.options.description}: ${describeFailure(cause)}`,
              cause,
            });
        this.lastFailure = { at: this.options.clock.now(), error };
        if (this.current) {
          this.options.logger?.warn('client credential refresh failed: keeping the last good copy', {
            credentialSource: this.options.description,
            reason: error.logDetail,
          });
        } else {
          this.options.logger?.error('client credential unavailable', {
            credentialSource: this.options.description,
            reason: error.logDetail,
            retryAfterSeconds: error.retryAfterSeconds,
          });
        }
        throw error;
      },
    );
    this.inflight = inflight;
    const clear = (): void => {
      if (this.inflight === inflight) this.inflight = undefined;
    };
    inflight.then(clear, clear);
    return inflight;
  }

  private inCooldown(): boolean {
    return !!this.lastFailure && this.options.clock.now() - this.lastFailure.at < this.options.failureCooldownMs;
  }
}

/** A log-safe one-liner for an unexpected failure: its name and code only, never a message that may echo input. */
export function describeFailure(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return `${cause.name}${typeof code === 'string' ? ` (${code})` : ''}`;
  }
  return typeof cause;
}
