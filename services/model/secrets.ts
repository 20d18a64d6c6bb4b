/**
 * The fleet's SecretBox, from SPOTBATCH_SECRET_KEY (encrypts and decrypts) and
 * SPOTBATCH_SECRET_KEYS_PREVIOUS (only decrypt: key rotation); a lifecycle
 * handler without the key cannot run.
 */
import { PermanentError } from '../../shared/errors.js';
import { SecretBox } from '../../shared/secrets.js';
import type { Config } from '../../shared/config.js';
import { resource, type FleetResources } from '../../shared/resources.js';

/** A fleet's boxes by key list (its configuration names one): made once, not for every key it decrypts. */
const SECRET_BOXES = resource('secret boxes', () => new Map<string, SecretBox>());

/** The fleet's box (kept in `resources`), or a fresh one for a one-off caller without a fleet (the CLI). */
export function secretBox(config: Config, resources?: FleetResources): SecretBox {
  const key = config.lifecycle.secretKey;
  if (!key) throw new PermanentError('SPOTBATCH_SECRET_KEY (lifecycle.secretKey) is not set: the fleet cannot keep private keys');
  const previous = config.lifecycle.previousSecretKeys ?? [];
  if (!resources) return SecretBox.fromBase64(key, previous);
  const boxes = resources.get(SECRET_BOXES);
  const cacheKey = [key, ...previous].join(',');
  let box = boxes.get(cacheKey);
  if (!box) {
    box = SecretBox.fromBase64(key, previous);
    boxes.set(cacheKey, box);
  }
  return box;
}

/**
 * What a job's private key in a region is bound to (AES-GCM additional data):
 * a ciphertext copied to another job's row, or to another region of the same
 * job, does not decrypt.
 */
export function privateKeyContext(jobId: string, region: string): string {
  return `spotbatch:job-key:${jobId}:${region}`;
}
