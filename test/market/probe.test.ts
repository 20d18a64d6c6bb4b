import { expect } from 'chai';
import { CreateSecurityGroupCommand, DescribeImagesCommand, DescribeInstancesCommand, DescribeSecurityGroupsCommand, DescribeSpotInstanceRequestsCommand, RequestSpotInstancesCommand } from '@aws-sdk/client-ec2';
import { startHarness, waitFor, type Harness } from '@spotbatch/simulator/testing';
import type { Emulators } from '../../services/local/emulators.js';
import { createCloudClients, type CloudClients, type CoreClients } from '../../shared/aws.js';
import { systemClock } from '../../shared/clock.js';
import { ensureTables } from '../../shared/setup.js';
import { PROBE_TAG, cleanUpProbe, formatProbe, runProbe, sshBanner, type ProbeOptions } from '../../services/market/probe.js';
import { marketSignals, type MarketStore } from '../../services/market/store.js';
import { clientsFor, testEmulators, uniquePrefix } from '../helpers/fleet.js';
import { emulatorEnv, startCli } from '../helpers/cli.js';

const SIM_CREDENTIALS = { accessKeyId: 'AKIDSIMULATOR', secretAccessKey: 'simulator-secret' };
const REGIONS = ['us-east-1', 'us-west-2'];
const TYPES = ['m5.large', 'c5.large'];

/** What the probe left in the simulator: instances not terminated, requests open or active, security groups, by its tag. */
async function leftovers(h: Harness, probeId: string, regions = REGIONS): Promise<{ instances: string[]; requests: string[]; groups: string[]; tagged: number }> {
  const out = { instances: [] as string[], requests: [] as string[], groups: [] as string[], tagged: 0 };
  const tag = [{ Name: `tag:${PROBE_TAG}`, Values: [probeId] }];
  for (const region of regions) {
    const ec2 = h.ec2In(region);
    const reqs = (await ec2.send(new DescribeSpotInstanceRequestsCommand({ Filters: tag }))).SpotInstanceRequests ?? [];
    out.tagged += reqs.length;
    out.requests.push(...reqs.filter((r) => r.State === 'open' || r.State === 'active').map((r) => r.SpotInstanceRequestId!));
    // Instances by the probe's tag, and every instance its requests launched (tagged or not).
    const ids = reqs.map((r) => r.InstanceId).filter((id): id is string => id !== undefined);
    const byTag = (await ec2.send(new DescribeInstancesCommand({ Filters: tag }))).Reservations ?? [];
    const byId = ids.length ? ((await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-id', Values: ids }] }))).Reservations ?? []) : [];
    for (const i of [...byTag, ...byId].flatMap((r) => r.Instances ?? [])) if (i.State?.Name !== 'terminated') out.instances.push(`${i.InstanceId} ${i.State?.Name}`);
    out.groups.push(...((await ec2.send(new DescribeSecurityGroupsCommand({ Filters: tag }))).SecurityGroups ?? []).map((g) => g.GroupId!));
  }
  return out;
}

/** The launch-time probe against the simulator (EC2, instances with real SSH servers) and dynalite (the market store). */
describe('market probe (simulator + dynalite)', function () {
  this.timeout(180_000);
  let emu: Emulators;
  let clients: CoreClients;

  before(async () => {
    emu = await testEmulators();
    clients = clientsFor(emu);
  });
  after(async () => {
    await emu?.stop();
  });

  async function storeFor(): Promise<{ prefix: string; store: MarketStore }> {
    const prefix = uniquePrefix();
    await ensureTables(clients.dynamodb, prefix);
    return { prefix, store: marketSignals({ clients, config: { prefix }, clock: systemClock }) };
  }

  describe('with instances that start (time scale 60)', () => {
    let h: Harness;
    let cloud: CloudClients;
    before(async () => {
      h = await startHarness();
      cloud = createCloudClients({ region: 'us-east-1', endpoints: { ec2: h.sim.endpoint, iam: h.sim.endpoint }, credentials: SIM_CREDENTIALS });
    });
    after(async () => {
      await h?.close();
    });
    const options = (o: Partial<ProbeOptions> = {}): ProbeOptions => ({ types: TYPES, regions: REGIONS, count: 2, timeoutMs: 90_000, pollMs: 200, ingressCidr: '127.0.0.1/32', sshPort: h.sim.sshPort, ...o });

    it('follows every request to SSH-ready, records the timelines the store then shows, and leaves nothing running', async () => {
      const { store } = await storeFor();
      const r = await runProbe({ cloud, market: store, clock: systemClock }, options());
      expect(r.ended, JSON.stringify(r.launches)).to.equal('done');
      expect(r.launches).to.have.length(TYPES.length * REGIONS.length * 2);
      for (const l of r.launches) {
        expect(l.outcome, l.detail).to.equal('ready');
        expect(l.zone).to.be.a('string');
        expect(l.requestedAt).to.be.at.most(l.fulfilledAt!);
        expect(l.fulfilledAt).to.be.at.most(l.runningAt!);
        expect(l.runningAt).to.be.at.most(l.readyAt!);
        expect(l.detail).to.match(/^SSH-2\.0-/);
        expect(l.recorded).to.equal(true);
      }
      // One ClientToken per request: as many requests as launches.
      expect(new Set(r.launches.map((l) => l.clientToken)).size).to.equal(r.launches.length);
      expect(new Set(r.launches.map((l) => l.requestId)).size).to.equal(r.launches.length);
      // The per-pool medians cover every launch.
      expect(r.pools.reduce((n, p) => n + p.launches, 0)).to.equal(r.launches.length);
      for (const p of r.pools) expect(p.p50.ready).to.be.a('number');
      const text = formatProbe(r);
      expect(text).to.contain(`probe ${r.probeId}: done`);
      for (const l of r.launches) expect(text).to.contain(l.requestId!);
      expect(text).not.to.contain('not ready:');

      // The store's signals show them: launchSamples per pool, a median request -> SSH-ready.
      const pools = await store.pools(REGIONS, TYPES, Date.now());
      const sampled = pools.filter((p) => p.launchSamples !== undefined);
      expect(sampled.reduce((n, p) => n + p.launchSamples!, 0)).to.equal(r.launches.length);
      for (const p of sampled) {
        const mine = r.pools.find((x) => x.region === p.region && x.zone === p.zone && x.type === p.type)!;
        expect(p.launchSamples).to.equal(mine.ready);
        expect(p.launchP50Seconds).to.be.closeTo(mine.p50.ready!, 0.001);
      }

      expect(r.clean).to.equal(true);
      const left = await leftovers(h, r.probeId);
      expect(left.tagged).to.equal(r.launches.length);
      expect(left).to.deep.include({ instances: [], requests: [], groups: [] });
      // The SSH servers are gone with their instances.
      const ip = r.launches[0]!.ip!;
      expect(await sshBanner(ip, h.sim.sshPort, 1000)).to.equal(undefined);
    });

    it('cleans up when the caller aborts (Ctrl-C) while requests are being followed', async () => {
      const { store } = await storeFor();
      const controller = new AbortController();
      const r = await runProbe(
        { cloud, market: store, clock: systemClock },
        options({ count: 3, signal: controller.signal, onProgress: (line) => (/requested/.test(line) ? controller.abort() : undefined) }),
      );
      expect(r.ended).to.equal('interrupted');
      // It stopped sending at the first request.
      expect(r.launches).to.have.length(1);
      expect(r.clean).to.equal(true);
      expect(await leftovers(h, r.probeId)).to.deep.include({ instances: [], requests: [], groups: [] });
    });

    it('--clean-up finds by its tag what a killed probe left: requests, their untagged instances, its security group', async () => {
      const probeId = 'p0123abcd';
      const ec2 = h.ec2In('us-east-1');
      const tags = [{ Key: PROBE_TAG, Value: probeId }];
      const image = (await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'architecture', Values: ['x86_64'] }] }))).Images![0]!.ImageId!;
      const group = await ec2.send(new CreateSecurityGroupCommand({ GroupName: `spotbatch-probe-${probeId}`, Description: 'probe', TagSpecifications: [{ ResourceType: 'security-group', Tags: tags }] }));
      const req = await ec2.send(
        new RequestSpotInstancesCommand({ InstanceCount: 2, LaunchSpecification: { ImageId: image, InstanceType: 'm5.large', SecurityGroupIds: [group.GroupId!] }, TagSpecifications: [{ ResourceType: 'spot-instances-request', Tags: tags }] }),
      );
      const ids = req.SpotInstanceRequests!.map((r) => r.SpotInstanceRequestId!);
      await waitFor('instances', async () => {
        const out = await ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: ids }));
        return out.SpotInstanceRequests!.every((r) => r.InstanceId) ? true : undefined;
      });
      expect((await leftovers(h, probeId, ['us-east-1'])).instances).to.have.length(2);
      const cleanup = await cleanUpProbe(cloud, probeId, ['us-east-1']);
      expect(cleanup[0]).to.deep.include({ region: 'us-east-1', alive: 0, groupsDeleted: 1, groupsLeft: [] });
      expect(cleanup[0]!.terminated).to.equal(2);
      expect(await leftovers(h, probeId, ['us-east-1'])).to.deep.include({ instances: [], requests: [], groups: [] });
    });

    it('cleans up after an error, before any request', async () => {
      const { store } = await storeFor();
      const r = await runProbe({ cloud, market: store, clock: systemClock }, options({ types: ['m5.large', 'm5.notatype'] }));
      expect(r.ended).to.equal('error');
      expect(r.error).to.match(/m5\.notatype|InvalidInstanceType/);
      expect(r.launches).to.deep.equal([]);
      expect(await leftovers(h, r.probeId)).to.deep.include({ instances: [], requests: [], groups: [], tagged: 0 });
    });
  });

  describe('with instances slower than the timeout (time scale 1, 10 min launch latency)', () => {
    let h: Harness;
    let cloud: CloudClients;
    before(async () => {
      h = await startHarness({ timeScale: 1, launchLatency: { kind: 'fixed', seconds: 600 } });
      cloud = createCloudClients({ region: 'us-east-1', endpoints: { ec2: h.sim.endpoint, iam: h.sim.endpoint }, credentials: SIM_CREDENTIALS });
    });
    after(async () => {
      await h?.close();
    });

    it('a timeout too short leaves nothing running, says which requests did not get ready, and records none of them', async () => {
      const { store } = await storeFor();
      const r = await runProbe(
        { cloud, market: store, clock: systemClock },
        { types: ['m5.large'], regions: REGIONS, count: 2, timeoutMs: 8000, pollMs: 200, ingressCidr: '127.0.0.1/32', sshPort: h.sim.sshPort },
      );
      expect(r.ended).to.equal('timeout');
      expect(r.launches).to.have.length(4);
      for (const l of r.launches) {
        expect(l.outcome).to.equal('not-ready');
        expect(l.requestId).to.match(/^sir-/);
        expect(l.detail).to.match(/stopped following \(timeout\)/);
        expect(l.readyAt).to.equal(undefined);
        expect(l.recorded).to.equal(false);
      }
      // Evaluation and fulfilment (2 s each) are within the timeout: instances were launched, pending, and are terminated.
      expect(r.launches.some((l) => l.instanceId !== undefined)).to.equal(true);
      expect(r.clean).to.equal(true);
      expect(await leftovers(h, r.probeId)).to.deep.include({ instances: [], requests: [], groups: [] });
      const pools = await store.pools(REGIONS, ['m5.large'], Date.now());
      expect(pools.filter((p) => p.launchSamples !== undefined)).to.deep.equal([]);
    });

    it('the command cleans up on SIGINT, also when a second one comes during cleanup', async () => {
      const { prefix } = await storeFor();
      const env = {
        ...emulatorEnv(emu, prefix),
        AWS_ENDPOINT_URL_EC2: h.sim.endpoint,
        SPOTBATCH_SSH_PORT: String(h.sim.sshPort),
        SPOTBATCH_SSH_INGRESS_CIDR: '127.0.0.1/32',
      };
      const child = startCli(['market', 'probe', '--types', 'm5.large', '--regions', REGIONS.join(','), '--count', '2', '--timeout', '5m', '--json'], env);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      // Once every request is sent (and some fulfilled: their instances pending for 10 minutes), Ctrl-C twice.
      const deadline = Date.now() + 60_000;
      while ((stderr.match(/requested/g) ?? []).length < 4 || !/fulfilled/.test(stderr)) {
        if (Date.now() > deadline) throw new Error(`no requests from the probe: ${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      child.kill('SIGINT');
      while (!/stopping probe/.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      child.kill('SIGINT');
      const code = await exited;
      expect(code, stderr).to.equal(130);
      expect(stderr).to.match(/still cleaning up probe p[0-9a-f]{8}/);
      const result = JSON.parse(stdout) as { probeId: string; ended: string; clean: boolean; launches: { outcome: string }[] };
      expect(result.ended).to.equal('interrupted');
      expect(result.clean).to.equal(true);
      expect(result.launches).to.have.length(4);
      const left = await leftovers(h, result.probeId);
      expect(left.tagged).to.equal(4);
      expect(left).to.deep.include({ instances: [], requests: [], groups: [] });
    });
  });
});
