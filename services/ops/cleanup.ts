/**
 * `spotbatch cleanup`: find every resource this fleet made for jobs (tagged `spotbatch:fleet` = the fleet's
 * prefix and `spotbatch:job`; for IAM, the role and the instance profile `resourceName(prefix, job)` under the
 * fleet's path, each carrying both tags itself; or a job's folder in one of the fleet's checkpoint stores) in
 * every region in use, and delete it
 * in dependency order: spot requests cancelled and instances terminated (and waited for), then security
 * groups, key pairs, instance profiles and roles, copied images and their snapshots, checkpoint objects.
 * The deletions are the fleet's own teardown code (services/ec2/cleanup.ts, services/security/,
 * services/ec2/images.ts, the checkpoint stores), called per job and region.
 *
 * What goes: with `jobId`, that job's resources (even while it runs); with `all`, those of every job that
 * ended and of every job the fleet has no row for (an orphan) once older than ORPHAN_GRACE_MS; never those of
 * a job still running (its row in a non-terminal state) unless `jobId` names it, nor anything without this
 * fleet's tag (another fleet's, even of the same job id). `olderThanMs` keeps the resources of younger jobs
 * (and replaces the orphans' grace). Each job's row is read again (consistently) right before its resources
 * go: a job submitted meanwhile is kept. A job's IAM role and profile (account-wide) stay while one of its
 * regions could not be listed or still has instances not terminated.
 */
import { readdir, lstat } from 'node:fs/promises';
import path from 'node:path';
import {
  paginateDescribeInstances,
  paginateDescribeSpotInstanceRequests,
  DescribeImagesCommand,
  DescribeKeyPairsCommand,
  DescribeSecurityGroupsCommand,
  DescribeSnapshotsCommand,
  type Filter,
} from '@aws-sdk/client-ec2';
import { GetInstanceProfileCommand, GetRoleCommand, paginateListRoles } from '@aws-sdk/client-iam';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { paginateScan } from '@aws-sdk/lib-dynamodb';
import type { CloudClients, CoreClients } from '../../shared/aws.js';
import { awsCode, callOr } from '../../shared/aws-errors.js';
import type { Config } from '../../shared/config.js';
import type { Logger } from '../../shared/logger.js';
import { isTerminal, jobMachine, type JobState } from '../../shared/states.js';
import { tableNames } from '../../shared/store/tables.js';
import { stopJobResources } from '../ec2/cleanup.js';
import { deregisterJobImages } from '../ec2/images.js';
import { deleteRoleAndProfile } from '../security/iam.js';
import { deleteKeyPairs } from '../security/key-pairs.js';
import { deleteSecurityGroups } from '../security/security-groups.js';
import { checkJobId, FLEET_TAG, JOB_TAG, jobIamPath, ownedBy, resourceName } from '../security/names.js';
import { checkpointStore } from '../checkpoint/store.js';
import { isIdPart } from '../checkpoint/keys.js';
import { errorLine, regionsInUse } from './doctor.js';

export const RESOURCE_KINDS = ['spot-request', 'instance', 'security-group', 'key-pair', 'instance-profile', 'role', 'image', 'snapshot', 'checkpoint'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

export interface CleanupItem {
  kind: ResourceKind;
  /** A region; "global" for IAM; "checkpoint:<store>" for a checkpoint store. */
  region: string;
  id: string;
  jobId: string;
  /** When AWS says it was made (ms since the epoch), when it says. */
  createdAt?: number;
  /** deleted; would-delete (a dry run); kept (with why); failed (with why). */
  outcome: 'deleted' | 'would-delete' | 'kept' | 'failed';
  reason?: string;
}

export interface CleanupReport {
  dryRun: boolean;
  regions: string[];
  items: CleanupItem[];
  /** Items that could not be deleted. */
  failed: number;
}

export interface CleanupOptions {
  /** Only this job's resources, deleted even while it runs. */
  jobId?: string;
  /** Every ended job's and every orphan's resources. */
  all?: boolean;
  dryRun?: boolean;
  /** Keep the resources of jobs younger than this (their row's submission, else their oldest resource); for orphans it replaces ORPHAN_GRACE_MS. */
  olderThanMs?: number;
  /** Called once what goes is decided, before the rows are read again (tests: a job submitted meanwhile). */
  afterFind?: () => Promise<void>;
  now?: number;
  /** How long to wait for terminated instances to be gone before the security groups (default 10 minutes). */
  waitMs?: number;
  log?: Logger;
}

export interface CleanupDeps {
  config: Config;
  core: CoreClients;
  cloud: CloudClients;
  s3?: S3Client;
}

interface JobInfo {
  state: JobState;
  submittedAt?: number;
  regions: string[];
  /** The user's own image (never deregistered). */
  sourceImage?: string;
}

const time = (t: Date | string | undefined): number | undefined => {
  if (t === undefined) return undefined;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isFinite(ms) ? ms : undefined;
};
/** An orphan (no job row) younger than this is kept by `--all` (a job being submitted has resources before its row is seen); `--older-than` replaces it. */
export const ORPHAN_GRACE_MS = 60 * 60_000;

type Tags = ReadonlyArray<{ Key?: string | undefined; Value?: string | undefined }> | undefined;
/** The job a resource of this fleet belongs to: its job tag, when it also carries the fleet's tag. */
const tagOf = (tags: Tags, fleet: string): string | undefined => (tags?.find((t) => t.Key === FLEET_TAG)?.Value === fleet ? tags?.find((t) => t.Key === JOB_TAG)?.Value : undefined);
const isJobId = (v: string): boolean => {
  try {
    checkJobId(v);
    return true;
  } catch {
    return false;
  }
};

const PROJECTION = {
  ProjectionExpression: 'jobId, #state, submittedAt, regions, #security.#regions, imageCopies, keyPairs, #spec.#instances',
  ExpressionAttributeNames: { '#state': 'state', '#security': 'security', '#regions': 'regions', '#spec': 'spec', '#instances': 'instances' },
};

/** Every job row (a consistent scan): its state, when it was submitted, and the regions it recorded. */
async function jobRows(deps: CleanupDeps): Promise<Map<string, JobInfo>> {
  const out = new Map<string, JobInfo>();
  const pages = paginateScan({ client: deps.core.ddb }, { TableName: tableNames(deps.config.prefix).jobs, ConsistentRead: true, ...PROJECTION });
  for await (const page of pages) for (const item of page.Items ?? []) out.set((item as { jobId: string }).jobId, jobInfo(item));
  return out;
}

/** One job's row now (a strongly consistent read), or undefined when the fleet has none. */
async function jobRow(deps: CleanupDeps, jobId: string): Promise<JobInfo | undefined> {
  const out = await deps.core.ddb.send(new GetCommand({ TableName: tableNames(deps.config.prefix).jobs, Key: { jobId }, ConsistentRead: true, ...PROJECTION }));
  return out.Item ? jobInfo(out.Item) : undefined;
}

function jobInfo(item: Record<string, unknown>): JobInfo {
  const row = item as {
    jobId: string;
    state: JobState;
    submittedAt?: number;
    regions?: string[];
    security?: { regions?: Record<string, unknown> };
    imageCopies?: Record<string, unknown>;
    keyPairs?: Record<string, unknown>;
    spec?: { instances?: { regions?: unknown; image?: unknown } };
  };
  const listed = Array.isArray(row.spec?.instances?.regions) ? (row.spec.instances.regions as string[]) : [];
  const image = row.spec?.instances?.image as { id?: string } | undefined;
  return {
    state: row.state,
    ...(typeof row.submittedAt === 'number' ? { submittedAt: row.submittedAt } : {}),
    regions: [...new Set([...(row.regions ?? []), ...Object.keys(row.security?.regions ?? {}), ...Object.keys(row.imageCopies ?? {}), ...Object.keys(row.keyPairs ?? {}), ...listed])],
    ...(typeof image === 'object' && image?.id ? { sourceImage: image.id } : {}),
  };
}

type Found = Omit<CleanupItem, 'outcome' | 'reason'>;

/**
 * What carries this fleet's tag and a job tag in one region (instances not yet terminated, open or active spot
 * requests, images not deregistered). A job tag that is no job id (not the fleet's doing) is noted in `skipped`.
 */
async function findInRegion(cloud: CloudClients, region: string, fleet: string, skipped: CleanupItem[]): Promise<Found[]> {
  const ec2 = cloud.ec2(region);
  const tagged: Filter[] = [
    { Name: `tag:${FLEET_TAG}`, Values: [fleet] },
    { Name: 'tag-key', Values: [JOB_TAG] },
  ];
  const out: Found[] = [];
  const tagOfHere = (tags: Tags, kind: ResourceKind, id: string | undefined): string | undefined => {
    const jobId = tagOf(tags, fleet);
    if (jobId === undefined || isJobId(jobId)) return jobId;
    skipped.push({ kind, region, id: id ?? '?', jobId: jobId.slice(0, 64), outcome: 'kept', reason: 'its spotbatch:job tag is not a job id: not the fleet\'s, left alone' });
    return undefined;
  };
  const requestInstances = new Map<string, string>();
  for await (const page of paginateDescribeSpotInstanceRequests({ client: ec2 }, { Filters: tagged })) {
    for (const r of page.SpotInstanceRequests ?? []) {
      const jobId = tagOfHere(r.Tags, 'spot-request', r.SpotInstanceRequestId);
      if (!jobId || !r.SpotInstanceRequestId) continue;
      if (r.InstanceId) requestInstances.set(r.InstanceId, jobId);
      if (r.State === 'open' || r.State === 'active') out.push({ kind: 'spot-request', region, id: r.SpotInstanceRequestId, jobId, ...opt('createdAt', time(r.CreateTime)) });
    }
  }
  const seen = new Set<string>();
  const note = (i: { InstanceId?: string; State?: { Name?: string }; Tags?: ReadonlyArray<{ Key?: string; Value?: string }>; LaunchTime?: Date }, fallback?: string) => {
    const jobId = (i.Tags?.some((t) => t.Key === JOB_TAG) ? tagOfHere(i.Tags, 'instance', i.InstanceId) : undefined) ?? fallback;
    if (!i.InstanceId || !jobId || seen.has(i.InstanceId) || i.State?.Name === 'terminated') return;
    seen.add(i.InstanceId);
    out.push({ kind: 'instance', region, id: i.InstanceId, jobId, ...opt('createdAt', time(i.LaunchTime)) });
  };
  for await (const page of paginateDescribeInstances({ client: ec2 }, { Filters: tagged })) for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) note(i);
  // An instance its request launched carries the job tag only once spot.check has tagged it.
  const untagged = [...requestInstances.keys()].filter((id) => !seen.has(id));
  for (let k = 0; k < untagged.length; k += 100) {
    const ids = untagged.slice(k, k + 100);
    for await (const page of paginateDescribeInstances({ client: ec2 }, { Filters: [{ Name: 'instance-id', Values: ids }] })) {
      for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) note(i, requestInstances.get(i.InstanceId ?? ''));
    }
  }
  const groups = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: tagged }));
  for (const g of groups.SecurityGroups ?? []) {
    const jobId = tagOfHere(g.Tags, 'security-group', g.GroupId);
    if (jobId && g.GroupId) out.push({ kind: 'security-group', region, id: g.GroupId, jobId });
  }
  const keys = await ec2.send(new DescribeKeyPairsCommand({ Filters: tagged }));
  for (const k of keys.KeyPairs ?? []) {
    const jobId = tagOfHere(k.Tags, 'key-pair', k.KeyName);
    if (jobId && k.KeyPairId) out.push({ kind: 'key-pair', region, id: k.KeyName ?? k.KeyPairId, jobId, ...opt('createdAt', time(k.CreateTime)) });
  }
  const images = await ec2.send(new DescribeImagesCommand({ Owners: ['self'], Filters: tagged }));
  for (const i of images.Images ?? []) {
    const jobId = tagOfHere(i.Tags, 'image', i.ImageId);
    if (jobId && i.ImageId && i.State !== 'deregistered') out.push({ kind: 'image', region, id: i.ImageId, jobId, ...opt('createdAt', time(i.CreationDate)) });
  }
  // Not every endpoint models snapshots.
  const snapshots = await callOr('DescribeSnapshots', () => ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: tagged })), ['InvalidAction']);
  for (const s of snapshots?.Snapshots ?? []) {
    const jobId = tagOfHere(s.Tags, 'snapshot', s.SnapshotId);
    if (jobId && s.SnapshotId) out.push({ kind: 'snapshot', region, id: s.SnapshotId, jobId, ...opt('createdAt', time(s.StartTime)) });
  }
  return out;
}

function opt<K extends string, V>(key: K, value: V | undefined): { [k in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [k in K]?: V };
}

const NO_LISTING = ['InvalidAction', 'AccessDenied', 'UnknownOperation'];

/**
 * The fleet's job roles and instance profiles (`resourceName(prefix, job)`): listed under the fleet's path
 * where IAM lists roles (AWS), else looked up by the name of every job the fleet knows of (`candidates`).
 * Each is the job's by its own tags (the role's for the role, the profile's for the profile): one without
 * this fleet's tag, or whose job tag does not give its name, is never touched.
 */
async function findIam(cloud: CloudClients, fleet: string, candidates: Set<string>): Promise<Found[]> {
  const iam = cloud.iam;
  const names = new Set<string>();
  try {
    for await (const page of paginateListRoles({ client: iam }, { PathPrefix: jobIamPath(fleet) })) for (const r of page.Roles ?? []) if (r.RoleName) names.add(r.RoleName);
  } catch (err) {
    if (!NO_LISTING.includes(awsCode(err) ?? '')) throw err;
  }
  for (const jobId of candidates) if (isJobId(jobId)) names.add(resourceName(fleet, jobId));
  const out: Found[] = [];
  /** The job whose resource this is, by its own tags and name; undefined when not this fleet's. */
  const owner = (tags: Tags, name: string): string | undefined => {
    const jobId = tagOf(tags, fleet);
    return jobId !== undefined && isJobId(jobId) && resourceName(fleet, jobId) === name && ownedBy(tags, fleet, jobId) ? jobId : undefined;
  };
  for (const name of names) {
    const role = (await callOr('GetRole', () => iam.send(new GetRoleCommand({ RoleName: name })), ['NoSuchEntity']))?.Role;
    const profile = (await callOr('GetInstanceProfile', () => iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name })), ['NoSuchEntity']))?.InstanceProfile;
    const profileJob = owner(profile?.Tags, name);
    const roleJob = owner(role?.Tags, name);
    if (profile && profileJob) out.push({ kind: 'instance-profile', region: 'global', id: name, jobId: profileJob, ...opt('createdAt', time(profile.CreateDate)) });
    if (role && roleJob) out.push({ kind: 'role', region: 'global', id: name, jobId: roleJob, ...opt('createdAt', time(role.CreateDate)) });
  }
  return out;
}

/** The job folders in each checkpoint store (`<root>/<jobId>/...`). */
async function findCheckpoints(deps: CleanupDeps): Promise<Found[]> {
  const out: Found[] = [];
  for (const [name, s] of Object.entries(deps.config.checkpoint.stores)) {
    const region = `checkpoint:${name}`;
    if (s.type === 'local') {
      const entries = await readdir(s.dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(err)));
      for (const e of entries) {
        const info = await lstat(path.join(s.dir, e)).catch(() => undefined);
        if (info?.isDirectory() && isIdPart(e)) out.push({ kind: 'checkpoint', region, id: path.join(s.dir, e), jobId: e, createdAt: info.mtimeMs });
      }
      continue;
    }
    if (!deps.s3) continue;
    const prefix = s.prefix ? `${s.prefix.replace(/\/$/, '')}/` : '';
    let token: string | undefined;
    do {
      const page = await deps.s3.send(new ListObjectsV2Command({ Bucket: s.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }));
      for (const p of page.CommonPrefixes ?? []) {
        const jobId = (p.Prefix ?? '').slice(prefix.length).replace(/\/$/, '');
        if (isIdPart(jobId)) out.push({ kind: 'checkpoint', region, id: `s3://${s.bucket}/${prefix}${jobId}/`, jobId });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }
  return out;
}

/** Why a job's resources stay, or undefined when they go. */
function keepReason(jobId: string, row: JobInfo | undefined, found: Found[], options: CleanupOptions, now: number): string | undefined {
  if (options.jobId !== undefined) return jobId === options.jobId ? undefined : 'not the job named with --job';
  if (!options.all) return 'neither --job nor --all';
  if (row && !isTerminal(jobMachine, row.state)) return `job is ${row.state}: name it with --job to remove its resources`;
  // An orphan is kept for a grace age (a job being submitted has its resources before its row is seen), --older-than instead when given.
  const floor = options.olderThanMs ?? (row ? undefined : ORPHAN_GRACE_MS);
  if (floor !== undefined && floor > 0) {
    const times = found.map((f) => f.createdAt).filter((t): t is number => t !== undefined);
    const born = row?.submittedAt ?? (times.length ? Math.min(...times) : undefined);
    const what = options.olderThanMs !== undefined ? '--older-than' : `the orphans' grace age (${ORPHAN_GRACE_MS / 60_000} min; --older-than replaces it)`;
    if (born === undefined) return `its age is unknown (no job row, no creation time): kept under ${what}`;
    if (now - born < floor) return `younger than ${what} (${Math.round((now - born) / 60_000)} min old)`;
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Find, decide, and (unless a dry run) delete in dependency order. */
export async function cleanup(deps: CleanupDeps, options: CleanupOptions): Promise<CleanupReport> {
  const now = options.now ?? Date.now();
  const rows = await jobRows(deps);
  const regions = [...new Set([...regionsInUse(deps.config), ...[...rows.values()].flatMap((r) => r.regions)])].sort();
  const fleet = deps.config.prefix;
  const found: Found[] = [];
  const failedRegions: CleanupItem[] = [];
  const unlisted = new Set<string>();
  const skipped: CleanupItem[] = [];
  for (const region of regions) {
    try {
      found.push(...(await findInRegion(deps.cloud, region, fleet, skipped)));
    } catch (err) {
      unlisted.add(region);
      failedRegions.push({ kind: 'instance', region, id: '(region)', jobId: '-', outcome: 'failed', reason: `could not list the region: ${errorLine(err)}` });
    }
  }
  const candidates = new Set([...rows.keys(), ...found.map((f) => f.jobId)]);
  found.push(...(await findIam(deps.cloud, fleet, options.jobId ? new Set([options.jobId]) : candidates)));
  found.push(...(await findCheckpoints(deps)));

  const byJob = new Map<string, Found[]>();
  for (const f of found) byJob.set(f.jobId, [...(byJob.get(f.jobId) ?? []), f]);
  const items: CleanupItem[] = options.jobId === undefined ? [...skipped] : [];
  const doomed = new Map<string, Found[]>();
  const keep = (list: Found[], why: string) => {
    for (const f of list) items.push({ ...f, outcome: 'kept', reason: why });
  };
  for (const [jobId, list] of byJob) {
    const why = keepReason(jobId, rows.get(jobId), list, options, now);
    // Another job's resources are not this run's business: not listed with --job.
    if (why && options.jobId !== undefined) continue;
    if (why) keep(list, why);
    else doomed.set(jobId, list);
  }
  await options.afterFind?.();
  // The scan may be minutes old: each job's row read again, consistently; a job submitted (or resumed) meanwhile is kept.
  for (const [jobId, list] of doomed) {
    const row = await jobRow(deps, jobId);
    if (row) rows.set(jobId, row);
    const why = keepReason(jobId, row, list, options, now);
    if (!why) continue;
    doomed.delete(jobId);
    keep(list, `${why} (its row, read again before deleting)`);
  }
  const record = (f: Found, outcome: CleanupItem['outcome'], reason?: string) => items.push({ ...f, outcome, ...(reason ? { reason } : {}) });
  if (options.dryRun) {
    for (const list of doomed.values()) for (const f of list) record(f, 'would-delete');
    return finish(options, regions, [...failedRegions, ...items]);
  }

  const log = options.log;
  /** Run one deletion for the items it covers: all deleted, or all failed with why. */
  const step = async (covered: Found[], fn: () => Promise<unknown>) => {
    if (!covered.length) return true;
    try {
      await fn();
      for (const f of covered) record(f, 'deleted');
      return true;
    } catch (err) {
      for (const f of covered) record(f, 'failed', errorLine(err));
      log?.warn({ reason: errorLine(err), ids: covered.map((f) => f.id) }, 'cleanup: not deleted');
      return false;
    }
  };
  const of = (list: Found[], region: string, ...kinds: ResourceKind[]) => list.filter((f) => f.region === region && kinds.includes(f.kind));
  const regionsOf = (list: Found[]) => [...new Set(list.filter((f) => !f.region.startsWith('checkpoint:') && f.region !== 'global').map((f) => f.region))];

  // 1. Spot requests cancelled and instances terminated (every job and region first), then 2. waited for.
  const stuck = new Set<string>();
  await Promise.all(
    [...doomed].flatMap(([jobId, list]) =>
      regionsOf(list).map(async (region) => {
        const covered = of(list, region, 'spot-request', 'instance');
        const requestIds = covered.filter((f) => f.kind === 'spot-request').map((f) => f.id);
        try {
          await stopJobResources(deps.cloud, region, { fleet, jobId }, requestIds);
          const instances = covered.filter((f) => f.kind === 'instance').map((f) => f.id);
          await untilTerminated(deps.cloud, region, { fleet, jobId }, instances, options.waitMs ?? 600_000);
          for (const f of covered) record(f, 'deleted');
        } catch (err) {
          stuck.add(`${jobId} ${region}`);
          for (const f of covered) record(f, 'failed', errorLine(err));
        }
      }),
    ),
  );
  const notYet = 'the job\'s instances there are not terminated yet; run cleanup again';
  // 3. Security groups and key pairs (a group an instance still holds cannot go: its region's instances must be gone).
  for (const [jobId, list] of doomed) {
    for (const region of regionsOf(list)) {
      const here = of(list, region, 'security-group', 'key-pair');
      if (stuck.has(`${jobId} ${region}`)) {
        for (const f of here) record(f, 'failed', notYet);
        continue;
      }
      await step(of(list, region, 'security-group'), () => deleteSecurityGroups(deps.cloud.ec2(region), region, { fleet, jobId }, log));
      await step(of(list, region, 'key-pair'), () => deleteKeyPairs(deps.cloud.ec2(region), region, { fleet, jobId }, log));
    }
  }
  // 4. Instance profiles (the role removed first) and roles (inline policies first): account-wide, so kept
  // while one of the job's regions (any region, for an orphan) could not be listed or still has instances.
  for (const [jobId, list] of doomed) {
    const iamItems = of(list, 'global', 'instance-profile', 'role');
    if (!iamItems.length) continue;
    const jobRegions = rows.get(jobId) ? new Set([...rows.get(jobId)!.regions, ...regionsOf(list)]) : new Set(regions);
    const blocked = [...jobRegions].filter((r) => unlisted.has(r) || stuck.has(`${jobId} ${r}`));
    if (blocked.length) {
      for (const f of iamItems) record(f, 'failed', `kept while ${blocked.join(', ')} could not be listed or still has the job's instances; run cleanup again`);
      continue;
    }
    await step(iamItems, () => deleteRoleAndProfile(deps.cloud.iam, { fleet, jobId }, log));
  }
  // 5. Copied images, then their snapshots (never the job's source image).
  for (const [jobId, list] of doomed) {
    for (const region of regionsOf(list)) {
      const covered = of(list, region, 'image', 'snapshot');
      if (!covered.length) continue;
      if (stuck.has(`${jobId} ${region}`)) {
        for (const f of covered) record(f, 'failed', notYet);
        continue;
      }
      try {
        const { left } = await deregisterJobImages(deps.cloud, region, { fleet, jobId }, covered.filter((f) => f.kind === 'image').map((f) => f.id), rows.get(jobId)?.sourceImage, log);
        const leftIds = new Map(left.map((l) => [l.snapshotId, l.reason]));
        for (const f of covered) record(f, leftIds.has(f.id) ? 'failed' : 'deleted', leftIds.get(f.id));
      } catch (err) {
        for (const f of covered) record(f, 'failed', errorLine(err));
      }
    }
  }
  // 6. Checkpoint objects: only what a save writes (the store's own remove).
  for (const [jobId, list] of doomed) {
    for (const f of list.filter((x) => x.kind === 'checkpoint')) {
      const s = deps.config.checkpoint.stores[f.region.slice('checkpoint:'.length)]!;
      const location = s.type === 'local' ? { kind: 'local' as const, dir: s.dir } : { kind: 's3' as const, bucket: s.bucket, prefix: s.prefix ?? '' };
      await step([f], () => checkpointStore(location, deps.s3 ? { s3: deps.s3 } : {}).remove(jobId));
    }
  }
  return finish(options, regions, [...failedRegions, ...items]);
}

function finish(options: CleanupOptions, regions: string[], items: CleanupItem[]): CleanupReport {
  const order = (i: CleanupItem) => RESOURCE_KINDS.indexOf(i.kind);
  items.sort((a, b) => a.region.localeCompare(b.region) || order(a) - order(b) || a.jobId.localeCompare(b.jobId) || a.id.localeCompare(b.id));
  return { dryRun: Boolean(options.dryRun), regions, items, failed: items.filter((i) => i.outcome === 'failed').length };
}

/** Wait until none of the job's instances in the region (tagged with the fleet and the job, or among `ids`) is anything but terminated. */
async function untilTerminated(cloud: CloudClients, region: string, owner: { fleet: string; jobId: string }, ids: string[], waitMs: number): Promise<void> {
  const end = Date.now() + waitMs;
  for (let delay = 500; ; delay = Math.min(delay * 2, 10_000)) {
    const alive: string[] = [];
    const tagged: Filter[] = [
      { Name: `tag:${FLEET_TAG}`, Values: [owner.fleet] },
      { Name: `tag:${JOB_TAG}`, Values: [owner.jobId] },
    ];
    const filters: Filter[][] = [tagged, ...(ids.length ? [[{ Name: 'instance-id', Values: ids }]] : [])];
    for (const f of filters) {
      for await (const page of paginateDescribeInstances({ client: cloud.ec2(region) }, { Filters: f })) {
        for (const r of page.Reservations ?? []) for (const i of r.Instances ?? []) if (i.State?.Name !== 'terminated' && i.InstanceId && !alive.includes(i.InstanceId)) alive.push(i.InstanceId);
      }
    }
    if (!alive.length) return;
    if (Date.now() + delay > end) throw new Error(`${alive.join(', ')} not terminated after ${Math.round(waitMs / 1000)} s`);
    await sleep(delay);
  }
}
