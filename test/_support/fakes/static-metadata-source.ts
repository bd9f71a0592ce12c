/** A ProviderMetadataSource that answers a fixed document, or fails as the adapter does when the provider is down. */
import { AuthError } from '../../../shared/errors';
import type { ProviderMetadata, ProviderMetadataSource } from '../../../shared/ports';

export class StaticMetadataSource implements ProviderMetadataSource {
  /** Calls to `get()`: "no provider call happened" is a count of zero. */
  calls = 0;
  private failure: AuthError | undefined;

  constructor(private readonly metadata: ProviderMetadata) {}

  /** The provider cannot be reached (default: refused, 502); `undefined` ends the outage. */
  outage(
    failure: AuthError | undefined = new AuthError('upstream_unavailable', { logDetail: 'fake discovery outage' }),
  ): void {
    this.failure = failure;
  }

  async get(): Promise<ProviderMetadata> {
    this.calls += 1;
    if (this.failure) throw this.failure;
    return { ...this.metadata };
  }
}
