/**
 * What the pure core needs from the outside world, in one leaf module that imports no core module: each core
 * module takes the slice it uses (`Pick<CoreDeps, ...>`), and `shared/services.ts` builds the whole.
 */
import type { JWTVerifyGetKey } from 'jose';
import type { AuthConfig } from '../config';
import type { ApiClient, Clock, Logger, ProviderMetadataSource, RowStore, TokenClient } from '../ports';
import type { RandomBytes } from './keys';
import type { RateLimiter } from './rate-limit';

export interface CoreDeps {
  config: AuthConfig;
  clock: Clock;
  random: RandomBytes;
  logger: Logger;
  states: RowStore;
  sessions: RowStore;
  metadata: ProviderMetadataSource;
  /** Bounds how fast this instance stores pending sign-ins for anonymous callers. */
  signInRate: RateLimiter;
  /** Lazy: only the callback needs signing keys. */
  idTokenKeys(): Promise<JWTVerifyGetKey>;
  /** Lazy: only the callback and refresh load MSAL and the client credential. */
  tokenClient(): Promise<TokenClient>;
  /** Lazy: the HTTP client of the API proxy (/auth/api/…). */
  apiClient(): ApiClient;
  /**
   * Called when a sign-in has gone to the provider: loads the callback's code (not its credential, no network)
   * while the user is there, so the first callback of an instance does not wait for it. Optional: a no-op in tests.
   */
  preloadCallback?(): void;
}

export interface CookieToSet {
  name: string;
  value: string;
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
}
