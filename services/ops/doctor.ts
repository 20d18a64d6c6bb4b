/**
 * `spotbatch doctor`: is this fleet's AWS side (or its emulators) what the dispatchers need? Every check
 * answers pass, fail or skip with a one-line detail and, when it fails, how to fix it. Checks run
 * concurrently, each with a timeout; none prints a secret (no key, no token, no credential value).
 */
import { access, constants, stat } from 'node:fs/promises';
import path from 'node:path';
import pMap from 'p-map';
import { GetQueueAttributesCommand, GetQueueUrlCommand, ListQueuesCommand } from '@aws-sdk/client-sqs';
import { DescribeTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DescribeRegionsCommand,
  RequestSpotInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { GetPolicyCommand, GetRoleCommand, ListPoliciesCommand, SimulatePrincipalPolicyCommand, type ContextEntry, type IAMClient } from '@aws-sdk/client-iam';
import { HeadBucketCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { GetCallerIdentityCommand, type STSClient } from '@aws-sdk/client-sts';
import { DescribeRuleCommand, ListRuleNamesByTargetCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { CloudClients, CoreClients } from '../../shared/aws.js';
import { awsCode } from '../../shared/aws-errors.js';
import type { Config } from '../../shared/config.js';
import { QUEUE_KINDS, dlqName, queueName } from '../../shared/queues.js';
import { tableDefinitions } from '../../shared/store/tables.js';
import { parseArtifactLocation } from '../../shared/artifact-location.js';
import { artifactStore } from '../artifacts/index.js';

/** The S3 client of the artifact and checkpoint stores, from the environment (as the dispatchers make it). */
export { defaultS3Client } from '../checkpoint/store.js';
import { BOUNDARY_PATH, BOUNDARY_SETTING, boundaryPolicyName } from '../security/boundary.js';
import { jobIamPath, jobTags, resourceName } from '../security/names.js';

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface CheckResult {
  /** What was checked: "queue spotbatch-master", "table spotbatch-jobs", "permission ec2:RunInstances". */
  name: string;
  status: CheckStatus;
  /** One line: what was found. */
  detail: string;
  /** How to fix it (a failure always has one). */
  fix?: string;
}

export interface DoctorDeps {
  config: Config;
  core: CoreClients;
  cloud: CloudClients;
  s3: S3Client;
  /** STS (asked who the caller is); made only on AWS. */
  sts: () => STSClient;
  /** EventBridge in a region; asked only on AWS. */
  events: (region: string) => EventBridgeClient;
  /**
   * Whether EC2 and IAM are emulators (`spotbatch local`, the simulator): they have no STS, no EventBridge
   * (the simulator sends EC2 events to the events queue itself) and no IAM policy simulation.
   */
  emulated: boolean;
  /** Where each service is, as shown (no credentials in it); default "AWS". */
  endpoints?: Partial<Record<'sqs' | 'dynamodb' | 'ec2' | 'iam' | 's3', string>>;
  /** Per check; default 20 s. */
  timeoutMs?: number;
  /**
   * The dispatchers' role whose permissions the simulated check judges (`--role` NAME|ARN); default the
   * template's `<prefix>-dispatcher` (path /spotbatch/). Never the caller's own permissions.
   */
  role?: string;
}

/** The EventBridge detail types the events queue must get (docs/architecture.md, services/model's EC2 event schema). */
export const EVENT_DETAIL_TYPES = ['EC2 Spot Instance Interruption Warning', 'EC2 Instance Rebalance Recommendation', 'EC2 Instance State-change Notification'];

const SETUP_FIX = 'run `spotbatch setup` with the same SPOTBATCH_PREFIX and endpoints (it creates what is missing and is safe to run again), or deploy the template (docs/operations.md)';

const pass = (name: string, detail: string): CheckResult => ({ name, status: 'pass', detail });
const skip = (name: string, detail: string): CheckResult => ({ name, status: 'skip', detail });
const fail = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'fail', detail, fix });

/** An error in one line, without anything that could be a credential (a URL's user:password@ is cut). */
export function errorLine(err: unknown): string {
  const code = awsCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const line = `${code && !message.includes(code) ? `${code}: ` : ''}${message}`.split('\n')[0]!.replace(/\/\/[^/@\s]*@/g, '//');
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

const NETWORK = /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ECONNRESET|ETIMEDOUT|EAI_AGAIN|socket hang up/;
const isNetwork = (err: unknown): boolean => NETWORK.test(`${(err as { code?: string })?.code ?? ''} ${err instanceof Error ? err.message : ''}`);
/** No credentials to sign with: every other check fails for that one reason, which the credentials check names. */
const isNoCredentials = (err: unknown): boolean => (err as { name?: string })?.name === 'CredentialsProviderError' || /Could not load credentials/i.test(err instanceof Error ? err.message : '');
const CREDENTIALS_FIRST = 'fix the credentials first (the credentials check says how), then run the doctor again';
const isDenied = (err: unknown): boolean => /AccessDenied|UnauthorizedOperation|NotAuthorized|Forbidden/i.test(awsCode(err) ?? '');
const NOT_SERVED = new Set(['InvalidAction', 'UnknownOperation', 'NotImplemented', 'UnsupportedOperation']);

class CheckTimeout extends Error {}

async function within<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([fn(), new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new CheckTimeout(`no answer within ${Math.round(ms / 1000)} s`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

type Check = { name: string; run: () => Promise<CheckResult | CheckResult[]> };

/** The regions the fleet uses: its own, the lifecycle's (what "auto" means) and the market collectors'. */
export function regionsInUse(config: Config): string[] {
  return [...new Set([config.region, ...config.lifecycle.regions, ...(config.market.regions ?? [])])];
}

/** Run every check; the results in a stable order (as listed), whatever order they finished in. */
export async function runDoctor(deps: DoctorDeps): Promise<CheckResult[]> {
  const checks = doctorChecks(deps);
  const timeout = deps.timeoutMs ?? 20_000;
  const results = await pMap(
    checks,
    async (c) => {
      try {
        const r = await within(timeout, c.run);
        return Array.isArray(r) ? r : [r];
      } catch (err) {
        const why = errorLine(err);
        if (isNoCredentials(err)) return [fail(c.name, why, CREDENTIALS_FIRST)];
        return [fail(c.name, why, isNetwork(err) || err instanceof CheckTimeout ? `the endpoint did not answer: check AWS_ENDPOINT_URL_* and the network (${endpointOf(deps, c.name)})` : 'see the detail; run again with LOG_LEVEL=debug')];
      }
    },
    { concurrency: 8 },
  );
  return results.flat();
}

const endpointOf = (deps: DoctorDeps, name: string): string => {
  const service = /queue|sqs/.test(name) ? 'sqs' : /table|dynamodb/.test(name) ? 'dynamodb' : /ec2|events/.test(name) ? 'ec2' : /iam|boundary/.test(name) ? 'iam' : 's3';
  return `${service}: ${deps.endpoints?.[service] ?? 'AWS'}`;
};

/** Whether any check failed: `spotbatch doctor` exits 1 then. */
export const anyFailed = (results: readonly CheckResult[]): boolean => results.some((r) => r.status === 'fail');

function doctorChecks(deps: DoctorDeps): Check[] {
  const { config } = deps;
  const identity = once(() => deps.sts().send(new GetCallerIdentityCommand({})));
  return [
    { name: 'credentials', run: () => credentialsCheck(deps, identity) },
    ...endpointChecks(deps),
    ...QUEUE_KINDS.map((kind) => ({ name: `queue ${queueName(config.prefix, kind)}`, run: () => queueCheck(deps, kind) })),
    ...tableDefinitions(config.prefix).map((def) => ({ name: `table ${def.TableName!}`, run: () => tableCheck(deps, def.TableName!, (def.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName!)) })),
    { name: 'artifact store', run: () => artifactCheck(deps) },
    { name: 'checkpoint stores', run: () => checkpointChecks(deps) },
    { name: 'events', run: () => eventChecks(deps) },
    { name: 'permissions boundary', run: () => boundaryCheck(deps) },
    { name: 'permission ec2 (dry run)', run: () => dryRunChecks(deps, identity) },
    { name: 'permission iam (simulated)', run: () => simulationCheck(deps, identity) },
  ];
}

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

async function credentialsCheck(deps: DoctorDeps, identity: () => Promise<{ Account?: string; Arn?: string }>): Promise<CheckResult> {
  const name = 'credentials';
  try {
    // The SDK's own chain (environment, profile, container or instance role): resolved, never shown.
    await deps.core.sqs.config.credentials();
  } catch (err) {
    return fail(name, `the credential chain resolves nothing (${errorLine(err)})`, 'set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any values do for `spotbatch local`), or run where a task or instance role is attached');
  }
  if (deps.emulated) return pass(name, 'resolved; the endpoints are emulators, which have no STS to say whose they are');
  try {
    const who = await identity();
    return pass(name, `resolved: account ${who.Account ?? '?'}, ${who.Arn ?? 'no ARN'} (STS GetCallerIdentity)`);
  } catch (err) {
    return fail(name, `STS GetCallerIdentity refused them (${errorLine(err)})`, 'the credentials are expired or wrong: renew them (aws sso login, a new session) or pick another AWS_PROFILE');
  }
}

function endpointChecks(deps: DoctorDeps): Check[] {
  const { config, core, cloud } = deps;
  const probe = (service: 'sqs' | 'dynamodb' | 'ec2' | 'iam', fn: () => Promise<unknown>): Check => ({
    name: `endpoint ${service}`,
    run: async () => {
      const where = deps.endpoints?.[service] ?? `AWS (${service === 'iam' ? 'global' : config.region})`;
      try {
        await fn();
        return pass(`endpoint ${service}`, `${where} answers`);
      } catch (err) {
        if (isNoCredentials(err)) return skip(`endpoint ${service}`, `${where}: not asked, no credentials to sign with (see the credentials check)`);
        // Any AWS answer, even a refusal, proves the endpoint is there; the other checks say what is refused.
        if (!isNetwork(err) && awsCode(err)) return pass(`endpoint ${service}`, `${where} answers (${awsCode(err)})`);
        return fail(`endpoint ${service}`, `${where}: ${errorLine(err)}`, `check AWS_ENDPOINT_URL_${service.toUpperCase()} (or AWS_ENDPOINT_URL) and the network; \`spotbatch local\` prints the export lines`);
      }
    },
  });
  return [
    probe('sqs', () => core.sqs.send(new ListQueuesCommand({ QueueNamePrefix: config.prefix, MaxResults: 1 }))),
    probe('dynamodb', () => core.dynamodb.send(new ListTablesCommand({ Limit: 1 }))),
    probe('ec2', () => cloud.ec2(config.region).send(new DescribeRegionsCommand({}))),
    probe('iam', () => cloud.iam.send(new ListPoliciesCommand({ Scope: 'Local', PathPrefix: BOUNDARY_PATH, MaxItems: 1 }))),
  ];
}

async function queueUrl(deps: DoctorDeps, name: string): Promise<string | undefined> {
  try {
    return (await deps.core.sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
  } catch (err) {
    if (/NonExistentQueue|QueueDoesNotExist/.test(awsCode(err) ?? '') || /does not exist/i.test(errorLine(err))) return undefined;
    throw err;
  }
}

async function queueCheck(deps: DoctorDeps, kind: (typeof QUEUE_KINDS)[number]): Promise<CheckResult> {
  const { prefix } = deps.config;
  const main = queueName(prefix, kind);
  const dlq = dlqName(prefix, kind);
  const name = `queue ${main}`;
  const [mainUrl, dlqUrl] = await Promise.all([queueUrl(deps, main), queueUrl(deps, dlq)]);
  if (!mainUrl) return fail(name, `${main} does not exist`, SETUP_FIX);
  if (!dlqUrl) return fail(name, `its dead-letter queue ${dlq} does not exist`, SETUP_FIX);
  const [a, d] = await Promise.all([
    deps.core.sqs.send(new GetQueueAttributesCommand({ QueueUrl: mainUrl, AttributeNames: ['RedrivePolicy'] })),
    deps.core.sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] })),
  ]);
  const raw = a.Attributes?.RedrivePolicy;
  if (!raw) return fail(name, `${main} has no redrive policy: a message that keeps failing is retried for ever`, SETUP_FIX);
  let policy: { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown };
  try {
    policy = JSON.parse(raw) as typeof policy;
  } catch {
    return fail(name, `${main}'s redrive policy is not JSON`, SETUP_FIX);
  }
  const want = deps.config.dispatcher.maxReceiveCount;
  if (policy.deadLetterTargetArn !== d.Attributes?.QueueArn) return fail(name, `${main}'s redrive goes to ${String(policy.deadLetterTargetArn)}, not ${dlq}`, SETUP_FIX);
  if (Number(policy.maxReceiveCount) !== want) {
    return fail(name, `${main} moves a message to ${dlq} after ${String(policy.maxReceiveCount)} receives; the configuration says ${want} (SPOTBATCH_MAX_RECEIVE_COUNT)`, SETUP_FIX);
  }
  return pass(name, `with ${dlq}, redrive after ${want} receives`);
}

async function tableCheck(deps: DoctorDeps, table: string, indexes: string[]): Promise<CheckResult> {
  const name = `table ${table}`;
  let out;
  try {
    out = await deps.core.dynamodb.send(new DescribeTableCommand({ TableName: table }));
  } catch (err) {
    if (awsCode(err) === 'ResourceNotFoundException') return fail(name, `${table} does not exist`, SETUP_FIX);
    throw err;
  }
  const t = out.Table;
  if (t?.TableStatus !== 'ACTIVE') return fail(name, `${table} is ${t?.TableStatus ?? 'in no known state'}, not ACTIVE`, 'wait for DynamoDB to finish, then run the doctor again');
  const found = new Map((t.GlobalSecondaryIndexes ?? []).map((i) => [i.IndexName, i.IndexStatus]));
  const missing = indexes.filter((i) => !found.has(i));
  if (missing.length) return fail(name, `${table} lacks the index${missing.length > 1 ? 'es' : ''} ${missing.join(', ')}`, SETUP_FIX);
  const notActive = indexes.filter((i) => found.get(i) !== undefined && found.get(i) !== 'ACTIVE');
  if (notActive.length) return fail(name, `index ${notActive.map((i) => `${i} is ${found.get(i)}`).join(', ')}, not ACTIVE`, 'an index being built (backfilled) becomes ACTIVE by itself: run the doctor again later');
  return pass(name, `ACTIVE${indexes.length ? `, indexes ${indexes.join(', ')} ACTIVE` : ''}`);
}

async function artifactCheck(deps: DoctorDeps): Promise<CheckResult> {
  const name = 'artifact store';
  if (!deps.config.artifacts) return skip(name, 'none configured (SPOTBATCH_ARTIFACTS): `submit` cannot stage the files and scripts a spec names, nor a spec over 256 KiB');
  const location = parseArtifactLocation(deps.config.artifacts);
  const store = artifactStore(location, { s3: deps.s3 });
  try {
    if (location.kind === 's3') await deps.s3.send(new HeadBucketCommand({ Bucket: location.bucket }));
    // Content addressed: the same few bytes every time, so the probe is one small object, written once.
    const digest = await store.put('spotbatch doctor: the artifact store is writable\n');
    if (!(await store.has(digest))) return fail(name, `${store.where}: a probe written is not found again`, 'check that every CLI and dispatcher names the same SPOTBATCH_ARTIFACTS');
  } catch (err) {
    const fix =
      location.kind === 's3'
        ? `create the bucket ${location.bucket} (the deploy template does) and grant s3:PutObject, s3:GetObject and s3:ListBucket on it`
        : `create ${location.dir} and make it writable by this user, or point SPOTBATCH_ARTIFACTS elsewhere`;
    return fail(name, `${store.where}: ${errorLine(err)}`, fix);
  }
  return pass(name, `${store.where} is writable`);
}

/** The folder or its nearest existing parent (a local store makes its folder on first save) is writable. */
async function writableFolder(dir: string): Promise<string> {
  for (let at = dir; ; at = path.dirname(at)) {
    const info = await stat(at).catch(() => undefined);
    if (info) {
      if (!info.isDirectory()) throw new Error(`${at} is not a folder`);
      await access(at, constants.W_OK);
      return at === dir ? `${dir} is writable` : `${dir} will be made in ${at}, which is writable`;
    }
    if (path.dirname(at) === at) throw new Error(`no part of ${dir} exists`);
  }
}

async function checkpointChecks(deps: DoctorDeps): Promise<CheckResult[]> {
  const stores = Object.entries(deps.config.checkpoint.stores);
  if (!stores.length) return [skip('checkpoint stores', 'none configured (SPOTBATCH_CHECKPOINT_STORES): a spec with checkpoint is refused')];
  return Promise.all(
    stores.map(async ([storeName, s]): Promise<CheckResult> => {
      const name = `checkpoint store ${storeName}`;
      try {
        if (s.type === 'local') return pass(name, await writableFolder(s.dir));
        await deps.s3.send(new HeadBucketCommand({ Bucket: s.bucket }));
        await deps.s3.send(new ListObjectsV2Command({ Bucket: s.bucket, Prefix: s.prefix ? `${s.prefix.replace(/\/$/, '')}/` : undefined, MaxKeys: 1 }));
        return pass(name, `s3://${s.bucket}/${s.prefix ?? ''} can be listed`);
      } catch (err) {
        const fix =
          s.type === 'local'
            ? `create ${s.dir} and make it writable by the dispatchers' user`
            : `create the bucket ${s.bucket} (the deploy template does) and grant s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject under its prefix`;
        return fail(name, errorLine(err), fix);
      }
    }),
  );
}

/** The detail types one rule's pattern lets through to its target (all of aws.ec2's when it names none). */
function coveredTypes(patternText: string | undefined): string[] {
  try {
    const p = JSON.parse(patternText ?? '{}') as { source?: unknown; 'detail-type'?: unknown };
    const sources = Array.isArray(p.source) ? p.source : undefined;
    if (sources && !sources.includes('aws.ec2')) return [];
    return Array.isArray(p['detail-type']) ? p['detail-type'].filter((t): t is string => typeof t === 'string') : EVENT_DETAIL_TYPES;
  } catch {
    return [];
  }
}

async function rulesTo(client: EventBridgeClient, targetArn: string): Promise<{ names: string[]; types: Set<string>; disabled: string[] }> {
  const names: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListRuleNamesByTargetCommand({ TargetArn: targetArn, NextToken: token }));
    names.push(...(page.RuleNames ?? []));
    token = page.NextToken;
  } while (token);
  const types = new Set<string>();
  const disabled: string[] = [];
  for (const rule of names) {
    const r = await client.send(new DescribeRuleCommand({ Name: rule }));
    if (r.State !== 'ENABLED') {
      disabled.push(rule);
      continue;
    }
    for (const t of coveredTypes(r.EventPattern)) types.add(t);
  }
  return { names, types, disabled };
}

/** Whether the queue policy lets EventBridge send (a statement allowing events.amazonaws.com sqs:SendMessage). */
export function policyAllowsEvents(policyText: string | undefined): boolean {
  if (!policyText) return false;
  try {
    const doc = JSON.parse(policyText) as { Statement?: unknown };
    const statements = (Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement]) as Array<Record<string, unknown>>;
    return statements.some((s) => {
      if (s?.Effect !== 'Allow') return false;
      const principal = s.Principal as { Service?: unknown } | string | undefined;
      const services = typeof principal === 'object' && principal ? [principal.Service].flat() : [];
      const actions = [s.Action].flat();
      return services.includes('events.amazonaws.com') && actions.some((a) => a === 'sqs:SendMessage' || a === 'sqs:*' || a === '*');
    });
  } catch {
    return false;
  }
}

async function eventChecks(deps: DoctorDeps): Promise<CheckResult[]> {
  const { config } = deps;
  const events = queueName(config.prefix, 'events');
  if (deps.emulated) {
    return [pass('events', `local mode: the simulator sends the EC2 events itself to ${events}, where EventBridge rules would (no EventBridge to check)`)];
  }
  const url = await queueUrl(deps, events);
  if (!url) return [fail(`events ${config.region}`, `${events} does not exist`, SETUP_FIX)];
  const attrs = (await deps.core.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn', 'Policy'] }))).Attributes ?? {};
  const queueArn = attrs.QueueArn ?? '';
  const account = queueArn.split(':')[4] ?? '';
  const deployFix = 'deploy deploy/cloudformation.yaml (and its region stack in every other region the fleet uses): it makes the rules and the queue policy (docs/operations.md)';
  const out: CheckResult[] = [];
  for (const region of regionsInUse(config)) {
    const name = `events ${region}`;
    const home = region === config.region;
    // Home: rules whose target is the queue. Elsewhere: rules forwarding to the home region's default bus.
    const target = home ? queueArn : `arn:aws:events:${config.region}:${account}:event-bus/default`;
    try {
      const { names, types, disabled } = await rulesTo(deps.events(region), target);
      const missing = EVENT_DETAIL_TYPES.filter((t) => !types.has(t));
      if (!names.length) out.push(fail(name, `no EventBridge rule in ${region} targets ${home ? events : `the default event bus of ${config.region}`}`, deployFix));
      else if (missing.length) out.push(fail(name, `rules ${names.join(', ')} let through no "${missing.join('", "')}"${disabled.length ? ` (disabled: ${disabled.join(', ')})` : ''}`, deployFix));
      else if (home && !policyAllowsEvents(attrs.Policy)) out.push(fail(name, `rules ${names.join(', ')} target ${events}, but its queue policy does not let events.amazonaws.com send to it`, deployFix));
      else out.push(pass(name, `rules ${names.join(', ')} send the spot interruption, rebalance and state-change events ${home ? `to ${events}` : `to ${config.region}`}`));
    } catch (err) {
      if (isDenied(err)) out.push(skip(name, `cannot read the EventBridge rules (${errorLine(err)}): grant events:ListRuleNamesByTarget and events:DescribeRule to check them`));
      else out.push(fail(name, errorLine(err), deployFix));
    }
  }
  return out;
}

async function defaultBoundaryArn(deps: DoctorDeps): Promise<string | undefined> {
  const wanted = boundaryPolicyName(deps.config.prefix);
  let marker: string | undefined;
  do {
    const page = await deps.cloud.iam.send(new ListPoliciesCommand({ Scope: 'Local', PathPrefix: BOUNDARY_PATH, Marker: marker }));
    const hit = page.Policies?.find((p) => p.PolicyName === wanted);
    if (hit?.Arn) return hit.Arn;
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker);
  return undefined;
}

async function boundaryCheck(deps: DoctorDeps): Promise<CheckResult> {
  const name = 'permissions boundary';
  const configured = deps.config.security.permissionsBoundary;
  if (configured) {
    try {
      await deps.cloud.iam.send(new GetPolicyCommand({ PolicyArn: configured }));
      return pass(name, `${configured} exists`);
    } catch (err) {
      if (awsCode(err) === 'NoSuchEntity') return fail(name, `${configured} (${BOUNDARY_SETTING}) does not exist: every job fails at security.create`, 'set SPOTBATCH_PERMISSIONS_BOUNDARY to the ARN the deploy template outputs, or create the policy');
      throw err;
    }
  }
  const found = await defaultBoundaryArn(deps);
  if (found && deps.emulated) return pass(name, `the default ${found} exists (\`spotbatch local\` gives it to its dispatchers)`);
  if (found) return fail(name, `${BOUNDARY_SETTING} is not set: dispatchers make no job role, so every job fails`, `set SPOTBATCH_PERMISSIONS_BOUNDARY=${found} on every dispatcher`);
  return fail(name, `${BOUNDARY_SETTING} is not set and no ${boundaryPolicyName(deps.config.prefix)} exists under ${BOUNDARY_PATH}`, deps.emulated ? 'run `spotbatch setup` (it makes the default boundary where IAM is an emulator)' : 'deploy the template (it makes the boundary) and set SPOTBATCH_PERMISSIONS_BOUNDARY to its ARN');
}

/** The dispatchers' task role as deploy/cloudformation.yaml makes it (DispatcherTaskRole: Path and RoleName). */
export const DISPATCHER_ROLE_PATH = '/spotbatch/';
export const dispatcherRoleName = (prefix: string): string => `${prefix}-dispatcher`;

/**
 * A role's ARN from its account, name and path. The path is part of the ARN (arn:aws:iam::A:role/spotbatch/N,
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html): without it SimulatePrincipalPolicy
 * finds no such role.
 */
export function roleArn(partition: string, account: string, name: string, rolePath = '/'): string {
  const inner = rolePath.replace(/^\/+|\/+$/g, '');
  return `arn:${partition}:iam::${account}:role/${inner ? `${inner}/` : ''}${name}`;
}

/** The role name in a `--role` value: the value itself, or an ARN's last segment (after its path). */
export function roleNameOf(nameOrArn: string): string {
  const m = /^arn:[\w-]+:iam::\d*:role\/(?:.*\/)?([^/]+)$/.exec(nameOrArn);
  return m ? m[1]! : nameOrArn;
}

/** The role an assumed-role session is of (arn:aws:sts::A:assumed-role/R/S -> R; its path is not in a session ARN); undefined otherwise. */
export function sessionRoleName(callerArn: string): string | undefined {
  return /^arn:[\w-]+:sts::\d+:assumed-role\/([^/]+)\/.+$/.exec(callerArn)?.[1];
}

/** The dispatchers' role (`--role` NAME|ARN, default the template's `<prefix>-dispatcher`), its ARN with its path from IAM GetRole. */
export async function dispatcherRole(iam: IAMClient, prefix: string, role?: string): Promise<{ name: string; arn: string }> {
  const name = roleNameOf(role ?? dispatcherRoleName(prefix));
  const arn = (await iam.send(new GetRoleCommand({ RoleName: name }))).Role?.Arn;
  if (!arn) throw new Error(`IAM GetRole ${name} answered no ARN`);
  return { name, arn };
}

/** The tags a job's EC2 and IAM resources are created with (services/security/names.ts), for a probe job. */
const PROBE_JOB = 'doctor-probe';
const probeTags = (fleet: string): Array<{ Key: string; Value: string }> => jobTags(fleet, PROBE_JOB);

/** EC2 calls the dispatchers make, each asked with DryRun (and the job's tags, as the dispatchers send them): DryRunOperation = allowed, UnauthorizedOperation = not. */
function dryRuns(fleet: string): Array<[string, (ec2: EC2Client) => Promise<unknown>]> {
  const probe = 'spotbatch-doctor-dry-run';
  const Tags = probeTags(fleet);
  const tagged = <T extends string>(...types: T[]) => types.map((ResourceType) => ({ ResourceType, Tags }));
  return [
    ['RequestSpotInstances', (ec2) => ec2.send(new RequestSpotInstancesCommand({ DryRun: true, InstanceCount: 1, LaunchSpecification: { ImageId: 'ami-00000000000000000', InstanceType: 'm5.large' }, TagSpecifications: tagged('spot-instances-request') }))],
    ['RunInstances', (ec2) => ec2.send(new RunInstancesCommand({ DryRun: true, MinCount: 1, MaxCount: 1, ImageId: 'ami-00000000000000000', InstanceType: 'm5.large', TagSpecifications: tagged('instance', 'volume') }))],
    ['CreateSecurityGroup', (ec2) => ec2.send(new CreateSecurityGroupCommand({ DryRun: true, GroupName: probe, Description: 'spotbatch doctor dry run', TagSpecifications: tagged('security-group') }))],
    ['CreateKeyPair', (ec2) => ec2.send(new CreateKeyPairCommand({ DryRun: true, KeyName: probe, TagSpecifications: tagged('key-pair') }))],
    ['CreateTags', (ec2) => ec2.send(new CreateTagsCommand({ DryRun: true, Resources: ['i-00000000000000000'], Tags }))],
    ['TerminateInstances', (ec2) => ec2.send(new TerminateInstancesCommand({ DryRun: true, InstanceIds: ['i-00000000000000000'] }))],
  ];
}

/** Whose credentials the dry runs use, and whether they are the dispatchers' role's (an ECS task of it). */
async function dryRunCaller(deps: DoctorDeps, identity: () => Promise<{ Arn?: string }>): Promise<{ who: string; dispatcher: boolean } | undefined> {
  if (deps.emulated) return undefined;
  const arn = (await identity().catch(() => undefined))?.Arn;
  if (!arn) return { who: 'the caller (STS did not say who)', dispatcher: false };
  return { who: arn, dispatcher: sessionRoleName(arn) === roleNameOf(deps.role ?? dispatcherRoleName(deps.config.prefix)) };
}

async function dryRunChecks(deps: DoctorDeps, identity: () => Promise<{ Arn?: string }>): Promise<CheckResult[]> {
  const regions = regionsInUse(deps.config);
  const caller = await dryRunCaller(deps, identity);
  // A dry run judges whoever sends it: from an operator's credentials it says nothing about the dispatchers' role
  // (the simulated check judges that), so a refusal then is not the fleet's failure.
  const notTheRole = caller && !caller.dispatcher ? `; judged for ${caller.who}, not the dispatchers' role (the simulated check judges the role)` : '';
  return Promise.all(
    dryRuns(deps.config.prefix).map(async ([action, send]): Promise<CheckResult> => {
      const name = `permission ec2:${action}`;
      const denied: string[] = [];
      const unclear: string[] = [];
      for (const region of regions) {
        try {
          await send(deps.cloud.ec2(region));
          unclear.push(`${region}: the call ran although DryRun was set`);
        } catch (err) {
          const code = awsCode(err);
          if (code === 'DryRunOperation') continue;
          if (code === 'UnauthorizedOperation' || code === 'AccessDenied') denied.push(region);
          else if (isNetwork(err) || isNoCredentials(err)) throw err;
          else unclear.push(`${region}: ${code ?? errorLine(err)}`);
        }
      }
      if (denied.length && notTheRole) return skip(name, `refused in ${denied.join(', ')} (UnauthorizedOperation)${notTheRole}`);
      if (denied.length) return fail(name, `refused in ${denied.join(', ')} (UnauthorizedOperation) for ${caller?.who ?? 'the caller'}`, `grant ec2:${action} to the dispatchers' role: deploy/iam/dispatcher-policy.json has it`);
      if (unclear.length) return skip(name, `could not tell (${unclear.join('; ')})${notTheRole}`);
      return pass(name, `allowed in ${regions.join(', ')} (DryRunOperation)${deps.emulated ? '; the simulator allows every action' : notTheRole}`);
    }),
  );
}

const entry = (key: string, values: string[], type: 'string' | 'stringList' = 'string'): ContextEntry => ({ ContextKeyName: key, ContextKeyType: type, ContextKeyValues: values });

/** One SimulatePrincipalPolicy question: each action on each resource, with the request's context keys. */
interface Ask {
  actions: string[];
  resources: string[];
  context: ContextEntry[];
}

/**
 * What the dispatchers do with a job's resources, with the context keys the dispatcher policy's conditions read
 * (deploy/iam/dispatcher-policy.json): the job tag on create (aws:RequestTag/..., aws:TagKeys), tag-on-create
 * (ec2:CreateAction), the job tag on what they change (ec2:ResourceTag/...), the fleet's boundary on role
 * writes (iam:PermissionsBoundary), and EC2 as the service a job role is passed to (iam:PassedToService).
 */
export function simulationAsks(partition: string, account: string, region: string, boundary: string | undefined, fleet: string): Ask[] {
  const tags = probeTags(fleet);
  const requestTags = [...tags.map((t) => entry(`aws:RequestTag/${t.Key}`, [t.Value])), entry('aws:TagKeys', tags.map((t) => t.Key), 'stringList')];
  const resourceTags = tags.flatMap((t) => [entry(`ec2:ResourceTag/${t.Key}`, [t.Value]), entry(`aws:ResourceTag/${t.Key}`, [t.Value])]);
  const bounded = boundary ? [entry('iam:PermissionsBoundary', [boundary])] : [];
  const ec2 = (type: string) => (type === 'image' ? `arn:${partition}:ec2:${region}::image/*` : `arn:${partition}:ec2:${region}:${account}:${type}/*`);
  const uses = ['image', 'subnet', 'security-group', 'key-pair', 'network-interface'].map(ec2);
  // A job's role and instance profile, named and placed as the fleet makes them (services/security/names.ts).
  const name = resourceName(fleet, PROBE_JOB);
  const role = roleArn(partition, account, name, jobIamPath(fleet));
  const profile = `arn:${partition}:iam::${account}:instance-profile${jobIamPath(fleet)}${name}`;
  const onJobInstance = [entry('ec2:InstanceProfile', [profile])];
  const onCreate = (action: string, ...types: string[]): Ask => ({ actions: ['ec2:CreateTags'], resources: types.map(ec2), context: [...requestTags, entry('ec2:CreateAction', [action])] });
  return [
    { actions: ['ec2:RunInstances'], resources: [ec2('instance'), ec2('volume'), ...uses], context: requestTags },
    { actions: ['ec2:RequestSpotInstances'], resources: [ec2('spot-instances-request'), ...uses], context: requestTags },
    { actions: ['ec2:CreateSecurityGroup'], resources: [ec2('security-group'), ec2('vpc')], context: requestTags },
    { actions: ['ec2:CreateKeyPair'], resources: [ec2('key-pair')], context: requestTags },
    onCreate('RunInstances', 'instance', 'volume'),
    onCreate('RequestSpotInstances', 'spot-instances-request'),
    onCreate('CreateSecurityGroup', 'security-group'),
    onCreate('CreateKeyPair', 'key-pair'),
    // Tagging a job's running instance (its task and attempt tags).
    { actions: ['ec2:CreateTags'], resources: [ec2('instance')], context: [...requestTags, ...onJobInstance] },
    { actions: ['ec2:TerminateInstances'], resources: [ec2('instance')], context: [...resourceTags, ...onJobInstance] },
    { actions: ['ec2:CancelSpotInstanceRequests'], resources: [ec2('spot-instances-request')], context: resourceTags },
    { actions: ['ec2:AuthorizeSecurityGroupIngress', 'ec2:DeleteSecurityGroup'], resources: [ec2('security-group')], context: resourceTags },
    { actions: ['ec2:DeleteKeyPair'], resources: [ec2('key-pair')], context: resourceTags },
    { actions: ['iam:CreateRole', 'iam:TagRole', 'iam:PutRolePolicy', 'iam:PutRolePermissionsBoundary', 'iam:DeleteRolePolicy'], resources: [role], context: [...requestTags, ...bounded] },
    { actions: ['iam:GetRole', 'iam:DeleteRole', 'iam:ListRolePolicies', 'iam:ListInstanceProfilesForRole'], resources: [role], context: resourceTags },
    { actions: ['iam:PassRole'], resources: [role], context: [entry('iam:PassedToService', ['ec2.amazonaws.com'])] },
    {
      actions: ['iam:CreateInstanceProfile', 'iam:TagInstanceProfile', 'iam:GetInstanceProfile', 'iam:AddRoleToInstanceProfile', 'iam:RemoveRoleFromInstanceProfile', 'iam:DeleteInstanceProfile'],
      resources: [profile],
      context: requestTags,
    },
  ];
}

async function simulationCheck(deps: DoctorDeps, identity: () => Promise<{ Account?: string; Arn?: string }>): Promise<CheckResult> {
  const name = 'permission iam (simulated)';
  if (deps.emulated) return skip(name, 'the IAM endpoint is an emulator without policy simulation (SimulatePrincipalPolicy); IAM has no dry run');
  let who;
  try {
    who = await identity();
  } catch (err) {
    return skip(name, `no account to simulate in (${errorLine(err)})`);
  }
  const account = who.Account ?? '';
  const partition = (who.Arn ?? 'arn:aws').split(':')[1] ?? 'aws';
  const wanted = deps.role ?? dispatcherRoleName(deps.config.prefix);
  // The dispatchers' role, never the caller: an operator's administrator credentials would pass everything.
  let principal: string;
  let found = 'IAM GetRole';
  try {
    principal = (await dispatcherRole(deps.cloud.iam, deps.config.prefix, deps.role)).arn;
  } catch (err) {
    if (/^NoSuchEntity/.test(awsCode(err) ?? '')) {
      return fail(name, `no role ${roleNameOf(wanted)} (the dispatchers' role${deps.role ? ', --role' : ` the template names ${DISPATCHER_ROLE_PATH}${dispatcherRoleName(deps.config.prefix)}`})`, "pass the dispatchers' task role with --role NAME|ARN, or deploy the template (it makes the role)");
    }
    if (!isDenied(err)) throw err;
    // May not read it: a given ARN is taken as it is; a name is placed on the template's path.
    principal = wanted.startsWith('arn:') ? wanted : roleArn(partition, account, roleNameOf(wanted), DISPATCHER_ROLE_PATH);
    found = `not read (${awsCode(err)} on iam:GetRole), ${wanted.startsWith('arn:') ? 'as given' : "on the template's path"}`;
  }
  let boundary = deps.config.security.permissionsBoundary;
  if (!boundary) boundary = await defaultBoundaryArn(deps).catch(() => undefined);
  const whose = sessionRoleName(who.Arn ?? '') === roleNameOf(principal) ? '' : `; judged for the dispatchers' role, not for the caller ${who.Arn ?? '?'}`;
  const denied: string[] = [];
  try {
    for (const ask of simulationAsks(partition, account, deps.config.region, boundary, deps.config.prefix)) {
      const out = await deps.cloud.iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: principal, ActionNames: ask.actions, ResourceArns: ask.resources, ContextEntries: ask.context }));
      for (const r of out.EvaluationResults ?? []) {
        const perResource = (r.ResourceSpecificResults ?? []).filter((x) => x.EvalResourceDecision !== 'allowed').map((x) => `${r.EvalActionName} on ${x.EvalResourceName} (${x.EvalResourceDecision})`);
        if (perResource.length) denied.push(...perResource);
        else if (r.EvalDecision !== 'allowed') denied.push(`${r.EvalActionName} on ${r.EvalResourceName ?? '*'} (${r.EvalDecision})`);
      }
    }
  } catch (err) {
    if (NOT_SERVED.has(awsCode(err) ?? '')) return skip(name, 'this IAM endpoint does not simulate policies (SimulatePrincipalPolicy)');
    if (isDenied(err)) return skip(name, `cannot simulate (${errorLine(err)}): grant iam:SimulatePrincipalPolicy and iam:GetRole to the caller to run this check`);
    throw err;
  }
  const role = `${principal} (${found})`;
  if (denied.length) {
    return fail(name, `denied for ${role}: ${[...new Set(denied)].join(', ')}${whose}`, "attach deploy/iam/dispatcher-policy.json to the dispatchers' role as the template does (role writes need the fleet's permissions boundary, SPOTBATCH_PERMISSIONS_BOUNDARY)");
  }
  return pass(name, `the dispatchers' EC2 and IAM actions on a job's resources are allowed for ${role}${boundary ? " with the fleet's boundary" : ' (no boundary found: iam:PermissionsBoundary not given)'}${whose}`);
}
