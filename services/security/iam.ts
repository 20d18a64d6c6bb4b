/**
 * The job's IAM role (EC2 may assume it; one inline policy) and its instance
 * profile. IAM is global: one of each per job, whatever the regions.
 */
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  DeleteInstanceProfileCommand,
  DeleteRoleCommand,
  DeleteRolePolicyCommand,
  GetInstanceProfileCommand,
  GetRoleCommand,
  ListInstanceProfilesForRoleCommand,
  ListRolePoliciesCommand,
  PutRolePermissionsBoundaryCommand,
  PutRolePolicyCommand,
  RemoveRoleFromInstanceProfileCommand,
} from '@aws-sdk/client-iam';
import type { IAMClient, InstanceProfile, Tag } from '@aws-sdk/client-iam';
import { PermanentError, TransientError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { awsCode, call, callOr, translateAwsError } from '../../shared/aws-errors.js';
import { fixed, retrying } from '../../shared/backoff.js';
import { BOUNDARY_SETTING } from './boundary.js';
import { JOB_TAG, POLICY_NAME } from './names.js';
import { trustPolicy } from '../model/policy.js';

export interface RoleRequest {
  jobId: string;
  name: string;
  tags: Tag[];
  policyDocument: string;
  /** ARN of the managed policy that bounds the role (the fleet's security.permissionsBoundary). */
  permissionsBoundary: string;
  profileWait: { attempts: number; delayMs: number };
}

function checkOwner(kind: string, name: string, tags: Tag[] | undefined, jobId: string): void {
  const owner = tags?.find((t) => t.Key === JOB_TAG)?.Value;
  if (owner !== undefined && owner !== jobId) throw new PermanentError(`security: ${kind} ${name} belongs to job ${owner}`);
}

async function ensureRole(iam: IAMClient, req: RoleRequest, log?: Logger): Promise<void> {
  try {
    await iam.send(
      new CreateRoleCommand({
        RoleName: req.name,
        AssumeRolePolicyDocument: trustPolicy(),
        Description: `spotbatch job ${req.jobId}`,
        PermissionsBoundary: req.permissionsBoundary,
        Tags: req.tags,
      }),
    );
    log?.info({ roleName: req.name, permissionsBoundary: req.permissionsBoundary }, 'role created');
  } catch (err) {
    const code = awsCode(err);
    if (code === 'NoSuchEntity') {
      throw new PermanentError(`security: the permissions boundary ${req.permissionsBoundary} (${BOUNDARY_SETTING}) does not exist`, { cause: translateAwsError('CreateRole', err) });
    }
    if (code !== 'EntityAlreadyExists') throw translateAwsError('CreateRole', err);
    const got = await call('GetRole', () => iam.send(new GetRoleCommand({ RoleName: req.name })));
    checkOwner('role', req.name, got.Role?.Tags, req.jobId);
    // A role made before the fleet had (this) boundary gets it now: never a job role without one.
    if (got.Role?.PermissionsBoundary?.PermissionsBoundaryArn !== req.permissionsBoundary) {
      await call('PutRolePermissionsBoundary', () => iam.send(new PutRolePermissionsBoundaryCommand({ RoleName: req.name, PermissionsBoundary: req.permissionsBoundary })));
      log?.info({ roleName: req.name, permissionsBoundary: req.permissionsBoundary }, 'role permissions boundary set');
    }
    log?.debug({ roleName: req.name }, 'role already exists');
  }
  await call('PutRolePolicy', () => iam.send(new PutRolePolicyCommand({ RoleName: req.name, PolicyName: POLICY_NAME, PolicyDocument: req.policyDocument })));
}

async function getProfile(iam: IAMClient, name: string): Promise<InstanceProfile | undefined> {
  const out = await callOr('GetInstanceProfile', () => iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name })), ['NoSuchEntity']);
  return out?.InstanceProfile;
}

const holds = (p: InstanceProfile | undefined, role: string): boolean => !!p?.Roles?.some((r) => r.RoleName === role);

async function ensureProfile(iam: IAMClient, req: RoleRequest, log?: Logger): Promise<InstanceProfile> {
  let profile: InstanceProfile | undefined;
  try {
    profile = (await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: req.name, Tags: req.tags }))).InstanceProfile;
    log?.info({ instanceProfileName: req.name }, 'instance profile created');
  } catch (err) {
    if (awsCode(err) !== 'EntityAlreadyExists') throw translateAwsError('CreateInstanceProfile', err);
    profile = await getProfile(iam, req.name);
    if (!profile) throw new TransientError(`CreateInstanceProfile: ${req.name} exists but cannot be read yet`);
    checkOwner('instance profile', req.name, profile.Tags, req.jobId);
  }
  if (!profile?.Arn) throw new TransientError(`CreateInstanceProfile: answer for ${req.name} lacks the ARN`);
  const others = (profile.Roles ?? []).filter((r) => r.RoleName !== req.name);
  if (others.length) throw new PermanentError(`security: instance profile ${req.name} holds another role (${others.map((r) => r.RoleName).join(', ')})`);
  if (!holds(profile, req.name)) {
    try {
      await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: req.name, RoleName: req.name }));
    } catch (err) {
      // LimitExceeded: the profile already holds a role, ours when another run added it meanwhile.
      if (awsCode(err) !== 'LimitExceeded' || !holds(await getProfile(iam, req.name), req.name)) throw translateAwsError('AddRoleToInstanceProfile', err);
    }
  }
  return profile;
}

/** Poll GetInstanceProfile until it shows the role (bounded), else TransientError. */
async function waitUsable(iam: IAMClient, req: RoleRequest): Promise<void> {
  const notYet = new TransientError(`GetInstanceProfile: ${req.name} does not show role ${req.name} yet`);
  await retrying(
    async () => {
      if (!holds(await getProfile(iam, req.name), req.name)) throw notYet;
    },
    { policy: fixed(req.profileWait.delayMs), attempts: req.profileWait.attempts, retryable: (err) => err === notYet },
  );
}

/** Role, inline policy and instance profile, ready for RunInstances; the profile's ARN. */
export async function ensureRoleAndProfile(iam: IAMClient, req: RoleRequest, log?: Logger): Promise<string> {
  await ensureRole(iam, req, log);
  const profile = await ensureProfile(iam, req, log);
  await waitUsable(iam, req);
  return profile.Arn!;
}

const NOT_FOUND = ['NoSuchEntity'];

/** When DeleteRole meets a conflict: whatever still hangs on the role (other inline policies, other profiles). */
async function detachAll(iam: IAMClient, role: string, deleted: string[]): Promise<void> {
  const profiles = await callOr('ListInstanceProfilesForRole', () => iam.send(new ListInstanceProfilesForRoleCommand({ RoleName: role })), NOT_FOUND);
  for (const p of profiles?.InstanceProfiles ?? []) {
    await callOr('RemoveRoleFromInstanceProfile', () => iam.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: p.InstanceProfileName, RoleName: role })), NOT_FOUND);
  }
  // Not every endpoint has ListRolePolicies (the simulator has not): then only our own policy was there.
  const policies = await callOr('ListRolePolicies', () => iam.send(new ListRolePoliciesCommand({ RoleName: role })), [...NOT_FOUND, 'InvalidAction']);
  for (const name of policies?.PolicyNames ?? []) {
    await callOr('DeleteRolePolicy', () => iam.send(new DeleteRolePolicyCommand({ RoleName: role, PolicyName: name })), NOT_FOUND);
    deleted.push(`role-policy:${role}/${name}`);
  }
}

async function deleteRole(iam: IAMClient, name: string): Promise<boolean | 'conflict'> {
  try {
    await iam.send(new DeleteRoleCommand({ RoleName: name }));
    return true;
  } catch (err) {
    const code = awsCode(err);
    if (code === 'NoSuchEntity') return false;
    if (code === 'DeleteConflict') return 'conflict';
    throw translateAwsError('DeleteRole', err);
  }
}

/** Remove the role from the profile, delete the profile, the inline policy, the role; missing things are fine. */
export async function deleteRoleAndProfile(iam: IAMClient, name: string, log?: Logger): Promise<string[]> {
  const deleted: string[] = [];
  const profile = await getProfile(iam, name);
  if (profile) {
    for (const r of profile.Roles ?? []) {
      await callOr('RemoveRoleFromInstanceProfile', () => iam.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: name, RoleName: r.RoleName })), NOT_FOUND);
    }
    if (await callOr('DeleteInstanceProfile', () => iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName: name })), NOT_FOUND)) {
      log?.info({ instanceProfileName: name }, 'instance profile deleted');
      deleted.push(`instance-profile:${name}`);
    }
  }
  if (await callOr('DeleteRolePolicy', () => iam.send(new DeleteRolePolicyCommand({ RoleName: name, PolicyName: POLICY_NAME })), NOT_FOUND)) {
    deleted.push(`role-policy:${name}/${POLICY_NAME}`);
  }
  let gone = await deleteRole(iam, name);
  if (gone === 'conflict') {
    await detachAll(iam, name, deleted);
    gone = await deleteRole(iam, name);
    if (gone === 'conflict') throw new TransientError(`DeleteRole: ${name} still has policies or profiles attached (DeleteConflict)`);
  }
  if (gone) {
    log?.info({ roleName: name }, 'role deleted');
    deleted.push(`role:${name}`);
  }
  return deleted;
}
