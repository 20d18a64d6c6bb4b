/** CreateSecurityGroup, AuthorizeSecurityGroupIngress, RevokeSecurityGroupIngress, DeleteSecurityGroup, DescribeSecurityGroups. */
import type {
  AuthorizeSecurityGroupIngressCommandInput,
  AuthorizeSecurityGroupIngressCommandOutput,
  CreateSecurityGroupCommandInput,
  CreateSecurityGroupCommandOutput,
  DeleteSecurityGroupCommandInput,
  DeleteSecurityGroupCommandOutput,
  DescribeSecurityGroupsCommandInput,
  DescribeSecurityGroupsCommandOutput,
  IpPermission,
  RevokeSecurityGroupIngressCommandInput,
  RevokeSecurityGroupIngressCommandOutput,
  SecurityGroup,
} from '@aws-sdk/client-ec2';
import {
  AuthorizeSecurityGroupIngress$,
  CreateSecurityGroup$,
  DeleteSecurityGroup$,
  DescribeSecurityGroups$,
  RevokeSecurityGroupIngress$,
} from '@aws-sdk/client-ec2';
import { action } from '../context.js';
import type { CallContext } from '../context.js';
import { ACCOUNT_ID, ids } from '../ids.js';
import { ApiError, invalidParameter, required } from '../protocol/errors.js';
import { applyFilters, tagFilterValues } from '../protocol/filters.js';
import { paginate } from '../protocol/paginate.js';
import { tagList } from '../state/records.js';
import type { SecurityGroupRecord, SgRule } from '../state/records.js';
import { tagsFor } from './tags.js';

type Out<T> = Omit<T, '$metadata'>;

export function defaultVpc(call: CallContext): string {
  let vpc = call.sim.world.vpcs.get(call.region);
  if (!vpc) {
    vpc = ids.vpc();
    call.sim.world.vpcs.set(call.region, vpc);
  }
  return vpc;
}

/** The region's default group, created on first use. */
export function defaultGroup(call: CallContext): SecurityGroupRecord {
  for (const g of call.sim.world.inRegion(call.sim.world.securityGroups, call.region)) if (g.isDefault) return g;
  const g: SecurityGroupRecord = {
    groupId: ids.securityGroup(),
    groupName: 'default',
    description: 'default VPC security group',
    region: call.region,
    vpcId: defaultVpc(call),
    ingress: [],
    egress: [{ ruleId: ids.securityGroupRule(), protocol: '-1', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' }],
    tags: new Map(),
    isDefault: true,
  };
  g.ingress.push({ ruleId: ids.securityGroupRule(), protocol: '-1', fromPort: -1, toPort: -1, sourceGroupId: g.groupId });
  call.sim.world.securityGroups.set(g.groupId, g);
  return g;
}

/** Find a group by id or name in the call's region, or InvalidGroup.NotFound. */
export function findGroup(call: CallContext, groupId?: string, groupName?: string): SecurityGroupRecord {
  if (!groupId && !groupName) throw new ApiError('MissingParameter', 'The request must contain the parameter GroupId or GroupName');
  if (groupName === 'default' && !groupId) return defaultGroup(call);
  const w = call.sim.world;
  const g = groupId ? w.securityGroups.get(groupId) : [...w.inRegion(w.securityGroups, call.region)].find((x) => x.groupName === groupName);
  // By id, a group made moments ago may not be visible yet (eventual consistency).
  if (!g || g.region !== call.region || (groupId !== undefined && call.sim.consistency.hidden(groupId))) {
    throw new ApiError('InvalidGroup.NotFound', `The security group '${groupId ?? groupName}' does not exist`);
  }
  return g;
}

const PROTOCOLS: Record<string, string> = { tcp: 'tcp', '6': 'tcp', udp: 'udp', '17': 'udp', icmp: 'icmp', '1': 'icmp', '-1': '-1', all: '-1' };

function rulesOf(perms: IpPermission[], param: string): Omit<SgRule, 'ruleId'>[] {
  const out: Omit<SgRule, 'ruleId'>[] = [];
  perms.forEach((p, i) => {
    const protocol = PROTOCOLS[(p.IpProtocol ?? '').toLowerCase()];
    if (!protocol) throw invalidParameter(`${param}.${i + 1}.IpProtocol`, `'${p.IpProtocol ?? ''}' is not tcp, udp, icmp or -1`);
    const all = protocol === '-1';
    const fromPort = all ? -1 : p.FromPort;
    const toPort = all ? -1 : p.ToPort;
    if (fromPort === undefined) throw new ApiError('MissingParameter', `The request must contain the parameter ${param}.${i + 1}.FromPort`);
    if (toPort === undefined) throw new ApiError('MissingParameter', `The request must contain the parameter ${param}.${i + 1}.ToPort`);
    if (!all && protocol !== 'icmp' && (fromPort < 0 || toPort > 65535 || fromPort > toPort)) {
      throw invalidParameter(`${param}.${i + 1}.FromPort`, `invalid port range ${fromPort}-${toPort}`);
    }
    const sources = [
      ...(p.IpRanges ?? []).map((r) => ({ cidr: r.CidrIp, description: r.Description })),
      ...(p.UserIdGroupPairs ?? []).map((g) => ({ sourceGroupId: g.GroupId, description: g.Description })),
    ];
    if (sources.length === 0) throw new ApiError('MissingParameter', `The request must contain the parameter ${param}.${i + 1}.IpRanges`);
    for (const s of sources) {
      if ('cidr' in s) {
        if (!s.cidr || !/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(s.cidr)) {
          throw invalidParameter(`${param}.${i + 1}.IpRanges.CidrIp`, `'${s.cidr ?? ''}' is not a valid CIDR block`);
        }
        out.push({ protocol, fromPort, toPort, cidr: s.cidr, description: s.description });
      } else {
        out.push({ protocol, fromPort, toPort, sourceGroupId: s.sourceGroupId, description: s.description });
      }
    }
  });
  return out;
}

function legacyPermissions(input: AuthorizeSecurityGroupIngressCommandInput): IpPermission[] {
  if (input.IpPermissions?.length) return input.IpPermissions;
  if (input.IpProtocol || input.CidrIp) {
    return [{ IpProtocol: input.IpProtocol, FromPort: input.FromPort, ToPort: input.ToPort, IpRanges: input.CidrIp ? [{ CidrIp: input.CidrIp }] : [] }];
  }
  throw new ApiError('MissingParameter', 'The request must contain the parameter IpPermissions');
}

const sameRule = (a: Omit<SgRule, 'ruleId'>, b: Omit<SgRule, 'ruleId'>): boolean =>
  a.protocol === b.protocol && a.fromPort === b.fromPort && a.toPort === b.toPort && a.cidr === b.cidr && a.sourceGroupId === b.sourceGroupId;

/** Rules grouped back into IpPermissions, as DescribeSecurityGroups answers. */
function permissions(rules: SgRule[]): IpPermission[] {
  const groups = new Map<string, IpPermission>();
  for (const r of rules) {
    const key = `${r.protocol}|${r.fromPort}|${r.toPort}`;
    let p = groups.get(key);
    if (!p) {
      p = { IpProtocol: r.protocol, IpRanges: [], UserIdGroupPairs: [], Ipv6Ranges: [], PrefixListIds: [] };
      if (r.protocol !== '-1') {
        p.FromPort = r.fromPort;
        p.ToPort = r.toPort;
      }
      groups.set(key, p);
    }
    if (r.cidr) p.IpRanges!.push({ CidrIp: r.cidr, ...(r.description ? { Description: r.description } : {}) });
    if (r.sourceGroupId) p.UserIdGroupPairs!.push({ GroupId: r.sourceGroupId, UserId: ACCOUNT_ID });
  }
  return [...groups.values()];
}

function describe(g: SecurityGroupRecord): SecurityGroup {
  return {
    GroupId: g.groupId,
    GroupName: g.groupName,
    Description: g.description,
    OwnerId: ACCOUNT_ID,
    VpcId: g.vpcId,
    IpPermissions: permissions(g.ingress),
    IpPermissionsEgress: permissions(g.egress),
    Tags: tagList(g.tags),
    SecurityGroupArn: `arn:aws:ec2:${g.region}:${ACCOUNT_ID}:security-group/${g.groupId}`,
  };
}

export const securityGroupActions = {
  CreateSecurityGroup: action<CreateSecurityGroupCommandInput, Out<CreateSecurityGroupCommandOutput>>(CreateSecurityGroup$, (input, call) => {
    const name = required(input.GroupName, 'GroupName');
    const description = required(input.Description, 'GroupDescription');
    if (name.length > 255 || name.startsWith('sg-')) throw invalidParameter('GroupName', 'must be at most 255 characters and not start with sg-');
    if (name === 'default') throw invalidParameter('GroupName', "'default' is reserved");
    const vpcId = input.VpcId ?? defaultVpc(call);
    if (vpcId !== defaultVpc(call)) throw new ApiError('InvalidVpcID.NotFound', `The vpc ID '${vpcId}' does not exist`);
    const w = call.sim.world;
    if ([...w.inRegion(w.securityGroups, call.region)].some((g) => g.groupName === name)) {
      throw new ApiError('InvalidGroup.Duplicate', `The security group '${name}' already exists for VPC '${vpcId}'`);
    }
    const g: SecurityGroupRecord = {
      groupId: ids.securityGroup(),
      groupName: name,
      description,
      region: call.region,
      vpcId,
      ingress: [],
      egress: [{ ruleId: ids.securityGroupRule(), protocol: '-1', fromPort: -1, toPort: -1, cidr: '0.0.0.0/0' }],
      tags: tagsFor(input.TagSpecifications, 'security-group'),
      isDefault: false,
    };
    w.securityGroups.set(g.groupId, g);
    call.sim.consistency.createdNow(g.groupId);
    return { GroupId: g.groupId, Tags: tagList(g.tags), SecurityGroupArn: describe(g).SecurityGroupArn };
  }),

  AuthorizeSecurityGroupIngress: action<AuthorizeSecurityGroupIngressCommandInput, Out<AuthorizeSecurityGroupIngressCommandOutput>>(
    AuthorizeSecurityGroupIngress$,
    (input, call) => {
      const g = findGroup(call, input.GroupId, input.GroupName);
      const rules = rulesOf(legacyPermissions(input), 'IpPermissions');
      for (const r of rules) {
        if (g.ingress.some((x) => sameRule(x, r)) || rules.filter((x) => sameRule(x, r)).length > 1) {
          throw new ApiError(
            'InvalidPermission.Duplicate',
            `the specified rule "peer: ${r.cidr ?? r.sourceGroupId}, ${r.protocol.toUpperCase()}, from port: ${r.fromPort}, to port: ${r.toPort}, ALLOW" already exists`,
          );
        }
      }
      const added = rules.map((r) => ({ ...r, ruleId: ids.securityGroupRule() }));
      g.ingress.push(...added);
      return {
        Return: true,
        SecurityGroupRules: added.map((r) => ({
          SecurityGroupRuleId: r.ruleId,
          GroupId: g.groupId,
          GroupOwnerId: ACCOUNT_ID,
          IsEgress: false,
          IpProtocol: r.protocol,
          FromPort: r.fromPort,
          ToPort: r.toPort,
          ...(r.cidr ? { CidrIpv4: r.cidr } : {}),
          ...(r.sourceGroupId ? { ReferencedGroupInfo: { GroupId: r.sourceGroupId, UserId: ACCOUNT_ID } } : {}),
          ...(r.description ? { Description: r.description } : {}),
        })),
      };
    },
  ),

  RevokeSecurityGroupIngress: action<RevokeSecurityGroupIngressCommandInput, Out<RevokeSecurityGroupIngressCommandOutput>>(
    RevokeSecurityGroupIngress$,
    (input, call) => {
      const g = findGroup(call, input.GroupId, input.GroupName);
      if (input.SecurityGroupRuleIds?.length) {
        for (const id of input.SecurityGroupRuleIds) {
          if (!g.ingress.some((r) => r.ruleId === id)) throw new ApiError('InvalidSecurityGroupRuleId.NotFound', `The security group rule ID '${id}' does not exist`);
        }
        g.ingress = g.ingress.filter((r) => !input.SecurityGroupRuleIds!.includes(r.ruleId));
        return { Return: true };
      }
      const rules = rulesOf(legacyPermissions(input), 'IpPermissions');
      for (const r of rules) {
        if (!g.ingress.some((x) => sameRule(x, r))) {
          throw new ApiError('InvalidPermission.NotFound', 'The specified rule does not exist in this security group.');
        }
      }
      g.ingress = g.ingress.filter((x) => !rules.some((r) => sameRule(x, r)));
      return { Return: true };
    },
  ),

  DeleteSecurityGroup: action<DeleteSecurityGroupCommandInput, Out<DeleteSecurityGroupCommandOutput>>(DeleteSecurityGroup$, (input, call) => {
    const g = findGroup(call, input.GroupId, input.GroupName);
    if (g.isDefault) throw new ApiError('CannotDelete', 'the specified group: "default" name: "default" cannot be deleted by a user');
    const w = call.sim.world;
    for (const inst of w.instances.values()) {
      if (inst.state !== 'terminated' && inst.groupIds.includes(g.groupId)) {
        throw new ApiError('DependencyViolation', `resource ${g.groupId} has a dependent object`);
      }
    }
    for (const other of w.securityGroups.values()) {
      if (other !== g && other.ingress.some((r) => r.sourceGroupId === g.groupId)) {
        throw new ApiError('DependencyViolation', `resource ${g.groupId} has a dependent object`);
      }
    }
    w.securityGroups.delete(g.groupId);
    return { Return: true, GroupId: g.groupId };
  }),

  DescribeSecurityGroups: action<DescribeSecurityGroupsCommandInput, Out<DescribeSecurityGroupsCommandOutput>>(DescribeSecurityGroups$, (input, call) => {
    defaultGroup(call);
    const w = call.sim.world;
    let items = [...w.inRegion(w.securityGroups, call.region)];
    for (const id of input.GroupIds ?? []) {
      if (!items.some((g) => g.groupId === id)) throw new ApiError('InvalidGroup.NotFound', `The security group '${id}' does not exist`);
    }
    for (const name of input.GroupNames ?? []) {
      if (!items.some((g) => g.groupName === name)) {
        throw new ApiError('InvalidGroup.NotFound', `The security group '${name}' does not exist in default VPC '${defaultVpc(call)}'`);
      }
    }
    if (input.GroupIds?.length) items = items.filter((g) => input.GroupIds!.includes(g.groupId));
    if (input.GroupNames?.length) items = items.filter((g) => input.GroupNames!.includes(g.groupName));
    items = applyFilters(items, input.Filters, (g, name) => {
      switch (name) {
        case 'group-id':
          return [g.groupId];
        case 'group-name':
          return [g.groupName];
        case 'description':
          return [g.description];
        case 'vpc-id':
          return [g.vpcId];
        case 'owner-id':
          return [ACCOUNT_ID];
        case 'ip-permission.cidr':
          return g.ingress.map((r) => r.cidr);
        case 'ip-permission.from-port':
          return g.ingress.map((r) => String(r.fromPort));
        case 'ip-permission.to-port':
          return g.ingress.map((r) => String(r.toPort));
        case 'ip-permission.protocol':
          return g.ingress.map((r) => r.protocol);
        default:
          return tagFilterValues(g.tags, name);
      }
    });
    const page = paginate(items, input.MaxResults, input.NextToken);
    return { SecurityGroups: page.items.map(describe), NextToken: page.nextToken };
  }),
};
