/** The market through the SDK: price history, placement scores, and the same seed giving the same market. */
import { expect } from 'chai';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSpotInstanceRequestsCommand,
  DescribeSpotPriceHistoryCommand,
  GetSpotPlacementScoresCommand,
  RequestSpotInstancesCommand,
  paginateDescribeSpotPriceHistory,
} from '@aws-sdk/client-ec2';
import type { EC2Client } from '@aws-sdk/client-ec2';
import { startHarness, waitFor } from './helpers.js';
import type { Harness } from './helpers.js';

const HOUR = 3_600_000;

describe('simulator: market', function () {
  this.timeout(60_000);
  let a: Harness;
  let b: Harness;
  let c: Harness;
  // a fixed window in the past, identical for every simulator
  const end = new Date(Math.floor(Date.now() / HOUR) * HOUR - 24 * HOUR);
  const start = new Date(end.getTime() - 48 * HOUR);

  before(async () => {
    [a, b, c] = await Promise.all([startHarness({ seed: 11, timeScale: 1 }), startHarness({ seed: 11, timeScale: 1 }), startHarness({ seed: 12, timeScale: 1 })]);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close(), c?.close()]);
  });

  const history = (ec2: EC2Client, types: string[]) =>
    ec2.send(new DescribeSpotPriceHistoryCommand({ InstanceTypes: types as never, ProductDescriptions: ['Linux/UNIX'], StartTime: start, EndTime: end }));

  const scores = (ec2: EC2Client) =>
    ec2.send(new GetSpotPlacementScoresCommand({ InstanceTypes: ['p3.2xlarge', 'm5.large'], TargetCapacity: 20, SingleAvailabilityZone: true, RegionNames: ['us-east-1', 'us-west-2', 'eu-west-1'] }));

  it('answers price history in the AWS shape, newest first, within the window', async () => {
    const h = await history(a.ec2, ['m5.large', 'p3.2xlarge']);
    const rows = h.SpotPriceHistory!;
    expect(rows.length).to.be.greaterThan(6);
    for (const r of rows) {
      expect(r.ProductDescription).to.equal('Linux/UNIX');
      expect(Number(r.SpotPrice)).to.be.greaterThan(0);
      expect(r.Timestamp!.getTime()).to.be.within(start.getTime(), end.getTime());
      expect(r.AvailabilityZone).to.match(/^us-east-1[a-f]$/);
    }
    for (let i = 1; i < rows.length; i++) expect(rows[i - 1]!.Timestamp!.getTime()).to.be.at.least(rows[i]!.Timestamp!.getTime());
    // spot prices sit well below on-demand (m5.large is 0.096 USD/h)
    const m5 = rows.filter((r) => r.InstanceType === 'm5.large').map((r) => Number(r.SpotPrice));
    expect(Math.max(...m5)).to.be.below(0.096);
    const now = await a.ec2.send(new DescribeSpotPriceHistoryCommand({ InstanceTypes: ['m5.large'], AvailabilityZone: 'us-east-1b' }));
    expect(now.SpotPriceHistory).to.have.length(1);
  });

  it('paginates price history', async () => {
    let pages = 0;
    let rows = 0;
    for await (const page of paginateDescribeSpotPriceHistory({ client: a.ec2, pageSize: 50 }, { InstanceTypes: ['c5.large', 'm5.large'], StartTime: start, EndTime: end })) {
      pages++;
      rows += page.SpotPriceHistory!.length;
    }
    expect(pages).to.be.greaterThan(1);
    expect(rows).to.be.greaterThan(50);
  });

  it('gives placement scores from 1 to 10 per zone', async () => {
    const s = await scores(a.ec2);
    const list = s.SpotPlacementScores!;
    expect(list.length).to.equal(6 + 4 + 3);
    for (const x of list) {
      expect(x.Score).to.be.within(1, 10);
      expect(x.AvailabilityZoneId).to.match(/^(use1|usw2|euw1)-az\d$/);
    }
  });

  it('gives the same market for the same seed, another for another seed', async () => {
    const [ha, hb, hc] = await Promise.all([history(a.ec2, ['m5.large', 'c6g.xlarge']), history(b.ec2, ['m5.large', 'c6g.xlarge']), history(c.ec2, ['m5.large', 'c6g.xlarge'])]);
    expect(ha.SpotPriceHistory).to.deep.equal(hb.SpotPriceHistory);
    expect(ha.SpotPriceHistory).to.not.deep.equal(hc.SpotPriceHistory);
    const [sa, sb] = await Promise.all([scores(a.ec2), scores(b.ec2)]);
    expect(sa.SpotPlacementScores).to.deep.equal(sb.SpotPlacementScores);
  });

  it('with a fixed start, the same seed gives the same market whenever it runs; another start moves its now', async () => {
    const origin = Date.parse('2026-06-01T00:00:00Z');
    const first = await startHarness({ seed: 5, timeScale: 1, start: origin });
    let second: Harness | undefined;
    let later: Harness | undefined;
    try {
      // The second run starts after the first has been running a while: real start-up times differ.
      await new Promise((r) => setTimeout(r, 1200));
      [second, later] = await Promise.all([startHarness({ seed: 5, timeScale: 1, start: origin }), startHarness({ seed: 5, timeScale: 1, start: origin + 30 * 24 * HOUR })]);
      expect(second.sim.clock.now()).to.be.within(origin, origin + 60_000);
      const current = async (h: Harness) =>
        (await h.ec2.send(new DescribeSpotPriceHistoryCommand({ InstanceTypes: ['m5.large', 'c5.xlarge', 'r5.large'], ProductDescriptions: ['Linux/UNIX'], StartTime: new Date(origin - 12 * HOUR), EndTime: new Date(origin) })))
          .SpotPriceHistory!.map((r) => `${r.AvailabilityZone} ${r.InstanceType} ${r.SpotPrice} ${r.Timestamp!.toISOString()}`);
      const [p1, p2, p3] = await Promise.all([current(first), current(second), current(later)]);
      expect(p1.length).to.be.greaterThan(3);
      expect(p2).to.deep.equal(p1);
      const [s1, s2] = await Promise.all([scores(first.ec2), scores(second.ec2)]);
      expect(s2.SpotPlacementScores).to.deep.equal(s1.SpotPlacementScores);
      // Prices are a function of simulated time: a month later the same twelve hours are the same, but
      // "now" is elsewhere, so the latest price of some pool differs.
      const now = async (h: Harness) =>
        (await h.ec2.send(new DescribeSpotPriceHistoryCommand({ InstanceTypes: ['m5.large', 'c5.xlarge', 'r5.large'], ProductDescriptions: ['Linux/UNIX'] }))).SpotPriceHistory!.map(
          (r) => `${r.AvailabilityZone} ${r.InstanceType} ${r.SpotPrice}`,
        );
      const [n1, n3] = await Promise.all([now(first), now(later)]);
      expect(n3).to.not.deep.equal(n1);
      expect(p3).to.deep.equal(p1);
    } finally {
      await Promise.all([first.close(), second?.close(), later?.close()]);
    }
  });

  it('interrupts a spot instance when the preemption trace of its pool says so', async () => {
    // r5.16xlarge in us-east-1c replays a preemption trace (34 s ticks, a tick of 0 = alive, alive runs of
    // at most 8.1 h). The start is fixed where, with seed 3, the trace is alive for about 9,900 s: at 2,000
    // simulated seconds per real second the instance runs about 5 real seconds, then the trace takes the
    // capacity back. (With the start at the real time, the trace position, and so the test, depended on
    // the time of day.)
    const fast = await startHarness({ timeScale: 2_000, seed: 3, start: Date.parse('2026-06-01T22:00:00Z') });
    try {
      const image = (await fast.ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'architecture', Values: ['x86_64'] }] }))).Images![0]!;
      const req = await fast.ec2.send(
        new RequestSpotInstancesCommand({ LaunchSpecification: { ImageId: image.ImageId, InstanceType: 'r5.16xlarge', Placement: { AvailabilityZone: 'us-east-1c' } } }),
      );
      const sirId = req.SpotInstanceRequests![0]!.SpotInstanceRequestId!;
      const seen = new Set<string>();
      const closed = await waitFor(
        'a market interruption',
        async () => {
          const r = (await fast.ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sirId] }))).SpotInstanceRequests![0]!;
          seen.add(r.Status!.Code!);
          return r.State === 'closed' ? r : undefined;
        },
        40_000,
        20,
      );
      expect(closed.Status!.Code).to.equal('instance-terminated-no-capacity');
      expect([...seen]).to.include('fulfilled');
      const inst = await fast.ec2.send(new DescribeInstancesCommand({ InstanceIds: [closed.InstanceId!] }));
      expect(inst.Reservations![0]!.Instances![0]!.StateReason!.Code).to.equal('Server.SpotInstanceTermination');
    } finally {
      await fast.close();
    }
  });
});
