/**
 * One table of states and allowed transitions per entity. Handlers move rows
 * only along these edges (the store refuses anything else), the reconciler
 * reads `redrive` to find the message that moves a row stuck in a state, and
 * docs/architecture.md draws them.
 */

export interface StateDef<S extends string> {
  /** States this one may move to. */
  readonly next: readonly S[];
  /** No further moves; the row leaves the reconciler's index. */
  readonly terminal?: boolean;
  /**
   * Re-drive: when a row has sat in this state for `afterSeconds` without
   * moving, the reconciler sends `service` with the row's key as body.
   */
  readonly redrive?: { readonly service: string; readonly afterSeconds: number };
}

export interface Machine<S extends string = string> {
  readonly entity: string;
  readonly initial: S;
  readonly states: { readonly [K in S]: StateDef<S> };
}

/** How long an open row with no redrive rule may sit before the reconciler looks again (and logs it). */
export const DEFAULT_STUCK_SECONDS = 3600;

export function defineMachine<S extends string>(m: Machine<S>): Machine<S> {
  for (const [name, def] of Object.entries<StateDef<S>>(m.states)) {
    for (const to of def.next) {
      if (!(to in m.states)) throw new Error(`${m.entity} state ${name}: unknown next state ${to}`);
    }
    if (def.terminal && def.next.length) throw new Error(`${m.entity} state ${name}: terminal but has next states`);
  }
  return m;
}

export function canMove<S extends string>(m: Machine<S>, from: S, to: S): boolean {
  return m.states[from].next.includes(to);
}

export function isTerminal<S extends string>(m: Machine<S>, state: S): boolean {
  return m.states[state].terminal === true;
}

export const JOB_STATES = [
  'submitted',
  'securing',
  'running',
  'finishing',
  'cancelling',
  'succeeded',
  'partially-failed',
  'failed',
  'cancelled',
] as const;
export type JobState = (typeof JOB_STATES)[number];

/** The job: security resources first, then its tasks run, then teardown. */
export const jobMachine = defineMachine<JobState>({
  entity: 'job',
  initial: 'submitted',
  states: {
    // finishing from an open state with outcome failed: a step that can never succeed (job.fail, security.create).
    submitted: { next: ['securing', 'cancelling', 'finishing', 'failed'], redrive: { service: 'job.start', afterSeconds: 60 } },
    securing: { next: ['running', 'cancelling', 'finishing'], redrive: { service: 'security.create', afterSeconds: 120 } },
    running: { next: ['finishing', 'cancelling'], redrive: { service: 'job.check', afterSeconds: 120 } },
    // cancelling: a cancel works from every open state; failed straight from finishing or cancelling: a teardown that can never finish.
    finishing: {
      next: ['succeeded', 'partially-failed', 'failed', 'cancelling'],
      redrive: { service: 'security.teardown', afterSeconds: 120 },
    },
    cancelling: { next: ['cancelled', 'failed'], redrive: { service: 'job.cancel', afterSeconds: 120 } },
    succeeded: { next: [], terminal: true },
    'partially-failed': { next: [], terminal: true },
    failed: { next: [], terminal: true },
    cancelled: { next: [], terminal: true },
  },
});

export const TASK_STATES = [
  'pending',
  'waiting',
  'starting',
  'running',
  'interrupted',
  'succeeded',
  'failed',
  'cancelled',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

/** A task: one step run to completion, possibly over several attempts (spot requests). */
export const taskMachine = defineMachine<TaskState>({
  entity: 'task',
  initial: 'pending',
  states: {
    pending: { next: ['waiting', 'failed', 'cancelled'], redrive: { service: 'spot.request', afterSeconds: 120 } },
    waiting: { next: ['starting', 'pending', 'interrupted', 'failed', 'cancelled'], redrive: { service: 'spot.check', afterSeconds: 60 } },
    starting: { next: ['running', 'pending', 'interrupted', 'failed', 'cancelled'], redrive: { service: 'step.run', afterSeconds: 180 } },
    running: { next: ['succeeded', 'failed', 'pending', 'interrupted', 'starting', 'cancelled'], redrive: { service: 'step.check', afterSeconds: 120 } },
    interrupted: { next: ['pending', 'failed', 'cancelled'], redrive: { service: 'request.resubmit', afterSeconds: 60 } },
    succeeded: { next: [], terminal: true },
    failed: { next: [], terminal: true },
    cancelled: { next: [], terminal: true },
  },
});

/** The machine as a mermaid state diagram (docs/architecture.md embeds it; a test keeps the two equal). */
export function mermaidOf<S extends string>(m: Machine<S>): string {
  const id = (s: string) => s.replace(/-/g, '_');
  const lines = ['stateDiagram-v2', `  [*] --> ${id(m.initial)}`];
  for (const [from, def] of Object.entries<StateDef<S>>(m.states)) {
    for (const to of def.next) lines.push(`  ${id(from)} --> ${id(to)}`);
    if (def.terminal) lines.push(`  ${id(from)} --> [*]`);
  }
  return lines.join('\n');
}
