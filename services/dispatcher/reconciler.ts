/**
 * The reconciler: level-triggered, like a controller. It runs in every
 * dispatcher, but only the holder of the `reconciler` lease acts. Each tick it
 * finds open jobs and tasks whose state has not moved past that state's
 * timeout (the sparse `open-due` index) and re-sends the message that moves
 * them, so a lost message or a restarted emulator never strands a job.
 */
import { describeError } from '../../shared/errors.js';
import { DEFAULT_STUCK_SECONDS, type Machine } from '../../shared/states.js';
import type { EntityStore } from '../../shared/store/index.js';
import type { FleetDeps } from './context.js';

export const RECONCILER_LEASE = 'reconciler';

export interface ReconcileResult {
  holder: boolean;
  redriven: number;
  skipped: number;
}

export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  /** Whether this process held the lease at its last tick. */
  holder = false;
  ticks = 0;

  constructor(
    private readonly deps: FleetDeps,
    readonly id: string,
  ) {}

  start(): void {
    if (this.timer || this.stopped) return;
    const every = this.deps.config.reconciler.intervalSeconds * 1000;
    const loop = () => {
      this.running = this.tick()
        .catch((err) => this.deps.log.warn({ err: describeError(err) }, 'reconciler tick failed'))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.timer = setTimeout(loop, every);
        });
    };
    this.timer = setTimeout(loop, 0);
  }

  /** Stop ticking; with `release`, give the lease up so another dispatcher takes over at once. */
  async stop(release = true): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    if (release && this.holder) {
      await this.deps.store.leases.release(RECONCILER_LEASE, this.id).catch(() => undefined);
      this.holder = false;
    }
  }

  async tick(): Promise<ReconcileResult> {
    this.ticks++;
    const leaseMs = this.deps.config.reconciler.leaseSeconds * 1000;
    const held = await this.deps.store.leases.acquire(RECONCILER_LEASE, this.id, leaseMs);
    if (held !== this.holder) this.deps.log.info({ reconciler: this.id }, held ? 'reconciler lease acquired' : 'reconciler lease lost');
    this.holder = held;
    if (!held) return { holder: false, redriven: 0, skipped: 0 };
    const now = this.deps.clock.now();
    const jobs = await this.sweep(this.deps.store.jobs, now, (row) => ({ jobId: row.jobId }));
    const tasks = await this.sweep(this.deps.store.tasks, now, (row) => ({ jobId: row.jobId, taskId: row.taskId }));
    return { holder: true, redriven: jobs.redriven + tasks.redriven, skipped: jobs.skipped + tasks.skipped };
  }

  private async sweep<S extends string, K extends Record<string, string>>(
    store: EntityStore<S, K, Record<string, unknown>>,
    now: number,
    bodyOf: (row: K) => Record<string, string>,
  ): Promise<{ redriven: number; skipped: number }> {
    const machine: Machine<S> = store.machine;
    let redriven = 0;
    let skipped = 0;
    for (const row of await store.listDue(now)) {
      const body = bodyOf(row);
      const rule = machine.states[row.state]?.redrive;
      const log = this.deps.log.child({ ...body, entity: machine.entity, state: row.state });
      // Push dueAt first (conditional on the version read): if the row moved meanwhile, leave it alone.
      if (!(await store.markRedriven(row, row.version, row.state))) {
        skipped++;
        continue;
      }
      if (!rule || !(rule.service in this.deps.bus.catalog)) {
        skipped++;
        log.warn(
          { stuckSeconds: Math.round((now - row.updatedAt) / 1000), lookAgainSeconds: rule?.afterSeconds ?? DEFAULT_STUCK_SECONDS },
          rule ? `stuck, but no handler serves ${rule.service}` : 'stuck in a state with no redrive rule',
        );
        continue;
      }
      await this.deps.bus.send(rule.service, body);
      redriven++;
      log.info({ service: rule.service, stuckSeconds: Math.round((now - row.updatedAt) / 1000) }, 'reconciler re-drove a stuck row');
    }
    return { redriven, skipped };
  }
}
