/**
 * The simulated clock: simulated time runs `timeScale` times faster than real
 * time from the moment the simulator starts. Everything the market, notices
 * and latencies do is scheduled on it.
 */
export class SimClock {
  private readonly realStart: number;
  private readonly simStart: number;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    readonly timeScale: number,
    simStart: number = Date.now(),
  ) {
    this.realStart = Date.now();
    this.simStart = simStart;
  }

  /** Simulated epoch milliseconds. */
  now(): number {
    return this.simStart + (Date.now() - this.realStart) * this.timeScale;
  }

  date(): Date {
    return new Date(this.now());
  }

  /** Real milliseconds that `simMs` simulated milliseconds take. */
  toRealMs(simMs: number): number {
    return Math.max(0, simMs / this.timeScale);
  }

  /** Run `fn` once the simulated clock reaches `simTime` (epoch ms). */
  at(simTime: number, fn: () => void): NodeJS.Timeout {
    return this.after(simTime - this.now(), fn);
  }

  /** Run `fn` after `simMs` simulated milliseconds. */
  after(simMs: number, fn: () => void): NodeJS.Timeout {
    const delay = Math.min(this.toRealMs(simMs), 2_147_000_000);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, delay);
    this.timers.add(timer);
    return timer;
  }

  cancel(timer: NodeJS.Timeout | undefined): void {
    if (!timer) return;
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  /** Cancel every pending timer (reset, stop). */
  cancelAll(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
