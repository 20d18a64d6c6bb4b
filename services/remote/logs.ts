/**
 * A task's output: the tails kept in its row when an attempt ends, or, while
 * it runs, read live from its instance (the agent's stdout and stderr files
 * of the current attempt, over SSH).
 */
import type { Config } from '../../shared/config.js';
import type { Store } from '../../shared/store/index.js';
import { readAgentStatus } from '../agent/agent.js';
import { connectSsh } from '../ssh/ssh.js';
import { taskDir } from '../ssh/session.js';
import { findTask, liveAttempt, taskInstance } from './target.js';

export interface TaskLogs {
  jobId: string;
  taskId: string;
  state: string;
  attempt?: number;
  /** `instance`: read just now from the running instance; `stored`: the tails the task row keeps (saved when an attempt ends). */
  source: 'instance' | 'stored';
  stdout: string;
  stderr: string;
  /** Why the live tail could not be read, when it was tried and failed. */
  liveError?: string;
}

export interface LogsOptions {
  /** Try the running instance first (default true). */
  live?: boolean;
  /** At most this many last lines of each stream (default 50). */
  lines?: number;
}

export function lastLines(text: string, n: number): string {
  const lines = text.split('\n');
  const trailing = lines[lines.length - 1] === '' ? 1 : 0;
  return lines.slice(Math.max(0, lines.length - trailing - n)).join('\n');
}

export async function taskLogs(store: Store, config: Config, jobId: string, taskRef: string, opts: LogsOptions = {}): Promise<TaskLogs> {
  const lines = opts.lines ?? 50;
  const { job, task } = await findTask(store, jobId, taskRef);
  const attempt = liveAttempt(job, task);
  const base = { jobId, taskId: task.taskId, state: task.state, ...(task.attempts.length ? { attempt: task.attempts[task.attempts.length - 1]!.n } : {}) };
  let liveError: string | undefined;
  if (opts.live !== false && typeof attempt !== 'string' && task.state === 'running') {
    try {
      const inst = await taskInstance(store, config, jobId, task.taskId);
      const session = await connectSsh({ ...inst.target, readyTimeoutMs: 10_000 });
      try {
        const status = await readAgentStatus(session, taskDir(jobId, task.taskId, inst.attempt.n), lines);
        return { ...base, source: 'instance', stdout: status.stdoutTail, stderr: status.stderrTail };
      } finally {
        session.close();
      }
    } catch (err) {
      liveError = err instanceof Error ? err.message : String(err);
    }
  }
  return {
    ...base,
    source: 'stored',
    stdout: lastLines(task.stdoutTail ?? '', lines),
    stderr: lastLines(task.stderrTail ?? '', lines),
    ...(liveError ? { liveError } : {}),
  };
}
