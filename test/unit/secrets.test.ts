import { expect } from 'chai';
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { loadConfig } from '../../shared/config.js';
import { ConfigError, PermanentError } from '../../shared/errors.js';
import { generateSecretKey, keyIdOf, SecretBox } from '../../shared/secrets.js';
import type { EncryptedSecret } from '../../shared/secrets.js';
import { privateKeyContext, secretBox } from '../../services/model/secrets.js';

const PLAIN = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAAsecret\n-----END OPENSSH PRIVATE KEY-----';

function flip(b64: string): string {
  const buf = Buffer.from(b64, 'base64');
  buf[0] = buf[0]! ^ 1;
  return buf.toString('base64');
}

function failure(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

const CTX = privateKeyContext('job-a', 'us-east-1');

/** A value in the format written before key ids and contexts (v1): AES-GCM, no additional data. */
function v1(keyB64: string, plain: string): EncryptedSecret {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(keyB64, 'base64'), iv, { authTagLength: 16 });
  const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return { v: 1, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
}

function leaks(err: Error, parts: string[]): string[] {
  const shown = `${err.message} ${inspect(err)} ${String((err as { cause?: unknown }).cause)}`;
  return parts.filter((p) => shown.includes(p));
}

describe('SecretBox', () => {
  const box = SecretBox.fromBase64(generateSecretKey());

  it('round trips, with a fresh iv every time', () => {
    const a = box.encrypt(PLAIN, CTX);
    const b = box.encrypt(PLAIN, CTX);
    expect(a.v).to.equal(2);
    expect(Buffer.from(a.iv, 'base64')).to.have.length(12);
    expect(Buffer.from(a.tag, 'base64')).to.have.length(16);
    expect(a.iv).to.not.equal(b.iv);
    expect(a.data).to.not.equal(b.data);
    expect(JSON.stringify(a)).to.not.include('secret');
    expect(box.decrypt(a, CTX)).to.equal(PLAIN);
    expect(box.decrypt(JSON.parse(JSON.stringify(b)) as EncryptedSecret, CTX)).to.equal(PLAIN);
    expect(box.decrypt(box.encrypt('', CTX), CTX)).to.equal('');
    expect(box.decrypt(box.encrypt('ünïcode ✓', CTX), CTX)).to.equal('ünïcode ✓');
  });

  it('detects tampering with data, tag or iv', () => {
    const s = box.encrypt(PLAIN, CTX);
    for (const bad of [{ ...s, data: flip(s.data) }, { ...s, tag: flip(s.tag) }, { ...s, iv: flip(s.iv) }]) {
      const err = failure(() => box.decrypt(bad, CTX));
      expect(err).to.be.instanceOf(PermanentError);
      expect(err.message).to.match(/could not be decrypted/);
    }
  });

  it('refuses malformed values', () => {
    const s = box.encrypt(PLAIN, CTX);
    for (const bad of [{ ...s, v: 3 }, { ...s, kid: undefined }, { ...s, kid: 'XYZ' }, { ...s, iv: 'AAAA' }, { ...s, tag: '!!!' }, null, 'text']) {
      expect(failure(() => box.decrypt(bad as unknown as EncryptedSecret, CTX))).to.be.instanceOf(PermanentError);
    }
    // a context is required both ways
    expect(failure(() => box.encrypt(PLAIN, ''))).to.be.instanceOf(PermanentError);
    expect(failure(() => box.decrypt(s, undefined as unknown as string))).to.be.instanceOf(PermanentError);
  });

  it('a wrong key is a PermanentError that leaks nothing', () => {
    const key = generateSecretKey();
    const other = new SecretBox(Buffer.from(key, 'base64'));
    const s = box.encrypt(PLAIN, CTX);
    const err = failure(() => other.decrypt(s, CTX));
    expect(err).to.be.instanceOf(PermanentError);
    expect(leaks(err, [key, s.data, s.tag, s.iv, 'AAAAsecret'])).to.deep.equal([]);
  });

  it('a ciphertext copied to another job or another region does not decrypt (PermanentError)', () => {
    const s = box.encrypt(PLAIN, privateKeyContext('job-a', 'us-east-1'));
    expect(box.decrypt(s, privateKeyContext('job-a', 'us-east-1'))).to.equal(PLAIN);
    for (const [jobId, region] of [
      ['job-b', 'us-east-1'],
      ['job-a', 'eu-west-1'],
      ['job-a:us-east-1', 'us-east-1'],
    ] as const) {
      const err = failure(() => box.decrypt(s, privateKeyContext(jobId, region)));
      expect(err, `${jobId} ${region}`).to.be.instanceOf(PermanentError);
      expect(err.message).to.match(/could not be decrypted/).and.include(`key id ${box.keyId}`).and.include(`${jobId}:${region}`);
      expect(leaks(err, [s.data, s.tag, s.iv, 'AAAAsecret'])).to.deep.equal([]);
    }
  });

  it('carries the id of the key that made it: the first 8 bytes of its SHA-256, hex', () => {
    const key = generateSecretKey();
    const raw = Buffer.from(key, 'base64');
    const id = createHash('sha256').update(raw).digest('hex').slice(0, 16);
    expect(keyIdOf(raw)).to.equal(id);
    const b = SecretBox.fromBase64(key);
    expect(b.keyId).to.equal(id);
    const s = b.encrypt(PLAIN, CTX);
    expect(s).to.have.property('kid', id);
    expect(Object.keys(s).sort()).to.deep.equal(['data', 'iv', 'kid', 'tag', 'v']);
  });

  it('rotation: the current key encrypts; a previous key still decrypts what it made, and is named by id when it is not listed', () => {
    const oldKey = generateSecretKey();
    const newKey = generateSecretKey();
    const before = SecretBox.fromBase64(oldKey);
    const made = before.encrypt(PLAIN, CTX);
    const rotated = SecretBox.fromBase64(newKey, [oldKey]);
    expect(rotated.keyId).to.equal(keyIdOf(Buffer.from(newKey, 'base64')));
    expect(rotated.keyIds()).to.deep.equal([rotated.keyId, before.keyId]);
    expect(rotated.decrypt(made, CTX)).to.equal(PLAIN);
    const again = rotated.encrypt(PLAIN, CTX);
    expect(again.kid).to.equal(rotated.keyId);
    // the binding to the context holds with a previous key too
    expect(failure(() => rotated.decrypt(made, privateKeyContext('job-b', 'us-east-1')))).to.be.instanceOf(PermanentError);
    // the old key alone cannot read what the new key made
    expect(failure(() => before.decrypt(again, CTX)).message).to.include(`key id ${rotated.keyId}`);

    const forgot = SecretBox.fromBase64(newKey);
    const err = failure(() => forgot.decrypt(made, CTX));
    expect(err).to.be.instanceOf(PermanentError);
    expect(err.name).to.equal('UnknownKeyIdError');
    expect(err.message).to.include(`key id ${before.keyId}`).and.include(`current secret key (key id ${forgot.keyId})`).and.include('SPOTBATCH_SECRET_KEYS_PREVIOUS');
    expect(leaks(err, [oldKey, newKey, made.data, made.tag, made.iv, 'AAAAsecret'])).to.deep.equal([]);
  });

  it('the old format (v1: no key id, no context) is still read, with the current or a previous key; never written', () => {
    const oldKey = generateSecretKey();
    const old = v1(oldKey, PLAIN);
    expect(SecretBox.fromBase64(oldKey).decrypt(old, CTX)).to.equal(PLAIN);
    const rotated = SecretBox.fromBase64(generateSecretKey(), [oldKey]);
    expect(rotated.decrypt(old, CTX)).to.equal(PLAIN);
    expect(rotated.encrypt(PLAIN, CTX).v).to.equal(2);
    // once the key that made it is gone, it no longer decrypts
    const gone = SecretBox.fromBase64(generateSecretKey());
    const err = failure(() => gone.decrypt(old, CTX));
    expect(err).to.be.instanceOf(PermanentError);
    expect(err.message).to.include('v1').and.include(gone.keyId).and.include('SPOTBATCH_SECRET_KEYS_PREVIOUS');
    expect(leaks(err, [oldKey, old.data, old.tag, 'AAAAsecret'])).to.deep.equal([]);
    expect(failure(() => rotated.decrypt({ ...old, data: flip(old.data) }, CTX))).to.be.instanceOf(PermanentError);
  });

  it("the fleet's box: SPOTBATCH_SECRET_KEYS_PREVIOUS (comma-separated base64) lists the keys that still decrypt", () => {
    const oldKey = generateSecretKey();
    const older = generateSecretKey();
    const newKey = generateSecretKey();
    const made = SecretBox.fromBase64(oldKey).encrypt(PLAIN, CTX);
    const config = loadConfig({ env: { SPOTBATCH_SECRET_KEY: newKey, SPOTBATCH_SECRET_KEYS_PREVIOUS: `${older}, ${oldKey}` } });
    expect(config.lifecycle.previousSecretKeys).to.deep.equal([older, oldKey]);
    const fleet = secretBox(config);
    expect(fleet.keyId).to.equal(keyIdOf(Buffer.from(newKey, 'base64')));
    expect(fleet.decrypt(made, CTX)).to.equal(PLAIN);
    const without = secretBox(loadConfig({ env: { SPOTBATCH_SECRET_KEY: newKey } }));
    expect(failure(() => without.decrypt(made, CTX)).message).to.include(`key id ${keyIdOf(Buffer.from(oldKey, 'base64'))}`);
    // a bad previous key is a configuration error naming the variable and the index, never the value
    const bad = failure(() => loadConfig({ env: { SPOTBATCH_SECRET_KEY: newKey, SPOTBATCH_SECRET_KEYS_PREVIOUS: `${oldKey},c2hvcnQ=` } }));
    expect(bad).to.be.instanceOf(ConfigError);
    expect(bad.message).to.include('SPOTBATCH_SECRET_KEYS_PREVIOUS (lifecycle.previousSecretKeys').and.include('32 bytes');
    expect(leaks(bad, [oldKey, newKey, 'c2hvcnQ='])).to.deep.equal([]);
  });

  it('keys: 32 bytes base64 only, never shown', () => {
    const key = generateSecretKey();
    expect(Buffer.from(key, 'base64')).to.have.length(32);
    expect(generateSecretKey()).to.not.equal(key);
    const b = SecretBox.fromBase64(key);
    expect(inspect(b)).to.not.include(key);
    expect(JSON.stringify({ b })).to.not.include(key);
    for (const bad of ['', 'short', Buffer.alloc(16).toString('base64'), `${key}x`, Buffer.alloc(33).toString('base64')]) {
      const err = failure(() => SecretBox.fromBase64(bad));
      expect(err).to.be.instanceOf(PermanentError);
      if (bad) expect(err.message).to.not.include(bad);
    }
    expect(failure(() => new SecretBox(Buffer.alloc(31)))).to.be.instanceOf(PermanentError);
  });
});
