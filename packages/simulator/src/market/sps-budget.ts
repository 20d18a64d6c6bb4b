/**
 * GetSpotPlacementScores' request configurations limit. AWS: "We can limit the
 * number of new request configurations within a 24-hour period ... If you
 * reach the limit, you can retry the request configurations that you've
 * already used, but you can't specify new request configurations until the
 * next 24-hour period" (EC2 User Guide, Spot placement score, Limitations).
 * The simulator keeps, per account (access key id), when each configuration
 * was first asked in the rolling window of 24 simulated hours; a configuration
 * asked again inside its window is free; a new one past the limit is refused.
 */
const WINDOW_MS = 24 * 3_600_000;

export const DEFAULT_SPS_CONFIG_LIMIT = 50;

interface Account {
  /** Configuration key -> simulated time it was first asked in its current window. */
  configs: Map<string, number>;
  calls: number;
  newConfigurations: number;
  refusals: number;
}

export interface BudgetDecision {
  allowed: boolean;
  /** Whether the configuration counted as new (it used one of the account's budget). */
  isNew: boolean;
}

export class PlacementBudget {
  private readonly accounts = new Map<string, Account>();
  calls = 0;
  refusals = 0;

  private account(id: string): Account {
    let a = this.accounts.get(id);
    if (!a) this.accounts.set(id, (a = { configs: new Map(), calls: 0, newConfigurations: 0, refusals: 0 }));
    return a;
  }

  private prune(a: Account, now: number): void {
    for (const [k, at] of a.configs) if (now - at >= WINDOW_MS) a.configs.delete(k);
  }

  /** Count one call of `config` by `account` at `now` against `limit` configurations per 24 h. */
  use(account: string, config: string, now: number, limit: number): BudgetDecision {
    const a = this.account(account);
    this.calls++;
    a.calls++;
    this.prune(a, now);
    if (a.configs.has(config)) return { allowed: true, isNew: false };
    if (a.configs.size >= limit) {
      a.refusals++;
      this.refusals++;
      return { allowed: false, isNew: true };
    }
    a.configs.set(config, now);
    a.newConfigurations++;
    return { allowed: true, isNew: true };
  }

  clear(): void {
    this.accounts.clear();
    this.calls = 0;
    this.refusals = 0;
  }

  /** For /_sim/stats at simulated time `now`. */
  toJSON(now: number, limit: number): {
    limit: number;
    calls: number;
    refusals: number;
    accounts: Record<string, { calls: number; newConfigurations: number; configurationsInWindow: number; refusals: number }>;
  } {
    const accounts: Record<string, { calls: number; newConfigurations: number; configurationsInWindow: number; refusals: number }> = {};
    for (const [id, a] of [...this.accounts].sort((x, y) => x[0].localeCompare(y[0]))) {
      this.prune(a, now);
      accounts[id] = { calls: a.calls, newConfigurations: a.newConfigurations, configurationsInWindow: a.configs.size, refusals: a.refusals };
    }
    return { limit, calls: this.calls, refusals: this.refusals, accounts };
  }
}
