import { expect } from 'chai';
import { cidrSchema, regionSchema, zoneSchema } from '../../shared/validation.js';
import { loadConfig } from '../../shared/config.js';
import { ConfigError, PermanentError, ValidationError } from '../../shared/errors.js';
import { parseJobSpec } from '../../services/model/spec.js';
import { checkCidr, checkRegions } from '../../services/security/names.js';

const good = { name: 'ok', tasks: { count: 1 }, command: ['true'], instances: { types: ['m5.large'] } };

function issuesOf(fn: () => unknown): Array<{ path: string; rule: string }> {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ValidationError);
    return (err as ValidationError).issues;
  }
  throw new Error('expected a ValidationError');
}

describe('one CIDR and one region schema (shared/validation.ts)', () => {
  const goodCidrs = ['10.0.0.0/8', '0.0.0.0/0', '198.51.100.4/32', '255.255.255.255/32'];
  const badCidrs = ['', '10.0.0.0', '10.0.0/8', '::/0', '256.1.1.1/32', '1.1.1.1/40', '999.0.0.0/99', '10.0.0.300/32', '1.2.3.4/33', ' 1.2.3.4/32'];

  it('CIDR: the schema and every place that checks one agree', () => {
    for (const c of goodCidrs) {
      expect(cidrSchema.safeParse(c).success, c).to.equal(true);
      expect(checkCidr(c)).to.equal(c);
      expect(loadConfig({ env: { SPOTBATCH_SSH_INGRESS_CIDR: c } }).lifecycle.sshIngressCidr).to.equal(c);
      expect(parseJobSpec({ ...good, ssh: { ingressCidr: c } }).ssh?.ingressCidr).to.equal(c);
    }
    for (const c of badCidrs) {
      expect(cidrSchema.safeParse(c).success, c).to.equal(false);
      expect(() => checkCidr(c), c).to.throw(PermanentError);
    }
  });

  it('refuses 999.0.0.0/99 with the field path, in the configuration and in a job spec', () => {
    let configError: unknown;
    try {
      loadConfig({ env: { SPOTBATCH_SSH_INGRESS_CIDR: '999.0.0.0/99' } });
    } catch (err) {
      configError = err;
    }
    expect(configError).to.be.instanceOf(ConfigError);
    const cfg = (configError as ConfigError).issues;
    expect(cfg.map((i) => i.path).join(' ')).to.include('SPOTBATCH_SSH_INGRESS_CIDR');
    expect(cfg[0]!.rule).to.equal('must be an IPv4 CIDR such as 203.0.113.7/32');
    expect(issuesOf(() => parseJobSpec({ ...good, ssh: { ingressCidr: '999.0.0.0/99' } }))).to.deep.include({
      path: 'ssh.ingressCidr',
      rule: 'must be an IPv4 CIDR such as 203.0.113.7/32',
    });
  });

  it('region and zone: one rule for the spec, the configuration and the security resources', () => {
    for (const r of ['us-east-1', 'eu-central-2', 'ap-southeast-5', 'us-gov-west-1', 'us-isob-east-1', 'il-central-1']) {
      expect(regionSchema.safeParse(r).success, r).to.equal(true);
      expect(checkRegions([r])).to.deep.equal([r]);
      expect(loadConfig({ env: { SPOTBATCH_REGIONS: r } }).lifecycle.regions).to.deep.equal([r]);
      expect(parseJobSpec({ ...good, instances: { types: ['m5.large'], regions: [r] } }).instances.regions).to.deep.equal([r]);
      expect(zoneSchema.safeParse(`${r}a`).success, `${r}a`).to.equal(true);
    }
    for (const r of ['mars-1', 'US-EAST-1', 'us-east', 'us-east-1a', 'useast-1', 'u-east-1', 'us-east-1 ', 'a-b-c-d-1']) {
      expect(regionSchema.safeParse(r).success, r).to.equal(false);
      expect(() => checkRegions([r]), r).to.throw(PermanentError);
    }
    expect(issuesOf(() => parseJobSpec({ ...good, instances: { types: ['m5.large'], regions: ['mars-1'] } }))).to.deep.include({
      path: 'instances.regions[0]',
      rule: 'must be a region such as us-east-1',
    });
    expect(zoneSchema.safeParse('us-east-1').success).to.equal(false);
  });
});

describe('defaults written once', () => {
  it('an empty configuration and a spec that names nothing get every inner default', () => {
    const c = loadConfig({ env: {} });
    expect(c.dispatcher).to.deep.equal({
      concurrency: 4,
      batchSize: 1,
      waitTimeSeconds: 20,
      visibilityTimeoutSeconds: 60,
      heartbeatSeconds: 20,
      retryBackoffMaxSeconds: 300,
      maxReceiveCount: 5,
      shutdownTimeoutSeconds: 30,
      healthPort: -1,
      healthHost: '127.0.0.1',
      queues: ['master', 'request', 'events'],
    });
    expect(c.reconciler).to.deep.equal({ enabled: true, intervalSeconds: 15, leaseSeconds: 45 });
    expect(c.lifecycle).to.deep.include({ pollSeconds: 5, sshPort: 22, regions: ['us-east-1'], sshWaitSeconds: 300, cooldownSeconds: 1800, metadataPollSeconds: 5, checkpointGraceSeconds: 60, teardownMaxDelaySeconds: 60 });
    expect(c.checkpoint).to.deep.equal({ stores: {}, default: 'default' });
    expect(c.security).to.deep.equal({ allowActions: [], allowWildcardResourceWrites: false });
    expect(c.log).to.deep.equal({ level: 'info' });
    const spec = parseJobSpec(good);
    expect(spec.retry).to.deep.equal({ maxAttempts: 3, retryExitCodes: [], failExitCodes: [], maxInterruptions: 5 });
    expect(spec.timeouts).to.deep.equal({ step: 3600, heartbeat: 120 });
    expect(spec.instances.regions).to.deep.equal(['us-east-1']);
  });
});
