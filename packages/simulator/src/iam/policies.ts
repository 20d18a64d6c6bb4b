/** IAM customer managed policies (one version each): CreatePolicy, GetPolicy, ListPolicies, DeletePolicy. */
import type {
  CreatePolicyCommandInput,
  CreatePolicyCommandOutput,
  DeletePolicyCommandInput,
  GetPolicyCommandInput,
  GetPolicyCommandOutput,
  ListPoliciesCommandInput,
  ListPoliciesCommandOutput,
  Policy,
} from '@aws-sdk/client-iam';
import { CreatePolicy$, DeletePolicy$, GetPolicy$, ListPolicies$ } from '@aws-sdk/client-iam';
import { action } from '../context.js';
import type { CallContext } from '../context.js';
import { ACCOUNT_ID, ids } from '../ids.js';
import { ApiError, invalidParameter, required } from '../protocol/errors.js';
import { tagsFrom } from '../state/records.js';
import type { ManagedPolicyRecord } from '../state/records.js';
import { markerPage } from './marker.js';
import { checkName, checkPath, checkPolicy } from './roles.js';

type Out<T> = Omit<T, '$metadata'>;

/** IAM's quota on a managed policy's size, in characters (whitespace excluded). */
const MAX_MANAGED_POLICY_CHARS = 6144;

/** The managed policy an ARN names, or NoSuchEntity as IAM words it. */
export function findPolicy(call: CallContext, arn: string | undefined, param = 'PolicyArn'): ManagedPolicyRecord {
  const a = required(arn, param);
  const p = call.sim.world.managedPolicies.get(a);
  if (!p) throw new ApiError('NoSuchEntity', `Policy ${a} does not exist or is not attachable.`, 404);
  return p;
}

/** How many roles have this policy as their permissions boundary. */
const boundaryUses = (call: CallContext, arn: string): number => [...call.sim.world.roles.values()].filter((r) => r.permissionsBoundary === arn).length;

function view(call: CallContext, p: ManagedPolicyRecord): Policy {
  return {
    PolicyName: p.policyName,
    PolicyId: p.policyId,
    Arn: p.arn,
    Path: p.path,
    DefaultVersionId: 'v1',
    AttachmentCount: 0,
    PermissionsBoundaryUsageCount: boundaryUses(call, p.arn),
    IsAttachable: true,
    ...(p.description !== undefined ? { Description: p.description } : {}),
    CreateDate: p.createDate,
    UpdateDate: p.createDate,
    Tags: p.tags.size ? [...p.tags].map(([Key, Value]) => ({ Key, Value })) : undefined,
  };
}

export const policyActions = {
  CreatePolicy: action<CreatePolicyCommandInput, Out<CreatePolicyCommandOutput>>(CreatePolicy$, (input, call) => {
    const name = checkName(input.PolicyName, 'PolicyName', 128);
    const path = checkPath(input.Path);
    const doc = checkPolicy(input.PolicyDocument, 'PolicyDocument');
    if (doc.replace(/\s/g, '').length > MAX_MANAGED_POLICY_CHARS) throw new ApiError('LimitExceeded', `Cannot exceed quota for PolicySize: ${MAX_MANAGED_POLICY_CHARS}`, 409);
    if (input.Description !== undefined && input.Description.length > 1000) throw invalidParameter('Description', 'must be at most 1000 characters');
    const arn = `arn:aws:iam::${ACCOUNT_ID}:policy${path}${name}`;
    // Policy names are unique in the account, whatever the path.
    if ([...call.sim.world.managedPolicies.values()].some((p) => p.policyName === name)) {
      throw new ApiError('EntityAlreadyExists', `A policy called ${name} already exists. Duplicate names are not allowed.`, 409);
    }
    const p: ManagedPolicyRecord = {
      policyName: name,
      policyId: ids.policy(),
      arn,
      path,
      ...(input.Description !== undefined ? { description: input.Description } : {}),
      document: doc,
      createDate: call.sim.clock.date(),
      tags: tagsFrom(input.Tags),
    };
    call.sim.world.managedPolicies.set(arn, p);
    return { Policy: view(call, p) };
  }),

  GetPolicy: action<GetPolicyCommandInput, Out<GetPolicyCommandOutput>>(GetPolicy$, (input, call) => {
    return { Policy: view(call, findPolicy(call, input.PolicyArn)) };
  }),

  ListPolicies: action<ListPoliciesCommandInput, Out<ListPoliciesCommandOutput>>(ListPolicies$, (input, call) => {
    const scope = input.Scope ?? 'All';
    const prefix = input.PathPrefix ?? '/';
    // The simulator holds no AWS managed policies: scope AWS lists nothing. None is attached (no AttachRolePolicy).
    const all = scope === 'AWS' || input.OnlyAttached ? [] : [...call.sim.world.managedPolicies.values()];
    const listed = all
      .filter((p) => p.path.startsWith(prefix))
      .filter((p) => (input.PolicyUsageFilter === 'PermissionsBoundary' ? boundaryUses(call, p.arn) > 0 : input.PolicyUsageFilter !== 'PermissionsPolicy'))
      .sort((a, b) => a.policyName.localeCompare(b.policyName));
    const page = markerPage(listed, input.Marker, input.MaxItems);
    return { Policies: page.items.map((p) => view(call, p)), IsTruncated: page.IsTruncated, ...(page.Marker ? { Marker: page.Marker } : {}) };
  }),

  DeletePolicy: action<DeletePolicyCommandInput, object>(DeletePolicy$, (input, call) => {
    const p = findPolicy(call, input.PolicyArn);
    if (boundaryUses(call, p.arn) > 0) throw new ApiError('DeleteConflict', 'Cannot delete a policy attached to entities.', 409);
    call.sim.world.managedPolicies.delete(p.arn);
    return {};
  }),
};
