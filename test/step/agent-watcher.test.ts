import { expect } from 'chai';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readAgentStatus, startAgent, type AgentStatus, type StepPlan } from '../../services/agent/agent.js';
import { connectSsh, type SshSession } from '../../services/ssh/ssh.js';
import { AGENT_SHELLS, shOnPath, startInstance, until, type TestInstance } from './helpers.js';

/**
 * The agent's interruption watcher (docs/agent.md): polls the instance
 * metadata service while a step runs; TERMs the step once on a spot notice,
 * records a rebalance recommendation without a signal.
 */

let dirs = 0;
const nextDir = (): string => `.spotbatch/tasks/job-w/${String(++dirs).padStart(4, '0')}/1`;

function plan(over: Partial<StepPlan> & Pick<StepPlan, 'steps'>): StepPlan {
  return { taskDir: nextDir(), env: {}, stepTimeoutSeconds: 120, heartbeatSeconds: 1, killGraceSeconds: 2, metadataPollSeconds: 1, ...over };
}

/** Counts TERMs in `terms` (one line each), keeps running until `go` appears, then exits with $1 (default 0). */
const TRAPS_TERM = `trap 'echo term >> "$SPOTBATCH_TASK_DIR/terms"' TERM
echo running > "$SPOTBATCH_TASK_DIR/running"
while [ ! -f "$SPOTBATCH_TASK_DIR/go" ]; do sleep 0.2; done
exit "\${1:-0}"
`;

/** A fake metadata service on 127.0.0.1: IMDSv2 or v1 only, counting requests. */
interface FakeImds {
  endpoint: string;
  puts: number;
  gets: Array<{ path: string; token: string | undefined }>;
  action: string | undefined;
  close(): Promise<void>;
}

async function fakeImds(mode: 'v1-only' | 'v2'): Promise<FakeImds> {
  const fake: Omit<FakeImds, 'endpoint' | 'close'> = { puts: 0, gets: [], action: undefined };
  const header = (req: IncomingMessage, name: string): string | undefined => {
    const value = req.headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://imds').pathname;
    if (req.method === 'PUT' && path === '/latest/api/token') {
      fake.puts++;
      if (mode === 'v1-only') return void res.writeHead(403).end();
      return void res.writeHead(200, { 'Content-Type': 'text/plain' }).end('TOKEN-1');
    }
    const token = header(req, 'x-aws-ec2-metadata-token');
    fake.gets.push({ path, token });
    if (mode === 'v2' && token !== 'TOKEN-1') return void res.writeHead(401).end();
    if (path === '/latest/meta-data/spot/instance-action' && fake.action !== undefined) return void res.writeHead(200).end(fake.action);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(fake, {
    endpoint: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

for (const shell of AGENT_SHELLS) describe(`step/agent interruption watcher (sh: ${shell})`, function () {
  const cleanups: Array<() => Promise<void> | void> = [];
  before(function () {
    cleanups.push(shOnPath(shell));
  });
  after(async function () {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  /** A fresh instance per test: a notice or a recommendation stays on an instance for good. */
  async function instance(): Promise<{ inst: TestInstance; session: SshSession; instanceId: string }> {
    const inst = await startInstance();
    cleanups.push(() => inst.close());
    const session = await connectSsh(inst.target);
    cleanups.push(() => session.close());
    const instanceId = (await session.exec('echo "$SPOTBATCH_INSTANCE_ID"')).stdout.trim();
    expect(instanceId).to.match(/^i-/);
    return { inst, session, instanceId };
  }

  const exited = (session: SshSession, taskDir: string): Promise<AgentStatus> =>
    until(`${taskDir} to exit`, async () => {
      const status = await readAgentStatus(session, taskDir);
      return status.state === 'exited' ? status : undefined;
    });

  const file = async (session: SshSession, path: string): Promise<string | undefined> => (await session.readFile(path))?.toString('utf8');

  it('TERMs the step once on a spot notice, reports the notice, keeps the step exit status and starts no further step', async function () {
    const { inst, session, instanceId } = await instance();
    const p = plan({ steps: [{ name: 'saver', script: TRAPS_TERM }, { name: 'after', script: 'echo must not run' }], args: ['7'] });
    await startAgent(session, p);
    await until('the step to run', () => file(session, `${p.taskDir}/running`));
    const time = new Date(Date.now() + 120_000);
    inst.runtime.notice(instanceId, { action: 'terminate', time });

    await until('the step to get TERM', () => file(session, `${p.taskDir}/terms`));
    const running = await readAgentStatus(session, p.taskDir);
    expect(running.state).to.equal('running');
    expect(running.notice).to.include({ action: 'terminate', time: time.toISOString().replace(/\.\d{3}Z$/, 'Z') });
    expect(running.notice!.seenAt).to.be.a('number').and.at.least(running.startedAt!);

    // Several more polls see the notice; no second TERM comes.
    const polledAt = running.instanceNow!;
    await until('three more polls', async () => ((await readAgentStatus(session, p.taskDir)).instanceNow ?? 0) >= polledAt + 3);
    expect(await file(session, `${p.taskDir}/terms`)).to.equal('term\n');

    await session.putFile(`${p.taskDir}/go`, '');
    const status = await exited(session, p.taskDir);
    expect(status).to.include({ exitCode: 7, stdoutTail: '' });
    expect(status.notice).to.deep.equal(running.notice);
    expect(status.rebalance).to.equal(undefined);
  });

  it('after a notice, a step that saved and exited 0 ends the run with 143 when steps remain', async function () {
    const { inst, session, instanceId } = await instance();
    const p = plan({ steps: [{ name: 'saver', script: `trap 'echo saved; exit 0' TERM; while :; do sleep 0.2; done` }, { name: 'after', script: 'echo must not run' }] });
    await startAgent(session, p);
    await until('the agent to start', async () => (await readAgentStatus(session, p.taskDir)).startedAt);
    inst.runtime.notice(instanceId, { action: 'terminate', time: new Date(Date.now() + 120_000) });
    const status = await exited(session, p.taskDir);
    expect(status).to.include({ exitCode: 143, stdoutTail: 'saved\n' });
    expect(status.notice?.action).to.equal('terminate');
  });

  it('records a rebalance recommendation without signalling the step', async function () {
    const { inst, session, instanceId } = await instance();
    const p = plan({ steps: [{ name: 'saver', script: TRAPS_TERM }] });
    await startAgent(session, p);
    await until('the step to run', () => file(session, `${p.taskDir}/running`));
    const noticeTime = new Date();
    inst.runtime.rebalance(instanceId, noticeTime);
    const seen = await until('the rebalance to show', async () => (await readAgentStatus(session, p.taskDir)).rebalance);
    expect(seen.noticeTime).to.equal(noticeTime.toISOString().replace(/\.\d{3}Z$/, 'Z'));
    expect(seen.seenAt).to.be.a('number');

    const status = await readAgentStatus(session, p.taskDir);
    expect(status).to.include({ state: 'running', agentAlive: true });
    expect(status.notice).to.equal(undefined);
    await session.putFile(`${p.taskDir}/go`, '');
    expect(await exited(session, p.taskDir)).to.include({ exitCode: 0 });
    expect(await file(session, `${p.taskDir}/terms`)).to.equal(undefined);
  });

  it('without a notice: no signal, no notice, the metadata token reused; SPOTBATCH_CHECKPOINT_DIR made and given', async function () {
    const { session } = await instance();
    const p = plan({ steps: [{ name: 'saver', script: `echo "$SPOTBATCH_CHECKPOINT_DIR"\n${TRAPS_TERM}` }], checkpointDir: 'ckpt/job-w' });
    await startAgent(session, p);
    await until('the step to run', () => file(session, `${p.taskDir}/running`));
    const token = await until('a metadata token', () => file(session, `${p.taskDir}/.imds/token`));
    const from = (await readAgentStatus(session, p.taskDir)).instanceNow!;
    await until('three more polls', async () => ((await readAgentStatus(session, p.taskDir)).instanceNow ?? 0) >= from + 3);
    expect(await file(session, `${p.taskDir}/.imds/token`)).to.equal(token);
    await session.putFile(`${p.taskDir}/go`, '');
    const status = await exited(session, p.taskDir);
    expect(status.exitCode).to.equal(0);
    expect(status.notice).to.equal(undefined);
    expect(status.rebalance).to.equal(undefined);
    expect(await file(session, `${p.taskDir}/terms`)).to.equal(undefined);

    const home = (await session.exec('printf %s "$HOME"')).stdout;
    expect(status.stdoutTail).to.equal(`${home}/ckpt/job-w\n`);
    expect((await session.exec('test -d "$HOME/ckpt/job-w"')).code).to.equal(0);
  });

  it('asks for one IMDSv2 token and reuses it on every poll', async function () {
    const { session } = await instance();
    const imds = await fakeImds('v2');
    cleanups.push(() => imds.close());
    const p = plan({ steps: [{ name: 'saver', script: TRAPS_TERM }], env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.endpoint } });
    await startAgent(session, p);
    await until('four polls', () => imds.gets.filter((g) => g.path === '/latest/meta-data/spot/instance-action').length >= 4);
    expect(imds.puts).to.equal(1);
    expect(imds.gets.every((g) => g.token === 'TOKEN-1')).to.equal(true);
    imds.action = '{"action":"stop","time":"2026-11-22T07:00:00Z"}';
    await until('the step to get TERM', () => file(session, `${p.taskDir}/terms`));
    expect((await readAgentStatus(session, p.taskDir)).notice).to.include({ action: 'stop', time: '2026-11-22T07:00:00Z' });
    await session.putFile(`${p.taskDir}/go`, '');
    await exited(session, p.taskDir);
  });

  it('falls back to IMDSv1 when the token PUT is refused', async function () {
    const { session } = await instance();
    const imds = await fakeImds('v1-only');
    cleanups.push(() => imds.close());
    const p = plan({ steps: [{ name: 'saver', script: TRAPS_TERM }], env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.endpoint } });
    await startAgent(session, p);
    await until('a poll', () => imds.gets.length >= 2);
    imds.action = '{"action": "terminate",\n "time": "2026-11-22T07:00:00Z"}\n';
    await until('the step to get TERM', () => file(session, `${p.taskDir}/terms`));
    expect(imds.puts).to.be.at.least(1);
    expect(imds.gets.every((g) => g.token === undefined)).to.equal(true);
    await session.putFile(`${p.taskDir}/go`, '');
    const status = await exited(session, p.taskDir);
    expect(status.exitCode).to.equal(0);
    expect(status.notice).to.include({ action: 'terminate', time: '2026-11-22T07:00:00Z' });
    expect(await file(session, `${p.taskDir}/agent.log`)).to.match(/trying IMDSv1/);
  });

  it('reads odd notice files: a service answer that is not valid JSON still shows, with the agent\'s seenAt', async function () {
    const { session } = await instance();
    const dir = nextDir();
    await session.putFile(`${dir}/notice`, '{"action":"terminate","time":"2026-11-22T07:00:00Z", odd,"seenAt":1763794000}\n');
    await session.putFile(`${dir}/rebalance`, '{"seenAt":1763793000}\n');
    const status = await readAgentStatus(session, dir);
    expect(status.notice).to.deep.equal({ action: 'terminate', time: '2026-11-22T07:00:00Z', seenAt: 1763794000 });
    expect(status.rebalance).to.deep.equal({ seenAt: 1763793000 });
  });

  it('never fails when there is no metadata service', async function () {
    const { session } = await instance();
    // A closed port: every request fails at once.
    const p = plan({ steps: [{ name: 'quick', script: 'sleep 3; echo done' }], env: { AWS_EC2_METADATA_SERVICE_ENDPOINT: 'http://127.0.0.1:9/' } });
    await startAgent(session, p);
    const status = await exited(session, p.taskDir);
    expect(status).to.include({ exitCode: 0, stdoutTail: 'done\n' });
    expect(status.notice).to.equal(undefined);
    expect(await file(session, `${p.taskDir}/agent.log`)).to.match(/no answer from http:\/\/127\.0\.0\.1:9\//);
  });
});
