/** The fleet's SecretBox, from SPOTBATCH_SECRET_KEY; a lifecycle handler without it cannot run. */
import { PermanentError } from '../../shared/errors.js';
import { SecretBox } from '../../shared/secrets.js';
import type { Config } from '../../shared/config.js';

const boxes = new Map<string, SecretBox>();

export function secretBox(config: Config): SecretBox {
  const key = config.lifecycle.secretKey;
  if (!key) throw new PermanentError('SPOTBATCH_SECRET_KEY (lifecycle.secretKey) is not set: the fleet cannot keep private keys');
  let box = boxes.get(key);
  if (!box) {
    box = SecretBox.fromBase64(key);
    boxes.set(key, box);
  }
  return box;
}
