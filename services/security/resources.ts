/**
 * A job's own security resources, made when it starts and removed when it
 * ends: per region a key pair and a security group (ssh from one CIDR), and
 * one IAM role with its instance profile. Both calls are idempotent and safe
 * to repeat after a crash at any point; they find what exists by name or tag.
 * Everything invalid in the input is refused before the first AWS call.
 */
import type { CloudClients } from '../../shared/aws.js';
import { PermanentError } from '../../shared/errors.js';
import { isRetryable } from '../../shared/aws-errors.js';
import type { Logger } from '../../shared/logger.js';
import type { SecretBox } from '../../shared/secrets.js';
import { BOUNDARY_SETTING } from './boundary.js';
import { deleteRoleAndProfile, ensureRoleAndProfile } from './iam.js';
import { deleteKeyPairs, ensureKeyPair } from './key-pairs.js';
import { checkCidr, checkJobId, checkRegions, jobIamPath, jobTags, resourceName } from './names.js';
import { inlinePolicy } from '../model/policy.js';
import { deleteSecurityGroups, ensureSecurityGroup } from './security-groups.js';
import type { CreatedKeyPair, CreateSecurityInput, JobSecurity, RegionSecurity, TeardownInput } from '../model/security-types.js';

export { FLEET_TAG, JOB_TAG, POLICY_NAME, resourceName } from './names.js';
export type { CreateSecurityInput, JobSecurity, TeardownInput } from '../model/security-types.js';

const DEFAULT_PROFILE_WAIT = { attempts: 10, delayMs: 1000 };

/** Wait for every piece, then fail with the worst error: a permanent one first, else the first. */
async function settle<T>(work: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(work);
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failures.length) throw failures.find((e) => !isRetryable(e)) ?? failures[0];
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

interface RegionWork {
  region: string;
  fleet: string;
  jobId: string;
  name: string;
  tags: { Key: string; Value: string }[];
  keyType: 'ed25519' | 'rsa';
  cidr: string;
  stored?: Partial<RegionSecurity> | undefined;
  onKeyPair?: ((created: CreatedKeyPair) => Promise<void>) | undefined;
}

async function regionSecurity(cloud: CloudClients, secrets: SecretBox, w: RegionWork, log?: Logger): Promise<RegionSecurity> {
  const ec2 = cloud.ec2(w.region);
  const key = await ensureKeyPair(ec2, secrets, { region: w.region, fleet: w.fleet, jobId: w.jobId, keyName: w.name, tags: w.tags, keyType: w.keyType, stored: w.stored, onKeyPair: w.onKeyPair }, log);
  const securityGroupId = await ensureSecurityGroup(ec2, { region: w.region, fleet: w.fleet, jobId: w.jobId, groupName: w.name, tags: w.tags, cidr: w.cidr }, log);
  return { region: w.region, keyName: key.keyName, keyPairId: key.keyPairId, securityGroupId, privateKey: key.privateKey };
}

/**
 * The job's key pair and security group in one region, made the first time a task is placed there
 * (services/spot/region-security.ts); idempotent like createJobSecurity. `stored`: what the job row holds
 * for the region (a key pair saved by `onKeyPair` before a crash).
 */
export async function createRegionSecurity(
  cloud: CloudClients,
  secrets: SecretBox,
  input: Pick<CreateSecurityInput, 'fleet' | 'jobId' | 'ingressCidr' | 'tags' | 'keyType' | 'onKeyPair'> & { region: string; stored?: Partial<RegionSecurity> | undefined },
  log?: Logger,
): Promise<RegionSecurity> {
  const jobId = checkJobId(input.jobId);
  const [region] = checkRegions([input.region]);
  const keyType = input.keyType ?? 'ed25519';
  if (keyType !== 'ed25519' && keyType !== 'rsa') throw new PermanentError('security: keyType must be ed25519 or rsa');
  const work = { region: region!, fleet: input.fleet, jobId, name: resourceName(input.fleet, jobId), tags: jobTags(input.fleet, jobId, input.tags), keyType, cidr: checkCidr(input.ingressCidr), stored: input.stored, onKeyPair: input.onKeyPair };
  return { ...(await regionSecurity(cloud, secrets, work, log)), createdAt: Date.now() };
}

/**
 * The job's IAM role and instance profile, and its key pair and security group in each of `regions` (none,
 * with `regionsLater`: only IAM; the fleet makes a region's share when a task is first placed there, createRegionSecurity).
 */
export async function createJobSecurity(cloud: CloudClients, secrets: SecretBox, input: CreateSecurityInput, log?: Logger): Promise<JobSecurity> {
  const jobId = checkJobId(input.jobId);
  const regions = input.regionsLater && !input.regions.length ? [] : checkRegions(input.regions);
  const cidr = checkCidr(input.ingressCidr);
  const fleet = input.fleet;
  const name = resourceName(fleet, jobId);
  const ec2Tags = jobTags(fleet, jobId, input.tags);
  const policyDocument = inlinePolicy(jobId, input.policyStatements ?? [], input.guard);
  const permissionsBoundary = input.permissionsBoundary;
  if (!permissionsBoundary) throw new PermanentError(`security: the fleet has no permissions boundary for job roles: set ${BOUNDARY_SETTING} (spotbatch setup makes a default one locally)`);
  const keyType = input.keyType ?? 'ed25519';
  if (keyType !== 'ed25519' && keyType !== 'rsa') throw new PermanentError('security: keyType must be ed25519 or rsa');

  const iamWork = ensureRoleAndProfile(
    cloud.iam,
    { fleet, jobId, name, path: jobIamPath(fleet), tags: ec2Tags, policyDocument, permissionsBoundary, profileWait: input.profileWait ?? DEFAULT_PROFILE_WAIT },
    log,
  );
  const regionWork = regions.map((region) => regionSecurity(cloud, secrets, { region, fleet, jobId, name, tags: ec2Tags, keyType, cidr, stored: input.existing?.regions?.[region], onKeyPair: input.onKeyPair }, log));
  const [arn, ...perRegion] = await settle<string | RegionSecurity>([iamWork, ...regionWork]);
  return {
    jobId,
    roleName: name,
    instanceProfileName: name,
    instanceProfileArn: arn as string,
    regions: Object.fromEntries((perRegion as RegionSecurity[]).map((r) => [r.region, r])),
    createdAt: Date.now(),
  };
}

/**
 * Key pairs, then security groups (DependencyViolation while an instance
 * still uses one: TransientError, retry later), then the IAM pieces, which
 * are left alone until every region is clean. Missing things are fine; only what carries the fleet's and
 * the job's tags is deleted.
 */
export async function teardownJobSecurity(cloud: CloudClients, input: TeardownInput, log?: Logger): Promise<{ deleted: string[] }> {
  const jobId = checkJobId(input.jobId);
  const regions = input.regions.length ? checkRegions(input.regions) : [];
  const owner = { fleet: input.fleet, jobId };
  const keys = await settle(regions.map((r) => deleteKeyPairs(cloud.ec2(r), r, owner, log)));
  const groups = await settle(regions.map((r) => deleteSecurityGroups(cloud.ec2(r), r, owner, log)));
  const iam = await deleteRoleAndProfile(cloud.iam, owner, log);
  return { deleted: [...keys.flat(), ...groups.flat(), ...iam] };
}
