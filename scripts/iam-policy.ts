/**
 * The least-privilege IAM policies of the deployed programs, built from the
 * actions scripts/iam-actions.ts derives from the code (plus IMPLICIT below),
 * with resources narrowed to the fleet's names. `npm run docs:gen` writes them
 * to deploy/iam/*.json and into deploy/cloudformation.yaml; test/deploy/iam.test.ts
 * fails when either is stale.
 *
 * Strings hold CloudFormation `Fn::Sub` variables: ${Prefix} (the fleet's name
 * prefix), ${ArtifactBucket}, ${CheckpointBucket}, ${JobBoundary} (the ARN of the
 * job-role permissions boundary), ${AWS::Partition}, ${AWS::Region},
 * ${AWS::AccountId}. deploy/README.md says how to fill them by hand.
 */
import { QUEUE_KINDS, dlqName, queueName } from '../shared/queues.js';
import { tableDefinitions } from '../shared/store/tables.js';
import { BOUNDARY_PATH, boundaryPolicyName, defaultBoundaryDocument } from '../services/security/boundary.js';
import { FLEET_TAG, JOB_TAG, jobIamPath } from '../services/security/names.js';
import { programActions, type Program } from './iam-actions.js';

/**
 * What AWS checks although no command of the code names it (each added only
 * when the action that causes it is derived):
 * - iam:PassRole: RequestSpotInstances / RunInstances name the job's instance
 *   profile, and AddRoleToInstanceProfile puts a role in one; both pass the
 *   role ("Use an IAM role to grant permissions to applications running on
 *   Amazon EC2 instances", IAM User Guide).
 * - iam:CreateServiceLinkedRole: the first Spot request of an account makes
 *   the AWSServiceRoleForEC2Spot service-linked role ("Service-linked role for
 *   Spot Instance requests", EC2 User Guide).
 * - s3:ListBucket: without it, S3 answers a read of a missing key with 403
 *   AccessDenied instead of 404 NoSuchKey (GetObject/HeadObject API
 *   reference, "Permissions"); the stores read "missing" from the 404.
 * - iam:TagRole, iam:TagInstanceProfile, iam:TagPolicy: CreateRole,
 *   CreateInstanceProfile and CreatePolicy are sent with Tags, and IAM
 *   authorizes tags given on create with the Tag action too ("Permissions
 *   required to tag IAM resources", IAM User Guide).
 */
export const IMPLICIT: ReadonlyArray<{ when: string; add: string }> = [
  { when: 'ec2:RequestSpotInstances', add: 'iam:PassRole' },
  { when: 'ec2:RunInstances', add: 'iam:PassRole' },
  { when: 'iam:AddRoleToInstanceProfile', add: 'iam:PassRole' },
  { when: 'ec2:RequestSpotInstances', add: 'iam:CreateServiceLinkedRole' },
  { when: 's3:GetObject', add: 's3:ListBucket' },
  { when: 'iam:CreateRole', add: 'iam:TagRole' },
  { when: 'iam:CreateInstanceProfile', add: 'iam:TagInstanceProfile' },
  { when: 'iam:CreatePolicy', add: 'iam:TagPolicy' },
];

/** The derived actions of a program plus the implicit ones they bring. */
export function policyActions(program: Program): string[] {
  const actions = new Set(programActions(program));
  for (const i of IMPLICIT) if (actions.has(i.when)) actions.add(i.add);
  return [...actions].sort();
}

/**
 * Job roles and instance profiles live under the fleet's path /spotbatch/${Prefix}/jobs/ (services/security/names.ts
 * jobIamPath): every IAM statement on them names that path, so no statement reaches another fleet's job roles, the
 * stack's own roles (/spotbatch/) or anyone else's. (The market probe's calls are the operator's, from the CLI: the
 * programs here never send them, so nothing here grants what the probe does.)
 */
const JOB_IAM_PATH = jobIamPath('${Prefix}');
/** The fleet's tag: on everything the fleet makes for a job, with the job tag (services/model/model.ts resourceTags). */
const FLEET = { [`aws:RequestTag/${FLEET_TAG}`]: '${Prefix}' };
const FLEET_RESOURCE = { [`ec2:ResourceTag/${FLEET_TAG}`]: '${Prefix}' };

const P = 'arn:${AWS::Partition}';
const ec2Arn = (type: string) => (type === 'image' || type === 'snapshot' ? `${P}:ec2:*::${type}/*` : `${P}:ec2:*:\${AWS::AccountId}:${type}/*`);
const iamArn = (what: string) => `${P}:iam::\${AWS::AccountId}:${what}`;

/**
 * EC2 creates: the resource types each one makes (tagged at creation, so conditioned on the request tags) and
 * those it only uses. A security group a launch uses must carry the fleet's tag (`fleetUses`); subnets (and
 * network interfaces, images, key pairs) are not narrowed: the fleet launches into the account's default
 * subnets, which carry no tag of the fleet (docs/security.md says so).
 */
const EC2_CREATES: Record<string, { makes: string[]; uses: string[]; fleetUses?: string[] }> = {
  RequestSpotInstances: { makes: ['spot-instances-request'], uses: ['image', 'key-pair', 'subnet', 'network-interface'], fleetUses: ['security-group'] },
  RunInstances: { makes: ['instance'], uses: ['image', 'key-pair', 'subnet', 'network-interface', 'volume'], fleetUses: ['security-group'] },
  CreateKeyPair: { makes: ['key-pair'], uses: [] },
  ImportKeyPair: { makes: ['key-pair'], uses: [] },
  CreateSecurityGroup: { makes: ['security-group'], uses: ['vpc'] },
  CopyImage: { makes: ['image', 'snapshot'], uses: [] },
};

/** EC2 changes to what exists: the resource type each acts on (conditioned on the resource's tag of this fleet). */
const EC2_CHANGES: Record<string, string> = {
  TerminateInstances: 'instance',
  CancelSpotInstanceRequests: 'spot-instances-request',
  DeleteKeyPair: 'key-pair',
  DeleteSecurityGroup: 'security-group',
  AuthorizeSecurityGroupIngress: 'security-group',
  RevokeSecurityGroupIngress: 'security-group',
  DeregisterImage: 'image',
  DeleteSnapshot: 'snapshot',
  StopInstances: 'instance',
};

/** IAM role actions that can change what an existing role may do: only on roles that carry the fleet's boundary (iam:PermissionsBoundary) and tag. */
const BOUNDED_ROLE_ACTIONS = new Set(['PutRolePolicy', 'DeleteRolePolicy', 'PutRolePermissionsBoundary', 'AttachRolePolicy', 'DetachRolePolicy']);
/** IAM actions that make (or tag on making) a job role or profile: only with the fleet's tag in the request. */
const IAM_CREATES = new Set(['CreateRole', 'TagRole', 'CreateInstanceProfile', 'TagInstanceProfile']);
/** IAM actions that remove or rewire an existing job role or profile: only on one carrying the fleet's tag. */
const IAM_CHANGES = new Set(['DeleteRole', 'DeleteInstanceProfile', 'AddRoleToInstanceProfile', 'RemoveRoleFromInstanceProfile']);
/** IAM reads of a job role or profile (they find "exists but not ours" too): the fleet's path only. */
const IAM_READS = new Set(['GetRole', 'GetInstanceProfile', 'ListRolePolicies', 'ListInstanceProfilesForRole', 'GetRolePolicy']);

interface Statement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Statement[];
}


/** The policy for a set of actions; throws on an action no rule here places (add its resources to this file). */
export function buildPolicy(actions: readonly string[]): PolicyDocument {
  const by = (service: string) => actions.filter((a) => a.startsWith(`${service}:`)).map((a) => a.slice(service.length + 1));
  const statements: Statement[] = [];
  const placed = new Set<string>();
  const push = (s: Statement) => {
    if (s.Action.length === 0) return;
    s.Action = [...new Set(s.Action)].sort();
    statements.push(s);
    for (const a of s.Action) placed.add(a);
  };
  const prefix = '${Prefix}';

  push({
    Sid: 'FleetQueues',
    Effect: 'Allow',
    Action: by('sqs').map((a) => `sqs:${a}`),
    Resource: QUEUE_KINDS.flatMap((k) => [queueName(prefix, k), dlqName(prefix, k)]).map((n) => `${P}:sqs:\${AWS::Region}:\${AWS::AccountId}:${n}`),
  });

  const tables = tableDefinitions(prefix);
  push({
    Sid: 'FleetTables',
    Effect: 'Allow',
    Action: by('dynamodb').map((a) => `dynamodb:${a}`),
    Resource: tables.flatMap((t) => {
      const arn = `${P}:dynamodb:\${AWS::Region}:\${AWS::AccountId}:table/${t.TableName}`;
      return t.GlobalSecondaryIndexes?.length ? [arn, `${arn}/index/*`] : [arn];
    }),
  });

  const buckets = ['${ArtifactBucket}', '${CheckpointBucket}'];
  const s3 = by('s3');
  const bucketLevel = new Set(['ListBucket', 'ListBucketMultipartUploads', 'GetBucketLocation', 'ListBucketVersions']);
  push({ Sid: 'FleetBuckets', Effect: 'Allow', Action: s3.filter((a) => bucketLevel.has(a)).map((a) => `s3:${a}`), Resource: buckets.map((b) => `${P}:s3:::${b}`) });
  push({ Sid: 'FleetObjects', Effect: 'Allow', Action: s3.filter((a) => !bucketLevel.has(a)).map((a) => `s3:${a}`), Resource: buckets.map((b) => `${P}:s3:::${b}/*`) });

  const ec2 = by('ec2');
  // Describe and Get actions support no resource-level permissions: Resource "*" (EC2 "Actions, resources, and condition keys").
  push({ Sid: 'Ec2Read', Effect: 'Allow', Action: ec2.filter((a) => /^(Describe|Get)/.test(a)).map((a) => `ec2:${a}`), Resource: '*' });
  const creates = ec2.filter((a) => EC2_CREATES[a]);
  // One statement per create, naming only what it makes: aws:RequestTag is checked on every resource a request
  // names, so RunInstances in a statement that also lets CreateSecurityGroup make groups could use any group.
  for (const a of creates) {
    push({
      Sid: `Ec2${a}Tagged`,
      Effect: 'Allow',
      Action: [`ec2:${a}`],
      Resource: EC2_CREATES[a]!.makes.map(ec2Arn).sort(),
      Condition: { StringEquals: FLEET, StringLike: { [`aws:RequestTag/${JOB_TAG}`]: '?*' } },
    });
  }
  // What a create only names (its image, subnet, key pair ...): one statement per action, so that
  // RequestSpotInstances naming a security group never lets CreateSecurityGroup make an untagged one.
  for (const a of creates) {
    if (EC2_CREATES[a]!.uses.length) push({ Sid: `Ec2${a}Uses`, Effect: 'Allow', Action: [`ec2:${a}`], Resource: EC2_CREATES[a]!.uses.map(ec2Arn).sort() });
  }
  // A launch's security group: only one of this fleet's.
  const fleetUses = creates.filter((a) => EC2_CREATES[a]!.fleetUses?.length);
  push({
    Sid: 'Ec2LaunchFleetGroups',
    Effect: 'Allow',
    Action: fleetUses.map((a) => `ec2:${a}`),
    Resource: [...new Set(fleetUses.flatMap((a) => EC2_CREATES[a]!.fleetUses!))].sort().map(ec2Arn),
    Condition: { StringEquals: FLEET_RESOURCE },
  });
  /** An instance launched with one of the fleet's job instance profiles (EC2's ec2:InstanceProfile condition key on instances). */
  const jobInstance = { ArnLike: { 'ec2:InstanceProfile': iamArn(`instance-profile${JOB_IAM_PATH}*`) } };
  if (ec2.includes('CreateTags')) {
    // Tags given with a create ("Grant permission to tag Amazon EC2 resources during creation"), always with the fleet's tag.
    push({ Sid: 'Ec2TagOnCreate', Effect: 'Allow', Action: ['ec2:CreateTags'], Resource: '*', Condition: { StringEquals: { 'ec2:CreateAction': creates, ...FLEET } } });
    // A Spot request's tags do not reach its instance: the fleet tags the instance afterwards, with the job's user
    // tags (any keys) and its fleet and job tags. Only an instance running with one of the fleet's job profiles.
    push({
      Sid: 'Ec2TagJobInstances',
      Effect: 'Allow',
      Action: ['ec2:CreateTags'],
      Resource: ec2Arn('instance'),
      Condition: { StringEquals: FLEET, StringLike: { [`aws:RequestTag/${JOB_TAG}`]: '?*' }, ...jobInstance },
    });
  }
  const changes = ec2.filter((a) => EC2_CHANGES[a]);
  push({
    Sid: 'Ec2ChangeTagged',
    Effect: 'Allow',
    Action: changes.map((a) => `ec2:${a}`),
    Resource: [...new Set(changes.map((a) => EC2_CHANGES[a]!))].sort().map(ec2Arn),
    Condition: { StringEquals: FLEET_RESOURCE },
  });
  // An instance its Spot request launched carries no tag until spot.check tags it: one with a job profile of the fleet may be stopped too.
  const stops = changes.filter((a) => EC2_CHANGES[a] === 'instance');
  push({ Sid: 'Ec2StopJobInstances', Effect: 'Allow', Action: stops.map((a) => `ec2:${a}`), Resource: ec2Arn('instance'), Condition: jobInstance });

  const iam = by('iam');
  const jobRole = iamArn(`role${JOB_IAM_PATH}*`);
  const jobProfile = iamArn(`instance-profile${JOB_IAM_PATH}*`);
  /** The job profiles for profile actions, the job roles for role actions (AddRoleTo/RemoveRoleFromInstanceProfile name both). */
  const jobRoleOrProfile = (actions: string[]): string | string[] => {
    const out = [
      ...(actions.some((a) => /InstanceProfile$/.test(a)) ? [jobProfile] : []),
      ...(actions.some((a) => !/InstanceProfile$/.test(a) || /Role(To|From)InstanceProfile$/.test(a)) ? [jobRole] : []),
    ];
    return out.length === 1 ? out[0]! : out;
  };
  const fleetTagged = { StringEquals: { [`aws:ResourceTag/${FLEET_TAG}`]: '${Prefix}' } };
  const boundary = { 'iam:PermissionsBoundary': '${JobBoundary}' };
  // "Condition keys for IAM": iam:PermissionsBoundary, the boundary the role has or gets; aws:RequestTag and aws:ResourceTag, the fleet's tag.
  push({ Sid: 'JobRolesCreate', Effect: 'Allow', Action: iam.filter((a) => a === 'CreateRole').map((a) => `iam:${a}`), Resource: jobRole, Condition: { StringEquals: { ...boundary, ...FLEET } } });
  const tagOnCreate = iam.filter((a) => IAM_CREATES.has(a) && a !== 'CreateRole');
  push({ Sid: 'JobRolesTagged', Effect: 'Allow', Action: tagOnCreate.map((a) => `iam:${a}`), Resource: jobRoleOrProfile(tagOnCreate), Condition: { StringEquals: FLEET } });
  push({
    Sid: 'JobRolesBounded',
    Effect: 'Allow',
    Action: iam.filter((a) => BOUNDED_ROLE_ACTIONS.has(a)).map((a) => `iam:${a}`),
    Resource: jobRole,
    Condition: { StringEquals: { ...boundary, [`aws:ResourceTag/${FLEET_TAG}`]: '${Prefix}' } },
  });
  const changesIam = iam.filter((a) => IAM_CHANGES.has(a));
  push({ Sid: 'JobRolesChange', Effect: 'Allow', Action: changesIam.map((a) => `iam:${a}`), Resource: jobRoleOrProfile(changesIam), Condition: fleetTagged });
  const reads = iam.filter((a) => IAM_READS.has(a));
  push({ Sid: 'JobRolesRead', Effect: 'Allow', Action: reads.map((a) => `iam:${a}`), Resource: jobRoleOrProfile(reads) });
  if (iam.includes('PassRole')) {
    push({ Sid: 'PassJobRoles', Effect: 'Allow', Action: ['iam:PassRole'], Resource: jobRole, Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } } });
  }
  if (iam.includes('CreateServiceLinkedRole')) {
    push({
      Sid: 'SpotServiceLinkedRole',
      Effect: 'Allow',
      Action: ['iam:CreateServiceLinkedRole'],
      Resource: iamArn('role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot'),
      Condition: { StringLike: { 'iam:AWSServiceName': 'spot.amazonaws.com' } },
    });
  }
  // The default boundary (services/security/boundary.ts): the template makes it, so these only find it.
  push({ Sid: 'BoundaryPolicy', Effect: 'Allow', Action: iam.filter((a) => a === 'GetPolicy' || a === 'CreatePolicy' || a === 'TagPolicy').map((a) => `iam:${a}`), Resource: iamArn(`policy${BOUNDARY_PATH}${boundaryPolicyName(prefix)}`) });
  // ListPolicies supports no resource-level permission (IAM "Actions, resources, and condition keys").
  push({ Sid: 'ListPolicies', Effect: 'Allow', Action: iam.filter((a) => a === 'ListPolicies').map((a) => `iam:${a}`), Resource: '*' });

  const unplaced = actions.filter((a) => !placed.has(a));
  if (unplaced.length) throw new Error(`no resource rule for ${unplaced.join(', ')}: add one to scripts/iam-policy.ts`);
  return { Version: '2012-10-17', Statement: statements };
}

/** The policy files under deploy/iam/, by program. */
export const POLICY_FILES: Record<Program, string> = {
  dispatcher: 'deploy/iam/dispatcher-policy.json',
  'status-page': 'deploy/iam/status-page-policy.json',
};

export function policyText(program: Program): string {
  return `${JSON.stringify(buildPolicy(policyActions(program)), null, 2)}\n`;
}

/** A value for CloudFormation: every string with a ${...} becomes {"Fn::Sub": string}; IAM's own ${aws:...} variables are kept as ${!aws:...}. */
function forTemplate(value: unknown): unknown {
  if (typeof value === 'string') return value.includes('${') ? { 'Fn::Sub': value.replaceAll('${aws:', '${!aws:') } : value;
  if (Array.isArray(value)) return value.map(forTemplate);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, forTemplate(v)]));
  return value;
}

/** The generated blocks of deploy/cloudformation.yaml: the programs' policies and the job-role boundary (with the fleet's buckets denied). */
export function templateBlocks(): Array<{ name: string; source: string; document: unknown }> {
  return [
    ...(Object.keys(POLICY_FILES) as Program[]).map((program) => ({ name: `${program}-policy`, source: POLICY_FILES[program], document: buildPolicy(policyActions(program)) })),
    { name: 'job-boundary', source: 'services/security/boundary.ts', document: JSON.parse(defaultBoundaryDocument('${Prefix}', ['${ArtifactBucket}', '${CheckpointBucket}'])) as unknown },
  ];
}

const marker = (name: string, source: string, end: boolean) => `# ${end ? 'END' : 'BEGIN'} ${name} (generated by npm run docs:gen from ${source})`;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The template with each generated block written between its markers (JSON is YAML). */
export function withTemplatePolicies(template: string): string {
  let out = template;
  for (const { name, source, document } of templateBlocks()) {
    const begin = marker(name, source, false);
    const end = marker(name, source, true);
    const re = new RegExp(`^([ \\t]*)${escape(begin)}\\n[\\s\\S]*?^[ \\t]*${escape(end)}$`, 'm');
    const m = re.exec(out);
    if (!m) throw new Error(`deploy/cloudformation.yaml lacks the lines "${begin}" and "${end}"`);
    const indent = m[1]!;
    const body = JSON.stringify(forTemplate(document), null, 2)
      .split('\n')
      .map((l) => `${indent}${l}`)
      .join('\n');
    out = out.replace(re, () => `${indent}${begin}\n${body}\n${indent}${end}`);
  }
  return out;
}
