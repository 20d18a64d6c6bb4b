/**
 * Where checkpoints are kept: stores the fleet's configuration names
 * (`checkpoint.stores`, shared/config.ts). A job spec picks one by name; a
 * spec never names a folder or a bucket (docs/security.md).
 */
import { CHECKPOINT_STORE_NAME, type Config } from '../../shared/config.js';
import { PermanentError } from '../../shared/errors.js';

/** A folder the fleet owns, or an S3 bucket and key prefix. */
export type CheckpointLocation = { kind: 'local'; dir: string } | { kind: 's3'; bucket: string; prefix: string };

export const STORE_NAME_RULE = "names one of the fleet's checkpoint stores (such as \"default\"), never a path or bucket: the fleet's configuration sets the stores";

/** The rule a spec's checkpoint.store breaks, or undefined for a well-formed name (whether the fleet has it is job.submit's check). */
export function checkpointStoreNameRule(name: string): string | undefined {
  if (/[/\\:~]/.test(name) || name.startsWith('.')) return STORE_NAME_RULE;
  if (!CHECKPOINT_STORE_NAME.test(name)) return `${STORE_NAME_RULE}; a store name is 1 to 63 lower-case letters, digits, "-" or "_"`;
  return undefined;
}

/**
 * The spec with its checkpoint store pinned by name (the one it names, or the
 * fleet's default), so the job saves, restores and removes in one store even
 * if the default changes meanwhile. A name the fleet does not configure is a
 * PermanentError naming the field: job.submit refuses the spec before it
 * stores anything.
 */
export function pinCheckpointStore<S extends { checkpoint?: { path: string; store?: string | undefined } | undefined }>(spec: S, config: Config): S {
  if (!spec.checkpoint) return spec;
  const names = Object.keys(config.checkpoint.stores).sort();
  if (names.length === 0) {
    throw new PermanentError('job spec: checkpoint.store: this fleet has no checkpoint store (its configuration sets none in checkpoint.stores)');
  }
  const name = spec.checkpoint.store ?? config.checkpoint.default;
  if (!Object.hasOwn(config.checkpoint.stores, name)) {
    throw new PermanentError(`job spec: checkpoint.store: ${JSON.stringify(name)} is not one of this fleet's checkpoint stores (${names.join(', ')})`);
  }
  return { ...spec, checkpoint: { ...spec.checkpoint, store: name } };
}

/** The location of a store by name; a PermanentError when this dispatcher's configuration lacks it (changed since the job was submitted). */
export function fleetStoreLocation(config: Config, name: string): CheckpointLocation {
  const store = Object.hasOwn(config.checkpoint.stores, name) ? config.checkpoint.stores[name] : undefined;
  if (!store) throw new PermanentError(`checkpoint store ${JSON.stringify(name)} is not configured on this dispatcher (checkpoint.stores)`);
  return store.type === 'local' ? { kind: 'local', dir: store.dir } : { kind: 's3', bucket: store.bucket, prefix: store.prefix };
}
