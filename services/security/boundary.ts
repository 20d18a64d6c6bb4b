/**
 * The permissions boundary of job roles: the most any job role can ever do,
 * whatever its inline policy says. The fleet names it (security.permissionsBoundary);
 * `spotbatch setup` makes a default one where none is configured and IAM is an
 * emulator (`spotbatch local`, the simulator), and the deploy template makes it on AWS.
 */
import { CreatePolicyCommand, GetPolicyCommand, paginateListPolicies, type IAMClient } from '@aws-sdk/client-iam';
import type { Config } from '../../shared/config.js';
import { ConfigError, PermanentError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { awsCode, call, callOr, translateAwsError } from '../../shared/aws-errors.js';

/** The setting, as errors name it. */
export const BOUNDARY_SETTING = 'security.permissionsBoundary (SPOTBATCH_PERMISSIONS_BOUNDARY)';
/** Where spotbatch keeps its managed policies. */
export const BOUNDARY_PATH = '/spotbatch/';

export const boundaryPolicyName = (prefix: string): string => `${prefix}-job-boundary`;

/** The account the role belongs to (IAM policy variable): a resource must be in it (aws:ResourceAccount). */
export const SAME_ACCOUNT = { StringEquals: { 'aws:ResourceAccount': '${aws:PrincipalAccount}' } };

/**
 * The default boundary: a job may write its own logs (`/spotbatch/<job>`
 * log groups), read and write S3 objects of buckets in the fleet's own account,
 * publish metrics and pull container images from the account's own ECR
 * repositories; what it gets of that is what its inline policy names. It can
 * never touch IAM, STS, Organizations or the account, the fleet's queues and
 * tables, the fleet's artifact and checkpoint buckets, any EC2 resource
 * spotbatch tagged (instances, key pairs, security groups), nor a bucket or
 * repository of another account (a compromised dispatcher could otherwise
 * make a bounded role that copies data out). And a role under it acts only
 * from an EC2 instance (OnlyFromInstances): the dispatcher's CreateRole cannot
 * be limited to an EC2 trust policy (IAM has no condition key on the trust
 * document), so a role given another trust policy is useless to whoever
 * assumes it elsewhere.
 */
export function defaultBoundaryDocument(prefix: string, denyBuckets: readonly string[] = []): string {
  const buckets = [...new Set(denyBuckets)].flatMap((b) => [`arn:aws:s3:::${b}`, `arn:aws:s3:::${b}/*`]);
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'JobLogs',
        Effect: 'Allow',
        Action: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        // Its own job's log group only: the role carries the spotbatch:job tag (an instance cannot write into another job's logs).
        Resource: ['arn:aws:logs:*:*:log-group:/spotbatch/${aws:PrincipalTag/spotbatch:job}', 'arn:aws:logs:*:*:log-group:/spotbatch/${aws:PrincipalTag/spotbatch:job}:*'],
      },
      {
        // Buckets of the fleet's account only ("aws:ResourceAccount", AWS global condition context keys).
        Sid: 'JobData',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:PutObject', 's3:ListBucket', 's3:GetBucketLocation', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        Resource: '*',
        Condition: SAME_ACCOUNT,
      },
      {
        // Image pulls from the account's own repositories.
        Sid: 'JobImages',
        Effect: 'Allow',
        Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
        Resource: 'arn:aws:ecr:*:*:repository/*',
        Condition: SAME_ACCOUNT,
      },
      // No resource-level permissions (a registry login token; metric data): Resource "*".
      { Sid: 'JobMetricsAndRegistryLogin', Effect: 'Allow', Action: ['cloudwatch:PutMetricData', 'ecr:GetAuthorizationToken'], Resource: '*' },
      {
        // Credentials of an EC2 instance carry ec2:SourceInstanceARN; a session of the role assumed anywhere else does not.
        // What AWS services do on the job's behalf (aws:ViaAWSService) is left to their own checks.
        Sid: 'OnlyFromInstances',
        Effect: 'Deny',
        Action: '*',
        Resource: '*',
        Condition: { Null: { 'ec2:SourceInstanceARN': 'true' }, BoolIfExists: { 'aws:ViaAWSService': 'false' } },
      },
      { Sid: 'NoAccount', Effect: 'Deny', Action: ['iam:*', 'sts:*', 'organizations:*', 'account:*'], Resource: '*' },
      {
        Sid: 'NoFleet',
        Effect: 'Deny',
        Action: ['sqs:*', 'dynamodb:*', 'events:*'],
        Resource: [`arn:aws:sqs:*:*:${prefix}-*`, `arn:aws:dynamodb:*:*:table/${prefix}-*`, `arn:aws:events:*:*:rule/${prefix}-*`],
      },
      // The fleet's artifact and checkpoint buckets: what a dispatcher streams to an instance or restores from.
      ...(buckets.length ? [{ Sid: 'NoFleetBuckets', Effect: 'Deny', Action: 's3:*', Resource: buckets }] : []),
      { Sid: 'NoFleetEc2', Effect: 'Deny', Action: 'ec2:*', Resource: '*', Condition: { StringLike: { 'aws:ResourceTag/spotbatch:job': '*' } } },
    ],
  });
}

async function findDefault(iam: IAMClient, name: string): Promise<string | undefined> {
  return call('ListPolicies', async () => {
    for await (const page of paginateListPolicies({ client: iam }, { Scope: 'Local', PathPrefix: BOUNDARY_PATH })) {
      const hit = page.Policies?.find((p) => p.PolicyName === name);
      if (hit?.Arn) return hit.Arn;
    }
    return undefined;
  });
}

/** The fleet's default boundary policy `<prefix>-job-boundary`, made if missing (a present one is left as it is). */
export async function ensureDefaultBoundary(iam: IAMClient, prefix: string, denyBuckets: readonly string[] = [], log?: Logger): Promise<{ arn: string; created: boolean }> {
  const name = boundaryPolicyName(prefix);
  const found = await findDefault(iam, name);
  if (found) return { arn: found, created: false };
  try {
    const out = await iam.send(
      new CreatePolicyCommand({
        PolicyName: name,
        Path: BOUNDARY_PATH,
        PolicyDocument: defaultBoundaryDocument(prefix, denyBuckets),
        Description: `spotbatch fleet ${prefix}: the permissions boundary of every job role`,
        Tags: [{ Key: 'spotbatch:fleet', Value: prefix }],
      }),
    );
    if (!out.Policy?.Arn) throw new PermanentError(`CreatePolicy: the answer for ${name} lacks the ARN`);
    log?.info({ policyArn: out.Policy.Arn }, 'permissions boundary created');
    return { arn: out.Policy.Arn, created: true };
  } catch (err) {
    // Another setup made it meanwhile.
    if (awsCode(err) !== 'EntityAlreadyExists') throw translateAwsError('CreatePolicy', err);
    const arn = await findDefault(iam, name);
    if (!arn) throw new PermanentError(`CreatePolicy: ${name} exists but not under ${BOUNDARY_PATH}; set ${BOUNDARY_SETTING} to its ARN`);
    return { arn, created: false };
  }
}

export interface BoundarySetup {
  /** The boundary the dispatchers must use. */
  arn: string;
  /** Whether it came from the configuration (else: the default, made or found). */
  configured: boolean;
  /** Whether this run created it. */
  created: boolean;
}

/**
 * What `setup` does for job roles: a configured boundary must exist
 * (PermanentError naming the setting otherwise); without one, the default is
 * made (once: a second run changes nothing). A configured one that does not
 * exist is a ConfigError naming the setting.
 */
export async function setupBoundary(iam: IAMClient, config: Config, log?: Logger): Promise<BoundarySetup> {
  const configured = config.security.permissionsBoundary;
  if (configured) {
    const got = await callOr('GetPolicy', () => iam.send(new GetPolicyCommand({ PolicyArn: configured })), ['NoSuchEntity']);
    if (!got) throw new ConfigError([{ path: BOUNDARY_SETTING, rule: `names a policy that does not exist (${configured})` }]);
    return { arn: configured, configured: true, created: false };
  }
  return { ...(await ensureDefaultBoundary(iam, config.prefix, fleetBuckets(config), log)), configured: false };
}

/** The S3 buckets the fleet's configuration names (artifact store, checkpoint stores). */
export function fleetBuckets(config: Config): string[] {
  const out: string[] = [];
  const artifacts = /^s3:\/\/([^/]+)/.exec(config.artifacts ?? '');
  if (artifacts) out.push(artifacts[1]!);
  for (const store of Object.values(config.checkpoint.stores)) if (store.type === 's3') out.push(store.bucket);
  return out;
}
