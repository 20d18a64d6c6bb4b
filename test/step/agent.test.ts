import { expect } from 'chai';
import path from 'node:path';
import { PermanentError } from '../../shared/errors.js';
import { readAgentStatus, startAgent, stopAgent, type AgentStatus, type StepPlan } from '../../services/agent/agent.js';
import { connectSsh, type SshSession } from '../../services/ssh/ssh.js';
import { AGENT_SHELLS, alive, rejection, shOnPath, startInstance, until, type TestInstance } from './helpers.js';

const NASTY_ARGS = ['plain', '', ' spaced  out ', "it's", '"double"', '$HOME', '$(touch pwned)', '`touch pwned`', 'a;b|c&d>e', 'line1\nline2', 'trailing\n\n', 'ünïcödé ✓ 日本', '-n', '*', '\\', "'", 'tab\there', '--'];
const NASTY_ENV: Record<string, string> = {
  SPOTBATCH_JOB_ID: 'job-1',
  SPOTBATCH_TASK_INDEX: '3',
  SPOTBATCH_ATTEMPT: '1',
  QUOTES: `'"'"'`,
  DOLLAR: '$HOME $(touch pwned) `touch pwned`',
  NEWLINES: '\nfirst\nsecond\n\n',
  UNICODE: 'ünïcödé ✓ 日本',
  EMPTY: '',
  SEMI: 'a; exit 9',
};

/** Prints every argument and then the named variables, each followed by NUL. */
const PRINT_ARGS_AND_ENV = `for a in "$@"; do printf '%s\\0' "$a"; done
printf 'ENV\\0'
for n in ${Object.keys(NASTY_ENV).join(' ')}; do eval "v=\\\${$n}"; printf '%s=%s\\0' "$n" "$v"; done
`;

let dirs = 0;
const nextDir = (): string => `.spotbatch/tasks/job-t/${String(++dirs).padStart(4, '0')}/1`;

function plan(over: Partial<StepPlan> & Pick<StepPlan, 'steps'>): StepPlan {
  return { taskDir: nextDir(), env: { SPOTBATCH_JOB_ID: 'job-t' }, stepTimeoutSeconds: 60, heartbeatSeconds: 1, killGraceSeconds: 2, ...over };
}

for (const shell of AGENT_SHELLS) describe(`step/agent (sh: ${shell})`, function () {
  let inst: TestInstance;
  let session: SshSession;
  let restorePath: (() => void) | undefined;

  before(async function () {
    restorePath = shOnPath(shell);
    inst = await startInstance();
    session = await connectSsh(inst.target);
  });
  after(async function () {
    session?.close();
    await inst?.close();
    restorePath?.();
  });

  it(`runs the agent and its steps under ${shell}`, async function () {
    const p = plan({ steps: [{ name: 'which', script: 'readlink /proc/$PPID/exe; readlink /proc/$$/exe' }] });
    await startAgent(session, p);
    const status = await exited(p.taskDir);
    expect(status.exitCode).to.equal(0);
    expect(status.stdoutTail.split('\n').filter(Boolean).map((l) => path.basename(l))).to.deep.equal([shell, shell]);
  });

  const exited = (taskDir: string, s: SshSession = session): Promise<AgentStatus> =>
    until(`${taskDir} to exit`, async () => {
      const status = await readAgentStatus(s, taskDir);
      return status.state === 'exited' ? status : undefined;
    });

  it('reports not-started for a task dir with no run', async function () {
    const status = await readAgentStatus(session, nextDir());
    expect(status).to.include({ state: 'not-started', stdoutTail: '', stderrTail: '' });
    expect(status.instanceNow).to.be.a('number');
  });

  it('runs a step to exit 0 and gives the tails of its output', async function () {
    const p = plan({ steps: [{ name: 'hello', script: 'echo "hello from $SPOTBATCH_JOB_ID"; for i in 1 2 3; do echo "line $i"; done; echo oops >&2' }] });
    await startAgent(session, p);
    const status = await exited(p.taskDir);
    expect(status).to.include({ state: 'exited', exitCode: 0, stdoutTail: 'hello from job-t\nline 1\nline 2\nline 3\n', stderrTail: 'oops\n' });
    expect(status.startedAt).to.be.a('number');
    expect(status.endedAt).to.be.at.least(status.startedAt!);
    expect((await readAgentStatus(session, p.taskDir, 2)).stdoutTail).to.equal('line 2\nline 3\n');
  });

  it('runs steps in order and stops at the first failure, reporting its exit code (3)', async function () {
    const p = plan({
      steps: [
        { name: 'one', script: 'echo one' },
        { name: 'two', script: 'echo two; exit 3' },
        { name: 'three', script: 'echo three' },
      ],
    });
    await startAgent(session, p);
    const status = await exited(p.taskDir);
    expect(status).to.include({ exitCode: 3, stdoutTail: 'one\ntwo\n' });
  });

  it('reports 128 + signal for a step killed by a signal, 127 for a missing command', async function () {
    const killed = plan({ steps: [{ name: 'k', script: 'kill -KILL $$' }] });
    const missing = plan({ steps: undefined, argv: ['no-such-program-xyz'] });
    await Promise.all([startAgent(session, killed), startAgent(session, missing)]);
    expect((await exited(killed.taskDir)).exitCode).to.equal(137);
    const m = await exited(missing.taskDir);
    expect(m.exitCode).to.equal(127);
    expect(m.stderrTail).to.match(/not found/);
  });

  it('passes nasty args and env intact, in steps mode and command mode', async function () {
    const steps = plan({ steps: [{ name: 'print', script: PRINT_ARGS_AND_ENV }], args: NASTY_ARGS, env: NASTY_ENV });
    const command = plan({ steps: undefined, argv: ['printf', '%s\\0'], args: NASTY_ARGS, env: NASTY_ENV });
    await Promise.all([startAgent(session, steps), startAgent(session, command)]);
    expect((await exited(steps.taskDir)).exitCode).to.equal(0);
    expect((await exited(command.taskDir)).exitCode).to.equal(0);

    const printed = (await session.readFile(`${steps.taskDir}/stdout`))!.toString('utf8').split('\0').slice(0, -1);
    const envAt = printed.indexOf('ENV');
    expect(printed.slice(0, envAt)).to.deep.equal(NASTY_ARGS);
    expect(printed.slice(envAt + 1)).to.deep.equal(Object.entries(NASTY_ENV).map(([k, v]) => `${k}=${v}`));

    const direct = (await session.readFile(`${command.taskDir}/stdout`))!.toString('utf8').split('\0').slice(0, -1);
    expect(direct).to.deep.equal(NASTY_ARGS);
    // Nothing was evaluated along the way.
    expect((await session.exec('ls "$HOME"/pwned "$HOME"/.spotbatch/pwned 2>/dev/null; true')).stdout).to.equal('');
  });

  it('advances the heartbeat while a step runs', async function () {
    const p = plan({ steps: [{ name: 'long', script: 'sleep 30' }] });
    await startAgent(session, p);
    const first = await until('a heartbeat', async () => (await readAgentStatus(session, p.taskDir)).heartbeatAt);
    const later = await until('the heartbeat to advance', async () => {
      const s = await readAgentStatus(session, p.taskDir);
      expect(s.state).to.equal('running');
      expect(s.agentAlive).to.equal(true);
      return s.heartbeatAt !== undefined && s.heartbeatAt > first ? s.heartbeatAt : undefined;
    });
    expect(later).to.be.greaterThan(first);
    await stopAgent(session, p.taskDir, 1);
  });

  it('times a step out: TERM to its group, exit status 124', async function () {
    const p = plan({ steps: [{ name: 'slow', script: 'echo before; sleep 30; echo after' }, { name: 'never', script: 'echo never' }], stepTimeoutSeconds: 1 });
    await startAgent(session, p);
    const status = await exited(p.taskDir);
    expect(status).to.include({ exitCode: 124, stdoutTail: 'before\n' });
    expect(status.timedOut).to.deep.equal({ step: 1, seconds: 1 });
  });

  it("applies a step's own timeout to that step only; a step without one has the run's", async function () {
    // Run-wide 8 s: "plain" (3 s, no own timeout) must finish although it outlives "short"'s own 1 s,
    // and "short" is stopped after 1 s, not 8.
    const p = plan({
      steps: [
        { name: 'plain', script: 'sleep 3; echo plain done' },
        { name: 'short', script: 'echo short before; sleep 30; echo short after', timeoutSeconds: 1 },
        { name: 'never', script: 'echo never' },
      ],
      stepTimeoutSeconds: 8,
    });
    await startAgent(session, p);
    const status = await exited(p.taskDir);
    expect(status).to.include({ exitCode: 124, stdoutTail: 'plain done\nshort before\n' });
    expect(status.timedOut).to.deep.equal({ step: 2, seconds: 1 });
    expect(status.endedAt! - status.startedAt!).to.be.below(8);
  });

  it("lets a step's own timeout be longer than the run's", async function () {
    const p = plan({ steps: [{ name: 'long', script: 'sleep 2; echo long done', timeoutSeconds: 10 }], stepTimeoutSeconds: 1 });
    await startAgent(session, p);
    const status = await exited(p.taskDir);
    expect(status).to.include({ exitCode: 0, stdoutTail: 'long done\n' });
    expect(status.timedOut).to.equal(undefined);
  });

  it('KILLs a step that ignores TERM after the grace, still 124', async function () {
    const p = plan({ steps: [{ name: 'stubborn', script: `trap '' TERM; echo started; sleep 30` }], stepTimeoutSeconds: 1, killGraceSeconds: 1 });
    await startAgent(session, p);
    const status = await exited(p.taskDir);
    expect(status).to.include({ exitCode: 124, stdoutTail: 'started\n' });
  });

  it('survives the SSH session closing: still running on a new session, then exited', async function () {
    const first = await connectSsh(inst.target);
    const p = plan({ steps: [{ name: 'wait', script: 'while [ ! -f "$SPOTBATCH_TASK_DIR/go" ]; do sleep 0.2; done; echo finished' }] });
    await startAgent(first, p);
    first.close();
    const second = await connectSsh(inst.target);
    try {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const running = await readAgentStatus(second, p.taskDir);
      expect(running).to.include({ state: 'running', agentAlive: true });
      await second.putFile(`${p.taskDir}/go`, '');
      expect(await exited(p.taskDir, second)).to.include({ exitCode: 0, stdoutTail: 'finished\n' });
    } finally {
      second.close();
    }
  });

  it('starts a task dir once, however often startAgent is called', async function () {
    const p = plan({ steps: [{ name: 'count', script: 'echo run >> "$SPOTBATCH_TASK_DIR/runs"; sleep 1' }] });
    const other = await connectSsh(inst.target);
    try {
      await Promise.all([startAgent(session, p), startAgent(other, p), startAgent(session, p)]);
      await startAgent(session, p);
      await exited(p.taskDir);
      await startAgent(session, p);
      expect((await session.readFile(`${p.taskDir}/runs`))?.toString()).to.equal('run\n');
      // The losers' staging folders are gone.
      expect((await session.exec(`ls -A "$HOME/${p.taskDir}" | grep -c '^\\.plan-' || true`)).stdout.trim()).to.equal('0');
    } finally {
      other.close();
    }
  });

  it('stopAgent kills the whole process group and the run ends with 143', async function () {
    const p = plan({
      steps: [
        { name: 'tree', script: 'sleep 300 & echo $! > "$SPOTBATCH_TASK_DIR/child.pid"; sleep 300' },
        { name: 'after', script: 'echo must not run' },
      ],
    });
    await startAgent(session, p);
    const childPid = Number(await until('the child pid', async () => (await session.readFile(`${p.taskDir}/child.pid`))?.toString().trim() || undefined));
    expect(alive(childPid)).to.equal(true);
    await stopAgent(session, p.taskDir, 2);
    const status = await readAgentStatus(session, p.taskDir);
    expect(status).to.include({ state: 'exited', exitCode: 143, stdoutTail: '' });
    await until('the child to die', () => !alive(childPid));
  });

  it('stopAgent: the step gets one TERM, not one from stopAgent and another from the watchdog', async function () {
    // The step counts its TERMs and ignores them: stopAgent KILLs it after the grace, while the watchdog ticks.
    const p = plan({
      steps: [{ name: 'count', script: `trap 'echo TERM >> "$SPOTBATCH_TASK_DIR/terms"' TERM; : > "$SPOTBATCH_TASK_DIR/ready"; while :; do sleep 1 & wait $!; done` }],
    });
    await startAgent(session, p);
    await until('the step to be ready', async () => (await session.readFile(`${p.taskDir}/ready`)) !== undefined);
    await stopAgent(session, p.taskDir, 3);
    const status = await exited(p.taskDir);
    expect(status.exitCode).to.equal(143);
    expect((await session.readFile(`${p.taskDir}/terms`))?.toString()).to.equal('TERM\n');
  });

  it('stopAgent on a task dir that never started or already ended is a no-op', async function () {
    await stopAgent(session, nextDir());
    const p = plan({ steps: [{ name: 'quick', script: 'true' }] });
    await startAgent(session, p);
    await exited(p.taskDir);
    await stopAgent(session, p.taskDir);
    expect((await readAgentStatus(session, p.taskDir)).exitCode).to.equal(0);
  });

  it('refuses a bad plan before touching the instance', async function () {
    for (const bad of [
      plan({ steps: [{ name: 'x', script: 'true' }], taskDir: '../escape' }),
      plan({ steps: [{ name: 'x', script: 'true' }], taskDir: '/abs' }),
      plan({ steps: [{ name: 'x', script: 'true' }], env: { 'BAD NAME': 'x' } }),
      plan({ steps: undefined }),
      plan({ steps: [{ name: 'x', script: 'true' }], argv: ['true'] }),
      plan({ steps: [{ name: 'x', script: 'true' }], heartbeatSeconds: 0 }),
      plan({ steps: [{ name: 'x', script: 'true', timeoutSeconds: -1 }] }),
      plan({ steps: [{ name: 'x', script: 'true', timeoutSeconds: 1.5 }] }),
    ]) {
      expect(await rejection(startAgent(session, bad))).to.be.instanceOf(PermanentError);
    }
    expect(await rejection(readAgentStatus(session, 'a/../../b'))).to.be.instanceOf(PermanentError);
  });
});
