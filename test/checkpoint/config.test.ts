import { expect } from 'chai';
import { ConfigError, PermanentError } from '../../shared/errors.js';
import { loadConfig } from '../../shared/config.js';
import { fleetStoreLocation, pinCheckpointStore } from '../../services/model/checkpoint-location.js';

/** The ConfigError's issues as "path: rule" lines. */
function configIssues(run: () => unknown): string[] {
  try {
    run();
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.path}: ${i.rule}`);
  }
  throw new Error('the configuration was accepted');
}

function permanent(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).to.be.instanceOf(PermanentError);
    return (err as Error).message;
  }
  throw new Error('accepted');
}

describe('checkpoint stores in the fleet configuration', function () {
  it('refuses a checkpoint store that overlaps the artifact store (its cleanup would reach the artifacts)', function () {
    const stores = (v: unknown) => JSON.stringify({ default: v });
    const refused = [
      { SPOTBATCH_ARTIFACTS: 's3://shared', SPOTBATCH_CHECKPOINT_STORES: stores({ type: 's3', bucket: 'shared' }) },
      { SPOTBATCH_ARTIFACTS: 's3://shared/a', SPOTBATCH_CHECKPOINT_STORES: stores({ type: 's3', bucket: 'shared', prefix: 'a/ckpt' }) },
      { SPOTBATCH_ARTIFACTS: 's3://shared/a/b', SPOTBATCH_CHECKPOINT_STORES: stores({ type: 's3', bucket: 'shared', prefix: 'a' }) },
      { SPOTBATCH_ARTIFACTS: 'local:/var/sb', SPOTBATCH_CHECKPOINT_STORES: stores({ type: 'local', dir: '/var/sb/ckpt' }) },
    ];
    for (const env of refused) {
      expect(configIssues(() => loadConfig({ env })).join('\n'), JSON.stringify(env)).to.match(/checkpoint\.stores\.default\)?: overlaps the artifact store/);
    }
    const apart = [
      { SPOTBATCH_ARTIFACTS: 's3://shared/artifacts', SPOTBATCH_CHECKPOINT_STORES: stores({ type: 's3', bucket: 'shared', prefix: 'ckpt' }) },
      { SPOTBATCH_ARTIFACTS: 's3://shared/ab', SPOTBATCH_CHECKPOINT_STORES: stores({ type: 's3', bucket: 'shared', prefix: 'a' }) },
      { SPOTBATCH_ARTIFACTS: 'local:/var/sb/artifacts', SPOTBATCH_CHECKPOINT_STORES: stores({ type: 'local', dir: '/var/sb/checkpoints' }) },
      { SPOTBATCH_ARTIFACTS: 's3://one', SPOTBATCH_CHECKPOINT_STORES: stores({ type: 's3', bucket: 'two' }) },
    ];
    for (const env of apart) expect(loadConfig({ env }).checkpoint.stores.default, JSON.stringify(env)).to.be.an('object');
  });

  it('none by default; SPOTBATCH_CHECKPOINT_STORES (JSON) and SPOTBATCH_CHECKPOINT_DEFAULT_STORE set them', function () {
    expect(loadConfig({ env: {} }).checkpoint).to.deep.equal({ stores: {}, default: 'default' });
    const config = loadConfig({
      env: {
        SPOTBATCH_CHECKPOINT_STORES: JSON.stringify({ scratch: { type: 'local', dir: '/var/spotbatch/ckpt' }, archive: { type: 's3', bucket: 'my-bucket', prefix: 'runs/ckpt' } }),
        SPOTBATCH_CHECKPOINT_DEFAULT_STORE: 'archive',
      },
    });
    expect(config.checkpoint).to.deep.equal({
      stores: { scratch: { type: 'local', dir: '/var/spotbatch/ckpt' }, archive: { type: 's3', bucket: 'my-bucket', prefix: 'runs/ckpt' } },
      default: 'archive',
    });
    expect(loadConfig({ env: {}, overrides: { checkpoint: { stores: { default: { type: 's3', bucket: 'b-1' } } } } }).checkpoint.stores.default).to.deep.equal({ type: 's3', bucket: 'b-1', prefix: '' });
  });

  it('refuses bad stores naming the setting (and its variable) and the rule', function () {
    const env = (stores: unknown, extra: Record<string, string> = {}) => () =>
      loadConfig({ env: { SPOTBATCH_CHECKPOINT_STORES: typeof stores === 'string' ? stores : JSON.stringify(stores), ...extra } });
    expect(configIssues(env('{"default": '))).to.deep.equal(['SPOTBATCH_CHECKPOINT_STORES (checkpoint.stores): must be a JSON object of stores, as {"default": {"type": "local", "dir": "/var/lib/spotbatch/checkpoints"}}']);
    expect(configIssues(env({ default: { type: 'local', dir: 'rel/ckpt' } }))[0]).to.match(/^SPOTBATCH_CHECKPOINT_STORES \(checkpoint\.stores\.default\.dir\): must be an absolute folder/);
    expect(configIssues(env({ default: { type: 'local', dir: '/' } }))[0]).to.match(/checkpoint\.stores\.default\.dir\): must be an absolute folder/);
    expect(configIssues(env({ default: { type: 'local', dir: '/a/../etc' } }))[0]).to.match(/checkpoint\.stores\.default\.dir\): must be an absolute folder/);
    expect(configIssues(env({ default: { type: 's3', bucket: 'UPPER' } }))[0]).to.match(/checkpoint\.stores\.default\.bucket\): must be a bucket name: 3 to 63/);
    expect(configIssues(env({ default: { type: 's3', bucket: 'b-1', prefix: 'a//b' } }))[0]).to.match(/checkpoint\.stores\.default\.prefix\): must not start with "\/" or contain empty/);
    expect(configIssues(env({ default: { type: 'ftp', dir: '/x' } }))[0]).to.match(/checkpoint\.stores\.default(\.type)?\): must be a store: \{"type": "local"/);
    expect(configIssues(env({ 'Bad Name': { type: 'local', dir: '/x' } }))[0]).to.match(/checkpoint\.stores.*key must be a store name/);
    expect(configIssues(env({ scratch: { type: 'local', dir: '/x' } }))).to.deep.equal([
      'checkpoint.default: names no store of checkpoint.stores (scratch): set SPOTBATCH_CHECKPOINT_DEFAULT_STORE or name a store "default"',
    ]);
  });

  it('a spec gets the store it names or the default, pinned by name; a name the fleet lacks is a PermanentError naming checkpoint.store', function () {
    const config = loadConfig({ env: {}, overrides: { checkpoint: { stores: { default: { type: 'local', dir: '/srv/ckpt' }, archive: { type: 's3', bucket: 'b-1', prefix: 'p' } } } } });
    const spec = { name: 'x', checkpoint: { path: 'ckpt' } };
    expect(pinCheckpointStore(spec, config)).to.deep.equal({ name: 'x', checkpoint: { path: 'ckpt', store: 'default' } });
    expect(pinCheckpointStore({ checkpoint: { path: 'ckpt', store: 'archive' } }, config).checkpoint?.store).to.equal('archive');
    const noCheckpoint: { name: string; checkpoint?: { path: string } } = { name: 'no checkpoint' };
    expect(pinCheckpointStore(noCheckpoint, config)).to.deep.equal({ name: 'no checkpoint' });
    expect(fleetStoreLocation(config, 'default')).to.deep.equal({ kind: 'local', dir: '/srv/ckpt' });
    expect(fleetStoreLocation(config, 'archive')).to.deep.equal({ kind: 's3', bucket: 'b-1', prefix: 'p' });
    expect(permanent(() => pinCheckpointStore({ checkpoint: { path: 'ckpt', store: 'nope' } }, config))).to.equal(
      'job spec: checkpoint.store: "nope" is not one of this fleet\'s checkpoint stores (archive, default)',
    );
    expect(permanent(() => pinCheckpointStore({ checkpoint: { path: 'ckpt' } }, loadConfig({ env: {} })))).to.equal(
      'job spec: checkpoint.store: this fleet has no checkpoint store (its configuration sets none in checkpoint.stores)',
    );
    expect(permanent(() => fleetStoreLocation(config, 'gone'))).to.match(/checkpoint store "gone" is not configured on this dispatcher/);
  });
});
