import { expect } from 'chai';
import { TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { catalog, type FleetCatalog } from '../../services/catalog.js';
import type { HandlerContext } from '../../services/dispatcher/context.js';
import { parseJobSpec } from '../../services/model/spec.js';
import { securityTeardown, teardownDelaySeconds } from '../../services/security/handlers.js';
import { createJobSecurity, JOB_TAG } from '../../services/security/resources.js';
import { testConfig, testLogger, uniquePrefix } from '../helpers/fleet.js';
import { newJobId, runInstance, startSecurityHarness, type SecurityHarness } from './helpers.js';

describe('security.teardown backs off', function () {
  this.timeout(60_000);

  it('waits pollSeconds, doubling per try, up to teardownMaxDelaySeconds (at the top of its jitter)', function () {
    const top = () => 0.999999999;
    const delays = (pollSeconds: number, teardownMaxDelaySeconds: number, n: number) =>
      Array.from({ length: n }, (_, tries) => teardownDelaySeconds(tries, { pollSeconds, teardownMaxDelaySeconds }, top));
    expect(delays(5, 60, 6)).to.deep.equal([5, 10, 20, 40, 60, 60]);
    expect(delays(1, 110, 9)).to.deep.equal([1, 2, 4, 8, 16, 32, 64, 110, 110]);
    expect(teardownDelaySeconds(10_000, { pollSeconds: 1, teardownMaxDelaySeconds: 110 }, top)).to.equal(110);
  });

  it('jitters each delay between half and all of it, never above teardownMaxDelaySeconds', function () {
    for (let tries = 0; tries < 40; tries++) {
      const ceiling = Math.min(110, 5 * 2 ** tries);
      const seen = Array.from({ length: 30 }, () => teardownDelaySeconds(tries, { pollSeconds: 5, teardownMaxDelaySeconds: 110 }));
      for (const d of seen) {
        expect(Number.isInteger(d)).to.equal(true);
        expect(d).to.be.within(Math.floor(ceiling / 2), 110);
      }
    }
  });

  it('refuses a cap the reconciler would take for a stuck teardown (above 110 s), naming the setting', function () {
    expect(testConfig(uniquePrefix()).lifecycle.teardownMaxDelaySeconds).to.equal(60);
    expect(() => testConfig(uniquePrefix(), { lifecycle: { teardownMaxDelaySeconds: 300 } })).to.throw(/lifecycle\.teardownMaxDelaySeconds/);
  });

  it('parses a message without its try count (as sent before) and one with it', function () {
    const schema = catalog['security.teardown'].schema;
    expect(schema.parse({ jobId: 'job-1' })).to.deep.equal({ jobId: 'job-1' });
    expect(schema.parse({ jobId: 'job-1', tries: 3 })).to.deep.equal({ jobId: 'job-1', tries: 3 });
    expect(schema.safeParse({ jobId: 'job-1', tries: -1 }).success).to.equal(false);
  });

  describe('against the simulator', function () {
    let s: SecurityHarness;
    let jobId: string;
    let sent: Array<{ service: string; body: { jobId: string; tries?: number }; delaySeconds?: number }>;
    let keptAlive: number;
    let ctx: HandlerContext<FleetCatalog>;

    /** A running instance in the job's security group; tagged with the job only when `tagged`. */
    async function instanceInGroup(tagged: boolean): Promise<string> {
      const sec = await createJobSecurity(s.cloud, s.secrets, { fleet: ctx.config.prefix, jobId, regions: ['us-east-1'], ingressCidr: '203.0.113.7/32', tags: {}, permissionsBoundary: s.boundary, profileWait: { attempts: 3, delayMs: 50 } });
      return runInstance(s.cloud, 'us-east-1', {
        SecurityGroupIds: [sec.regions['us-east-1']!.securityGroupId],
        ...(tagged ? { TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'spotbatch:fleet', Value: ctx.config.prefix }, { Key: JOB_TAG, Value: jobId }] }] } : {}),
      });
    }

    beforeEach(async () => {
      s = await startSecurityHarness();
      jobId = newJobId();
      sent = [];
      keptAlive = 0;
      const row = {
        jobId,
        state: 'finishing',
        version: 1,
        spec: parseJobSpec({ name: 'backoff', tasks: { count: 1 }, command: ['true'], instances: { types: ['m5.large'], regions: ['us-east-1'] } }),
      };
      // The handler's view of the world: the simulator for EC2/IAM, a stub store holding the one job row, a bus that records.
      ctx = {
        config: testConfig(uniquePrefix(), { lifecycle: { pollSeconds: 2, teardownMaxDelaySeconds: 20 } }),
        log: testLogger(),
        cloud: s.cloud,
        store: {
          jobs: {
            withRows() {
              return this;
            },
            get: async () => row,
            keepAlive: async () => {
              keptAlive++;
            },
          },
          // The job has no task rows (teardown reads them for the spot request ids of their attempts).
          tasks: {
            withRows() {
              return this;
            },
            listPartition: async function* () {},
          },
          // No task holds a region's preparation (teardown takes each region's securing lease before deleting).
          leases: { acquire: async () => true, release: async () => undefined },
        },
        bus: {
          send: async (service: string, body: { jobId: string; tries?: number }, opts?: { delaySeconds?: number }) => {
            sent.push({ service, body, ...(opts?.delaySeconds !== undefined ? { delaySeconds: opts.delaySeconds } : {}) });
          },
        },
        service: 'security.teardown',
        messageId: 'test',
        queue: 'master',
        receiveCount: 1,
      } as unknown as HandlerContext<FleetCatalog>;
    });
    afterEach(async () => {
      await s.close();
    });

    it('on DependencyViolation, re-sends itself with the try count and a delay that doubles up to the cap', async () => {
      // Not tagged: teardown does not see it as the job's, but its security group cannot go.
      const instanceId = await instanceInGroup(false);
      let body: { jobId: string; tries?: number } = { jobId };
      for (let i = 0; i < 6; i++) {
        await securityTeardown(body, ctx);
        expect(sent, `call ${i + 1}`).to.have.length(i + 1);
        body = sent[i]!.body;
      }
      expect(sent.map((m) => m.service)).to.deep.equal(Array(6).fill('security.teardown'));
      expect(sent.map((m) => m.body.tries)).to.deep.equal([1, 2, 3, 4, 5, 6]);
      // 2, 4, 8, 16, 20, 20 each jittered to between half and all of it
      const ceilings = [2, 4, 8, 16, 20, 20];
      sent.forEach((m, i) => expect(m.delaySeconds, `delay ${i + 1}`).to.be.within(ceilings[i]! / 2, ceilings[i]!));
      expect(keptAlive).to.equal(6);
      await s.cloud.ec2('us-east-1').send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
    });

    it('while an instance of the job is alive, backs off the same way from the try count it was given', async () => {
      await instanceInGroup(true);
      await securityTeardown({ jobId, tries: 2 }, ctx);
      expect(sent.map(({ service, body }) => ({ service, body }))).to.deep.equal([{ service: 'security.teardown', body: { jobId, tries: 3 } }]);
      expect(sent[0]!.delaySeconds).to.be.within(4, 8);
    });
  });
});
