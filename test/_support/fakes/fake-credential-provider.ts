/**
 * A ClientCredentialProvider over an in-memory "vault": read once and cached, re-read once when a rejected value is
 * reported, failing as credential_unavailable when the vault is down. It passes the same contract as the Key Vault
 * provider (`test/_support/contracts/credential-provider.ts`).
 */
import { AuthError } from '../../../shared/errors';
import type { ClientCredential, ClientCredentialProvider } from '../../../shared/ports';

export class FakeCredentialProvider implements ClientCredentialProvider {
  /** Reads of the vault. */
  reads = 0;
  /** Calls to `get()`, so a test can see the credential was fetched (and when). */
  gets = 0;
  private current: ClientCredential | undefined;
  private down = false;

  /** `vaultValue`: the client secret the vault holds now. */
  constructor(private vaultValue: string) {}

  /** Writes a new current secret to the vault (a rotation). */
  setVaultValue(value: string): void {
    this.vaultValue = value;
  }

  /** The vault cannot be reached (true) or is back (false). */
  setDown(down: boolean): void {
    this.down = down;
  }

  async get(): Promise<ClientCredential> {
    this.gets += 1;
    this.current ??= this.read();
    return this.current;
  }

  async renewAfterRejection(rejected: ClientCredential): Promise<boolean> {
    if (this.current && !sameSecret(this.current, rejected)) return true;
    this.current = this.read();
    return !sameSecret(this.current, rejected);
  }

  private read(): ClientCredential {
    if (this.down)
      throw new AuthError('credential_unavailable', { retryAfterSeconds: 5, logDetail: 'fake vault down' });
    this.reads += 1;
    return { kind: 'secret', clientSecret: this.vaultValue };
  }
}

function sameSecret(a: ClientCredential, b: ClientCredential): boolean {
  return a.kind === 'secret' && b.kind === 'secret' && a.clientSecret === b.clientSecret;
}
