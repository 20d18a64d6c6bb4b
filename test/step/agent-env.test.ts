import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { planFiles, type StepPlan } from '../../services/agent/agent-files.js';

/**
 * The agent run directly (no SSH) under dash and under bash: the user's env
 * cannot change what the agent does, and the agent's own variables never
 * reach the step. SPOTBATCH_TEST_AGENT_SCRIPT runs another copy of agent.sh.
 */
const AGENT = process.env.SPOTBATCH_TEST_AGENT_SCRIPT ?? new URL('../../services/agent/agent.sh', import.meta.url).pathname;

/** Names the agent uses for itself; the step must see each as the user set it, or not at all. */
const INTERNAL = ['MODE', 'PLAN', 'SH', 'TASK_DIR', 'WORK_DIR', 'SETSID', 'CHECKPOINT_DIR', 'STEP_COUNT', 'STEP_TIMEOUT', 'HEARTBEAT', 'KILL_GRACE', 'METADATA_POLL', 'IMDS_DIR', '_n', '_name', '_limit', 'code', 'i'];

const PRINT_ENV = `for n in ${INTERNAL.join(' ')}; do if eval "[ \\"\\\${$n+set}\\" = set ]"; then eval "printf '%s=%s\\\\n' \\"$n\\" \\"\\\${$n}\\""; fi; done`;

interface Run {
  exitStatus: string;
  /** The `timed-out` file ('<step> <seconds>'), '' when none. */
  timedOut: string;
  stdout: string;
  stderr: string;
}

/** Runs one plan with `shell plan/agent.sh run` in a fresh task dir (HOME a fresh folder); the step's env printed by `env` in the step. */
async function runAgent(
  shell: string,
  plan: Omit<StepPlan, 'taskDir' | 'stepTimeoutSeconds' | 'heartbeatSeconds'> & Partial<Pick<StepPlan, 'stepTimeoutSeconds'>>,
  extraEnv: Record<string, string> = {},
): Promise<Run> {
  const home = mkdtempSync(path.join(tmpdir(), 'spotbatch-agent-env-'));
  try {
    const taskDir = path.join(home, 'task');
    mkdirSync(path.join(taskDir, 'plan'), { recursive: true });
    const full: StepPlan = { taskDir: 'task', stepTimeoutSeconds: 60, heartbeatSeconds: 1, killGraceSeconds: 1, metadataPollSeconds: 60, ...plan };
    for (const f of planFiles(full, readFileSync(AGENT, 'utf8')).files) {
      const file = path.join(taskDir, 'plan', f.path);
      writeFileSync(file, f.content);
      if (f.mode) chmodSync(file, f.mode);
    }
    const child = spawn(shell, ['plan/agent.sh', 'run'], {
      cwd: taskDir,
      stdio: 'ignore',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, AWS_EC2_METADATA_DISABLED: 'true', ...extraEnv },
    });
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', () => resolve());
    });
    const read = (f: string) => {
      try {
        return readFileSync(path.join(taskDir, f), 'utf8');
      } catch {
        return '';
      }
    };
    return { exitStatus: read('exit-status').trim(), stdout: read('stdout'), stderr: read('stderr') + read('agent.log'), timedOut: read('timed-out').trim() };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

for (const shell of ['dash', 'bash']) {
  describe(`step/agent under ${shell}: the agent's variables are its own`, function () {
    it('runs a steps-mode task with MODE, PLAN, SH, TASK_DIR and more set by the user, who sees them as set', async function () {
      const env = { MODE: 'production', PLAN: 'gold', SH: 'zsh', TASK_DIR: '/nowhere', WORK_DIR: '/nowhere', SETSID: 'nope', CHECKPOINT_DIR: '../../x', _n: '9', _name: 'x', STEP_COUNT: '7', i: 'eye', code: '5' };
      const run = await runAgent(shell, { steps: [{ name: 'one', script: PRINT_ENV }, { name: 'two', script: 'echo "second: $SPOTBATCH_STEP $1"' }], args: ['arg1'], env });
      expect(run.exitStatus, run.stderr).to.equal('0');
      const seen = Object.fromEntries(run.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      expect(seen).to.deep.equal(env);
      expect(run.stdout).to.include('second: 2 arg1\n');
    });

    it("keeps the agent's own variables out of a step that set none of them", async function () {
      const run = await runAgent(shell, { steps: [{ name: 'one', script: PRINT_ENV }], env: {} });
      expect(run.exitStatus, run.stderr).to.equal('0');
      expect(run.stdout).to.equal('');
    });

    it("runs a command-mode task with MODE set, looking the program up on the user's PATH", async function () {
      const bin = mkdtempSync(path.join(tmpdir(), 'spotbatch-agent-bin-'));
      try {
        writeFileSync(path.join(bin, 'my-tool'), '#!/bin/sh\necho "my-tool $MODE $*"\n', { mode: 0o755 });
        const run = await runAgent(shell, { steps: undefined, argv: ['my-tool', 'a b'], args: ['c'], env: { MODE: 'production', PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` } });
        expect(run.exitStatus, run.stderr).to.equal('0');
        expect(run.stdout).to.equal('my-tool production a b c\n');
      } finally {
        rmSync(bin, { recursive: true, force: true });
      }
    });

    it('exits 127 for a command not on the step PATH, naming it', async function () {
      const run = await runAgent(shell, { steps: undefined, argv: ['no-such-tool-here'], env: { MODE: 'steps' } });
      expect(run.exitStatus).to.equal('127');
      expect(run.stderr).to.include('no-such-tool-here: command not found');
    });

    it('runs without setsid too (SPOTBATCH_AGENT_NO_SETSID=1), with the user env set', async function () {
      const run = await runAgent(shell, { steps: [{ name: 'one', script: 'echo "mode=$MODE sh=$SH"' }], env: { MODE: 'production', SH: 'x' } }, { SPOTBATCH_AGENT_NO_SETSID: '1' });
      expect(run.exitStatus, run.stderr).to.equal('0');
      expect(run.stdout).to.equal('mode=production sh=x\n');
    });
  });

  describe(`step/agent under ${shell}: each step's watchdog ends with its step`, function () {
    it("never applies a quick step's timeout to the next step (several runs at once, to meet the race)", async function () {
      this.timeout(120_000);
      // Quick steps under a run-wide 2 s, then one with its own 40 s that sleeps 5 s: a watchdog left
      // over from a quick step would TERM the long one at about 2 s (exit 124, "step 1 2").
      const quick = Array.from({ length: 4 }, (_, i) => ({ name: `quick${i + 1}`, script: 'true' }));
      const runs = await Promise.all(
        Array.from({ length: 6 }, () => runAgent(shell, { steps: [...quick, { name: 'long', script: 'sleep 5; echo long done', timeoutSeconds: 40 }], env: {}, stepTimeoutSeconds: 2 })),
      );
      for (const run of runs) {
        expect({ exitStatus: run.exitStatus, timedOut: run.timedOut, stdout: run.stdout }, run.stderr).to.deep.equal({ exitStatus: '0', timedOut: '', stdout: 'long done\n' });
      }
    });
  });
}
