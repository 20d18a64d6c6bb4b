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
import { checkCidr, checkJobId, checkRegions, jobTags, resourceName } from './names.js';
import { inlinePolicy } from '../model/policy.js';
import { deleteSecurityGroups, ensureSecurityGroup } from './security-groups.js';
import type { CreateSecurityInput, JobSecurity, RegionSecurity, TeardownInput } from '../model/security-types.js';

export { JOB_TAG, POLICY_NAME, resourceName } from './names.js';
export type { CreateSecurityInput, JobSecurity, TeardownInput } from '../model/security-types.js';

const DEFAULT_PROFILE_WAIT = { attempts: 10, delayMs: 1000 };

/** Wait for every piece, then fail with the worst error: a permanent one first, else the first. */
async function settle<T>(work: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(work);
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  if (failures.length) throw failures.find((e) => !isRetryable(e)) ?? failures[0];
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

export async function createJobSecurity(cloud: CloudClients, secrets: SecretBox, input: CreateSecurityInput, log?: Logger): Promise<JobSecurity> {
  const jobId = checkJobId(input.jobId);
  const regions = checkRegions(input.regions);
  const cidr = checkCidr(input.ingressCidr);
  const name = resourceName(jobId);
  const ec2Tags = jobTags(jobId, input.tags);
  const policyDocument = inlinePolicy(jobId, input.policyStatements ?? [], input.guard);
  const permissionsBoundary = input.permissionsBoundary;
  if (!permissionsBoundary) throw new PermanentError(`security: the fleet has no permissions boundary for job roles: set ${BOUNDARY_SETTING} (spotbatch setup makes a default one locally)`);
  const keyType = input.keyType ?? 'ed25519';
  if (keyType !== 'ed25519' && keyType !== 'rsa') throw new PermanentError('security: keyType must be ed25519 or rsa');

  const iamWork = ensureRoleAndProfile(
    cloud.iam,
    { jobId, name, tags: ec2Tags, policyDocument, permissionsBoundary, profileWait: input.profileWait ?? DEFAULT_PROFILE_WAIT },
    log,
  );
  const regionWork = regions.map(async (region): Promise<RegionSecurity> => {
    const ec2 = cloud.ec2(region);
    const key = await ensureKeyPair(
      ec2,
      secrets,
      { region, jobId, keyName: name, tags: ec2Tags, keyType, stored: input.existing?.regions?.[region], onKeyPair: input.onKeyPair },
      log,
    );
    const securityGroupId = await ensureSecurityGroup(ec2, { region, jobId, groupName: name, tags: ec2Tags, cidr }, log);
    return { region, keyName: key.keyName, keyPairId: key.keyPairId, securityGroupId, privateKey: key.privateKey };
  });
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
 * are left alone until every region is clean. Missing things are fine.
 */
export async function teardownJobSecurity(cloud: CloudClients, input: TeardownInput, log?: Logger): Promise<{ deleted: string[] }> {
  const jobId = checkJobId(input.jobId);
  const regions = input.regions.length ? checkRegions(input.regions) : [];
  const keys = await settle(regions.map((r) => deleteKeyPairs(cloud.ec2(r), r, jobId, log)));
  const groups = await settle(regions.map((r) => deleteSecurityGroups(cloud.ec2(r), r, jobId, log)));
  const iam = await deleteRoleAndProfile(cloud.iam, resourceName(jobId), log);
  return { deleted: [...keys.flat(), ...groups.flat(), ...iam] };
}
