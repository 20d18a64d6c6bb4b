import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';

describe('configuration', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'spotbatch-config-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const failure = (fn: () => unknown): ConfigError => {
    try {
      fn();
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error('expected a ConfigError');
  };

  it('has working defaults with an empty environment', () => {
    const c = loadConfig({ env: {} });
    expect(c.prefix).to.equal('spotbatch');
    expect(c.dispatcher.queues).to.deep.equal(['master', 'request', 'events']);
  });

  it('reads YAML and JSON files, and the environment wins over the file', () => {
    const yaml = path.join(dir, 'c.yaml');
    writeFileSync(yaml, 'prefix: fromfile\ndispatcher:\n  concurrency: 7\n');
    const json = path.join(dir, 'c.json');
    writeFileSync(json, JSON.stringify({ reconciler: { intervalSeconds: 5 } }));
    expect(loadConfig({ env: {}, file: yaml }).dispatcher.concurrency).to.equal(7);
    expect(loadConfig({ env: { SPOTBATCH_CONFIG: json } }).reconciler.intervalSeconds).to.equal(5);
    const both = loadConfig({ env: { SPOTBATCH_PREFIX: 'fromenv' }, file: yaml });
    expect(both.prefix).to.equal('fromenv');
    expect(both.dispatcher.concurrency).to.equal(7);
  });

  it('names the variable, the setting and the rule of every bad value', () => {
    const err = failure(() => loadConfig({ env: { SPOTBATCH_CONCURRENCY: '0', SPOTBATCH_QUEUES: 'master,jobs', SPOTBATCH_RECONCILER: 'maybe' } }));
    expect(err.issues).to.deep.include({ path: 'SPOTBATCH_CONCURRENCY (dispatcher.concurrency)', rule: 'must be >= 1' });
    expect(err.issues).to.deep.include({ path: 'SPOTBATCH_QUEUES (dispatcher.queues[1])', rule: 'must be one of "master", "request", "events"' });
    expect(err.issues).to.deep.include({ path: 'SPOTBATCH_RECONCILER (reconciler.enabled)', rule: 'must be a boolean' });
  });

  it('refuses unknown settings in a file, and settings that contradict each other', () => {
    const file = path.join(dir, 'typo.json');
    writeFileSync(file, JSON.stringify({ dispatcher: { concurency: 3 } }));
    expect(failure(() => loadConfig({ env: {}, file })).issues).to.deep.equal([{ path: 'dispatcher', rule: 'unknown field(s) "concurency"' }]);
    const err = failure(() => loadConfig({ env: { SPOTBATCH_VISIBILITY_TIMEOUT_SECONDS: '10', SPOTBATCH_HEARTBEAT_SECONDS: '10' } }));
    expect(err.message).to.contain('dispatcher.heartbeatSeconds): must be below dispatcher.visibilityTimeoutSeconds (10)');
  });

  it('says when the file is missing or not parseable', () => {
    expect(failure(() => loadConfig({ env: {}, file: path.join(dir, 'nope.yaml') })).message).to.match(/nope\.yaml: cannot be read \(ENOENT\)/);
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, '{ nope');
    expect(failure(() => loadConfig({ env: {}, file: bad })).message).to.match(/bad\.json: is not valid JSON/);
  });
});
