import type { Config } from '../../shared/config.js';
import type { JobSpec } from './spec.js';

/**
 * The regions a job may use: those resolved at security time and stored on the job row (`resolved`), else
 * the spec's list, or for "auto" the fleet's configured ones (config lifecycle.regions; also what "auto"
 * means when EC2 does not answer DescribeInstanceTypeOfferings).
 */
export function jobRegions(spec: JobSpec, config: Config, resolved?: readonly string[]): string[] {
  if (resolved?.length) return [...resolved];
  return spec.instances.regions === 'auto' ? config.lifecycle.regions : spec.instances.regions;
}
