import { readFileSync } from 'node:fs';
import { PermanentError, TransientError } from '../../shared/errors.js';
import { boundary, checkPlan, DEFAULT_KILL_GRACE_SECONDS, planFiles, stagingName, type StepPlan } from './agent-files.js';
import { isSafeRelativePath, shellQuote } from '../../shared/shell.js';
import type { SshSession } from '../ssh/ssh.js';

/**
 * The dispatcher's side of the on-instance agent (agent.sh, docs/agent.md):
 * install and start it for a task attempt, read its status, stop it.
 */

export type { StepPlan } from './agent-files.js';

export interface AgentStatus {
  state: 'not-started' | 'running' | 'exited';
  /** Epoch seconds, instance clock (as every time here). */
  startedAt?: number;
  heartbeatAt?: number;
  endedAt?: number;
  /** The step's exit code, 128 + signal when it died of one, 124 when it ran past its timeout, 143 when stopped. */
  exitCode?: number;
  stdoutTail: string;
  stderrTail: string;
  /** The instance's clock when the status was read (epoch seconds): heartbeat age = instanceNow - heartbeatAt, free of clock skew. */
  instanceNow?: number;
  /** While running: false when the agent process is gone without an exit status (the run was lost, e.g. killed). */
  agentAlive?: boolean;
  /**
   * A spot interruption notice the agent's metadata watcher saw
   * (spot/instance-action: action `terminate`, `stop` or `hibernate`, time ISO 8601 UTC),
   * with the instance epoch second it saw it. The step's process group got one TERM then.
   */
  notice?: { action: string; time: string; seenAt: number };
  /** A rebalance recommendation the watcher saw (events/recommendations/rebalance); the step was left running. */
  rebalance?: { noticeTime?: string; seenAt: number };
  /** The step (1-based) that ran past its timeout (its own, else the run's) and was stopped, and that timeout in seconds. */
  timedOut?: { step: number; seconds: number };
}

const DEFAULT_TAIL_LINES = 50;
const MAX_TAIL_BYTES = 32 * 1024;
const EXEC_TIMEOUT_MS = 30_000;

let agentScript: string | undefined;

/** agent.sh beside this module (sources, tsx), or in the source tree when running from dist/. */
function loadAgentScript(): string {
  if (agentScript !== undefined) return agentScript;
  for (const candidate of ['./agent.sh', '../../../services/agent/agent.sh']) {
    try {
      agentScript = readFileSync(new URL(candidate, import.meta.url), 'utf8');
      return agentScript;
    } catch {
      // next
    }
  }
  throw new PermanentError('services/agent/agent.sh not found beside the agent module');
}

/**
 * Upload the agent and the plan into `plan.taskDir` and start the run
 * detached; returns once it is started. Idempotent: when a run of this task dir
 * was already started (its `lock` folder exists), nothing is uploaded or started.
 * Two concurrent calls upload to separate staging folders; `mkdir lock` elects one.
 */
export async function startAgent(session: SshSession, plan: StepPlan): Promise<void> {
  checkPlan(plan);
  const dir = plan.taskDir;
  const already = await session.exec(`test -d "$HOME"/${shellQuote(`${dir}/lock`)}`, { timeoutMs: EXEC_TIMEOUT_MS });
  if (already.code === 0) return;
  const stage = stagingName();
  const { files } = planFiles(plan, loadAgentScript());
  await session.mkdirp(`${dir}/${stage}`);
  await Promise.all(files.map((f) => session.putFile(`${dir}/${stage}/${f.path}`, f.content, f.mode)));
  const start = [
    `cd "$HOME"/${shellQuote(dir)} || exit 97`,
    `if mkdir lock 2>/dev/null; then`,
    `  mv ${shellQuote(stage)} plan || exit 98`,
    `  if command -v setsid >/dev/null 2>&1; then`,
    `    setsid sh plan/agent.sh run </dev/null >>agent.log 2>&1 &`,
    `  else`,
    `    nohup sh plan/agent.sh run </dev/null >>agent.log 2>&1 &`,
    `  fi`,
    `  echo started`,
    `else`,
    `  rm -rf ${shellQuote(stage)}`,
    `  echo already`,
    `fi`,
  ].join('\n');
  const result = await session.exec(start, { timeoutMs: EXEC_TIMEOUT_MS });
  if (result.code !== 0) {
    throw new TransientError(`agent start in ${dir} failed with exit status ${result.code ?? result.signal}: ${result.stderr.trim().slice(0, 500)}`);
  }
}

/** The run's status, in one SSH exec round trip. */
export async function readAgentStatus(session: SshSession, taskDir: string, tailLines = DEFAULT_TAIL_LINES): Promise<AgentStatus> {
  checkDir(taskDir);
  const lines = Math.max(1, Math.floor(tailLines));
  const b = boundary();
  const tail = (file: string): string => `if [ -f ${file} ]; then tail -n ${lines} ${file} | tail -c ${MAX_TAIL_BYTES}; fi; echo; echo ${b}`;
  const script = [
    `echo "now=$(date +%s)"`,
    `cd "$HOME"/${shellQuote(taskDir)} 2>/dev/null || { echo ${b}; echo; echo ${b}; echo; echo ${b}; exit 0; }`,
    `[ -d lock ] && echo lock=1`,
    `for f in started-at heartbeat ended-at exit-status; do [ -f "$f" ] && echo "$f=$(cat "$f")"; done`,
    `[ -f timed-out ] && echo "timed-out=$(cat timed-out)"`,
    // One line each (JSON written by the watcher), so they fit the key=value header.
    `for f in notice rebalance; do [ -f "$f" ] && printf '%s=%s\\n' "$f" "$(tr '\\n\\r' '  ' < "$f")"; done`,
    `p=$(cat agent.pid 2>/dev/null) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo alive=1`,
    `echo ${b}`,
    tail('stdout'),
    tail('stderr'),
  ].join('\n');
  const result = await session.exec(script, { timeoutMs: EXEC_TIMEOUT_MS });
  const parts = result.stdout.split(`${b}\n`);
  if (result.code !== 0 || parts.length < 4) {
    throw new TransientError(`agent status of ${taskDir}: unexpected answer (exit status ${result.code ?? result.signal})`);
  }
  return parseStatus(parts[0]!, stripOneNewline(parts[1]!), stripOneNewline(parts[2]!));
}

/**
 * Stop the run: mark it stopped (no further step starts), TERM the step's
 * process group, KILL it after the grace, wait briefly for the agent to write
 * its exit status (143). A run that is not started or already exited is left alone.
 */
export async function stopAgent(session: SshSession, taskDir: string, graceSeconds = DEFAULT_KILL_GRACE_SECONDS): Promise<void> {
  checkDir(taskDir);
  const grace = Math.max(0, Math.floor(graceSeconds));
  const script = [
    `cd "$HOME"/${shellQuote(taskDir)} 2>/dev/null || exit 0`,
    `[ -d lock ] || exit 0`,
    `[ -f exit-status ] && exit 0`,
    `: > stop-requested`,
    `sig() { pg=$(cat step.pgid 2>/dev/null) || pg=; if [ -n "$pg" ]; then kill -$1 -"$pg" 2>/dev/null; else pid=$(cat step.pid 2>/dev/null) || pid=; [ -n "$pid" ] && kill -$1 "$pid" 2>/dev/null; fi; }`,
    // One TERM per step, whoever sends it first (this script, the agent's watchdog, its TERM trap):
    // the sender is the one that creates .term-<step pid> (agent.sh term_step_once).
    `sp=$(cat step.pid 2>/dev/null) || sp=`,
    `if [ -n "$sp" ]; then`,
    `  if mkdir ".term-$sp" 2>/dev/null; then sig TERM; fi`,
    `  i=0; while [ $i -lt ${grace} ] && sig 0; do sleep 1; i=$((i+1)); done`,
    `  sig KILL`,
    `fi`,
    // The agent notices at once and writes its exit status; give it a moment (or for the agent's own TERM if it was between steps).
    `i=0; while [ $i -lt 5 ] && [ ! -f exit-status ]; do sleep 1; i=$((i+1)); done`,
    `exit 0`,
  ].join('\n');
  const result = await session.exec(script, { timeoutMs: (grace + 15) * 1000 });
  if (result.code !== 0) throw new TransientError(`agent stop in ${taskDir} failed with exit status ${result.code ?? result.signal}`);
}

function checkDir(taskDir: string): void {
  if (!isSafeRelativePath(taskDir)) throw new PermanentError('taskDir must be a relative path of plain segments (letters, digits, . _ -)');
}

function stripOneNewline(s: string): string {
  return s.endsWith('\n') ? s.slice(0, -1) : s;
}

function parseStatus(header: string, stdoutTail: string, stderrTail: string): AgentStatus {
  const fields = new Map<string, string>();
  for (const line of header.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  const num = (key: string): number | undefined => {
    const v = fields.get(key);
    return v !== undefined && /^-?\d+$/.test(v) ? Number(v) : undefined;
  };
  const status: AgentStatus = { state: 'not-started', stdoutTail, stderrTail };
  const set = (key: 'startedAt' | 'heartbeatAt' | 'endedAt' | 'exitCode' | 'instanceNow', value: number | undefined): void => {
    if (value !== undefined) status[key] = value;
  };
  set('instanceNow', num('now'));
  set('startedAt', num('started-at'));
  set('heartbeatAt', num('heartbeat'));
  set('endedAt', num('ended-at'));
  set('exitCode', num('exit-status'));
  const notice = parseNotice(fields.get('notice'));
  if (notice) status.notice = notice;
  const rebalance = parseRebalance(fields.get('rebalance'));
  if (rebalance) status.rebalance = rebalance;
  const timedOut = /^(\d+) (\d+)$/.exec(fields.get('timed-out') ?? '');
  if (timedOut) status.timedOut = { step: Number(timedOut[1]), seconds: Number(timedOut[2]) };
  if (status.exitCode !== undefined) status.state = 'exited';
  else if (fields.has('lock')) {
    status.state = 'running';
    // Right after the start the agent may not have written its pid yet: only a started run can be lost.
    status.agentAlive = fields.has('alive') || status.startedAt === undefined;
  }
  return status;
}

/** The fields of a JSON object, or undefined when the text is not one. */
function jsonFields(text: string): Map<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? new Map<string, unknown>(Object.entries(value)) : undefined;
  } catch {
    return undefined;
  }
}

/** seenAt of a watcher file that is not valid JSON (the service's answer was odd): the agent's own part still counts. */
function seenAtOf(fields: Map<string, unknown> | undefined, text: string): number | undefined {
  const value = fields?.get('seenAt');
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  const match = /"seenAt":(\d+)\}\s*$/.exec(text);
  return match ? Number(match[1]) : undefined;
}

function stringField(fields: Map<string, unknown> | undefined, text: string, key: string): string | undefined {
  const value = fields?.get(key);
  if (typeof value === 'string') return value;
  if (fields) return undefined;
  const match = new RegExp(`"${key}"\\s*:\\s*"([^"\\\\]*)"`).exec(text);
  return match?.[1];
}

function parseNotice(text: string | undefined): AgentStatus['notice'] {
  if (text === undefined) return undefined;
  const fields = jsonFields(text);
  const seenAt = seenAtOf(fields, text);
  if (seenAt === undefined) return undefined;
  return { action: stringField(fields, text, 'action') ?? 'unknown', time: stringField(fields, text, 'time') ?? '', seenAt };
}

function parseRebalance(text: string | undefined): AgentStatus['rebalance'] {
  if (text === undefined) return undefined;
  const fields = jsonFields(text);
  const seenAt = seenAtOf(fields, text);
  if (seenAt === undefined) return undefined;
  const noticeTime = stringField(fields, text, 'noticeTime');
  return noticeTime === undefined ? { seenAt } : { noticeTime, seenAt };
}
