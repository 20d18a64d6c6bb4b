import path from 'node:path';
import { ValidationError } from '../../shared/errors.js';

/** Where checkpoints are kept: a folder the dispatchers share, or an S3 bucket and key prefix. */
export type CheckpointLocation = { kind: 'local'; dir: string } | { kind: 's3'; bucket: string; prefix: string };

export const STORE_FORMS = 'must be "local:DIR" (a folder on the dispatcher) or "s3://bucket/prefix"';

/** The rule `spec` breaks, or undefined when it is a usable store. */
export function checkpointStoreRule(spec: string): string | undefined {
  try {
    parseCheckpointStore(spec);
    return undefined;
  } catch (err) {
    if (err instanceof ValidationError) return err.issues[0]?.rule ?? STORE_FORMS;
    throw err;
  }
}

/**
 * "local:DIR" (relative folders resolve against the dispatcher's working
 * folder) or "s3://bucket" / "s3://bucket/some/prefix". Anything else is a
 * ValidationError naming `checkpoint.store` and the rule it broke.
 */
export function parseCheckpointStore(spec: string): CheckpointLocation {
  const bad = (rule: string): ValidationError => new ValidationError('invalid checkpoint store', [{ path: 'checkpoint.store', rule }]);
  if (spec.includes('\0')) throw bad('must not contain a NUL character');
  if (spec.startsWith('local:')) {
    const dir = spec.slice('local:'.length);
    if (dir.trim() === '') throw bad('"local:" must be followed by a folder, as in "local:/var/spotbatch/checkpoints"');
    return { kind: 'local', dir: path.resolve(dir) };
  }
  if (spec.startsWith('s3://')) {
    const rest = spec.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = (slash < 0 ? '' : rest.slice(slash + 1)).replace(/\/+$/, '');
    const bucketRule = bucketNameRule(bucket);
    if (bucketRule) throw bad(bucketRule);
    if (prefix.length > 512) throw bad('the S3 prefix must be at most 512 characters long');
    if (prefix !== '' && prefix.split('/').some((s) => s === '' || s === '.' || s === '..')) {
      throw bad('the S3 prefix must not start with "/" or contain empty, "." or ".." segments');
    }
    return { kind: 's3', bucket, prefix };
  }
  throw bad(STORE_FORMS);
}

function bucketNameRule(bucket: string): string | undefined {
  if (bucket === '') return 's3:// must be followed by a bucket name';
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    return 'the bucket name must be 3 to 63 lower-case letters, digits, "." or "-", starting and ending with a letter or digit';
  }
  if (/^\d+\.\d+\.\d+\.\d+$/.test(bucket) || bucket.includes('..')) return 'the bucket name must not look like an IP address or contain ".."';
  return undefined;
}
