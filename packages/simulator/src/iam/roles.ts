/** IAM roles: CreateRole (with a permissions boundary), PutRolePermissionsBoundary, GetRole, PutRolePolicy, GetRolePolicy, ListRolePolicies, DeleteRolePolicy, DeleteRole. */
import type {
  CreateRoleCommandInput,
  CreateRoleCommandOutput,
  DeleteRoleCommandInput,
  DeleteRolePolicyCommandInput,
  GetRoleCommandInput,
  GetRoleCommandOutput,
  GetRolePolicyCommandInput,
  GetRolePolicyCommandOutput,
  ListRolePoliciesCommandInput,
  ListRolePoliciesCommandOutput,
  PutRolePermissionsBoundaryCommandInput,
  PutRolePolicyCommandInput,
  Role,
} from '@aws-sdk/client-iam';
import { CreateRole$, DeleteRole$, DeleteRolePolicy$, GetRole$, GetRolePolicy$, ListRolePolicies$, PutRolePermissionsBoundary$, PutRolePolicy$ } from '@aws-sdk/client-iam';
import { markerPage } from './marker.js';
import { action } from '../context.js';
import type { CallContext } from '../context.js';
import { ACCOUNT_ID, ids } from '../ids.js';
import { ApiError, invalidParameter, required } from '../protocol/errors.js';
import { tagsFrom } from '../state/records.js';
import type { RoleRecord } from '../state/records.js';

type Out<T> = Omit<T, '$metadata'>;

const NAME = /^[\w+=,.@-]{1,64}$/;
const PATH = /^\/([\x21-\x7e]*\/)?$/;

export function checkName(value: string | undefined, param: string, max = 64): string {
  const v = required(value, param);
  if (!NAME.test(v) || v.length > max) throw invalidParameter(param, `'${v}' must match [\\w+=,.@-]{1,${max}}`);
  return v;
}

export function checkPath(value: string | undefined): string {
  const p = value ?? '/';
  if (!PATH.test(p) || p.length > 512) throw invalidParameter('Path', `'${p}' must begin and end with /`);
  return p;
}

export function checkPolicy(doc: string | undefined, param: string): string {
  const d = required(doc, param);
  try {
    const parsed: unknown = JSON.parse(d);
    if (typeof parsed !== 'object' || parsed === null || !('Statement' in parsed)) throw new Error('no Statement');
  } catch {
    throw new ApiError('MalformedPolicyDocument', `The policy document given in ${param} is not valid JSON with a Statement`);
  }
  return d;
}

export function findRole(call: CallContext, name: string): RoleRecord {
  const r = call.sim.world.roles.get(name);
  if (!r) throw new ApiError('NoSuchEntity', `The role with name ${name} cannot be found.`, 404);
  return r;
}

export function roleView(r: RoleRecord): Role {
  return {
    Path: r.path,
    RoleName: r.roleName,
    RoleId: r.roleId,
    Arn: r.arn,
    CreateDate: r.createDate,
    AssumeRolePolicyDocument: encodeURIComponent(r.assumeRolePolicyDocument),
    Description: r.description,
    MaxSessionDuration: r.maxSessionDuration,
    ...(r.permissionsBoundary ? { PermissionsBoundary: { PermissionsBoundaryType: 'PermissionsBoundaryPolicy', PermissionsBoundaryArn: r.permissionsBoundary } } : {}),
    Tags: r.tags.size ? [...r.tags].map(([Key, Value]) => ({ Key, Value })) : undefined,
    RoleLastUsed: {},
  };
}

export const roleActions = {
  CreateRole: action<CreateRoleCommandInput, Out<CreateRoleCommandOutput>>(CreateRole$, (input, call) => {
    const name = checkName(input.RoleName, 'RoleName');
    const path = checkPath(input.Path);
    const doc = checkPolicy(input.AssumeRolePolicyDocument, 'AssumeRolePolicyDocument');
    if (call.sim.world.roles.has(name)) throw new ApiError('EntityAlreadyExists', `Role with name ${name} already exists.`, 409);
    const maxSession = input.MaxSessionDuration ?? 3600;
    if (maxSession < 3600 || maxSession > 43200) throw invalidParameter('MaxSessionDuration', 'must be between 3600 and 43200');
    const boundary = input.PermissionsBoundary;
    // As IAM answers a boundary that is not a managed policy of the account.
    if (boundary !== undefined && !call.sim.world.managedPolicies.has(boundary)) {
      throw new ApiError('NoSuchEntity', `Scope ARN: ${boundary} does not exist or is not attachable.`, 404);
    }
    const r: RoleRecord = {
      roleName: name,
      roleId: ids.role(),
      arn: `arn:aws:iam::${ACCOUNT_ID}:role${path}${name}`,
      path,
      createDate: call.sim.clock.date(),
      assumeRolePolicyDocument: doc,
      description: input.Description,
      maxSessionDuration: maxSession,
      policies: new Map(),
      ...(boundary !== undefined ? { permissionsBoundary: boundary } : {}),
      tags: tagsFrom(input.Tags),
    };
    call.sim.world.roles.set(name, r);
    return { Role: roleView(r) };
  }),

  GetRole: action<GetRoleCommandInput, Out<GetRoleCommandOutput>>(GetRole$, (input, call) => {
    return { Role: roleView(findRole(call, checkName(input.RoleName, 'RoleName'))) };
  }),

  PutRolePermissionsBoundary: action<PutRolePermissionsBoundaryCommandInput, object>(PutRolePermissionsBoundary$, (input, call) => {
    const role = findRole(call, checkName(input.RoleName, 'RoleName'));
    const boundary = required(input.PermissionsBoundary, 'PermissionsBoundary');
    if (!call.sim.world.managedPolicies.has(boundary)) throw new ApiError('NoSuchEntity', `Scope ARN: ${boundary} does not exist or is not attachable.`, 404);
    role.permissionsBoundary = boundary;
    return {};
  }),

  PutRolePolicy: action<PutRolePolicyCommandInput, object>(PutRolePolicy$, (input, call) => {
    const role = findRole(call, checkName(input.RoleName, 'RoleName'));
    const policyName = checkName(input.PolicyName, 'PolicyName', 128);
    role.policies.set(policyName, checkPolicy(input.PolicyDocument, 'PolicyDocument'));
    return {};
  }),

  GetRolePolicy: action<GetRolePolicyCommandInput, Out<GetRolePolicyCommandOutput>>(GetRolePolicy$, (input, call) => {
    const role = findRole(call, checkName(input.RoleName, 'RoleName'));
    const policyName = checkName(input.PolicyName, 'PolicyName', 128);
    const doc = role.policies.get(policyName);
    if (doc === undefined) throw new ApiError('NoSuchEntity', `The role policy with name ${policyName} cannot be found.`, 404);
    return { RoleName: role.roleName, PolicyName: policyName, PolicyDocument: encodeURIComponent(doc) };
  }),

  ListRolePolicies: action<ListRolePoliciesCommandInput, Out<ListRolePoliciesCommandOutput>>(ListRolePolicies$, (input, call) => {
    const role = findRole(call, checkName(input.RoleName, 'RoleName'));
    const page = markerPage([...role.policies.keys()].sort(), input.Marker, input.MaxItems);
    return { PolicyNames: page.items, IsTruncated: page.IsTruncated, ...(page.Marker ? { Marker: page.Marker } : {}) };
  }),

  DeleteRolePolicy: action<DeleteRolePolicyCommandInput, object>(DeleteRolePolicy$, (input, call) => {
    const role = findRole(call, checkName(input.RoleName, 'RoleName'));
    const policyName = checkName(input.PolicyName, 'PolicyName', 128);
    if (!role.policies.delete(policyName)) {
      throw new ApiError('NoSuchEntity', `The role policy with name ${policyName} cannot be found.`, 404);
    }
    return {};
  }),

  DeleteRole: action<DeleteRoleCommandInput, object>(DeleteRole$, (input, call) => {
    const role = findRole(call, checkName(input.RoleName, 'RoleName'));
    for (const p of call.sim.world.instanceProfiles.values()) {
      if (p.roles.includes(role.roleName)) {
        throw new ApiError('DeleteConflict', 'Cannot delete entity, must remove roles from instance profile first.', 409);
      }
    }
    if (role.policies.size) throw new ApiError('DeleteConflict', 'Cannot delete entity, must delete policies first.', 409);
    call.sim.world.roles.delete(role.roleName);
    return {};
  }),
};
