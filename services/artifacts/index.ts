/** The fleet's artifact store (docs/job-spec.md "Files and scripts", docs/operations.md). */
import type { S3Client } from '@aws-sdk/client-s3';
import type { Config } from '../../shared/config.js';
import { defaultS3Client } from '../checkpoint/store.js';
import { localArtifactStore } from './local-store.js';
import { parseArtifactLocation, type ArtifactLocation } from '../../shared/artifact-location.js';
import { s3ArtifactStore } from './s3-store.js';
import type { ArtifactStore } from './types.js';

export { ArtifactMissingError, type ArtifactStore } from './types.js';
export { parseArtifactLocation, type ArtifactLocation } from '../../shared/artifact-location.js';

export function artifactStore(location: ArtifactLocation, deps: { s3?: S3Client } = {}): ArtifactStore {
  if (location.kind === 'local') return localArtifactStore(location.dir);
  return s3ArtifactStore(location, deps.s3 ?? defaultS3Client());
}

const byConfig = new WeakMap<Config, ArtifactStore>();

/** The store the fleet's configuration names (setting `artifacts`), or undefined when it names none. */
export function configuredArtifactStore(config: Config): ArtifactStore | undefined {
  if (!config.artifacts) return undefined;
  let store = byConfig.get(config);
  if (!store) {
    store = artifactStore(parseArtifactLocation(config.artifacts));
    byConfig.set(config, store);
  }
  return store;
}
