import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { configuredArtifactStore } from '../../services/artifacts/index.js';
import { DIGEST, digestOf } from '../../services/model/artifact-digest.js';
import { prepareSpec, submitJob } from '../../services/job/client.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { eventually } from '../helpers/fleet.js';

const instances = { types: ['m5.large'], regions: ['us-east-1'] };

/** Whether `marker` is in any file below `dir` (bounded walk). */
function containsMarker(dir: string, marker: string): boolean {
  let found = false;
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const p = path.join(d, name);
      try {
        const st = statSync(p);
        if (st.isDirectory()) walk(p);
        else if (st.isFile() && st.size < 10_000_000 && readFileSync(p).includes(marker)) found = true;
      } catch {
        // vanished meanwhile
      }
    }
  };
  walk(dir);
  return found;
}

describe('job inputs through the fleet\'s artifact store (end to end)', function () {
  this.timeout(300_000);
  let stack: Stack;
  let work: string;

  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'spotbatch-inputs-'));
    stack = await startStack({ config: { artifacts: `local:${path.join(work, 'artifacts')}` } });
  });
  after(async () => {
    await stack?.close();
    rmSync(work, { recursive: true, force: true });
  });

  const sendRaw = (body: unknown) =>
    stack.fleet.clients.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.fleet.deps.queues.main.master,
        MessageBody: JSON.stringify(body),
        MessageAttributes: { service: { DataType: 'String', StringValue: 'job.submit' } },
      }),
    );

  it('refuses a raw job.submit whose upload names a path on the dispatcher (or an artifact the store lacks): nothing is created, the file reaches no instance', async () => {
    const marker = `dispatcher-secret-${randomBytes(8).toString('hex')}`;
    const secret = path.join(work, 'secret.key');
    writeFileSync(secret, `${marker}\n`, { mode: 0o600 });
    const fromPath = { name: 'exfil', id: 'raw-from-path', tasks: { count: 1 }, steps: [{ run: 'cat stolen.txt' }], uploads: [{ from: secret, to: 'stolen.txt' }], instances };
    const missing = digestOf('never stored');
    const unknownArtifact = { name: 'ghost', id: 'raw-missing-artifact', tasks: { count: 1 }, command: ['true'], uploads: [{ to: 'x', artifact: missing }], instances };
    const badTree = { name: 'ghost', id: 'raw-bad-ref', tasks: { count: 1 }, command: ['true'], uploads: [{ to: 'x', tree: 'sha256:../../etc' }], instances };
    await sendRaw(fromPath);
    await sendRaw(unknownArtifact);
    await sendRaw(badTree);
    const reasons: string[] = [];
    await eventually('three refusals dead-lettered', async () => {
      for (const m of await stack.fleet.drainDlq('master')) reasons.push(m.MessageAttributes?.deadLetterReason?.StringValue ?? '');
      return reasons.length >= 3;
    }, 60_000);
    const text = reasons.join('\n');
    expect(text).to.contain('uploads[0].from: a local path is read by the CLI');
    expect(text).to.contain(`uploads[0].artifact: artifact ${missing} is not in the fleet's artifact store`);
    expect(text).to.contain('uploads[0].tree: must be an artifact digest');
    expect(text).not.to.contain(marker);
    for (const id of ['raw-from-path', 'raw-missing-artifact', 'raw-bad-ref']) expect(await stack.job(id), id).to.equal(undefined);
    const stats = JSON.stringify(await stack.stats());
    for (const action of ['CreateKeyPair', 'RequestSpotInstances', 'RunInstances']) expect(stats, action).not.to.contain(action);
    // Every instance sandbox of this machine's simulators: the secret is in none.
    for (const name of readdirSync(tmpdir()).filter((n) => /^spotbatch-(e2e|sim)-/.test(n))) {
      expect(containsMarker(path.join(tmpdir(), name), marker), name).to.equal(false);
    }
  });

  it('runs uploads (a folder, a binary file, inline content) and scripts staged by the CLI, after the spec\'s folder is gone', async () => {
    const specDir = mkdtempSync(path.join(tmpdir(), 'spotbatch-cli-spec-'));
    mkdirSync(path.join(specDir, 'inputs', 'deeper'), { recursive: true });
    mkdirSync(path.join(specDir, 'inputs', 'empty'));
    writeFileSync(path.join(specDir, 'inputs', 'hello.txt'), 'hello from the submitter\n');
    writeFileSync(path.join(specDir, 'inputs', 'deeper', 'n.sh'), 'echo 42\n', { mode: 0o755 });
    const binary = randomBytes(200_000);
    writeFileSync(path.join(specDir, 'data.bin'), binary);
    writeFileSync(path.join(specDir, 'small.sh'), 'cat in/hello.txt; sh -c in/deeper/n.sh; test -d in/empty && echo empty-kept\n');
    const padding = `# ${'padding '.repeat(4000)}\n`; // over the inline limit: stored as an artifact
    writeFileSync(path.join(specDir, 'big.sh'), `${padding}cat note.txt; echo; wc -c < bin/data.bin | tr -d ' '; ls -l in/deeper/n.sh | cut -c1-10; sha256sum bin/data.bin | cut -c1-64\n`);
    const raw = {
      name: 'staged',
      tasks: { count: 1 },
      steps: [{ script: 'small.sh' }, { script: 'big.sh' }],
      uploads: [{ from: 'inputs', to: 'in' }, { from: 'data.bin', to: 'bin/data.bin' }, { to: 'note.txt', content: 'an inline note' }],
      instances,
    };
    const store = configuredArtifactStore(stack.fleet.config);
    const spec = await prepareSpec(raw, specDir, store);
    // The stored spec names digests, never the submitter's paths.
    expect(JSON.stringify(spec)).not.to.contain(specDir);
    expect(spec.steps![0]!.run).to.contain('cat in/hello.txt');
    expect(spec.steps![1]!.artifact).to.match(DIGEST);
    expect(spec.uploads![0]!.tree).to.match(DIGEST);
    expect(spec.uploads![1]!.artifact).to.equal(digestOf(binary));
    rmSync(specDir, { recursive: true, force: true });
    const jobId = await submitJob(stack.fleet.deps.bus, spec, store);
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    const [task] = await stack.tasks(jobId);
    expect(job.state, `${task?.reason} ${task?.stderrTail}`).to.equal('succeeded');
    const sha = (await import('node:crypto')).createHash('sha256').update(binary).digest('hex');
    expect(task!.stdoutTail).to.equal(`hello from the submitter\n42\nempty-kept\nan inline note\n${binary.length}\n-rwxr-xr-x\n${sha}\n`);
  });

  it('submits and runs a 524 KB spec: sent by reference, its job row within DynamoDB\'s item limit', async () => {
    const pad = `# ${'x'.repeat(98)}\n`.repeat(1650); // two 165 KB inline scripts
    const bigScript = `${pad}echo "args=$#"\n`;
    const arg = 'a'.repeat(30_000);
    const raw = { name: 'large', tasks: [{ args: [arg, arg, arg, arg] }, { args: [arg, arg, arg, arg] }, { args: [arg, arg, arg, 'last'] }], steps: [{ run: bigScript }, { run: `${pad}true\n` }], instances };
    expect(Buffer.byteLength(JSON.stringify(raw))).to.be.at.least(524 * 1024);
    const store = configuredArtifactStore(stack.fleet.config);
    const spec = await prepareSpec(raw, work, store);
    const jobId = await submitJob(stack.fleet.deps.bus, spec, store);
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    const tasks = await stack.tasks(jobId);
    expect(job.state, `${tasks[0]?.reason} ${tasks[0]?.stderrTail}`).to.equal('succeeded');
    expect(tasks.map((t) => t.stdoutTail)).to.deep.equal(['args=4\n', 'args=4\n', 'args=4\n']);
    expect(tasks[2]!.args[3]).to.equal('last');
    // The task list lives in the task rows; the job row keeps its count.
    expect(job.spec.tasks).to.deep.equal({ count: 3 });
    // The body went through the store: a stored spec carries the job's id.
    const stored = containsMarker(path.join(work, 'artifacts', 'sha256'), `"id":"${jobId}"`);
    expect(stored, 'the spec body stored as an artifact').to.equal(true);
    expect(job.spec.steps![0]!.artifact).to.equal(digestOf(bigScript));
  });
});
