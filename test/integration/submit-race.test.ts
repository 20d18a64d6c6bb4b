import { expect } from 'chai';
import { Writable } from 'node:stream';
import type { Emulators } from '../../services/local/emulators.js';
import { catalog, type FleetCatalog } from '../../services/catalog.js';
import type { HandlerContext } from '../../services/dispatcher/context.js';
import { jobSubmit } from '../../services/job/submit.js';
import { parseJobSpec, type JobSpecInput } from '../../services/model/spec.js';
import { specDigest } from '../../services/model/spec-digest.js';
import { allTasks, jobs } from '../../services/model/repo.js';
import { createLogger } from '../../shared/logger.js';
import { testEmulators, testFleet, type TestFleet } from '../helpers/fleet.js';

/** Two job.submit of different specs under one id, at the same moment: exactly one spec wins whole. */
describe('job.submit: same-id submits (dynalite)', function () {
  this.timeout(120_000);
  let emu: Emulators;
  let fleet: TestFleet<FleetCatalog>;
  const lines: Array<Record<string, unknown>> = [];
  let ctx: (messageId: string) => HandlerContext<FleetCatalog>;

  before(async () => {
    emu = await testEmulators();
    fleet = await testFleet(emu, catalog, {}, { config: { lifecycle: { sshIngressCidr: '127.0.0.1/32' } } });
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const log = createLogger({ format: 'json', level: 'info', destination });
    ctx = (messageId) => ({ ...fleet.deps, log, service: 'job.submit', messageId, queue: 'master', receiveCount: 1, signal: new AbortController().signal });
  });
  after(async () => {
    await fleet?.close();
    await emu?.stop();
  });

  const spec = (id: string, who: string, count: number): JobSpecInput => ({
    id,
    name: `spec-${who}`,
    tasks: Array.from({ length: count }, (_, i) => ({ args: [who, String(i)], env: { WHO: who } })),
    command: ['echo'],
    instances: { types: ['m5.large'] },
  });

  it('leaves one consistent job: the job row and every task row from one spec (several tries)', async () => {
    for (let n = 0; n < 6; n++) {
      const id = `race-${n}`;
      const a = parseJobSpec(spec(id, 'a', 3));
      const b = parseJobSpec(spec(id, 'b', 5));
      await Promise.all([jobSubmit(a, ctx(`m-a-${n}`)), jobSubmit(b, ctx(`m-b-${n}`))]);
      const job = (await jobs({ store: fleet.deps.store }).get({ jobId: id }))!;
      const winner = job.name === 'spec-a' ? a : b;
      const who = winner === a ? 'a' : 'b';
      const rows = await allTasks({ store: fleet.deps.store }, id);
      expect(rows.map((t) => t.env.WHO), `try ${n}`).to.deep.equal(Array(job.taskCount).fill(who));
      expect(rows).to.have.length(job.taskCount);
      expect(job.specDigest).to.equal(specDigest(winner));
      const warning = lines.find((l) => l.jobId === id && l.msg === 'job ID already exists with another spec: this submit is ignored');
      expect(warning, `try ${n}`).to.include({ level: 40 });
      expect(warning!.storedDigest).to.equal(specDigest(winner));
      expect(warning!.submittedDigest).to.equal(specDigest(winner === a ? b : a));
    }
  });

  it('treats a raw duplicate with the same spec as a silent no-op', async () => {
    const s = parseJobSpec(spec('dup-1', 'a', 2));
    await Promise.all([jobSubmit(s, ctx('m-1')), jobSubmit(s, ctx('m-2'))]);
    await jobSubmit(s, ctx('m-3'));
    expect(await allTasks({ store: fleet.deps.store }, 'dup-1')).to.have.length(2);
    expect(lines.filter((l) => l.jobId === 'dup-1' && l.level === 40)).to.deep.equal([]);
  });
});
