import { expect } from 'chai';
import type { EventPageView, JobDetailView, JobListView, TaskPageView } from '../../services/views/index.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { startTestStatus, secretKeys, type TestStatus } from './helpers.js';
import { seedJob } from './seed.js';

describe('status page JSON API, over a real fleet (emulators + simulator)', function () {
  this.timeout(300_000);
  let stack: Stack;
  let status: TestStatus;
  let jobId: string;
  const big = 'big-10k';

  before(async () => {
    stack = await startStack();
    status = await startTestStatus(stack.emu, stack.fleet.config.prefix);
    jobId = await stack.submit({
      name: 'api shapes',
      tasks: [{ args: ['first'] }, { args: ['second'] }, { args: ['third'] }],
      steps: [{ run: 'echo "hello from $SPOTBATCH_TASK_INDEX"; echo "to stderr" >&2' }],
      instances: { types: ['m5.large', 'c5.large'], regions: ['us-east-1'] },
      env: { API_SECRET: 'env-value-not-to-show' },
      tags: { team: 'status' },
    });
    const job = await stack.waitJob(jobId, ['succeeded', 'failed', 'partially-failed']);
    expect(job.state).to.equal('succeeded');
  });
  after(async () => {
    await status?.close();
    await stack?.close();
  });

  it('lists the job, newest first, with task counts, attempts, interruptions, spend and age', async () => {
    const list = (await status.get('/api/jobs')).json<JobListView>();
    const j = list.jobs.find((x) => x.id === jobId)!;
    expect(j).to.include({ name: 'api shapes', state: 'succeeded', attempts: 3, interruptions: 0 });
    expect(j.tasks).to.include({ total: 3, succeeded: 3, running: 0, failed: 0, waiting: 0 });
    expect(j.tags).to.deep.equal({ team: 'status' });
    expect(j.spend.attemptsRun).to.equal(3);
    expect(j.spend.spotUsd).to.be.greaterThan(0);
    // us-east-1 pools have a list price: the on-demand equivalent is there and dearer
    expect(j.spend.attemptsPriced).to.equal(3);
    expect(j.spend.onDemandUsd).to.be.greaterThan(j.spend.spotUsd);
    expect(j.ageSeconds).to.be.at.least(0);
    expect(Date.parse(j.submittedAt)).to.be.greaterThan(0);
    expect(list.nextCursor).to.equal(null);
  });

  it('shows one job: its summary, its definition without environment values, links to tasks and events', async () => {
    const d = (await status.get(`/api/jobs/${jobId}`)).json<JobDetailView>();
    expect(d.job.id).to.equal(jobId);
    expect(d.spec.steps![0]!.run).to.contain('hello from');
    expect(d.spec.envNames).to.deep.equal(['API_SECRET']);
    expect(JSON.stringify(d)).not.to.contain('env-value-not-to-show');
    expect(d.spec.instances.types).to.deep.equal(['m5.large', 'c5.large']);
    expect(d.links).to.deep.equal({ page: `/jobs/${jobId}`, tasks: `/api/jobs/${jobId}/tasks`, events: `/api/jobs/${jobId}/events` });
  });

  it('pages the tasks: state, attempt, pool, instance, launch timings, exit code, output', async () => {
    const first = (await status.get(`/api/jobs/${jobId}/tasks?limit=2`)).json<TaskPageView>();
    expect(first.totalTasks).to.equal(3);
    expect(first.tasks.map((t) => t.taskId)).to.deep.equal(['0000', '0001']);
    expect(first.nextCursor).to.be.a('string');
    const second = (await status.get(`/api/jobs/${jobId}/tasks?limit=2&cursor=${first.nextCursor}`)).json<TaskPageView>();
    expect(second.tasks.map((t) => t.taskId)).to.deep.equal(['0002']);
    expect(second.nextCursor).to.equal(null);
    for (const t of [...first.tasks, ...second.tasks]) {
      expect(t).to.include({ state: 'succeeded', attempt: 1, exitCode: 0, interruptions: 0 });
      expect(t.args).to.deep.equal([['first', 'second', 'third'][t.index]]);
      expect(t.pool).to.match(/^us-east-1[a-z]\/(m5|c5)\.large$/);
      expect(t.instanceId).to.match(/^i-/);
      expect(t.stdoutTail).to.contain(`hello from ${t.index}`);
      expect(t.stderrTail).to.contain('to stderr');
      const a = t.attempts[0]!;
      expect(a).to.include({ n: 1, outcome: 'succeeded', region: 'us-east-1', instanceId: t.instanceId });
      for (const k of ['requestedAt', 'runningAt', 'startedAt', 'endedAt'] as const) expect(Date.parse(a[k]!), k).to.be.greaterThan(0);
      expect(Date.parse(a.requestedAt)).to.be.at.most(Date.parse(a.runningAt!));
      expect(a.spotPriceUsdPerHour).to.be.greaterThan(0);
      expect(a.onDemandPriceUsdPerHour).to.be.greaterThan(a.spotPriceUsdPerHour!);
      expect(a.placement).to.be.a('string');
    }
  });

  it('pages the event log newest first (or oldest first) with an opaque cursor', async () => {
    const all = (await status.get(`/api/jobs/${jobId}/events?limit=1000&order=oldest`)).json<EventPageView>();
    expect(all.events[0]!.type).to.equal('job.submitted');
    expect(all.events.filter((e) => e.type === 'task.succeeded').map((e) => e.taskId).sort()).to.deep.equal(['0000', '0001', '0002']);
    const newest = (await status.get(`/api/jobs/${jobId}/events?limit=2`)).json<EventPageView>();
    expect(newest.order).to.equal('newest');
    expect(newest.events.map((e) => e.at)).to.deep.equal(all.events.slice(-2).reverse().map((e) => e.at));
    let cursor = newest.nextCursor;
    const seen = [...newest.events];
    while (cursor) {
      const page = (await status.get(`/api/jobs/${jobId}/events?limit=2&cursor=${cursor}`)).json<EventPageView>();
      seen.push(...page.events);
      cursor = page.nextCursor;
    }
    expect(seen).to.have.length(all.events.length);
  });

  it('never sends a private key: the job row holds an encrypted one, no answer (JSON or HTML) has it', async () => {
    const row = await stack.job(jobId);
    const sealed = row!.security!.regions['us-east-1']!.privateKey;
    expect(sealed.data).to.be.a('string').with.length.above(20);
    const jsonPaths = ['/api/jobs', `/api/jobs/${jobId}`, `/api/jobs/${jobId}/tasks`, `/api/jobs/${jobId}/events?limit=1000`];
    for (const p of jsonPaths) {
      const r = await status.get(p);
      expect(r.status, p).to.equal(200);
      expect(secretKeys(r.json()), p).to.deep.equal([]);
      expect(r.text, p).not.to.contain('privateKey');
      expect(r.text, p).not.to.contain(sealed.data);
      expect(r.text, p).not.to.contain(sealed.iv);
    }
    for (const p of ['/', `/jobs/${jobId}`, `/jobs/${jobId}/timeline.svg`]) {
      const r = await status.get(p);
      expect(r.status, p).to.equal(200);
      expect(r.text, p).not.to.contain(sealed.data);
      expect(r.text, p).not.to.contain('env-value-not-to-show');
    }
  });

  it('pages through a job of 10,000 tasks, each page one query of limit + 1 rows, never the whole job', async function () {
    this.timeout(900_000);
    await seedJob(stack.fleet.deps.store, stack.fleet.clients.ddb, { jobId: big, tasks: 10_000 });
    const ids: string[] = [];
    let cursor: string | null = '';
    let pages = 0;
    do {
      status.resetReads();
      const page: TaskPageView = (await status.get(`/api/jobs/${big}/tasks?limit=1000${cursor ? `&cursor=${cursor}` : ''}`)).json<TaskPageView>();
      expect(page.totalTasks).to.equal(10_000);
      expect(page.tasks.length).to.be.at.most(1000);
      // one Query (dynalite's 1 MB page may split it in two), at most limit + 1 rows read
      expect(status.reads.queries).to.be.at.most(2);
      expect(status.reads.items).to.be.at.most(1001);
      expect(status.reads.scans).to.equal(0);
      ids.push(...page.tasks.map((t) => t.taskId));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).to.equal(10);
    expect(ids).to.have.length(10_000);
    expect(new Set(ids).size).to.equal(10_000);
    expect(ids).to.deep.equal([...ids].sort());
    // a small page from the middle reads a small page
    status.resetReads();
    const mid = (await status.get(`/api/jobs/${big}/tasks?limit=50&cursor=${Buffer.from(JSON.stringify({ t: '4999' })).toString('base64url')}`)).json<TaskPageView>();
    expect(mid.tasks[0]!.taskId).to.equal('5000');
    expect(mid.tasks).to.have.length(50);
    expect(status.reads.items).to.be.at.most(51);
    // the job's summary counts all 10,000 (read once, then cached)
    const d = (await status.get(`/api/jobs/${big}`)).json<JobDetailView>();
    const byState = Object.values(d.job.tasks.byState).reduce((a, b) => a + b, 0);
    expect(byState).to.equal(10_000);
    expect(d.job.tasks.succeeded + d.job.tasks.running + d.job.tasks.failed + d.job.tasks.waiting + d.job.tasks.cancelled).to.equal(10_000);
    status.resetReads();
    await status.get(`/api/jobs/${big}`);
    expect(status.reads.items, 'a second look within the cache time reads no tasks').to.be.at.most(1);
  });

  it('filters the jobs list by state and pages it', async () => {
    const running = (await status.get('/api/jobs?state=running')).json<JobListView>();
    expect(running.jobs.map((j) => j.id)).to.include(big).and.not.include(jobId);
    const ended = (await status.get('/api/jobs?state=succeeded,failed')).json<JobListView>();
    expect(ended.jobs.map((j) => j.id)).to.include(jobId).and.not.include(big);
    const one = (await status.get('/api/jobs?limit=1')).json<JobListView>();
    expect(one.jobs).to.have.length(1);
    const rest = (await status.get(`/api/jobs?limit=1&cursor=${one.nextCursor}`)).json<JobListView>();
    expect(rest.jobs).to.have.length(1);
    expect(rest.jobs[0]!.id).not.to.equal(one.jobs[0]!.id);
    // newest first: the seeded job says it was submitted an hour ago
    expect([one.jobs[0]!.id, rest.jobs[0]!.id]).to.deep.equal([jobId, big]);
  });

  it('refuses bad input with 400 and unknown jobs with 404, as JSON', async () => {
    const cases: Array<[string, number]> = [
      ['/api/jobs/no-such-job', 404],
      ['/api/jobs/no-such-job/tasks', 404],
      ['/api/jobs/no-such-job/events', 404],
      [`/api/jobs/${jobId}/tasks?cursor=not-a-cursor!`, 400],
      [`/api/jobs/${jobId}/tasks?cursor=${Buffer.from('{"jobId":"x"}').toString('base64url')}`, 400],
      [`/api/jobs/${jobId}/tasks?limit=0`, 400],
      [`/api/jobs/${jobId}/tasks?limit=100000`, 400],
      [`/api/jobs/${jobId}/events?order=sideways`, 400],
      ['/api/jobs?state=bogus', 400],
      ['/api/nothing', 404],
    ];
    for (const [p, code] of cases) {
      const r = await status.get(p);
      expect(r.status, p).to.equal(code);
      expect(r.headers.get('content-type'), p).to.contain('application/json');
      expect(r.json<{ error: string }>().error, p).to.be.a('string');
    }
    expect((await status.get('/jobs/no-such-job')).status).to.equal(404);
    expect((await status.get('/healthz')).json()).to.deep.equal({ status: 'ok' });
  });
});
