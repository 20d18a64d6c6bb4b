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
import { ownedBy, ownerOf, POLICY_NAME, resourceName } from './names.js';
import { trustPolicy } from '../model/policy.js';

export interface RoleRequest {
  /** The fleet (config.prefix): its tag is on the role and profile, which live under its path (jobIamPath). */
  fleet: string;
  jobId: string;
  name: string;
  /** IAM path of the role and the instance profile (names.ts jobIamPath). */
  path: string;
  tags: Tag[];
  policyDocument: string;
  /** ARN of the managed policy that bounds the role (the fleet's security.permissionsBoundary). */
  permissionsBoundary: string;
  profileWait: { attempts: number; delayMs: number };
}

/** A role or profile of the same name is the job's only when it carries this fleet's and this job's tags (both made with them, at creation). */
function checkOwner(kind: string, name: string, tags: Tag[] | undefined, req: { fleet: string; jobId: string }): void {
  if (!ownedBy(tags, req.fleet, req.jobId)) throw new PermanentError(`security: ${kind} ${name} exists and is not fleet ${req.fleet}'s job ${req.jobId}'s (its tags: ${ownerOf(tags)})`);
}

async function ensureRole(iam: IAMClient, req: RoleRequest, log?: Logger): Promise<void> {
  try {
    await iam.send(
      new CreateRoleCommand({
        RoleName: req.name,
        Path: req.path,
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
    checkOwner('role', req.name, got.Role?.Tags, req);
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
    profile = (await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: req.name, Path: req.path, Tags: req.tags }))).InstanceProfile;
    log?.info({ instanceProfileName: req.name }, 'instance profile created');
  } catch (err) {
    if (awsCode(err) !== 'EntityAlreadyExists') throw translateAwsError('CreateInstanceProfile', err);
    profile = await getProfile(iam, req.name);
    if (!profile) throw new TransientError(`CreateInstanceProfile: ${req.name} exists but cannot be read yet`);
    checkOwner('instance profile', req.name, profile.Tags, req);
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

/**
 * Remove the role from the profile, delete the profile, the inline policy, the role; missing things are fine.
 * Each only when it carries this fleet's and this job's tags (its own tags: the role's for the role, the
 * profile's for the profile); one that does not is left alone (logged), whoever made it.
 */
export async function deleteRoleAndProfile(iam: IAMClient, owner: { fleet: string; jobId: string }, log?: Logger): Promise<string[]> {
  const name = resourceName(owner.fleet, owner.jobId);
  const deleted: string[] = [];
  const profile = await getProfile(iam, name);
  if (profile && !ownedBy(profile.Tags, owner.fleet, owner.jobId)) {
    log?.warn({ instanceProfileName: name, owner: ownerOf(profile.Tags) }, 'instance profile not this fleet\'s job\'s: left alone');
  } else if (profile) {
    // Only the job's own role: a profile holding another is not emptied of it (DeleteInstanceProfile then fails).
    for (const r of (profile.Roles ?? []).filter((x) => x.RoleName === name)) {
      await callOr('RemoveRoleFromInstanceProfile', () => iam.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: name, RoleName: r.RoleName })), NOT_FOUND);
    }
    if (await callOr('DeleteInstanceProfile', () => iam.send(new DeleteInstanceProfileCommand({ InstanceProfileName: name })), NOT_FOUND)) {
      log?.info({ instanceProfileName: name }, 'instance profile deleted');
      deleted.push(`instance-profile:${name}`);
    }
  }
  const role = (await callOr('GetRole', () => iam.send(new GetRoleCommand({ RoleName: name })), NOT_FOUND))?.Role;
  if (!role) return deleted;
  if (!ownedBy(role.Tags, owner.fleet, owner.jobId)) {
    log?.warn({ roleName: name, owner: ownerOf(role.Tags) }, 'role not this fleet\'s job\'s: left alone');
    return deleted;
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
