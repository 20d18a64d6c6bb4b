/**
 * ssh, exec, upload, download and logs against a simulator instance of a
 * running job, through the built binary; then cancel, and the same commands
 * refused with a clear reason.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateSecretKey } from '../../shared/secrets.js';
import { eventually } from '../helpers/fleet.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { cliEnv, ensureBuilt, runCli, type CliResult, type RunOptions } from '../helpers/cli.js';

describe('spotbatch CLI: ssh, exec, upload, download, logs on a running task', function () {
  // Generous: a loaded 2-core machine can take minutes for what takes seconds when idle.
  this.timeout(1_200_000);
  let stack: Stack;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  let jobId: string;
  const cli = (args: string[], opts: RunOptions & { env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> =>
    runCli(args, { ...env, ...opts.env }, 300_000, { built: true, ...opts });
  const noSecrets = (r: CliResult): void => {
    expect(r.stdout + r.stderr).not.to.match(/PRIVATE KEY|BEGIN OPENSSH/);
    expect(r.stderr).not.to.match(/\n\s+at /);
  };

  before(async function () {
    this.timeout(600_000);
    await ensureBuilt();
    stack = await startStack({ timeScale: 5 });
    dir = mkdtempSync(path.join(tmpdir(), 'spotbatch-remote-'));
    env = cliEnv(stack);
    jobId = await stack.submit({
      name: 'remote',
      tasks: { count: 2 },
      steps: [{ run: 'echo "started $SPOTBATCH_TASK_ID"; echo "warming up" >&2; sleep 900' }],
      instances: { types: ['m5.large'] },
    });
    await eventually(
      'both tasks running',
      async () => {
        const tasks = await stack.tasks(jobId);
        return tasks.length === 2 && tasks.every((t) => t.state === 'running');
      },
      600_000,
      500,
    );
  });
  after(async () => {
    await stack?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ssh without a terminal: the shell reads stdin, exit code is the shell\'s', async () => {
    const out = await cli(['ssh', jobId, '0000'], { stdin: 'echo hi; echo to-err >&2; exit 3\n' });
    noSecrets(out);
    expect(out.stdout).to.equal('hi\n');
    expect(out.stderr).to.contain('to-err');
    expect(out.code, out.stderr).to.equal(3);
    const zero = await cli(['ssh', jobId, '1'], { stdin: 'echo "$SPOTBATCH_INSTANCE_ID"\n' });
    expect(zero.code, zero.stderr).to.equal(0);
    const tasks = await stack.tasks(jobId);
    expect(zero.stdout.trim()).to.equal(tasks.find((t) => t.taskId === '0001')!.attempts.at(-1)!.instanceId);
  });

  it('exec: output streamed, the remote exit code, one line or quoted words, stdin piped', async () => {
    const line = await cli(['exec', jobId, '0', '--', 'echo out; echo err >&2; exit 7']);
    noSecrets(line);
    expect(line.code, line.stderr).to.equal(7);
    expect(line.stdout).to.equal('out\n');
    expect(line.stderr).to.equal('err\n');
    const words = await cli(['exec', jobId, '0', '--', 'printf', '%s|', 'a b', "it's", '$HOME']);
    expect(words.code, words.stderr).to.equal(0);
    expect(words.stdout).to.equal("a b|it's|$HOME|");
    const piped = await cli(['exec', jobId, '0', '--', 'wc -c'], { stdin: 'twelve bytes' });
    expect(piped.stdout.trim()).to.equal('12');
    const closed = await cli(['exec', jobId, '0', '--no-stdin', '--', 'cat; echo done']);
    expect(closed.stdout).to.equal('done\n');
    // The task's own folder is where the docs say.
    const ls = await cli(['exec', jobId, '0', '--', `cat ~/.spotbatch/tasks/${jobId}/0000/1/stdout`]);
    expect(ls.stdout).to.equal('started 0000\n');
  });

  it('exec: a command with options but no -- is a usage error that says to add --', async () => {
    const out = await cli(['exec', jobId, '0', 'ls', '-la']);
    expect(out.code).to.equal(2);
    expect(out.stderr).to.contain("unknown option '-la'");
    expect(out.stderr).to.contain('put the command after --');
  });

  it('upload and download a file and a folder (recursive), as scp -r', async () => {
    const file = path.join(dir, 'one.txt');
    writeFileSync(file, 'one\n');
    const tree = path.join(dir, 'tree');
    mkdirSync(path.join(tree, 'sub', 'deeper'), { recursive: true });
    writeFileSync(path.join(tree, 'a.txt'), 'a\n');
    writeFileSync(path.join(tree, 'sub', 'b.txt'), 'b\n');
    writeFileSync(path.join(tree, 'sub', 'deeper', 'run.sh'), '#!/bin/sh\necho ran\n', { mode: 0o755 });

    const up = await cli(['upload', jobId, '0', file, 'inbox/renamed.txt']);
    noSecrets(up);
    expect(up.code, up.stderr).to.equal(0);
    expect(up.stdout).to.match(/^uploaded 1 file\(s\), 4 B, to i-\w+ \(127\.[\d.]+:\d+\):\/home\/ec2-user\/inbox\/renamed\.txt\n$/);
    // Into an existing folder: under the source's own name.
    const into = await cli(['upload', jobId, '0', file, 'inbox', '--json']);
    expect(into.code, into.stderr).to.equal(0);
    expect(JSON.parse(into.stdout)).to.deep.equal({ to: '/home/ec2-user/inbox/one.txt', files: 1, bytes: 4 });
    const folder = await cli(['upload', jobId, '0', tree, 'inbox/tree', '--json']);
    expect(folder.code, folder.stderr).to.equal(0);
    expect(JSON.parse(folder.stdout)).to.deep.equal({ to: '/home/ec2-user/inbox/tree', files: 3, bytes: 23 });
    const seen = await cli(['exec', jobId, '0', '--', 'cd inbox && find . -type f | sort && cat renamed.txt one.txt && ./tree/sub/deeper/run.sh']);
    expect(seen.stdout).to.equal('./one.txt\n./renamed.txt\n./tree/a.txt\n./tree/sub/b.txt\n./tree/sub/deeper/run.sh\none\none\nran\n');

    const back = path.join(dir, 'back');
    const one = await cli(['download', jobId, '0', 'inbox/renamed.txt', path.join(back, 'r.txt')]);
    expect(one.code, one.stderr).to.equal(0);
    expect(one.stdout).to.equal(`downloaded 1 file(s), 4 B, to ${path.join(back, 'r.txt')}\n`);
    expect(readFileSync(path.join(back, 'r.txt'), 'utf8')).to.equal('one\n');
    const all = await cli(['download', jobId, '0', '/home/ec2-user/inbox/tree', back, '--json']);
    expect(all.code, all.stderr).to.equal(0);
    expect(JSON.parse(all.stdout)).to.deep.equal({ to: path.join(back, 'tree'), files: 3, bytes: 23 });
    expect(readFileSync(path.join(back, 'tree', 'sub', 'b.txt'), 'utf8')).to.equal('b\n');
    expect(statSync(path.join(back, 'tree', 'sub', 'deeper', 'run.sh')).mode & 0o777).to.equal(0o755);
  });

  it('upload and download: a missing path is a usage error naming it', async () => {
    const up = await cli(['upload', jobId, '0', path.join(dir, 'nope.txt'), 'inbox/']);
    expect(up.code).to.equal(2);
    expect(up.stderr).to.contain(`${path.join(dir, 'nope.txt')}: no such file or folder here (nothing uploaded)`);
    const down = await cli(['download', jobId, '0', 'inbox/nope', dir]);
    expect(down.code).to.equal(2);
    expect(down.stderr).to.contain('inbox/nope: no such file or folder on the instance (/home/ec2-user/inbox/nope; nothing downloaded)');
    noSecrets(up);
    noSecrets(down);
  });

  it('logs of a running task: read live from the instance', async () => {
    const text = await cli(['logs', jobId, '1']);
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.equal('--- stdout (task 0001 running, attempt 1, live from the instance) ---\nstarted 0001\n--- stderr ---\nwarming up\n');
    const json = await cli(['logs', jobId, '1', '--json']);
    expect(JSON.parse(json.stdout)).to.deep.include({ jobId, taskId: '0001', state: 'running', attempt: 1, source: 'instance', stdout: 'started 0001\n', stderr: 'warming up\n' });
    const only = await cli(['logs', jobId, '1', '--stream', 'stderr']);
    expect(only.stdout).to.equal('warming up\n');
    // Without the secret key: the stored tails (none yet), and stderr says why.
    const stored = await cli(['logs', jobId, '1', '--json'], { env: { SPOTBATCH_SECRET_KEY: '' } });
    expect(stored.code, stored.stderr).to.equal(0);
    expect(JSON.parse(stored.stdout)).to.deep.include({ source: 'stored', stdout: '', stderr: '' });
    expect(stored.stderr).to.contain('the live output could not be read');
    expect(stored.stderr).to.contain('SPOTBATCH_SECRET_KEY');
  });

  it('bad input: unknown job or task, no secret key, the wrong secret key: exit 2 with the fix', async () => {
    const job = await cli(['ssh', 'job-nope', '0']);
    expect(job.code).to.equal(2);
    expect(job.stderr).to.contain('no job job-nope (see `spotbatch status` for the list)');
    const task = await cli(['exec', jobId, '7', '--', 'true']);
    expect(task.code).to.equal(2);
    expect(task.stderr).to.contain(`no task 7 in job ${jobId} (task ids run from 0000 to 0001`);
    const nokey = await cli(['exec', jobId, '0', '--', 'true'], { env: { SPOTBATCH_SECRET_KEY: '' } });
    expect(nokey.code).to.equal(2);
    expect(nokey.stderr).to.contain('SPOTBATCH_SECRET_KEY (lifecycle.secretKey): is not set');
    const wrong = await cli(['download', jobId, '0', 'inbox', dir], { env: { SPOTBATCH_SECRET_KEY: generateSecretKey() } });
    expect(wrong.code).to.equal(2);
    expect(wrong.stderr).to.contain('not the secret key of the fleet that ran the job');
    expect(wrong.stderr).to.match(/made with key id [0-9a-f]{16}/).and.contain('SPOTBATCH_SECRET_KEYS_PREVIOUS');
    for (const r of [job, task, nokey, wrong]) noSecrets(r);
  });

  it('after cancel: no running instance, said plainly; logs fall back to the stored tails', async () => {
    const cancelled = await cli(['cancel', jobId, '--wait', '--json']);
    expect(cancelled.code, cancelled.stderr).to.equal(0);
    expect(JSON.parse(cancelled.stdout)).to.deep.equal({ id: jobId, state: 'cancelled' });
    const ssh = await cli(['ssh', jobId, '0'], { stdin: 'exit 0\n' });
    expect(ssh.code).to.equal(1);
    expect(ssh.stderr).to.contain(`task 0000 of job ${jobId} has no running instance (state cancelled`);
    expect(ssh.stderr).to.contain(`spotbatch logs ${jobId} 0000`);
    const up = await cli(['upload', jobId, '1', dir, 'x']);
    expect(up.code).to.equal(1);
    expect(up.stderr).to.contain('has no running instance');
    const logs = await cli(['logs', jobId, '0', '--json']);
    expect(logs.code, logs.stderr).to.equal(0);
    expect(JSON.parse(logs.stdout)).to.deep.include({ state: 'cancelled', source: 'stored' });
    const again = await cli(['cancel', jobId]);
    expect(again.code).to.equal(0);
    expect(again.stdout).to.contain('already cancelled');
  });
});
