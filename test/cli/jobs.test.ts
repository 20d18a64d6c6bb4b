import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStack, type Stack } from '../helpers/stack.js';
import { runCli } from '../helpers/cli.js';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));

describe('spotbatch CLI: submit, status, cancel', function () {
  this.timeout(240_000);
  let stack: Stack;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  before(async () => {
    stack = await startStack();
    dir = mkdtempSync(path.join(tmpdir(), 'spotbatch-cli-'));
    env = {
      AWS_ENDPOINT_URL_SQS: stack.emu.endpoints.sqs,
      AWS_ENDPOINT_URL_DYNAMODB: stack.emu.endpoints.dynamodb,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      SPOTBATCH_PREFIX: stack.fleet.config.prefix,
    };
  });
  after(async () => {
    await stack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('submits the example with --wait, then lists and shows it', async () => {
    const submitted = await runCli(['submit', path.join(examples, 'testsleep.json'), '--wait', '--json'], env, 180_000);
    expect(submitted.code, submitted.stderr).to.equal(0);
    const result = JSON.parse(submitted.stdout) as { job: { id: string; state: string; succeeded: number }; tasks: Array<{ state: string }> };
    expect(result.job.state).to.equal('succeeded');
    expect(result.job.succeeded).to.equal(3);
    expect(result.tasks.map((t) => t.state)).to.deep.equal(['succeeded', 'succeeded', 'succeeded']);

    const list = await runCli(['status', '--json'], env);
    expect(list.code, list.stderr).to.equal(0);
    const jobs = JSON.parse(list.stdout) as Array<{ id: string; name: string; state: string }>;
    expect(jobs.find((j) => j.id === result.job.id)).to.deep.include({ name: 'testsleep', state: 'succeeded' });

    const one = await runCli(['status', result.job.id], env);
    expect(one.code, one.stderr).to.equal(0);
    expect(one.stdout).to.contain(`${result.job.id}  testsleep  succeeded`);
    expect(one.stdout).to.match(/0002\s+succeeded\s+1\s+us-east-1\w\/\w+\.large/);
  });

  it('refuses a bad spec with exit 2, every problem named, nothing sent', async () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ name: '', tasks: { count: 0 }, command: ['x'], instances: { types: ['m5.large'] } }));
    const out = await runCli(['submit', file], env);
    expect(out.code).to.equal(2);
    expect(out.stderr).to.contain('name: must not be empty');
    expect(out.stderr).to.contain('tasks.count: must be >= 1');
    expect(out.stderr).not.to.match(/\n\s+at /);
    const missing = await runCli(['submit', path.join(dir, 'nope.json')], env);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.contain('nope.json: cannot be read (ENOENT)');
  });

  it('reads a local script file named by a step, and cancels a running job', async () => {
    writeFileSync(path.join(dir, 'long.sh'), 'echo started; sleep 600\n');
    const file = path.join(dir, 'long.json');
    writeFileSync(file, JSON.stringify({ name: 'long', tasks: { count: 1 }, steps: [{ script: 'long.sh' }], instances: { types: ['m5.large'] } }));
    const out = await runCli(['submit', file], env);
    expect(out.code, out.stderr).to.equal(0);
    const jobId = out.stdout.trim();
    expect(jobId).to.match(/^job-[0-9a-f]{10}$/);
    await stack.waitJob(jobId, ['running']);
    const cancelled = await runCli(['cancel', jobId], env);
    expect(cancelled.code, cancelled.stderr).to.equal(0);
    expect((await stack.waitJob(jobId, ['cancelled'])).state).to.equal('cancelled');
    const unknown = await runCli(['cancel', 'job-nope'], env);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.contain('no job job-nope');
  });
});
