/**
 * The simulated clock: simulated time runs `timeScale` times faster than real
 * time from the moment the simulator starts. Everything the market, notices
 * and latencies do is scheduled on it.
 */

/** Node's setTimeout caps delays at 2^31-1 ms (24.8 days): longer waits are re-armed in steps. */
const MAX_DELAY = 2_000_000_000;

/** A pending simulated-time timer (its real timer is re-armed for long waits). */
export interface TimerHandle {
  timer?: NodeJS.Timeout;
}

/** The simulated clock as numbers: simulated = simStart + (real - realStart) x timeScale. */
export interface ClockOrigin {
  realStart: number;
  simStart: number;
  timeScale: number;
}

export class SimClock {
  private readonly realStart: number;
  private readonly simStart: number;
  private readonly timers = new Set<TimerHandle>();

  constructor(
    readonly timeScale: number,
    simStart: number = Date.now(),
  ) {
    this.realStart = Date.now();
    this.simStart = simStart;
  }

  /** Where the simulated timeline starts on the real one: enough to rebuild the clock elsewhere. */
  origin(): ClockOrigin {
    return { realStart: this.realStart, simStart: this.simStart, timeScale: this.timeScale };
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
  at(simTime: number, fn: () => void): TimerHandle {
    const handle: TimerHandle = {};
    this.timers.add(handle);
    const arm = (): void => {
      const delay = this.toRealMs(simTime - this.now());
      handle.timer = setTimeout(
        () => {
          if (delay > MAX_DELAY) return arm();
          this.timers.delete(handle);
          handle.timer = undefined;
          fn();
        },
        Math.min(delay, MAX_DELAY),
      );
    };
    arm();
    return handle;
  }

  /** Run `fn` after `simMs` simulated milliseconds. */
  after(simMs: number, fn: () => void): TimerHandle {
    return this.at(this.now() + simMs, fn);
  }

  cancel(handle: TimerHandle | undefined): void {
    if (!handle) return;
    if (handle.timer) clearTimeout(handle.timer);
    handle.timer = undefined;
    this.timers.delete(handle);
  }

  /** Cancel every pending timer (reset, stop). */
  cancelAll(): void {
    for (const h of this.timers) if (h.timer) clearTimeout(h.timer);
    this.timers.clear();
  }
}
