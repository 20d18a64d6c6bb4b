/**
 * Secrets at rest: AES-256-GCM with a 32-byte key (SPOTBATCH_SECRET_KEY,
 * base64). Used for the per-job SSH private keys kept in the job row.
 *
 * Format v2 (written): `{ v: 2, kid, iv, tag, data }`. `kid` names the key
 * that made it (the first 8 bytes of the SHA-256 of the key, hex), so the
 * fleet's key can be rotated: the current key encrypts, previous keys still
 * decrypt what they made. Every value is bound to a context string (the job
 * and region of a private key) as AES-GCM additional authenticated data: a
 * value copied to another context does not decrypt.
 *
 * Format v1 (read only, from before v2): `{ v: 1, iv, tag, data }`, no key id,
 * no context. Still decrypted, with the current or a previous key, so jobs
 * running at the upgrade keep their keys; never written. A v1 value stops
 * decrypting once the key that made it is neither current nor previous.
 *
 * Errors never carry a key, the plaintext or the ciphertext; they name key ids.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { PermanentError } from './errors.js';

/** The old format: no key id, no context (read only). */
export const EncryptedSecretV1Schema = z.object({ v: z.literal(1), iv: z.string(), tag: z.string(), data: z.string() });
/** The format written: key id and context-bound. Every field but `kid` (hex) base64. */
export const EncryptedSecretV2Schema = z.object({ v: z.literal(2), kid: z.string(), iv: z.string(), tag: z.string(), data: z.string() });
/** An encrypted value, as stored (the job row's private keys are read with it). */
export const EncryptedSecretSchema = z.discriminatedUnion('v', [EncryptedSecretV1Schema, EncryptedSecretV2Schema]);
export type EncryptedSecretV2 = z.infer<typeof EncryptedSecretV2Schema>;
export type EncryptedSecret = z.infer<typeof EncryptedSecretSchema>;

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const KEY_ID = /^[0-9a-f]{16}$/;

/** Where a key that made a value has to be listed for this fleet to read it. */
const PREVIOUS_SETTING = 'SPOTBATCH_SECRET_KEYS_PREVIOUS (lifecycle.previousSecretKeys)';
const CURRENT_SETTING = 'SPOTBATCH_SECRET_KEY (lifecycle.secretKey)';

function decode(value: unknown, what: string, bytes?: number): Buffer {
  if (typeof value !== 'string' || (value.length > 0 && !BASE64.test(value))) {
    throw new PermanentError(`encrypted secret: ${what} is not base64`);
  }
  const buf = Buffer.from(value, 'base64');
  if (bytes !== undefined && buf.length !== bytes) throw new PermanentError(`encrypted secret: ${what} must be ${bytes} bytes`);
  return buf;
}

/** The id of a key: the first 8 bytes of its SHA-256, hex (`base64 -d < secret.key | sha256sum | cut -c1-16`). */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** Whether a value has the shape of an EncryptedSecret, either version (not whether it decrypts). */
export function isEncryptedSecret(value: unknown): value is EncryptedSecret {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  const common = typeof s.iv === 'string' && typeof s.tag === 'string' && typeof s.data === 'string';
  if (s.v === 1) return common;
  return s.v === 2 && common && typeof s.kid === 'string' && KEY_ID.test(s.kid);
}

/** A value made with a key this fleet does not have (neither current nor previous). */
export class UnknownKeyIdError extends PermanentError {
  readonly keyId: string;
  constructor(keyId: string, currentKeyId: string) {
    super(
      `encrypted secret was made with key id ${keyId}, which is neither the current secret key (key id ${currentKeyId}) nor a previous one: ` +
        `add the key with id ${keyId} to ${PREVIOUS_SETTING} (comma-separated base64), or set it as ${CURRENT_SETTING} if it is the fleet's key`,
    );
    this.name = 'UnknownKeyIdError';
    this.keyId = keyId;
  }
}

function parseKey(b64: string, what: string): Buffer {
  const trimmed = typeof b64 === 'string' ? b64.trim() : '';
  if (!BASE64.test(trimmed)) throw new PermanentError(`${what} must be ${KEY_BYTES} bytes, base64`);
  const key = Buffer.from(trimmed, 'base64');
  if (key.length !== KEY_BYTES) throw new PermanentError(`${what} must be ${KEY_BYTES} bytes, base64`);
  return key;
}

function checkContext(context: unknown): string {
  if (typeof context !== 'string' || context.length === 0) throw new PermanentError('encrypted secret: a context (what the value belongs to) is required');
  return context;
}

export class SecretBox {
  /** Private fields: not shown by util.inspect, JSON.stringify or a log line. */
  readonly #key: Buffer;
  /** Every key that may decrypt, by key id: the current one and the previous ones. */
  readonly #keys = new Map<string, Buffer>();
  /** Id of the key that encrypts. */
  readonly keyId: string;

  /** `key` encrypts and decrypts; each of `previous` only decrypts what it made (key rotation). */
  constructor(key: Buffer, previous: readonly Buffer[] = []) {
    for (const k of [key, ...previous]) {
      if (!Buffer.isBuffer(k) || k.length !== KEY_BYTES) throw new PermanentError(`secret key must be ${KEY_BYTES} bytes`);
    }
    this.#key = Buffer.from(key);
    this.keyId = keyIdOf(this.#key);
    this.#keys.set(this.keyId, this.#key);
    for (const k of previous) {
      const id = keyIdOf(k);
      if (!this.#keys.has(id)) this.#keys.set(id, Buffer.from(k));
    }
  }

  /** From the base64 form (SPOTBATCH_SECRET_KEY, generateSecretKey()), with the previous keys still read. */
  static fromBase64(b64: string, previous: readonly string[] = []): SecretBox {
    return new SecretBox(
      parseKey(b64, 'secret key'),
      previous.map((p, i) => parseKey(p, `previous secret key ${i + 1}`)),
    );
  }

  /** Ids of the keys that decrypt, the current one first. */
  keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  /** Encrypt with the current key, bound to `context` (for a job's private key: privateKeyContext(jobId, region)). */
  encrypt(plain: string, context: string): EncryptedSecretV2 {
    const aad = Buffer.from(checkContext(context), 'utf8');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad);
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return { v: 2, kid: this.keyId, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
  }

  /**
   * The plaintext of a value made for `context`. PermanentError when the value
   * is malformed, made with a key this box does not hold (UnknownKeyIdError,
   * naming the key id), altered, or made for another context.
   */
  decrypt(s: EncryptedSecret, context: string): string {
    const aad = Buffer.from(checkContext(context), 'utf8');
    if (!isEncryptedSecret(s)) throw new PermanentError('encrypted secret: unknown format (expected version 1 or 2)');
    const iv = decode(s.iv, 'iv', IV_BYTES);
    const tag = decode(s.tag, 'tag', TAG_BYTES);
    const data = decode(s.data, 'data');
    if (s.v === 2) {
      const key = this.#keys.get(s.kid);
      if (!key) throw new UnknownKeyIdError(s.kid, this.keyId);
      const plain = open(key, iv, tag, data, aad);
      if (plain === undefined) {
        throw new PermanentError(`encrypted secret (key id ${s.kid}) could not be decrypted for ${context}: it was altered, or copied from another job or region`);
      }
      return plain;
    }
    // v1: no key id and no context; any key this box holds may have made it.
    for (const key of this.#keys.values()) {
      const plain = open(key, iv, tag, data);
      if (plain !== undefined) return plain;
    }
    throw new PermanentError(
      `encrypted secret (old format v1, no key id) could not be decrypted with any of the keys ${this.keyIds().join(', ')}: ` +
        `it was altered, or made with a key missing from ${PREVIOUS_SETTING}`,
    );
  }

  toJSON(): string {
    return '[SecretBox]';
  }
}

/** The plaintext, or undefined when authentication fails (the cause is dropped: nothing of the key or data leaves here). */
function open(key: Buffer, iv: Buffer, tag: Buffer, data: Buffer, aad?: Buffer): string | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    if (aad) decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** A new random key, base64 (for SPOTBATCH_SECRET_KEY). */
export function generateSecretKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}
