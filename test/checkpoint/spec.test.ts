import { expect } from 'chai';
import { ValidationError } from '../../shared/errors.js';
import { parseWith } from '../../shared/validation.js';
import { parseJobSpec } from '../../services/model/spec.js';
import { CheckpointSpecSchema, checkpointDirOf, checkpointPathUser } from '../../services/model/checkpoint-spec.js';

function storeIssue(store: unknown): { path: string; rule: string } {
  try {
    parseJobSpec({ name: 'n', tasks: { count: 1 }, command: ['true'], instances: { types: ['m5.large'] }, checkpoint: { path: 'ckpt', store } });
  } catch (err) {
    expect(err).to.be.instanceOf(ValidationError);
    const issues = (err as ValidationError).issues;
    expect(issues).to.have.length(1);
    return issues[0]!;
  }
  throw new Error(`${JSON.stringify(store)} was accepted`);
}

describe('checkpoint/spec', function () {
  it('a store is a name the fleet configures: "default", another name, or none (the default)', function () {
    expect(parseWith(CheckpointSpecSchema, { path: 'ckpt', store: 'default' }, 'spec').store).to.equal('default');
    expect(parseWith(CheckpointSpecSchema, { path: 'ckpt', store: 'archive_2' }, 'spec').store).to.equal('archive_2');
    expect(parseWith(CheckpointSpecSchema, { path: 'ckpt' }, 'spec').store).to.equal(undefined);
  });

  it('refuses a store that names a path or a bucket, with checkpoint.store and the rule that stores are the fleet\'s', function () {
    for (const store of ['local:/some/dir', 'local:.spotbatch/checkpoints', 's3://bucket/prefix', '/some/dir', './dir', '../dir', '~/dir', 'a/b', 'C:\\x', 'file:///x']) {
      const issue = storeIssue(store);
      expect(issue.path, store).to.equal('checkpoint.store');
      expect(issue.rule, store).to.match(/names one of the fleet's checkpoint stores.*never a path or bucket/);
    }
    for (const store of ['', 'Default', 'a b', 'x'.repeat(64), 'a\0b']) {
      const issue = storeIssue(store);
      expect(issue.path, store).to.equal('checkpoint.store');
      expect(issue.rule, store).to.match(/store name|names one of the fleet/);
    }
  });

  it('CheckpointSpecSchema: path, store and every, with field and rule on errors', function () {
    expect(parseWith(CheckpointSpecSchema, { path: 'ckpt', store: 'default' }, 'spec')).to.deep.equal({ path: 'ckpt', store: 'default' });
    expect(parseWith(CheckpointSpecSchema, { path: 'work/ckpt', store: 'archive', every: '10m' }, 'spec').every).to.equal(600);
    expect(parseWith(CheckpointSpecSchema, { path: 'ckpt', store: 'archive', every: 90 }, 'spec').every).to.equal(90);
    expect(parseWith(CheckpointSpecSchema, { path: 'ckpt', store: 'archive', every: '2h' }, 'spec').every).to.equal(7200);

    const bad = (input: unknown): string => {
      try {
        parseWith(CheckpointSpecSchema, input, 'job spec');
      } catch (err) {
        expect(err).to.be.instanceOf(ValidationError);
        return (err as ValidationError).message;
      }
      throw new Error('accepted');
    };
    expect(bad({ path: '../x', store: 'default' })).to.match(/path: must not contain "\.\."/);
    expect(bad({ path: '/var/ckpt', store: 'default' })).to.match(/path: must be below the login home/);
    expect(bad({ path: '/home/ec2-user', store: 'default' })).to.match(/path: must be below the login home/);
    expect(bad({ path: '/home/ec2-user/../x', store: 'default' })).to.match(/path: must not contain "\.\."/);
    expect(bad({ path: '~/a//b', store: 'default' })).to.match(/path: must name a folder below the login home/);
    expect(parseWith(CheckpointSpecSchema, { path: '/home/ec2-user/ckpt', store: 'default' }, 'spec').path).to.equal('/home/ec2-user/ckpt');
    expect(checkpointDirOf('/home/ec2-user/run/ckpt')).to.equal('run/ckpt');
    expect(checkpointDirOf('~/ckpt')).to.equal('ckpt');
    expect(checkpointDirOf('ckpt')).to.equal('ckpt');
    expect(checkpointPathUser('/home/ubuntu/ckpt')).to.equal('ubuntu');
    expect(bad({ path: '.', store: 'default' })).to.match(/path: must name a folder below the login home/);
    expect(bad({ path: 'ckpt/', store: 'default' })).to.match(/path: must name a folder below the login home/);
    expect(bad({ path: 'my ckpt', store: 'default' })).to.match(/path: must be made of letters, digits/);
    expect(bad({ path: 'ckpt', store: 'gs://x' })).to.match(/store: names one of the fleet's checkpoint stores/);
    expect(bad({ path: 'ckpt', store: 's3://UPPER' })).to.match(/store: names one of the fleet's checkpoint stores/);
    expect(bad({ path: 'ckpt', store: 'default', every: '10 minutes' })).to.match(/every:/);
    expect(bad({ path: 'ckpt', store: 'default', every: 5 })).to.match(/every: must be >= 60/);
    expect(bad({ path: 'ckpt', store: 'default', every: '30s' })).to.match(/every: must be between 1 minute and 7 days/);
    expect(bad({ path: 'ckpt', store: 'default', extra: 1 })).to.match(/unknown field/);
    expect(bad({ store: 'default' })).to.match(/path: is required/);
    expect(bad({ path: 'ckpt', store: 5 })).to.match(/store: must be a string/);
  });
});
