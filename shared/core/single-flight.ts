/**
 * Coalesces concurrent identical work within this instance: callers with the same key while one run is in
 * flight share its result (or error). Used so ten simultaneous refreshes of one session make one call to the
 * identity provider and one storage write, not ten racing ones.
 */
export class SingleFlight<T> {
  private readonly flights = new Map<string, Promise<T>>();

  run(key: string, work: () => Promise<T>): Promise<T> {
    const running = this.flights.get(key);
    if (running) return running;
    const flight = work().finally(() => this.flights.delete(key));
    this.flights.set(key, flight);
    return flight;
  }
}
