import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { eventually } from '../helpers/fleet.js';
import { ensureBuilt, expectUsageError, occupiedPort, runCli, serveCli } from '../helpers/cli.js';
import { startEmulators, type Emulators } from '../../services/local/emulators.js';

interface Health {
  status: string;
  dispatchers: Array<{ index: number; pid: number; alive: boolean; restarts: number }>;
  endpoints: { sqs: string; dynamodb: string };
}

describe('spotbatch CLI: setup, local', function () {
  let data: string;
  const FREE_PORTS = ['--port', '0', '--sqs-port', '0', '--dynamodb-port', '0', '--sim-port', '0', '--ssh-port', '0'];
  before(async function () {
    this.timeout(600_000);
    await ensureBuilt();
    data = mkdtempSync(path.join(tmpdir(), 'spotbatch-local-'));
  });
  after(() => rmSync(data, { recursive: true, force: true }));

  it('setup against the configured endpoints: twice succeeds; a bad setting exits 2 naming it', async () => {
    const emu: Emulators = await startEmulators({});
    try {
      const env = {
        AWS_ENDPOINT_URL_SQS: emu.endpoints.sqs,
        AWS_ENDPOINT_URL_DYNAMODB: emu.endpoints.dynamodb,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'x',
        SPOTBATCH_PREFIX: 'clitest',
      };
      const first = await runCli(['setup', '--json'], env, 60_000, { built: true });
      expect(first.code, first.stderr).to.equal(0);
      const out = JSON.parse(first.stdout);
      expect(out.createdTables).to.have.members(['clitest-jobs', 'clitest-tasks', 'clitest-events', 'clitest-leases', 'clitest-market']);
      expect(out.queues.main.master).to.match(/clitest-master$/);
      const second = await runCli(['setup', '--json'], env, 60_000, { built: true });
      expect(second.code, second.stderr).to.equal(0);
      expect(JSON.parse(second.stdout).createdTables).to.deep.equal([]);
      const bad = await runCli(['setup'], { ...env, SPOTBATCH_MAX_RECEIVE_COUNT: '0' }, 60_000, { built: true });
      expect(bad.code).to.equal(2);
      expect(bad.stderr).to.contain('SPOTBATCH_MAX_RECEIVE_COUNT (dispatcher.maxReceiveCount): must be >= 1');
      expect(bad.stderr).not.to.match(/\n\s+at /); // no stack trace without --debug
    } finally {
      await emu.stop();
    }
  });

  it('local --json: one line with the endpoints (emulators and simulator) and an env enough for every command (exec, logs); restarts a killed dispatcher, stops cleanly on SIGTERM', async function () {
    this.timeout(900_000);
    const local = await serveCli(['local', '--json', '--data', data, ...FREE_PORTS], {}, /^(\{.*\})\n/, { built: true });
    const { child, exited } = local;
    try {
      const shown = JSON.parse(local.match[1]!) as { url: string; endpoints: Record<string, string>; sshPort: number; dataDir: string; dispatcherPids: number[]; env: Record<string, string>; logFile: string };
      const { url, endpoints } = shown;
      expect(url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(endpoints.sqs).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(endpoints.iam).to.equal(endpoints.ec2);
      expect(shown.dataDir).to.equal(data);
      expect(shown.dispatcherPids).to.have.length(2);
      expect(shown.env).to.deep.include({ AWS_ENDPOINT_URL_SQS: endpoints.sqs, AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb, AWS_ENDPOINT_URL_EC2: endpoints.ec2, AWS_ENDPOINT_URL_IAM: endpoints.ec2, SPOTBATCH_SSH_PORT: String(shown.sshPort) });
      expect(shown.env.SPOTBATCH_PREFIX).to.be.a('string');
      expect(shown.env).not.to.have.property('SPOTBATCH_SECRET_KEY');
      // The key stays in its file: the env names the file, never the key.
      expect(shown.env.SPOTBATCH_SECRET_KEY_FILE).to.equal(path.join(data, 'secret.key'));
      expect(JSON.stringify(shown)).not.to.contain(readFileSync(path.join(data, 'secret.key'), 'utf8').trim());
      expect(local.stdout()).to.equal(`${local.match[1]}\n`); // the one line and nothing else
      // The fleet's logs go to a file of the data folder, not to the terminal.
      expect(shown.logFile).to.equal(path.join(data, 'local.log'));
      // the simulator answers its admin API: nothing created yet
      const inventory = (await (await fetch(`${endpoints.ec2}/_sim/inventory`)).json()) as Record<string, unknown[]>;
      expect(inventory.instances).to.deep.equal([]);
      const health = async () => (await (await fetch(`${url}/healthz`)).json()) as Health;
      // the status page and its JSON API answer on the same port
      expect(await (await fetch(`${url}/api/jobs`)).json()).to.deep.equal({ jobs: [], limit: 50, nextCursor: null });
      expect(await (await fetch(`${url}/`)).text()).to.contain('<h1>Jobs</h1>');
      const first = await eventually('two dispatchers alive', async () => {
        const h = await health();
        return h.dispatchers.filter((d) => d.alive).length === 2 ? h : undefined;
      });
      // The dispatchers really serve: both started their consumers.
      await eventually('dispatchers started', () => readFileSync(shown.logFile, 'utf8').split('dispatcher started').length - 1 >= 2, 60_000);
      expect(local.stderr()).not.to.contain('dispatcher started');
      // What the env holds is enough for every command, with nothing else set (no secret key from this shell).
      const only: NodeJS.ProcessEnv = { ...shown.env, SPOTBATCH_SECRET_KEY: '', SPOTBATCH_CONFIG: '' };
      const cli = (args: string[], stdin?: string) => runCli(args, only, 300_000, { built: true, ...(stdin !== undefined ? { stdin } : {}) });
      const spec = { name: 'envonly', tasks: { count: 1 }, steps: [{ run: 'echo "hello from $SPOTBATCH_TASK_ID"; sleep 900' }], instances: { types: ['m5.large'] } };
      const submitted = await cli(['submit', '-', '--json'], JSON.stringify(spec));
      expect(submitted.code, submitted.stderr).to.equal(0);
      const jobId = (JSON.parse(submitted.stdout) as { id: string }).id;
      await eventually(
        'the task running',
        async () => {
          const st = await cli(['tasks', jobId, '--json']);
          return st.code === 0 && (JSON.parse(st.stdout) as Array<{ state: string }>)[0]?.state === 'running';
        },
        600_000,
        1000,
      );
      const exec = await cli(['exec', jobId, '0', '--', 'echo "on $SPOTBATCH_INSTANCE_ID"']);
      expect(exec.code, exec.stderr).to.equal(0);
      expect(exec.stdout).to.match(/^on i-\w+\n$/);
      const logs = await eventually('live logs', async () => {
        const l = await cli(['logs', jobId, '0', '--json']);
        const parsed = l.code === 0 ? (JSON.parse(l.stdout) as { source: string; stdout: string }) : undefined;
        return parsed?.stdout ? { ...parsed, stderr: l.stderr } : undefined;
      }, 120_000, 1000);
      expect(logs.source, logs.stderr).to.equal('instance');
      expect(logs.stdout).to.equal('hello from 0000\n');
      const cancelled = await cli(['cancel', jobId, '--wait', '--json']);
      expect(cancelled.code, cancelled.stderr).to.equal(0);
      const victim = first.dispatchers[0]!;
      process.kill(victim.pid, 'SIGKILL');
      const after = await eventually(
        'the killed dispatcher restarted',
        async () => {
          const h = await health();
          const d = h.dispatchers.find((x) => x.index === victim.index)!;
          return d.alive && d.pid !== victim.pid ? h : undefined;
        },
        30_000,
      );
      expect(after.dispatchers.find((x) => x.index === victim.index)!.restarts).to.equal(1);
      child.kill('SIGTERM');
      expect(await exited).to.equal(0);
      for (const d of after.dispatchers) {
        expect(() => process.kill(d.pid, 0), `dispatcher ${d.pid} still running`).to.throw();
      }
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('local --demo --exit-when-done prints the banner, runs the example job to success, leaves nothing behind, exits 0', async function () {
    this.timeout(240_000);
    const demoData = mkdtempSync(path.join(tmpdir(), 'spotbatch-demo-'));
    try {
      const out = await runCli(
        ['local', '--demo', '--exit-when-done', '--data', demoData, ...FREE_PORTS],
        { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '' },
        200_000,
        { built: true },
      );
      expect(out.code, out.stdout + out.stderr).to.equal(0);
      // The banner for people: the status page, the simulator, the export lines for another shell.
      expect(out.stdout).to.contain(`spotbatch local is running (data in ${demoData})`);
      expect(out.stdout).to.match(/^ {2}status page: http:\/\/127\.0\.0\.1:\d+\/ \(JSON API under /m);
      expect(out.stdout).to.match(/^ {2}export AWS_ENDPOINT_URL_SQS=http:\/\/127\.0\.0\.1:\d+$/m);
      const ec2 = /^ {2}export AWS_ENDPOINT_URL_EC2=(http:\/\/127\.0\.0\.1:\d+)$/m.exec(out.stdout)?.[1];
      expect(out.stdout).to.contain(`export AWS_ENDPOINT_URL_IAM=${ec2}\n`);
      expect(out.stdout).to.match(/^ {2}export SPOTBATCH_PREFIX=\S+$/m);
      expect(out.stdout).to.match(/demo: submitted testsleep as job-[0-9a-f]+/);
      expect(out.stdout).to.match(/^000[012]\s+succeeded\s+1\s+us-east-1/m);
      expect(out.stdout).to.contain('demo: nothing of the job is left in the simulator');
      // The screen is for the banner, the progress and the summary: the fleet's logs are in a file the banner names.
      const log = path.join(demoData, 'local.log');
      expect(out.stdout).to.contain(`logs: ${log}`);
      expect(readFileSync(log, 'utf8')).to.contain('dispatcher started');
      expect(out.stdout + out.stderr).not.to.contain('dispatcher started');
      expect(out.stdout + out.stderr).not.to.contain('To continue receiving updates');
      expect(out.stdout.split('\n').length, out.stdout).to.be.below(60);
      expect(out.stderr.split('\n').filter(Boolean).length, out.stderr).to.be.at.most(1);
      // The secret key's file is in the exports, not the key.
      expect(out.stdout).to.contain(`  export SPOTBATCH_SECRET_KEY_FILE=${path.join(demoData, 'secret.key')}\n`);
      // The key that encrypts job private keys stays in the data folder, readable by its owner only.
      const { statSync } = await import('node:fs');
      expect(statSync(path.join(demoData, 'secret.key')).mode & 0o777).to.equal(0o600);
      expect(out.stdout + out.stderr).not.to.contain(readFileSync(path.join(demoData, 'secret.key'), 'utf8').trim());
    } finally {
      rmSync(demoData, { recursive: true, force: true });
    }
  });

  it('a port in use or a host that does not resolve: exit 2, naming the address and the option', async function () {
    this.timeout(120_000);
    const taken = await occupiedPort();
    try {
      for (const flag of ['--port', '--sqs-port']) {
        const ports = FREE_PORTS.map((v, i) => (FREE_PORTS[i - 1] === flag ? String(taken.port) : v));
        const out = await runCli(['local', '--data', data, ...ports], {}, 60_000, { built: true });
        expectUsageError(out, `cannot listen on 127.0.0.1:${taken.port} (${flag}): the port is in use by another program; pick another ${flag} (0 picks a free one)`);
      }
    } finally {
      await taken.close();
    }
    const host = await runCli(['local', '--data', data, '--host', 'nosuchhost.invalid', ...FREE_PORTS], {}, 60_000, { built: true });
    expectUsageError(host, 'cannot listen on nosuchhost.invalid (--host): no such host name');
  });

  it('--host other than loopback: refused (exit 2) since the emulators have no authentication, unless --i-know-the-emulators-have-no-auth, which warns', async function () {
    this.timeout(180_000);
    for (const host of ['192.0.2.1', '0.0.0.0', '::']) {
      const out = await runCli(['local', '--data', data, '--host', host, ...FREE_PORTS], {}, 60_000, { built: true });
      expectUsageError(out, `--host ${host} is not a loopback address`);
      expect(out.stderr).to.contain('the SQS and DynamoDB emulators').and.contain('no authentication').and.contain('--i-know-the-emulators-have-no-auth');
      expect(out.stdout).to.equal('');
    }
    // With the flag it goes ahead, loudly. 192.0.2.1 (TEST-NET-1) is no address of this machine: the
    // warning comes first, then the bind fails (exit 2), so nothing is ever exposed by this test.
    const out = await runCli(['local', '--data', data, '--host', '192.0.2.1', '--i-know-the-emulators-have-no-auth', ...FREE_PORTS], {}, 60_000, { built: true });
    expect(out.stderr).to.match(/WARNING.*192\.0\.2\.1/).and.contain('no authentication');
    expect(out.stderr.indexOf('WARNING')).to.be.below(out.stderr.indexOf('cannot listen on 192.0.2.1'));
    expectUsageError(out, "cannot listen on 192.0.2.1 (--host): the address is not one of this machine's");
  });
});
