/**
 * The checkpoint store: copies a task's checkpoint folder off an instance
 * (after an interruption notice, and periodically) and back onto the next
 * attempt's instance before its step starts. See docs/checkpoint.md.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { tmpdir } from 'node:os';
import { localCheckpointStore } from './local-store.js';
import type { CheckpointLocation } from '../model/checkpoint-location.js';
import { s3CheckpointStore } from './s3-store.js';
import type { CheckpointStore } from './types.js';

export { fleetStoreLocation, type CheckpointLocation } from '../model/checkpoint-location.js';
export type { CheckpointStore, SavedCheckpoint } from './types.js';

export interface CheckpointStoreDeps {
  /**
   * The S3 client for s3:// stores. Without one, a client is made from the
   * environment (AWS_REGION, AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL; path-style
   * addressing when an endpoint is set, as emulators need).
   */
  s3?: S3Client;
  /** Where S3 copies are staged on the dispatcher; the OS temp folder by default. */
  tmpDir?: string;
  /** Clock (ms since the epoch); Date.now by default. */
  now?: () => number;
}

export function checkpointStore(location: CheckpointLocation, deps: CheckpointStoreDeps = {}): CheckpointStore {
  const base = { now: deps.now ?? Date.now, tmpDir: deps.tmpDir ?? tmpdir() };
  if (location.kind === 'local') return localCheckpointStore(location.dir, base);
  return s3CheckpointStore(location, deps.s3 ?? defaultS3Client(), base);
}

export function defaultS3Client(): S3Client {
  const custom = Boolean(process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL);
  return new S3Client({
    followRegionRedirects: true,
    // Emulators (s3rver, MinIO) want path-style URLs and plain bodies.
    ...(custom ? { forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const } : {}),
  });
}
