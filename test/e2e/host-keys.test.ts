/**
 * Host keys pinned, end to end: each attempt gives its instance a host key in
 * its user data (cloud-init ssh_keys) and keeps the public half; step.run and
 * the CLI refuse an instance that presents another key.
 */
import { expect } from 'chai';
import ssh2 from 'ssh2';
import { cliEnv, ensureBuilt, runCli, type CliResult } from '../helpers/cli.js';
import { eventually } from '../helpers/fleet.js';
import { startStack, type Stack } from '../helpers/stack.js';

describe('host keys pinned, end to end (emulators + simulator)', function () {
  this.timeout(1_200_000);
  let stack: Stack;
  let stopDispatcher: () => Promise<void>;

  before(async function () {
    this.timeout(600_000);
    await ensureBuilt();
    stack = await startStack({ dispatchers: 0, timeScale: 5 });
    const running = await stack.fleet.start('host-keys-0');
    stopDispatcher = async () => {
      await running.stop();
    };
  });
  after(async () => {
    await stack?.close();
  });

  const noSecrets = (r: CliResult): void => {
    expect(r.stdout + r.stderr).not.to.match(/PRIVATE KEY|BEGIN OPENSSH/);
    expect(r.stderr).not.to.match(/\n\s+at /);
  };

  it('step.run refuses an instance presenting another host key: the attempt is given up before anything is sent, the task placed again, bounded', async () => {
    // Instances ignore their user data's ssh_keys: an impostor answers at every address.
    await stack.admin('/_sim/faults', { forgedHostKeys: true });
    try {
      const jobId = await stack.submit({
        name: 'forged',
        tasks: { count: 1 },
        steps: [{ run: 'echo this must never run' }],
        instances: { types: ['m5.large', 'c5.large'], regions: ['us-east-1'] },
        retry: { maxAttempts: 2 },
      });
      const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed'], 600_000);
      expect(job.state).to.equal('failed');
      const [task] = await stack.tasks(jobId);
      expect(task!.state).to.equal('failed');
      expect(task!.reason).to.match(/^instance lost 2 time\(s\): .*host key mismatch/);
      expect(task!.attempts).to.have.length(2);
      for (const a of task!.attempts) {
        expect(a.outcome).to.equal('lost');
        expect(a.reason).to.match(/host key mismatch: the server presented SHA256:\S+, the attempt's pinned host key is SHA256:/);
        expect(a.hostKey).to.match(/^ssh-ed25519 /);
        // The step never started: no plan, no upload, no agent.
        expect(a.startedAt).to.equal(undefined);
        expect(a.sshReadyAt).to.equal(undefined);
      }
      // Every attempt had a key of its own.
      expect(task!.attempts[0]!.hostKey).to.not.equal(task!.attempts[1]!.hostKey);
      expect(JSON.stringify(task)).to.not.match(/PRIVATE KEY/);
    } finally {
      await stack.admin('/_sim/faults', {});
    }
  });

  it('the instance presents the key of its user data; the CLI checks it, and refuses a changed one with a clear line', async () => {
    const env = cliEnv(stack);
    const cli = (args: string[]): Promise<CliResult> => runCli(args, env, 300_000, { built: true });
    const jobId = await stack.submit({
      name: 'pinned',
      tasks: { count: 1 },
      steps: [{ run: 'echo started; sleep 900' }],
      instances: { types: ['m5.large', 'c5.large'], regions: ['us-east-1'] },
    });
    const task = await eventually('the task running', async () => (await stack.tasks(jobId)).find((t) => t.state === 'running'), 600_000, 500);
    const attempt = task.attempts.at(-1)!;
    // What the instance presents is the attempt's pinned key (from cloud-init ssh_keys in its user data).
    const shown = (await stack.admin(`/_sim/instances/${attempt.instanceId}/host-key`)) as { hostPublicKey: string };
    expect(shown.hostPublicKey).to.equal(attempt.hostKey);
    expect(ssh2.utils.parseKey(attempt.hostKey!)).to.not.be.instanceOf(Error);

    const ok = await cli(['exec', jobId, '0', '--', 'echo reached']);
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.equal('reached\n');

    // No dispatcher from here on (its step.check would give the attempt up at the next poll); then an impostor takes the address.
    await stopDispatcher();
    const presented = (await stack.admin(`/_sim/instances/${attempt.instanceId}/host-key`, {})) as { hostPublicKey: string };
    expect(presented.hostPublicKey).to.match(/^ssh-ed25519 /).and.not.equal(attempt.hostKey);
    const forged = await cli(['exec', jobId, '0', '--', 'echo reached']);
    noSecrets(forged);
    expect(forged.code).to.equal(1);
    expect(forged.stdout).to.equal('');
    // One line that says it (then the usual "(run with --debug for details)").
    const [line, ...rest] = forged.stderr.trim().split('\n');
    expect(line).to.match(/^spotbatch: cannot connect to task 0000's instance .*: host key mismatch: the server presented SHA256:\S+, the attempt's pinned host key is SHA256:\S+; refusing to connect$/);
    expect(rest).to.deep.equal(['(run with --debug for details)']);
    for (const args of [['ssh', jobId, '0'], ['download', jobId, '0', '.spotbatch', '/tmp/spotbatch-never-written']]) {
      const r = await cli(args);
      noSecrets(r);
      expect(r.code, args[0]).to.equal(1);
      expect(r.stderr, args[0]).to.match(/host key mismatch/);
    }
    const logs = await cli(['logs', jobId, '0', '--json']);
    expect(logs.code, logs.stderr).to.equal(0);
    expect(JSON.parse(logs.stdout)).to.deep.include({ source: 'stored' });
    expect(logs.stderr).to.match(/host key mismatch/);
  });
});
