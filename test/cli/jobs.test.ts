import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStack, type Stack } from '../helpers/stack.js';
import { spawn } from 'node:child_process';
import { BUILT_ENTRY, cliEnv, ensureBuilt, runCli, type CliResult, type RunOptions } from '../helpers/cli.js';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));

describe('spotbatch CLI: submit, status, tasks, logs, cancel', function () {
  // Generous: a loaded 2-core machine can take minutes for what takes seconds when idle.
  this.timeout(1_200_000);
  let stack: Stack;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  const cli = (args: string[], opts: RunOptions = {}, timeoutMs = 300_000): Promise<CliResult> => runCli(args, env, timeoutMs, { built: true, ...opts });
  before(async function () {
    this.timeout(600_000);
    await ensureBuilt();
    stack = await startStack();
    dir = mkdtempSync(path.join(tmpdir(), 'spotbatch-cli-'));
    env = cliEnv(stack);
  });
  after(async () => {
    await stack?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('submit --wait: progress lines on stderr (no terminal), a summary, exit 0; then status, tasks and logs show it', async () => {
    const submitted = await cli(['submit', path.join(examples, 'testsleep.json'), '--wait'], {}, 600_000);
    expect(submitted.code, submitted.stderr).to.equal(0);
    const jobId = /^submitted (job-[0-9a-f]{10}); waiting/.exec(submitted.stderr)?.[1];
    expect(jobId, submitted.stderr).to.be.a('string');
    // Plain lines, one per change, no terminal escapes.
    expect(submitted.stderr).to.match(new RegExp(`^${jobId} (securing|running): \\d/3 done \\(\\d succeeded, 0 failed\\), \\d running; \\d+ attempts?, 0 interruptions; \\d+s$`, 'm'));
    expect(submitted.stderr).not.to.contain('\x1b[');
    expect(submitted.stdout).to.match(new RegExp(`^${jobId} \\(testsleep\\) succeeded after \\d+(m\\d\\d)?s\\n  tasks: 3 succeeded, 0 failed of 3\\n  attempts: 3, interruptions: 0, spend: \\$\\d+\\.\\d{4}`));
    expect(submitted.stdout).to.match(/^0002\s+succeeded\s+1\s+us-east-1\w\/\w+\.large\s+i-\w+/m);

    const list = await cli(['status', '--json']);
    expect(list.code, list.stderr).to.equal(0);
    const jobs = JSON.parse(list.stdout) as Array<{ id: string; name: string; state: string }>;
    expect(jobs.find((j) => j.id === jobId)).to.deep.include({ name: 'testsleep', state: 'succeeded' });
    const table = await cli(['status', '--state', 'succeeded']);
    expect(table.stdout).to.match(new RegExp(`^job\\s+state\\s+succeeded\\s+failed\\s+running\\s+attempts\\s+interruptions\\s+spend\\s+age\\s+name\\n(.*\\n)*${jobId}\\s+succeeded\\s+3/3\\s+0\\s+0\\s+3\\s+0\\s+\\$\\S+\\s+\\S+\\s+testsleep$`, 'm'));
    const none = await cli(['status', '--state', 'cancelling']);
    expect(none.stdout).to.equal('no cancelling jobs\n');

    const one = await cli(['status', jobId!]);
    expect(one.code, one.stderr).to.equal(0);
    expect(one.stdout).to.contain(`${jobId}  testsleep  succeeded  tasks 3/3 succeeded, 0 failed, 0 running`);
    // The status page's shape (GET /api/jobs/JOB).
    const oneJson = JSON.parse((await cli(['status', jobId!, '--json'])).stdout) as { job: { state: string; tasks: { succeeded: number } }; spec: { steps: unknown[] } };
    expect(oneJson.job.state).to.equal('succeeded');
    expect(oneJson.job.tasks.succeeded).to.equal(3);
    expect(oneJson.spec.steps).to.have.length(1);

    const tasks = await cli(['tasks', jobId!]);
    expect(tasks.code, tasks.stderr).to.equal(0);
    expect(tasks.stdout.split('\n')[0]).to.match(/^task\s+state\s+attempt\s+pool\s+instance\s+runtime\s+cost\s+exit\s+reason$/);
    expect(tasks.stdout.trim().split('\n')).to.have.length(4);
    const tasksJson = JSON.parse((await cli(['tasks', jobId!, '--json', '--limit', '2'])).stdout) as Array<{ taskId: string; state: string; exitCode: number }>;
    expect(tasksJson.map((t) => [t.taskId, t.state, t.exitCode])).to.deep.equal([
      ['0000', 'succeeded', 0],
      ['0001', 'succeeded', 0],
    ]);

    const logs = await cli(['logs', jobId!, '2']);
    expect(logs.code, logs.stderr).to.equal(0);
    expect(logs.stdout).to.equal('--- stdout (task 0002 succeeded, attempt 1, kept when the attempt ended) ---\ntask 2 starting (attempt 1)\ntask 2 done\n--- stderr ---\n(empty)\n');
    const last = await cli(['logs', jobId!, '0002', '--stream', 'stdout', '--lines', '1']);
    expect(last.stdout).to.equal('task 2 done\n');

    const ended = await cli(['cancel', jobId!]);
    expect(ended.code).to.equal(1);
    expect(ended.stdout).to.contain(`${jobId} has already ended (succeeded): nothing to cancel`);
  });

  it('submit --wait on a terminal: a progress bar redrawn in place, then the summary', async () => {
    // util-linux script(1) runs the binary on a pseudo-terminal (stdout and stderr both), with no window size.
    const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
    const line = [process.execPath, BUILT_ENTRY, 'submit', path.join(examples, 'testsleep.json'), '--wait'].map(quote).join(' ');
    const child = spawn('script', ['-qec', line, '/dev/null'], {
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code, out).to.equal(0);
    // Redrawn with a carriage return and erase-line, 80 columns wide when the terminal says nothing.
    expect(out).to.match(/\r\[[#x.]+\] [0-3]\/3 /);
    expect(out).to.contain('\x1b[K');
    const ERASE = '\x1b[K';
    for (const drawn of out.split('\r').filter((l) => l.startsWith('['))) expect(drawn.split(ERASE)[0]!.length).to.be.at.most(80);
    expect(out).to.match(/job-[0-9a-f]{10} \(testsleep\) succeeded after/);
  });

  it('submit - --wait --json --quiet: a job that fails exits 1, its JSON says why; no progress', async () => {
    const spec = JSON.stringify({ name: 'fails', tasks: { count: 1 }, steps: [{ run: 'echo bad >&2; exit 4' }], instances: { types: ['m5.large'] } });
    const out = await cli(['submit', '-', '--wait', '--json', '--quiet'], { stdin: spec }, 600_000);
    expect(out.code, out.stderr).to.equal(1);
    expect(out.stderr).to.equal('');
    const result = JSON.parse(out.stdout) as { job: { id: string; state: string; tasks: { failed: number } } };
    expect(result.job.state).to.equal('failed');
    expect(result.job.tasks.failed).to.equal(1);
    const tasks = JSON.parse((await cli(['tasks', result.job.id, '--json'])).stdout) as Array<{ state: string; exitCode: number; stderrTail: string }>;
    expect(tasks[0]).to.deep.include({ state: 'failed', exitCode: 4, stderrTail: 'bad\n' });
  });

  it('refuses a bad spec with exit 2, every problem named, nothing sent', async () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ name: '', tasks: { count: 0 }, command: ['x'], instances: { types: ['m5.large'] } }));
    const out = await cli(['submit', file]);
    expect(out.code).to.equal(2);
    expect(out.stderr).to.contain('name: must not be empty');
    expect(out.stderr).to.contain('tasks.count: must be >= 1');
    expect(out.stderr).not.to.match(/\n\s+at /);
    const missing = await cli(['submit', path.join(dir, 'nope.json')]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.contain('nope.json: cannot be read (ENOENT)');
    const notJson = await cli(['submit', '-'], { stdin: '{"name": ' });
    expect(notJson.code).to.equal(2);
    expect(notJson.stderr).to.contain('-: is not valid JSON');
    const quiet = await cli(['submit', file, '--quiet']);
    expect(quiet.code).to.equal(2);
    expect(quiet.stderr).to.contain('--quiet: only with --wait');
  });

  it('submit --wait of a spec only the fleet can refuse (a checkpoint store it lacks): exit 2 with the fleet\'s reason, not a wait for ever; status says so', async () => {
    const id = `refused-${process.pid}`;
    const spec = JSON.stringify({ id, name: 'refused', tasks: { count: 1 }, steps: [{ run: 'true' }], instances: { types: ['m5.large'] }, checkpoint: { path: 'ckpt', store: 'nosuch' } });
    const out = await cli(['submit', '-', '--wait'], { stdin: spec });
    expect(out.code, out.stderr).to.equal(2);
    expect(out.stderr).to.contain(`job ${id} was refused by the fleet:`);
    expect(out.stderr).to.contain('checkpoint.store');
    const status = await cli(['status', id]);
    expect(status.code).to.equal(2);
    expect(status.stderr).to.contain(`job ${id} was refused by the fleet:`);
    // The same id without the checkpoint: the earlier refusal is not this submit's.
    const fixed = await cli(['submit', '-'], { stdin: spec.replace(', "checkpoint":{"path":"ckpt","store":"nosuch"}', '').replace(',"checkpoint":{"path":"ckpt","store":"nosuch"}', '') });
    expect(fixed.code === 0 ? '' : fixed.stderr).not.to.contain('checkpoint');
    expect(fixed.code, fixed.stderr).to.equal(0);
    expect(fixed.stdout).to.equal(`${id}\n`);
  });

  it('submit of a spec whose id another spec holds: exit 1 "job ID already exists with another spec"; the same spec again: exit 0, a no-op', async () => {
    const id = `same-id-${process.pid}`;
    const specOf = (name: string, run: string) => JSON.stringify({ id, name, tasks: { count: 1 }, steps: [{ run }], instances: { types: ['m5.large'] } });
    const first = await cli(['submit', '-'], { stdin: specOf('first', 'true') });
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.equal(`${id}\n`);
    const again = await cli(['submit', '-'], { stdin: specOf('first', 'true') });
    expect(again.code, again.stderr).to.equal(0);
    const other = await cli(['submit', '-'], { stdin: specOf('second', 'echo other') });
    expect(other.code).to.equal(1);
    expect(other.stderr).to.contain(`job ID already exists with another spec: ${id}`);
    // Two at the same moment under a new id: one wins, the other is told so.
    const raceId = `${id}-race`;
    const race = (name: string) => cli(['submit', '-'], { stdin: specOf(name, 'true').replace(`"${id}"`, `"${raceId}"`) });
    const results = await Promise.all([race('one'), race('two')]);
    expect(results.map((r) => r.code).sort(), results.map((r) => r.stderr).join('\n')).to.deep.equal([0, 1]);
    expect(results.find((r) => r.code === 1)!.stderr).to.contain(`job ID already exists with another spec: ${raceId}`);
    const status = JSON.parse((await cli(['status', raceId, '--json'])).stdout) as { job: { name: string } };
    expect(status.job.name).to.equal(results.find((r) => r.code === 0) === results[0] ? 'one' : 'two');
  });

  it('reads a local script file named by a step, and cancels a running job', async () => {
    writeFileSync(path.join(dir, 'long.sh'), 'echo started; sleep 600\n');
    const file = path.join(dir, 'long.json');
    writeFileSync(file, JSON.stringify({ name: 'long', tasks: { count: 1 }, steps: [{ script: 'long.sh' }], instances: { types: ['m5.large'] } }));
    const out = await cli(['submit', file, '--json']);
    expect(out.code, out.stderr).to.equal(0);
    const jobId = (JSON.parse(out.stdout) as { id: string }).id;
    expect(jobId).to.match(/^job-[0-9a-f]{10}$/);
    await stack.waitJob(jobId, ['running'], 600_000);
    const cancelled = await cli(['cancel', jobId]);
    expect(cancelled.code, cancelled.stderr).to.equal(0);
    expect(cancelled.stdout).to.equal(`cancelling ${jobId} (spotbatch status ${jobId} shows when it is done)\n`);
    expect((await stack.waitJob(jobId, ['cancelled'], 600_000)).state).to.equal('cancelled');
    const unknown = await cli(['cancel', 'job-nope']);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.contain('no job job-nope');
    expect(readFileSync(file, 'utf8')).to.contain('long.sh');
  });
});
