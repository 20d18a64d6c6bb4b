/** The fleet's artifact store (docs/job-spec.md "Files and scripts", docs/operations.md). */
import type { S3Client } from '@aws-sdk/client-s3';
import { withAbortSignal } from '../../shared/abort.js';
import type { Config } from '../../shared/config.js';
import { resource, type FleetResources } from '../../shared/resources.js';
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

const ARTIFACTS_S3 = resource('artifact store S3 client', () => defaultS3Client(), (s3) => s3.destroy());

/**
 * The store a handler uses: the one the fleet's configuration names, over the
 * fleet's S3 client (one of its resources), its calls ended by the dispatcher's
 * drain (ctx.signal); undefined when the configuration names none.
 */
export function fleetArtifactStore(ctx: { config: Config; resources: FleetResources; signal: AbortSignal }): ArtifactStore | undefined {
  if (!ctx.config.artifacts) return undefined;
  const location = parseArtifactLocation(ctx.config.artifacts);
  if (location.kind === 'local') return localArtifactStore(location.dir);
  return artifactStore(location, { s3: withAbortSignal(ctx.resources.get(ARTIFACTS_S3), ctx.signal) });
}

const byConfig = new WeakMap<Config, ArtifactStore>();

/** The store the configuration names (setting `artifacts`), for the CLI (one configuration per process), or undefined when it names none. */
export function configuredArtifactStore(config: Config): ArtifactStore | undefined {
  if (!config.artifacts) return undefined;
  let store = byConfig.get(config);
  if (!store) {
    store = artifactStore(parseArtifactLocation(config.artifacts));
    byConfig.set(config, store);
  }
  return store;
}
