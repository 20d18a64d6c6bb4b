/** API calls served, by action and region (GET /_sim/stats). */
export class Stats {
  private calls = new Map<string, Map<string, number>>();
  private errors = new Map<string, number>();
  total = 0;

  record(action: string, region: string, errorCode?: string): void {
    let byRegion = this.calls.get(action);
    if (!byRegion) this.calls.set(action, (byRegion = new Map()));
    byRegion.set(region, (byRegion.get(region) ?? 0) + 1);
    this.total++;
    if (errorCode) this.errors.set(errorCode, (this.errors.get(errorCode) ?? 0) + 1);
  }

  clear(): void {
    this.calls.clear();
    this.errors.clear();
    this.total = 0;
  }

  toJSON(): { total: number; calls: Record<string, Record<string, number>>; errors: Record<string, number> } {
    const calls: Record<string, Record<string, number>> = {};
    for (const [action, byRegion] of [...this.calls].sort((a, b) => a[0].localeCompare(b[0]))) calls[action] = Object.fromEntries(byRegion);
    return { total: this.total, calls, errors: Object.fromEntries(this.errors) };
  }
}
