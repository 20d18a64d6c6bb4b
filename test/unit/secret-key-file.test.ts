/** SPOTBATCH_SECRET_KEY_FILE: the fleet's key read from a file, errors that name the setting and never the key. */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import { generateSecretKey } from '../../shared/secrets.js';

describe('config: SPOTBATCH_SECRET_KEY_FILE', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(path.join(tmpdir(), 'spotbatch-keyfile-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const failure = (env: NodeJS.ProcessEnv): string => {
    try {
      loadConfig({ env });
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('loadConfig accepted it');
  };

  it('reads the key from the file (white space around it ignored)', () => {
    const key = generateSecretKey();
    const file = path.join(dir, 'secret.key');
    writeFileSync(file, `${key}\n`, { mode: 0o600 });
    expect(loadConfig({ env: { SPOTBATCH_SECRET_KEY_FILE: file } }).lifecycle.secretKey).to.equal(key);
    // An empty SPOTBATCH_SECRET_KEY is no value: the file counts.
    expect(loadConfig({ env: { SPOTBATCH_SECRET_KEY_FILE: file, SPOTBATCH_SECRET_KEY: '' } }).lifecycle.secretKey).to.equal(key);
  });

  it('a missing file, a file that holds no key, or both settings: a ConfigError naming the setting, never the content', () => {
    expect(failure({ SPOTBATCH_SECRET_KEY_FILE: path.join(dir, 'nope') })).to.contain('SPOTBATCH_SECRET_KEY_FILE (lifecycle.secretKeyFile)').and.contain('cannot be read (ENOENT)');
    const bad = path.join(dir, 'bad.key');
    writeFileSync(bad, 'hunter2-not-a-key\n');
    const message = failure({ SPOTBATCH_SECRET_KEY_FILE: bad });
    expect(message).to.contain('must hold base64 of exactly 32 bytes');
    expect(message).not.to.contain('hunter2');
    const good = path.join(dir, 'good.key');
    writeFileSync(good, generateSecretKey());
    expect(failure({ SPOTBATCH_SECRET_KEY_FILE: good, SPOTBATCH_SECRET_KEY: generateSecretKey() })).to.contain('not both');
  });
});
