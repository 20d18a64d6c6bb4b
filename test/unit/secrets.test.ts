import { expect } from 'chai';
import { inspect } from 'node:util';
import { PermanentError } from '../../shared/errors.js';
import { generateSecretKey, SecretBox } from '../../shared/secrets.js';
import type { EncryptedSecret } from '../../shared/secrets.js';

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

describe('SecretBox', () => {
  const box = SecretBox.fromBase64(generateSecretKey());

  it('round trips, with a fresh iv every time', () => {
    const a = box.encrypt(PLAIN);
    const b = box.encrypt(PLAIN);
    expect(a.v).to.equal(1);
    expect(Buffer.from(a.iv, 'base64')).to.have.length(12);
    expect(Buffer.from(a.tag, 'base64')).to.have.length(16);
    expect(a.iv).to.not.equal(b.iv);
    expect(a.data).to.not.equal(b.data);
    expect(JSON.stringify(a)).to.not.include('secret');
    expect(box.decrypt(a)).to.equal(PLAIN);
    expect(box.decrypt(JSON.parse(JSON.stringify(b)) as EncryptedSecret)).to.equal(PLAIN);
    expect(box.decrypt(box.encrypt(''))).to.equal('');
    expect(box.decrypt(box.encrypt('ünïcode ✓'))).to.equal('ünïcode ✓');
  });

  it('detects tampering with data, tag or iv', () => {
    const s = box.encrypt(PLAIN);
    for (const bad of [{ ...s, data: flip(s.data) }, { ...s, tag: flip(s.tag) }, { ...s, iv: flip(s.iv) }]) {
      const err = failure(() => box.decrypt(bad));
      expect(err).to.be.instanceOf(PermanentError);
      expect(err.message).to.match(/could not be decrypted/);
    }
  });

  it('refuses malformed values', () => {
    const s = box.encrypt(PLAIN);
    for (const bad of [{ ...s, v: 2 }, { ...s, iv: 'AAAA' }, { ...s, tag: '!!!' }, null, 'text']) {
      expect(failure(() => box.decrypt(bad as unknown as EncryptedSecret))).to.be.instanceOf(PermanentError);
    }
  });

  it('a wrong key is a PermanentError that leaks nothing', () => {
    const key = generateSecretKey();
    const other = new SecretBox(Buffer.from(key, 'base64'));
    const s = box.encrypt(PLAIN);
    const err = failure(() => other.decrypt(s));
    expect(err).to.be.instanceOf(PermanentError);
    const shown = `${err.message} ${inspect(err)} ${String((err as { cause?: unknown }).cause)}`;
    for (const part of [key, s.data, s.tag, s.iv, 'AAAAsecret']) expect(shown).to.not.include(part);
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
