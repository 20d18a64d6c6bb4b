import type { Config } from '../../shared/config.js';
import type { JobSpec } from './spec.js';

/** The regions a job may use: the spec's, or for "auto" the fleet's configured ones. */
export function jobRegions(spec: JobSpec, config: Config): string[] {
  return spec.instances.regions === 'auto' ? config.lifecycle.regions : spec.instances.regions;
}
