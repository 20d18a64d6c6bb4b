import { expect } from 'chai';
import path from 'node:path';
import { ValidationError } from '../../shared/errors.js';
import { parseWith } from '../../shared/validation.js';
import { CheckpointSpecSchema, checkpointDirOf, checkpointPathUser } from '../../services/checkpoint/spec.js';
import { parseCheckpointStore } from '../../services/checkpoint/store.js';

function issueOf(spec: string): { path: string; rule: string } {
  try {
    parseCheckpointStore(spec);
  } catch (err) {
    expect(err).to.be.instanceOf(ValidationError);
    const issues = (err as ValidationError).issues;
    expect(issues).to.have.length(1);
    return issues[0]!;
  }
  throw new Error(`${JSON.stringify(spec)} was accepted`);
}

describe('checkpoint/spec', function () {
  it('parses local and s3 stores', function () {
    expect(parseCheckpointStore('local:/var/ckpt')).to.deep.equal({ kind: 'local', dir: '/var/ckpt' });
    expect(parseCheckpointStore('local:rel/dir')).to.deep.equal({ kind: 'local', dir: path.resolve('rel/dir') });
    expect(parseCheckpointStore('s3://my-bucket/runs/2026')).to.deep.equal({ kind: 's3', bucket: 'my-bucket', prefix: 'runs/2026' });
    expect(parseCheckpointStore('s3://my.bucket.example/runs/')).to.deep.equal({ kind: 's3', bucket: 'my.bucket.example', prefix: 'runs' });
    expect(parseCheckpointStore('s3://abc')).to.deep.equal({ kind: 's3', bucket: 'abc', prefix: '' });
    expect(parseCheckpointStore('s3://abc/')).to.deep.equal({ kind: 's3', bucket: 'abc', prefix: '' });
  });

  it('names checkpoint.store and the rule for every bad store', function () {
    const cases: [string, RegExp][] = [
      ['', /"local:DIR".*"s3:\/\/bucket\/prefix"/],
      ['/var/ckpt', /"local:DIR".*"s3:\/\/bucket\/prefix"/],
      ['file:///var/ckpt', /"local:DIR"/],
      ['S3://bucket/x', /"local:DIR"/],
      ['gs://bucket/x', /"local:DIR"/],
      ['local:', /must be followed by a folder/],
      ['local:   ', /must be followed by a folder/],
      ['s3://', /bucket name/],
      ['s3:///prefix', /bucket name/],
      ['s3://My_Bucket/x', /bucket name must be 3 to 63/],
      ['s3://ab', /bucket name must be 3 to 63/],
      ['s3://-bucket', /bucket name must be 3 to 63/],
      ['s3://192.168.1.1/x', /IP address/],
      ['s3://a..b/x', /IP address or contain "\.\."/],
      ['s3://bucket//x', /empty, "\." or "\.\." segments/],
      ['s3://bucket/a/../b', /empty, "\." or "\.\." segments/],
      [`s3://bucket/${'p'.repeat(600)}`, /at most 512/],
      ['local:/x\0y', /NUL/],
    ];
    for (const [spec, rule] of cases) {
      const issue = issueOf(spec);
      expect(issue.path, spec).to.equal('checkpoint.store');
      expect(issue.rule, spec).to.match(rule);
    }
  });

  it('CheckpointSpecSchema: path, store and every, with field and rule on errors', function () {
    expect(parseWith(CheckpointSpecSchema, { path: 'ckpt', store: 'local:/tmp/x' }, 'spec')).to.deep.equal({ path: 'ckpt', store: 'local:/tmp/x' });
    expect(parseWith(CheckpointSpecSchema, { path: 'work/ckpt', store: 's3://b-1/p', every: '10m' }, 'spec').every).to.equal(600);
    expect(parseWith(CheckpointSpecSchema, { path: 'ckpt', store: 's3://b-1', every: 90 }, 'spec').every).to.equal(90);
    expect(parseWith(CheckpointSpecSchema, { path: 'ckpt', store: 's3://b-1', every: '2h' }, 'spec').every).to.equal(7200);

    const bad = (input: unknown): string => {
      try {
        parseWith(CheckpointSpecSchema, input, 'job spec');
      } catch (err) {
        expect(err).to.be.instanceOf(ValidationError);
        return (err as ValidationError).message;
      }
      throw new Error('accepted');
    };
    expect(bad({ path: '../x', store: 'local:/x' })).to.match(/path: must not contain "\.\."/);
    expect(bad({ path: '/var/ckpt', store: 'local:/x' })).to.match(/path: must be below the login home/);
    expect(bad({ path: '/home/ec2-user', store: 'local:/x' })).to.match(/path: must be below the login home/);
    expect(bad({ path: '/home/ec2-user/../x', store: 'local:/x' })).to.match(/path: must not contain "\.\."/);
    expect(bad({ path: '~/a//b', store: 'local:/x' })).to.match(/path: must name a folder below the login home/);
    expect(parseWith(CheckpointSpecSchema, { path: '/home/ec2-user/ckpt', store: 'local:/x' }, 'spec').path).to.equal('/home/ec2-user/ckpt');
    expect(checkpointDirOf('/home/ec2-user/run/ckpt')).to.equal('run/ckpt');
    expect(checkpointDirOf('~/ckpt')).to.equal('ckpt');
    expect(checkpointDirOf('ckpt')).to.equal('ckpt');
    expect(checkpointPathUser('/home/ubuntu/ckpt')).to.equal('ubuntu');
    expect(bad({ path: '.', store: 'local:/x' })).to.match(/path: must name a folder below the login home/);
    expect(bad({ path: 'ckpt/', store: 'local:/x' })).to.match(/path: must name a folder below the login home/);
    expect(bad({ path: 'my ckpt', store: 'local:/x' })).to.match(/path: must be made of letters, digits/);
    expect(bad({ path: 'ckpt', store: 'gs://x' })).to.match(/store: must be "local:DIR"/);
    expect(bad({ path: 'ckpt', store: 's3://UPPER' })).to.match(/store: the bucket name/);
    expect(bad({ path: 'ckpt', store: 'local:/x', every: '10 minutes' })).to.match(/every:/);
    expect(bad({ path: 'ckpt', store: 'local:/x', every: 5 })).to.match(/every: must be >= 60/);
    expect(bad({ path: 'ckpt', store: 'local:/x', every: '30s' })).to.match(/every: must be between 1 minute and 7 days/);
    expect(bad({ path: 'ckpt', store: 'local:/x', extra: 1 })).to.match(/unknown field/);
    expect(bad({ store: 'local:/x' })).to.match(/path: is required/);
  });
});
