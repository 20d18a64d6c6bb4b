/**
 * Secrets at rest: AES-256-GCM with a 32-byte key (SPOTBATCH_SECRET_KEY,
 * base64). Used for the per-job SSH private keys kept in the job row.
 * Errors never carry the key, the plaintext or the ciphertext.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { PermanentError } from './errors.js';

/** An encrypted value, every field base64. */
export type EncryptedSecret = { v: 1; iv: string; tag: string; data: string };

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function decode(value: unknown, what: string, bytes?: number): Buffer {
  if (typeof value !== 'string' || (value.length > 0 && !BASE64.test(value))) {
    throw new PermanentError(`encrypted secret: ${what} is not base64`);
  }
  const buf = Buffer.from(value, 'base64');
  if (bytes !== undefined && buf.length !== bytes) throw new PermanentError(`encrypted secret: ${what} must be ${bytes} bytes`);
  return buf;
}

/** Whether a value has the shape of an EncryptedSecret (not whether it decrypts). */
export function isEncryptedSecret(value: unknown): value is EncryptedSecret {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return s.v === 1 && typeof s.iv === 'string' && typeof s.tag === 'string' && typeof s.data === 'string';
}

export class SecretBox {
  /** Private field: not shown by util.inspect, JSON.stringify or a log line. */
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) {
      throw new PermanentError(`secret key must be ${KEY_BYTES} bytes`);
    }
    this.#key = Buffer.from(key);
  }

  /** From the base64 form (SPOTBATCH_SECRET_KEY, generateSecretKey()). */
  static fromBase64(b64: string): SecretBox {
    const trimmed = typeof b64 === 'string' ? b64.trim() : '';
    if (!BASE64.test(trimmed)) throw new PermanentError(`secret key must be ${KEY_BYTES} bytes, base64`);
    const key = Buffer.from(trimmed, 'base64');
    if (key.length !== KEY_BYTES) throw new PermanentError(`secret key must be ${KEY_BYTES} bytes, base64`);
    return new SecretBox(key);
  }

  encrypt(plain: string): EncryptedSecret {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return { v: 1, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
  }

  /** The plaintext; PermanentError when the value is malformed, tampered with or made with another key. */
  decrypt(s: EncryptedSecret): string {
    if (!isEncryptedSecret(s)) throw new PermanentError('encrypted secret: unknown format');
    const iv = decode(s.iv, 'iv', IV_BYTES);
    const tag = decode(s.tag, 'tag', TAG_BYTES);
    const data = decode(s.data, 'data');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
    } catch {
      // The cause is dropped on purpose: nothing of the key or data leaves here.
      throw new PermanentError('encrypted secret could not be decrypted (wrong key or altered data)');
    }
  }

  toJSON(): string {
    return '[SecretBox]';
  }
}

/** A new random key, base64 (for SPOTBATCH_SECRET_KEY). */
export function generateSecretKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}
