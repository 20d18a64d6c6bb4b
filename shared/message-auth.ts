/**
 * Message authentication: who may act on the fleet's internal messages.
 *
 * A service of the catalogue is public (`public: true`: job.submit, job.cancel,
 * ec2.event, which come from outside the fleet) or internal (everything else:
 * only the fleet itself sends it). Every message the fleet sends through the
 * MessageBus carries a message attribute `sig` (String):
 *
 *   v1.<base64 of HMAC-SHA256(messageKey, JSON.stringify([service, queueKind, body]))>
 *
 * where `body` is the exact body string sent and `queueKind` the queue the
 * service belongs to (master, request, events). `messageKey` is derived from
 * the fleet's secret key (SPOTBATCH_SECRET_KEY) with HKDF-SHA256 and its own
 * info string, so the raw key never keys anything but the private-key box.
 * The dispatcher checks it (timing-safe) for every internal service before it
 * reads the body; the current key and each previous key
 * (SPOTBATCH_SECRET_KEYS_PREVIOUS) verify, only the current one signs.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { Config } from './config.js';
import { ConfigError, PermanentError } from './errors.js';

/** The message attribute that carries the signature. */
export const SIGNATURE_ATTRIBUTE = 'sig';
/** HKDF info of the message key: a key of its own, never the secret key itself. */
export const MESSAGE_KEY_INFO = 'spotbatch:message-signature:v1';
const VERSION = 'v1.';
const KEY_BYTES = 32;
const MAC_B64_LENGTH = 44;

/** The setting a fleet without a key is told to set. */
export const SECRET_KEY_SETTING = 'SPOTBATCH_SECRET_KEY (lifecycle.secretKey)';

function messageKeyOf(secret: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), MESSAGE_KEY_INFO, KEY_BYTES));
}

function parseKey(b64: string, what: string): Buffer {
  const key = Buffer.from(b64.trim(), 'base64');
  if (key.length !== KEY_BYTES) throw new PermanentError(`${what} must be ${KEY_BYTES} bytes, base64`);
  return key;
}

/** What a signature covers: service, queue kind and body, unambiguously joined. */
function signedText(service: string, queue: string, body: string): string {
  return JSON.stringify([service, queue, body]);
}

export class MessageSigner {
  /** Private fields: not shown by util.inspect, JSON.stringify or a log line. */
  readonly #signing: Buffer;
  readonly #verifying: Buffer[];

  /** `key` (the fleet's secret key, 32 bytes) signs and verifies; each of `previous` only verifies. */
  constructor(key: Buffer, previous: readonly Buffer[] = []) {
    for (const k of [key, ...previous]) {
      if (!Buffer.isBuffer(k) || k.length !== KEY_BYTES) throw new PermanentError(`secret key must be ${KEY_BYTES} bytes`);
    }
    this.#signing = messageKeyOf(key);
    this.#verifying = [this.#signing, ...previous.map(messageKeyOf)];
  }

  static fromBase64(key: string, previous: readonly string[] = []): MessageSigner {
    return new MessageSigner(
      parseKey(key, 'secret key'),
      previous.map((p, i) => parseKey(p, `previous secret key ${i + 1}`)),
    );
  }

  /** The `sig` attribute value for this body of this service on this queue, with the current key. */
  sign(service: string, queue: string, body: string): string {
    return VERSION + mac(this.#signing, service, queue, body).toString('base64');
  }

  /** Whether `signature` was made by this fleet (current or a previous key) for exactly this service, queue and body. */
  verify(service: string, queue: string, body: string, signature: string | undefined): boolean {
    if (typeof signature !== 'string' || !signature.startsWith(VERSION) || signature.length !== VERSION.length + MAC_B64_LENGTH) return false;
    const given = Buffer.from(signature.slice(VERSION.length), 'base64');
    if (given.length !== 32) return false;
    let ok = false;
    // Every key is tried (no early exit), each comparison timing-safe.
    for (const key of this.#verifying) ok = timingSafeEqual(mac(key, service, queue, body), given) || ok;
    return ok;
  }

  toJSON(): string {
    return '[MessageSigner]';
  }
}

function mac(key: Buffer, service: string, queue: string, body: string): Buffer {
  return createHmac('sha256', key).update(signedText(service, queue, body), 'utf8').digest();
}

const signers = new Map<string, MessageSigner>();

/** The fleet's signer, from lifecycle.secretKey and previousSecretKeys; undefined when no secret key is configured. */
export function messageSigner(config: Config): MessageSigner | undefined {
  const key = config.lifecycle.secretKey;
  if (!key) return undefined;
  const previous = config.lifecycle.previousSecretKeys ?? [];
  const cacheKey = [key, ...previous].join(',');
  let signer = signers.get(cacheKey);
  if (!signer) {
    signer = MessageSigner.fromBase64(key, previous);
    if (signers.size >= 16) signers.clear();
    signers.set(cacheKey, signer);
  }
  return signer;
}

/** A dispatcher that serves internal services cannot start without the key their messages are checked with. */
export function missingKeyError(internalServices: readonly string[]): ConfigError {
  return new ConfigError([
    {
      path: SECRET_KEY_SETTING,
      rule:
        `is not set: the fleet signs its internal messages with a key derived from it, and this dispatcher serves internal services ` +
        `(${internalServices.join(', ')}) whose messages it could not check; set the same key on every dispatcher (openssl rand -base64 32)`,
    },
  ]);
}
