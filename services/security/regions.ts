/** Which of a job's regions EC2 offers this account: asked once of the fleet's own region (DescribeRegions). */
import { DescribeRegionsCommand } from '@aws-sdk/client-ec2';
import type { CloudClients } from '../../shared/aws.js';
import { PermanentError } from '../../shared/errors.js';
import { call } from '../../shared/aws-errors.js';

/** The regions EC2 answers for this account (enabled ones), as seen from `home`. */
export async function offeredRegions(cloud: CloudClients, home: string): Promise<Set<string>> {
  const out = await call('DescribeRegions', () => cloud.ec2(home).send(new DescribeRegionsCommand({})));
  return new Set((out.Regions ?? []).map((r) => r.RegionName ?? '').filter(Boolean));
}

/** PermanentError naming every region of the job EC2 does not offer (a typo, or a region not enabled). */
export async function checkOfferedRegions(cloud: CloudClients, home: string, regions: readonly string[]): Promise<void> {
  const offered = await offeredRegions(cloud, home);
  const unknown = regions.filter((r) => !offered.has(r));
  if (unknown.length) {
    throw new PermanentError(
      `instances.regions: ${unknown.map((r) => `'${r.slice(0, 64)}'`).join(', ')} ${unknown.length === 1 ? 'is not a region' : 'are not regions'} EC2 offers this account (DescribeRegions in ${home})`,
    );
  }
}
