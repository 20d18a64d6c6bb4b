/**
 * The CLI contract of every command, through the built binary: --help, exit
 * codes on bad input (2) and failures (1), messages that name the fix, no
 * stack traces; and the task list of a 10,000-task job read page by page.
 */
import { expect } from 'chai';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { destroyClients, type CoreClients } from '../../shared/aws.js';
import { setup } from '../../shared/setup.js';
import { tableNames } from '../../shared/store/index.js';
import { JOB_LIST_PK } from '../../shared/store/tables.js';
import { parseJobSpec } from '../../services/model/spec.js';
import type { Emulators } from '../../services/local/emulators.js';
import { clientsFor, testConfig, testEmulators, uniquePrefix } from '../helpers/fleet.js';
import { emulatorEnv, ensureBuilt, expectUsageError, runCli, startCli, type CliResult, type RunOptions } from '../helpers/cli.js';

const COMMANDS = ['submit', 'status', 'tasks', 'logs', 'cancel', 'ssh', 'exec', 'upload', 'download', 'setup', 'dispatcher', 'local', 'sim', 'status-page', 'market', 'advisor', 'plan', 'report', 'doctor', 'cleanup'];
const TASKS = 10_000;

describe('spotbatch CLI: the contract of every command', function () {
  // Generous: a loaded 2-core machine can take minutes for what takes seconds when idle.
  this.timeout(1_200_000);
  let emu: Emulators;
  let clients: CoreClients;
  let env: NodeJS.ProcessEnv;
  const jobId = 'job-big';
  const cli = (args: string[], opts: RunOptions = {}): Promise<CliResult> => runCli(args, env, 300_000, { built: true, ...opts });
  const usage = expectUsageError;

  before(async function () {
    this.timeout(600_000);
    await ensureBuilt();
    emu = await testEmulators();
    clients = clientsFor(emu);
    const prefix = uniquePrefix();
    await setup(clients, testConfig(prefix));
    env = emulatorEnv(emu, prefix);
    // A finished job of 10,000 tasks, written as the lifecycle leaves them (no fleet needed to read them back).
    const names = tableNames(prefix);
    const now = Date.now();
    const meta = { version: 3, createdAt: now - 60_000, updatedAt: now, dueAt: now };
    await clients.ddb.send(
      new BatchWriteCommand({
        RequestItems: { [names.jobs]: [{ PutRequest: { Item: { jobId, listPk: JOB_LIST_PK, ingressCidr: '127.0.0.1/32', name: 'big', state: 'succeeded', taskCount: TASKS, submittedAt: now - 60_000, endedAt: now, spec: parseJobSpec({ name: 'big', tasks: { count: TASKS }, command: ['true'], instances: { types: ['m5.large'] } }), ...meta } } }] },
      }),
    );
    const rows = Array.from({ length: TASKS }, (_, i) => ({
      jobId,
      taskId: String(i).padStart(4, '0'),
      index: i,
      state: i % 1000 === 7 ? 'failed' : 'succeeded',
      ...meta,
      args: [],
      env: {},
      attempts: [{ n: 1, pool: { region: 'us-east-1', zone: 'us-east-1a', type: 'm5.large' }, price: 0.03, instanceId: `i-${i}`, requestedAt: now - 50_000, runningAt: now - 40_000, startedAt: now - 39_000, endedAt: now - 9_000, exitCode: i % 1000 === 7 ? 3 : 0, outcome: i % 1000 === 7 ? 'failed' : 'succeeded' }],
      failures: 0,
      interruptions: 0,
      avoid: [],
      exitCode: i % 1000 === 7 ? 3 : 0,
      ...(i % 1000 === 7 ? { reason: 'exit code 3' } : {}),
      stdoutTail: Array.from({ length: 80 }, (_, l) => `line ${l + 1} of task ${i}`).join('\n') + '\n',
      stderrTail: i % 1000 === 7 ? 'boom\n' : '',
    }));
    const batches: (typeof rows)[] = [];
    for (let i = 0; i < rows.length; i += 25) batches.push(rows.slice(i, i + 25));
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < batches.length) {
          let items: Record<string, unknown>[] = batches[next++]!.map((Item) => ({ PutRequest: { Item } }));
          while (items.length) {
            const out = await clients.ddb.send(new BatchWriteCommand({ RequestItems: { [names.tasks]: items } }));
            items = out.UnprocessedItems?.[names.tasks] ?? [];
          }
        }
      }),
    );
  });
  after(async () => {
    if (clients) destroyClients(clients);
    await emu?.stop();
  });

  it('--help on every command: exit 0, usage on stdout; --version', async () => {
    const top = await cli(['--help']);
    expect(top.code).to.equal(0);
    for (const name of COMMANDS) expect(top.stdout, name).to.match(new RegExp(`^  ${name}\\b`, 'm'));
    for (const name of COMMANDS) {
      const out = await cli([name, '--help']);
      expect(out.code, `${name}: ${out.stderr}`).to.equal(0);
      expect(out.stdout, name).to.match(new RegExp(`^Usage: spotbatch ${name} `));
    }
    const version = await cli(['--version']);
    expect(version.code).to.equal(0);
    expect(version.stdout).to.match(/^\d+\.\d+\.\d+\n$/);
  });

  it('usage errors exit 2 and say what to fix', async () => {
    usage(await cli(['nope']), "unknown command 'nope'");
    usage(await cli(['status', '--bogus']), "unknown option '--bogus'");
    usage(await cli(['submit']), "missing required argument 'file'");
    usage(await cli(['status', '--state', 'done']), '--state: must be one of submitted, securing, running');
    usage(await cli(['status', 'job-nope']), 'no job job-nope (see `spotbatch status` for the list)');
    usage(await cli(['tasks']), "missing required argument 'job'");
    usage(await cli(['tasks', 'job-nope']), 'no job job-nope');
    usage(await cli(['tasks', jobId, '--state', 'ok']), '--state: must be one of pending, waiting, starting, running');
    usage(await cli(['tasks', jobId, '--limit', '0']), '--limit: must be a whole number from 1');
    usage(await cli(['logs', jobId]), "missing required argument 'task'");
    usage(await cli(['logs', jobId, '99999']), `no task 99999 in job ${jobId} (task ids run from 0000 to 9999`);
    usage(await cli(['logs', jobId, '0', '--lines', 'all']), '--lines: must be a whole number');
    usage(await cli(['logs', jobId, '0', '--stream', 'both2']), '--stream: must be stdout, stderr or both');
    usage(await cli(['cancel']), "missing required argument 'job'");
    usage(await cli(['cancel', jobId, '--timeout', 'soon']), '--timeout: must be a whole number');
    usage(await cli(['ssh', jobId]), "missing required argument 'task'");
    usage(await cli(['exec', jobId, '0']), "missing required argument 'command'");
    usage(await cli(['upload', jobId, '0', 'a']), "missing required argument 'remote'");
    usage(await cli(['download', jobId, '0', 'a']), "missing required argument 'local'");
    usage(await cli(['setup', '--bogus']), "unknown option '--bogus'");
    usage(await cli(['dispatcher', '--health-port', 'x']), '--health-port: must be a port number');
    usage(await cli(['local', '--exit-when-done']), '--exit-when-done: only with --demo');
    usage(await cli(['sim', '--seed', '1.5']), '--seed: must be an integer');
    usage(await cli(['status-page', '--port', '-1']), '--port: must be a port number from 0 to 65535');
  });

  it('failures exit 1 with the likely fix: an endpoint that does not answer, no credentials', async () => {
    const down = await runCli(['status'], { ...env, AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9' }, 300_000, { built: true });
    expect(down.code).to.equal(1);
    expect(down.stderr).to.contain("cannot reach the fleet's queues or tables");
    expect(down.stderr).to.contain('AWS_ENDPOINT_URL_DYNAMODB');
    expect(down.stderr).not.to.match(/\n\s+at /);
    const noCreds = await runCli(['tasks', jobId], { ...env, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: 'spotbatch-test-none', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', AWS_EC2_METADATA_DISABLED: 'true' }, 300_000, { built: true });
    expect(noCreds.code).to.equal(1);
    expect(noCreds.stderr).to.contain('no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
    const prefix = await runCli(['status', jobId], { ...env, SPOTBATCH_PREFIX: 'nosuchprefix' }, 300_000, { built: true });
    expect(prefix.code).to.equal(1);
    expect(prefix.stderr).to.contain('are SPOTBATCH_PREFIX and the endpoints those of the fleet? `spotbatch setup` creates the queues and tables');
    const queues = await runCli(['cancel', jobId], { ...env, SPOTBATCH_PREFIX: 'nosuchprefix' }, 300_000, { built: true });
    expect(queues.code).to.equal(1);
    expect(queues.stderr).to.contain('are SPOTBATCH_PREFIX');
    const debug = await runCli(['status', '--debug'], { ...env, AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:9' }, 300_000, { built: true });
    expect(debug.code).to.equal(1);
    expect(debug.stderr).to.match(/\n\s+at /);
  });

  it(`tasks: all ${TASKS} tasks of a job, page by page, as a table or a JSON array; filters and limits`, async () => {
    const table = await cli(['tasks', jobId]);
    expect(table.code, table.stderr).to.equal(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines).to.have.length(TASKS + 1);
    expect(lines[0]).to.match(/^task\s+state\s+attempt\s+pool\s+instance\s+runtime\s+cost\s+exit\s+reason$/);
    // 31 s of running billed as EC2 bills it: the one-minute minimum, at $0.03 an hour.
    expect(lines[1]).to.match(/^0000\s+succeeded\s+1\s+us-east-1a\/m5\.large\s+i-0\s+30s\s+\$0\.0005\s+0$/);
    expect(lines[TASKS]).to.match(/^9999\s+succeeded\s+1\s/);
    const json = await cli(['tasks', jobId, '--json']);
    expect(json.code, json.stderr).to.equal(0);
    const all = JSON.parse(json.stdout) as Array<{ taskId: string; index: number }>;
    expect(all).to.have.length(TASKS);
    expect(new Set(all.map((t) => t.taskId)).size).to.equal(TASKS);
    expect(all[TASKS - 1]).to.deep.include({ taskId: '9999', index: 9999 });
    const failed = JSON.parse((await cli(['tasks', jobId, '--json', '--state', 'failed'])).stdout) as Array<{ taskId: string; exitCode: number; reason: string }>;
    expect(failed.map((t) => t.taskId)).to.deep.equal(['0007', '1007', '2007', '3007', '4007', '5007', '6007', '7007', '8007', '9007']);
    expect(failed[0]).to.deep.include({ exitCode: 3, reason: 'exit code 3' });
    const few = await cli(['tasks', jobId, '--state', 'failed', '--limit', '2']);
    expect(few.stdout.trimEnd().split('\n').map((l) => l.split(/\s+/)[0])).to.deep.equal(['task', '0007', '1007']);
    // A reader that stops early (| head): a quiet exit 0, no EPIPE trace.
    const child = startCli(['tasks', jobId], env, { built: true });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).to.equal(0);
    expect(stderr).not.to.contain('EPIPE');
    const none = await cli(['tasks', jobId, '--state', 'running']);
    expect(none.stdout).to.equal(`no running tasks in ${jobId}\n`);
    expect(JSON.parse((await cli(['tasks', jobId, '--state', 'running', '--json'])).stdout)).to.deep.equal([]);
  });

  it('status of a job of 10,000 tasks: the counts and the first tasks, then where the rest are', async () => {
    const out = await cli(['status', jobId]);
    expect(out.code, out.stderr).to.equal(0);
    // The ledger's: 10,000 attempts of 31 s, each billed the one-minute minimum (spot $0.03/h, on demand $0.096/h).
    expect(out.stdout).to.contain(`${jobId}  big  succeeded  tasks 9990/10000 succeeded, 10 failed, 0 running, 0 waiting  attempts 10000  interruptions 0  spend $5.0000 (on demand $16.0000, 69% saved)`);
    expect(out.stdout).to.contain(`... and 9950 more task(s): spotbatch tasks ${jobId}\n`);
    // The status page's shapes: GET /api/jobs and /api/jobs/JOB.
    const list = JSON.parse((await cli(['status', '--json'])).stdout) as Array<{ id: string; state: string; tasks: { total: number; failed: number } }>;
    expect(list).to.have.length(1);
    expect(list[0]).to.deep.include({ id: jobId, name: 'big', state: 'succeeded', attempts: TASKS });
    expect(list[0]!.tasks).to.deep.include({ total: TASKS, succeeded: 9990, failed: 10 });
    const detail = JSON.parse((await cli(['status', jobId, '--json'])).stdout) as { job: { id: string }; spec: { command: string[] }; links: { tasks: string } };
    expect(detail.job.id).to.equal(jobId);
    expect(detail.spec.command).to.deep.equal(['true']);
    expect(detail.links.tasks).to.equal(`/api/jobs/${jobId}/tasks`);
    const table = await cli(['status']);
    expect(table.stdout).to.match(/^job\s+state\s+succeeded\s+failed\s+running\s+attempts\s+interruptions\s+spend\s+age\s+name\njob-big\s+succeeded\s+9990\/10000\s+10\s+0\s+10000\s+0\s+\$5\.0000\s+\S+\s+big\n$/);
  });

  it('logs of an ended task: the stored tails, --lines, --stream, --json; cancel of an ended job exits 1', async () => {
    const text = await cli(['logs', jobId, '1007', '--lines', '2']);
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.equal('--- stdout (task 1007 failed, attempt 1, kept when the attempt ended) ---\nline 79 of task 1007\nline 80 of task 1007\n--- stderr ---\nboom\n');
    const err = await cli(['logs', jobId, '1007', '--stream', 'stderr']);
    expect(err.stdout).to.equal('boom\n');
    const json = JSON.parse((await cli(['logs', jobId, '5', '--json', '--lines', '1'])).stdout) as Record<string, unknown>;
    expect(json).to.deep.equal({ jobId, taskId: '0005', state: 'succeeded', attempt: 1, source: 'stored', stdout: 'line 80 of task 5\n', stderr: '' });
    const cancel = await cli(['cancel', jobId, '--json']);
    expect(cancel.code).to.equal(1);
    expect(JSON.parse(cancel.stdout)).to.deep.equal({ id: jobId, state: 'succeeded' });
    // ssh to a task that ended: exit 1, said plainly (no secret key needed to know).
    const ssh = await cli(['ssh', jobId, '7']);
    expect(ssh.code).to.equal(1);
    expect(ssh.stderr).to.contain(`task 0007 of job ${jobId} has no running instance (state failed: it has ended and its instance is terminated)`);
  });
});
