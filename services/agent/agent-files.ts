import { randomBytes } from 'node:crypto';
import { PermanentError } from '../../shared/errors.js';
import { ENV_NAME_RULE, execBytes, hasNul, isEnvName, isSafeRelativePath, MAX_EXEC_BYTES, NUL_RULE, shellQuote, shellWords } from '../../shared/shell.js';

/**
 * The plan of one task attempt as files for the agent (docs/agent.md). Every
 * value the user controls (args, env values, step names) is single-quote
 * escaped; names and numbers are validated, so nothing reaches a shell unescaped.
 */

export interface StepPlan {
  /** Relative to the login home, e.g. `.spotbatch/tasks/job-1/0003/1`. */
  taskDir: string;
  /** POSIX sh scripts run in order (args as "$@"), each with its own timeout if given; or undefined in command mode. */
  steps: Array<{ name: string; script: string; timeoutSeconds?: number }> | undefined;
  /** Command mode: exec'd directly (no shell), task args appended. */
  argv?: string[];
  args?: string[];
  env: Record<string, string>;
  /** Per step, unless the step gives its own `timeoutSeconds`; 0 = no limit. */
  stepTimeoutSeconds: number;
  heartbeatSeconds: number;
  /** Seconds between TERM and KILL when a step is timed out or stopped; default 10. */
  killGraceSeconds?: number;
  /** Seconds between two polls of the instance metadata service (spot notice, rebalance) while a step runs; default 5. */
  metadataPollSeconds?: number;
  /** Relative to the login home; created before the first step and given to the steps as SPOTBATCH_CHECKPOINT_DIR (absolute). */
  checkpointDir?: string;
}

export const DEFAULT_KILL_GRACE_SECONDS = 10;
export const DEFAULT_METADATA_POLL_SECONDS = 5;

export interface PlanFiles {
  /** Relative to the task dir's staging folder (which becomes `plan/`). */
  files: Array<{ path: string; content: string; mode?: number }>;
}

export function checkPlan(plan: StepPlan): void {
  const problems: string[] = [];
  if (!isSafeRelativePath(plan.taskDir)) problems.push('taskDir must be a relative path of plain segments (letters, digits, . _ -)');
  const hasSteps = plan.steps !== undefined;
  const hasArgv = plan.argv !== undefined;
  if (hasSteps === hasArgv) problems.push('give exactly one of steps or argv');
  if (hasSteps && plan.steps!.length === 0) problems.push('steps must not be empty');
  if (hasArgv && (plan.argv!.length === 0 || plan.argv![0] === '')) problems.push('argv must name a program');
  for (const name of Object.keys(plan.env)) if (!isEnvName(name)) problems.push(`env.${JSON.stringify(name)}: ${ENV_NAME_RULE}`);
  const words: Array<[string, string]> = [
    ...(plan.argv ?? []).map((w, i): [string, string] => [`argv[${i}]`, w]),
    ...(plan.args ?? []).map((w, i): [string, string] => [`args[${i}]`, w]),
    ...Object.entries(plan.env).map(([k, v]): [string, string] => [`env.${k}`, v]),
    ...(plan.steps ?? []).map((s, i): [string, string] => [`steps[${i}].name`, s.name]),
  ];
  for (const [where, w] of words) if (hasNul(w)) problems.push(`${where}: ${NUL_RULE}`);
  const bytes = execBytes([...(plan.argv ?? []), ...(plan.args ?? [])], plan.env);
  if (bytes > MAX_EXEC_BYTES) problems.push(`argv, args and env: ${bytes} bytes, more than exec can pass (${MAX_EXEC_BYTES})`);
  if (!Number.isInteger(plan.stepTimeoutSeconds) || plan.stepTimeoutSeconds < 0) problems.push('stepTimeoutSeconds must be an integer >= 0');
  (plan.steps ?? []).forEach((s, i) => {
    if (s.timeoutSeconds !== undefined && (!Number.isInteger(s.timeoutSeconds) || s.timeoutSeconds < 0)) problems.push(`steps[${i}].timeoutSeconds must be an integer >= 0`);
  });
  if (!Number.isInteger(plan.heartbeatSeconds) || plan.heartbeatSeconds < 1) problems.push('heartbeatSeconds must be an integer >= 1');
  const grace = plan.killGraceSeconds ?? DEFAULT_KILL_GRACE_SECONDS;
  if (!Number.isInteger(grace) || grace < 0) problems.push('killGraceSeconds must be an integer >= 0');
  const poll = plan.metadataPollSeconds ?? DEFAULT_METADATA_POLL_SECONDS;
  if (!Number.isInteger(poll) || poll < 1) problems.push('metadataPollSeconds must be an integer >= 1');
  if (plan.checkpointDir !== undefined && !isSafeRelativePath(plan.checkpointDir)) {
    problems.push('checkpointDir must be a relative path of plain segments (letters, digits, . _ -)');
  }
  if (problems.length > 0) throw new PermanentError(`invalid step plan: ${problems.join('; ')}`);
}

export function planFiles(plan: StepPlan, agentScript: string): PlanFiles {
  const steps = plan.steps ?? [{ name: plan.argv![0]!, script: '' }];
  const config = [
    `MODE=${plan.steps ? 'steps' : 'command'}`,
    `STEP_COUNT=${steps.length}`,
    `STEP_TIMEOUT=${plan.stepTimeoutSeconds}`,
    `HEARTBEAT=${plan.heartbeatSeconds}`,
    `KILL_GRACE=${plan.killGraceSeconds ?? DEFAULT_KILL_GRACE_SECONDS}`,
    `METADATA_POLL=${plan.metadataPollSeconds ?? DEFAULT_METADATA_POLL_SECONDS}`,
    `CHECKPOINT_DIR=${shellQuote(plan.checkpointDir ?? '')}`,
    ...steps.map((s, i) => `STEP_NAME_${i + 1}=${shellQuote(s.name)}`),
    // A step's own timeout; the agent falls back to STEP_TIMEOUT for a step without one.
    ...(plan.steps ?? []).flatMap((s, i) => (s.timeoutSeconds === undefined ? [] : [`STEP_TIMEOUT_${i + 1}=${s.timeoutSeconds}`])),
  ];
  const env = Object.entries(plan.env).map(([name, value]) => `export ${name}=${shellQuote(value)}`);
  const words = [...(plan.argv ?? []), ...(plan.args ?? [])];
  const files: PlanFiles['files'] = [
    { path: 'agent.sh', content: agentScript, mode: 0o755 },
    { path: 'config.sh', content: lines(config) },
    { path: 'env.sh', content: lines(env) },
    { path: 'args.sh', content: lines([words.length > 0 ? `set -- ${shellWords(words)}` : 'set --']) },
  ];
  if (plan.steps) plan.steps.forEach((s, i) => files.push({ path: `step-${i + 1}.sh`, content: s.script, mode: 0o755 }));
  return { files };
}

/** A staging folder name inside the task dir, unique per startAgent call. */
export function stagingName(): string {
  return `.plan-${randomBytes(6).toString('hex')}`;
}

/** A line that cannot occur in a step's output by chance: separates the parts of a status answer. */
export function boundary(): string {
  return `--spotbatch-${randomBytes(12).toString('hex')}--`;
}

function lines(list: string[]): string {
  return list.map((l) => `${l}\n`).join('');
}
