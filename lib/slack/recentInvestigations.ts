// The latest investigation started from each Slack channel, so that `/snat status` needs no id. Per process, in
// memory: another instance of the app, or this one after a restart, does not know it — then the user gives the id
// (every diagnose reply shows it). A durable index would need storage for a convenience; this does not.

export class RecentInvestigations {
  readonly #latest = new Map<string, string>();
  readonly #limit: number;

  /** `limit` bounds memory: the channels heard from longest ago are forgotten first. */
  constructor(limit = 1000) {
    this.#limit = limit;
  }

  remember(channel: string, instanceId: string): void {
    // Re-inserting moves the channel to the end of the Map's order, which is the eviction order.
    this.#latest.delete(channel);
    this.#latest.set(channel, instanceId);
    if (this.#latest.size > this.#limit) {
      const [oldest] = this.#latest.keys();
      if (oldest !== undefined) this.#latest.delete(oldest);
    }
  }

  latest(channel: string): string | undefined {
    return this.#latest.get(channel);
  }
}
