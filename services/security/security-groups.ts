/**
 * The job's security group in one region: ingress tcp/22 from the given CIDR
 * and nothing else (any other ingress rule found on it is revoked); egress is
 * the AWS default.
 */
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  DeleteSecurityGroupCommand,
  DescribeSecurityGroupsCommand,
  RevokeSecurityGroupIngressCommand,
} from '@aws-sdk/client-ec2';
import type { EC2Client, IpPermission, SecurityGroup } from '@aws-sdk/client-ec2';
import { untilVisible } from '../../shared/aws.js';
import { PermanentError, TransientError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { awsCode, call, callOr, translateAwsError } from '../../shared/aws-errors.js';
import { FLEET_TAG, JOB_TAG, ownedBy, ownerOf } from './names.js';

export interface GroupRequest {
  region: string;
  fleet: string;
  jobId: string;
  groupName: string;
  tags: { Key: string; Value: string }[];
  cidr: string;
}

export const SSH_PORT = 22;

async function findByName(ec2: EC2Client, groupName: string): Promise<SecurityGroup | undefined> {
  const out = await call('DescribeSecurityGroups', () =>
    ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: [groupName] }] })),
  );
  return out.SecurityGroups?.find((g) => g.GroupName === groupName);
}

const isSsh = (p: IpPermission): boolean => p.IpProtocol === 'tcp' && p.FromPort === SSH_PORT && p.ToPort === SSH_PORT;

/** The ingress permissions to revoke: everything but tcp/22 from `cidr`. */
export function extraIngress(perms: IpPermission[], cidr: string): IpPermission[] {
  const out: IpPermission[] = [];
  for (const p of perms) {
    const ranges = (p.IpRanges ?? []).filter((r) => !(isSsh(p) && r.CidrIp === cidr)).map((r) => ({ CidrIp: r.CidrIp }));
    const groups = (p.UserIdGroupPairs ?? []).map((g) => ({ GroupId: g.GroupId }));
    const v6 = (p.Ipv6Ranges ?? []).map((r) => ({ CidrIpv6: r.CidrIpv6 }));
    const lists = (p.PrefixListIds ?? []).map((l) => ({ PrefixListId: l.PrefixListId }));
    if (!ranges.length && !groups.length && !v6.length && !lists.length) continue;
    out.push({
      IpProtocol: p.IpProtocol,
      ...(p.FromPort !== undefined ? { FromPort: p.FromPort } : {}),
      ...(p.ToPort !== undefined ? { ToPort: p.ToPort } : {}),
      ...(ranges.length ? { IpRanges: ranges } : {}),
      ...(groups.length ? { UserIdGroupPairs: groups } : {}),
      ...(v6.length ? { Ipv6Ranges: v6 } : {}),
      ...(lists.length ? { PrefixListIds: lists } : {}),
    });
  }
  return out;
}

const hasSsh = (perms: IpPermission[], cidr: string): boolean => perms.some((p) => isSsh(p) && (p.IpRanges ?? []).some((r) => r.CidrIp === cidr));

async function create(ec2: EC2Client, req: GroupRequest): Promise<SecurityGroup> {
  try {
    const out = await ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: req.groupName,
        Description: `spotbatch job ${req.jobId}: ssh from ${req.cidr}`,
        TagSpecifications: [{ ResourceType: 'security-group', Tags: req.tags }],
      }),
    );
    if (!out.GroupId) throw new TransientError(`CreateSecurityGroup: answer for ${req.groupName} in ${req.region} lacks the group id`);
    return { GroupId: out.GroupId, GroupName: req.groupName, IpPermissions: [], Tags: req.tags };
  } catch (err) {
    if (awsCode(err) !== 'InvalidGroup.Duplicate') throw translateAwsError('CreateSecurityGroup', err);
    const found = await findByName(ec2, req.groupName);
    if (!found) throw new TransientError(`CreateSecurityGroup: ${req.groupName} in ${req.region} is a duplicate but cannot be found yet`);
    return found;
  }
}

/** Find or make the group and leave exactly one ingress rule on it; its id. */
export async function ensureSecurityGroup(ec2: EC2Client, req: GroupRequest, log?: Logger): Promise<string> {
  const { region, groupName, cidr } = req;
  let group = await findByName(ec2, groupName);
  if (group) {
    if (!ownedBy(group.Tags, req.fleet, req.jobId)) {
      throw new PermanentError(`security: security group ${groupName} in ${region} exists and is not fleet ${req.fleet}'s job ${req.jobId}'s (its tags: ${ownerOf(group.Tags)})`);
    }
    log?.debug({ region, groupName, groupId: group.GroupId }, 'security group already exists');
  } else {
    group = await create(ec2, req);
    log?.info({ region, groupName, groupId: group.GroupId, cidr }, 'security group created');
  }
  const groupId = group.GroupId!;
  const perms = group.IpPermissions ?? [];
  if (!hasSsh(perms, cidr)) {
    // A group made moments ago may answer InvalidGroup.NotFound by id for a while (EC2 eventual consistency).
    await callOr(
      'AuthorizeSecurityGroupIngress',
      () =>
        untilVisible(() =>
          ec2.send(
            new AuthorizeSecurityGroupIngressCommand({
              GroupId: groupId,
              IpPermissions: [{ IpProtocol: 'tcp', FromPort: SSH_PORT, ToPort: SSH_PORT, IpRanges: [{ CidrIp: cidr, Description: 'spotbatch ssh' }] }],
            }),
          ),
        ),
      ['InvalidPermission.Duplicate'],
    );
  }
  const extra = extraIngress(perms, cidr);
  if (extra.length) {
    await callOr('RevokeSecurityGroupIngress', () => untilVisible(() => ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: extra }))), [
      'InvalidPermission.NotFound',
    ]);
    log?.info({ region, groupId, revoked: extra.length }, 'security group: other ingress rules revoked');
  }
  return groupId;
}

/** Delete every group of the region tagged with the fleet and the job; DependencyViolation (an instance still uses it) is a TransientError. */
export async function deleteSecurityGroups(ec2: EC2Client, region: string, owner: { fleet: string; jobId: string }, log?: Logger): Promise<string[]> {
  const Filters = [
    { Name: `tag:${FLEET_TAG}`, Values: [owner.fleet] },
    { Name: `tag:${JOB_TAG}`, Values: [owner.jobId] },
  ];
  const out = await call('DescribeSecurityGroups', () => ec2.send(new DescribeSecurityGroupsCommand({ Filters })));
  const deleted: string[] = [];
  for (const g of out.SecurityGroups ?? []) {
    if (!g.GroupId || !ownedBy(g.Tags, owner.fleet, owner.jobId)) continue;
    try {
      await ec2.send(new DeleteSecurityGroupCommand({ GroupId: g.GroupId }));
    } catch (err) {
      const code = awsCode(err);
      if (code === 'InvalidGroup.NotFound') continue;
      if (code === 'DependencyViolation') {
        throw new TransientError(`DeleteSecurityGroup: ${g.GroupId} in ${region} is still in use (DependencyViolation); retry once the job's instances are gone`);
      }
      throw translateAwsError('DeleteSecurityGroup', err);
    }
    log?.info({ region, groupId: g.GroupId, groupName: g.GroupName }, 'security group deleted');
    deleted.push(`security-group:${region}:${g.GroupId}`);
  }
  return deleted;
}
