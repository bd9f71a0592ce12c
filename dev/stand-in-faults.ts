/**
 * Fault injection shared by the loopback stand-ins (Key Vault, managed identity): arm a fault for the next N
 * requests, and serve it the same way everywhere. Each stand-in only formats the error body its real service sends.
 */
import type { IncomingMessage } from 'node:http';

export type StandInFault =
  | { kind: 'status'; status: number; retryAfterSeconds?: number }
  /** Accept the request and never answer (the caller's timeout must fire). */
  | { kind: 'hang' }
  /** Close the connection without an answer (connection reset). */
  | { kind: 'down' };

/** What the stand-in still has to answer: a status with its headers. Hang and down need no answer. */
export interface InjectedStatus {
  status: number;
  headers: Record<string, string>;
}

export class FaultSwitch {
  private armed: { fault: StandInFault; remaining: number } | undefined;

  /** Serve `fault` to the next `times` requests (default: until `clear`). */
  arm(fault: StandInFault, times = Infinity): void {
    this.armed = { fault, remaining: times };
  }

  clear(): void {
    this.armed = undefined;
  }

  /**
   * Takes the armed fault for this request, if any: `undefined` when none is armed; 'answered' when it was a hang
   * (never answered; the server's stop() destroys the socket) or a dropped connection; else the status to send.
   */
  serve(req: IncomingMessage): InjectedStatus | 'answered' | undefined {
    if (!this.armed) return undefined;
    const current = this.armed.fault;
    if (this.armed.remaining !== Infinity && --this.armed.remaining <= 0) this.armed = undefined;
    if (current.kind === 'hang') return 'answered';
    if (current.kind === 'down') {
      req.socket.destroy();
      return 'answered';
    }
    const headers: Record<string, string> =
      current.retryAfterSeconds !== undefined ? { 'Retry-After': String(current.retryAfterSeconds) } : {};
    return { status: current.status, headers };
  }
}
