/**
 * The SSH host key of an attempt's instance, pinned by the dispatcher.
 *
 * Each attempt gets its own ed25519 host key pair. The instance receives it in
 * its user data as cloud-init reads it (`#cloud-config` with `ssh_keys:
 * {ed25519_private, ed25519_public}`, `ssh_deletekeys: true`, no other key
 * types generated), so sshd presents exactly that key; the public half is
 * recorded with the attempt and every SSH connection to the instance checks it.
 *
 * The pair is derived, not drawn: HKDF-SHA256 of the fleet's secret key over
 * the job (id and submission time), the task and the attempt number. A
 * redelivered spot.request asks again with the same ClientToken and gets the
 * same request back: deriving the pair again gives the key that request
 * carries, so the attempt never records a key other than the instance's. The
 * dispatcher stores no private host key anywhere; the private half only
 * exists in the user data it sends (and is never logged).
 */
import { createHash, createPrivateKey, createPublicKey, hkdfSync } from 'node:crypto';
import { stringify } from 'yaml';
import { PermanentError } from '../../shared/errors.js';
import type { Config } from '../../shared/config.js';

export interface HostKeyPair {
  /** OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`), unencrypted: what sshd reads. */
  private: string;
  /** OpenSSH one-line public key, `ssh-ed25519 AAAA...`. */
  public: string;
}

const KEY_TYPE = 'ssh-ed25519';
/** DER prefix of a PKCS#8 ed25519 private key; the 32-byte seed follows. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The attempt's host key pair (deterministic for the fleet key, job, task and attempt). */
export function attemptHostKey(config: Config, job: { jobId: string; submittedAt: number }, taskId: string, n: number): HostKeyPair {
  const secret = config.lifecycle.secretKey;
  if (!secret) throw new PermanentError('SPOTBATCH_SECRET_KEY (lifecycle.secretKey) is not set: the fleet cannot make host keys for its instances');
  const ikm = Buffer.from(secret.trim(), 'base64');
  const info = `${job.jobId}\n${job.submittedAt}\n${taskId}\n${n}`;
  const seed = Buffer.from(hkdfSync('sha256', ikm, 'spotbatch:host-key:v1', info, 32));
  return ed25519FromSeed(seed, `spotbatch ${job.jobId}/${taskId}/${n}`);
}

/** An ed25519 pair in OpenSSH formats from a 32-byte seed. */
export function ed25519FromSeed(seed: Buffer, comment = ''): HostKeyPair {
  if (seed.length !== 32) throw new RangeError('an ed25519 seed is 32 bytes');
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const pub = Buffer.from(String(jwk.x), 'base64url');
  const pubBlob = Buffer.concat([sshString(KEY_TYPE), sshString(pub)]);
  // Check integers: any value, the same twice; derived so that the output is deterministic.
  const check = createHash('sha256').update(seed).digest().subarray(0, 4);
  let priv = Buffer.concat([check, check, sshString(KEY_TYPE), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)]);
  const pad: number[] = [];
  for (let i = 1; (priv.length + pad.length) % 8 !== 0; i++) pad.push(i);
  priv = Buffer.concat([priv, Buffer.from(pad)]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'),
    sshString('none'),
    sshString(Buffer.alloc(0)),
    uint32(1),
    sshString(pubBlob),
    sshString(priv),
  ]);
  const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
  return {
    private: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`,
    public: `${KEY_TYPE} ${pubBlob.toString('base64')}`,
  };
}

/**
 * The instance's user data (base64, as RequestSpotInstances takes it): a
 * cloud-config that installs the host key and no other.
 */
export function hostKeyUserData(pair: HostKeyPair): string {
  const doc = stringify({
    ssh_deletekeys: true,
    ssh_genkeytypes: [],
    ssh_keys: { ed25519_private: pair.private, ed25519_public: pair.public },
  });
  return Buffer.from(`#cloud-config\n${doc}`, 'utf8').toString('base64');
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function sshString(value: string | Buffer): Buffer {
  const data = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([uint32(data.length), data]);
}
