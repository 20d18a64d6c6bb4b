/** Regions and images per region, against the simulator: "auto" and listed regions, the arm64 image of an arm64 type. */
import { expect } from 'chai';
import { DescribeImagesCommand } from '@aws-sdk/client-ec2';
import { resolveJobRegions, typesOffered } from '../../services/security/regions.js';
import { resolveImages } from '../../services/spot/images.js';
import { parseJobSpec } from '../../services/model/spec.js';
import { PermanentError } from '../../shared/errors.js';
import { startSecurityHarness, type SecurityHarness } from './helpers.js';

const spec = (instances: Record<string, unknown>) => parseJobSpec({ name: 'r', tasks: { count: 1 }, command: ['true'], instances });

describe('regions and images per region (simulator)', function () {
  this.timeout(30_000);
  let s: SecurityHarness;
  before(async () => {
    s = await startSecurityHarness();
  });
  after(async () => {
    await s.close();
  });
  afterEach(async () => {
    await s.h.admin('POST', '/_sim/faults', {});
  });

  it('gives an arm64 type the arm64 Amazon Linux image of each region, and an x86_64 type the x86_64 one', async () => {
    for (const region of ['us-east-1', 'eu-west-1']) {
      const images = await resolveImages(s.cloud, region, spec({ types: ['m6g.large', 'm5.large'], regions: [region] }));
      expect(images['m6g.large']).to.match(/^ami-/);
      expect(images['m6g.large']).to.not.equal(images['m5.large']);
      const out = await s.cloud.ec2(region).send(new DescribeImagesCommand({ ImageIds: [images['m6g.large']!, images['m5.large']!] }));
      const arch = Object.fromEntries((out.Images ?? []).map((i) => [i.ImageId, i.Architecture]));
      expect(arch[images['m6g.large']!], region).to.equal('arm64');
      expect(arch[images['m5.large']!], region).to.equal('x86_64');
    }
  });

  it('refuses a region EC2 does not offer, naming instances.regions', async () => {
    const err = await resolveJobRegions(s.cloud, 'us-east-1', spec({ types: ['m5.large'], regions: ['us-east-1', 'us-nowhere-1'] }), ['us-east-1']).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PermanentError);
    expect((err as Error).message).to.contain('instances.regions').and.contain('us-nowhere-1');
  });

  it('"auto" keeps only the enabled regions that offer one of the types, and names a type offered nowhere by its field path', async () => {
    const auto = await resolveJobRegions(s.cloud, 'us-east-1', spec({ types: ['m6g.large'], regions: 'auto' }), ['us-east-1']);
    expect(auto.unchecked).to.equal(false);
    expect(auto.regions.length).to.be.greaterThan(0);
    for (const r of [...auto.regions, ...auto.dropped]) {
      const offered = [...((await typesOffered(s.cloud, r, ['m6g.large'])) ?? [])];
      expect(offered, r).to.deep.equal(auto.regions.includes(r) ? ['m6g.large'] : []);
    }
    const err = await resolveJobRegions(s.cloud, 'us-east-1', spec({ types: ['m5.large', 'zz9.nothing'], regions: 'auto' }), ['us-east-1']).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(PermanentError);
    expect((err as Error).message).to.contain("instances.types[1]: 'zz9.nothing'");
  });

  it('without DescribeInstanceTypeOfferings, "auto" is the fleet\'s configured regions (those enabled) and a list is kept', async () => {
    // EC2 that does not serve the action: the simulator answers InvalidAction, as AWS does for an action it does not know.
    await s.h.admin('POST', '/_sim/faults', { unsupportedActions: ['DescribeInstanceTypeOfferings'], disabledRegions: ['af-south-1'] });
    expect(await typesOffered(s.cloud, 'us-east-1', ['m5.large'])).to.equal(undefined);
    const auto = await resolveJobRegions(s.cloud, 'us-east-1', spec({ types: ['m5.large'], regions: 'auto' }), ['us-west-2', 'af-south-1', 'us-east-1']);
    expect(auto).to.deep.equal({ regions: ['us-west-2', 'us-east-1'], dropped: [], unchecked: true });
    const listed = await resolveJobRegions(s.cloud, 'us-east-1', spec({ types: ['m5.large'], regions: ['eu-west-1', 'us-east-1'] }), ['us-east-1']);
    expect(listed.regions).to.deep.equal(['eu-west-1', 'us-east-1']);
    expect(listed.unchecked).to.equal(true);
  });
});
