/**
 * A job's share of one region, made the first time a task is placed there (not for every region the job
 * may use): its key pair and security group (the IAM role and profile are global, made once by
 * security.create) and its images (for a custom image, the job's copy of it, CopyImage, followed by
 * spot.request messages until it is available). One task at a time per job and region (a lease), and every
 * write is conditional on the version read, so two tasks racing for a region make one set: the loser waits
 * (RegionNotReadyError) and then reads the winner's. A job found closed (or failing) here has what it may have
 * made in the region deleted by its tag. A copy that fails (or stays pending past imageCopyWaitSeconds) takes
 * the region out of the job's regions; the job fails only when none is left.
 */
import { PermanentError, StateConflictError, TransientError } from '../../shared/errors.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import { jobs, type JobRow } from '../model/repo.js';
import { resourceTags } from '../model/model.js';
import type { RegionSecurity } from '../model/security-types.js';
import { secretBox } from '../model/secrets.js';
import { failJob } from '../job/lifecycle.js';
import { jobRegions } from '../model/regions.js';
import { copyState, deregisterJobImages, startImageCopy } from '../ec2/images.js';
import { createRegionSecurity } from '../security/resources.js';
import { deleteKeyPairs } from '../security/key-pairs.js';
import { deleteSecurityGroups } from '../security/security-groups.js';
import { customImage, resolveImages } from './images.js';

type Ctx = HandlerContext<FleetCatalog>;

/** Not yet: another task prepares the region, or the job's image copy is still pending. Ask again after `delaySeconds`. */
export class RegionNotReadyError extends TransientError {
  constructor(
    message: string,
    readonly delaySeconds: number,
  ) {
    super(message);
    this.name = 'RegionNotReadyError';
  }
}

/** How long one task may hold a region's preparation. */
const REGION_LEASE_MS = 5 * 60_000;
/** Conditional writes tried before giving up (other writers of the job row: counters, cool-downs, other regions). */
const WRITE_TRIES = 20;

export interface RegionReady {
  security: RegionSecurity;
  /** AMI per instance type. */
  images: Record<string, string>;
}

function readyIn(job: JobRow, region: string): RegionReady | undefined {
  const security = job.security?.regions[region];
  const images = job.images?.[region];
  return security && images ? { security, images } : undefined;
}

/** The job is no longer running: whatever asked gives up (spot.request drops its message). */
export class JobClosedError extends TransientError {}

/**
 * What the job may have made in `region` (key pairs, security groups, copied images and their snapshots),
 * found by its tag and deleted: for a job closed while a task prepared the region (its teardown may be over).
 * Best effort: a group an instance still holds stays for the teardown to find.
 */
async function sweepRegion(ctx: Ctx, jobId: string, region: string): Promise<void> {
  const cloud = ctx.cloud;
  if (!cloud) return;
  const ec2 = cloud.ec2(region);
  const source = await jobs(ctx)
    .get({ jobId })
    .then((row) => (row ? customImage(row.spec)?.id : undefined))
    .catch(() => undefined);
  const quiet = (what: string) => (err: unknown) => {
    ctx.log.info({ region, reason: (err as Error).message }, `closed job: ${what} not deleted here (teardown finds it by tag)`);
    return [];
  };
  const owner = { fleet: ctx.config.prefix, jobId };
  await deleteKeyPairs(ec2, region, owner, ctx.log).catch(quiet('key pair'));
  await deleteSecurityGroups(ec2, region, owner, ctx.log).catch(quiet('security group'));
  await deregisterJobImages(cloud, region, owner, [], source, ctx.log).catch(quiet('copied image'));
}

/** Write `change(row)` into the running job's row, conditional on the version read; again on a conflict. */
async function record(ctx: Ctx, jobId: string, change: (row: JobRow) => Record<string, unknown>): Promise<JobRow> {
  for (let i = 0; i < WRITE_TRIES; i++) {
    const row = await jobs(ctx).get({ jobId });
    if (!row || row.state !== 'running') throw new JobClosedError(`job ${jobId} is no longer running (${row?.state ?? 'gone'})`);
    try {
      return await jobs(ctx).update({ jobId }, { state: 'running', version: row.version, set: change(row) });
    } catch (err) {
      if (!(err instanceof StateConflictError)) throw err;
    }
  }
  throw new TransientError(`job ${jobId}: its row kept changing; try again`);
}

/**
 * The region's key pair, security group and images for `job`, made now if they are not yet. Throws
 * RegionNotReadyError (come back later) while another task prepares the region or the image copy is pending.
 */
export async function ensureRegion(ctx: Ctx, job: JobRow, region: string): Promise<RegionReady> {
  const ready = readyIn(job, region);
  if (ready) return ready;
  const poll = ctx.config.lifecycle.pollSeconds;
  const lease = `securing:${job.jobId}:${region}`;
  if (!(await ctx.store.leases.acquire(lease, ctx.messageId, REGION_LEASE_MS))) {
    throw new RegionNotReadyError(`${region}: another task of the job is preparing the region`, poll);
  }
  try {
    return await prepare(ctx, job.jobId, region);
  } finally {
    await ctx.store.leases.release(lease, ctx.messageId);
  }
}

async function prepare(ctx: Ctx, jobId: string, region: string): Promise<RegionReady> {
  if (!ctx.cloud) throw new PermanentError('this dispatcher has no EC2/IAM clients');
  const job = await jobs(ctx).get({ jobId });
  if (!job || job.state !== 'running' || !job.security) {
    // A retry after this region's resources were made and the job closed (its teardown maybe over): delete them.
    if (job) await sweepRegion(ctx, jobId, region);
    throw new JobClosedError(`job ${jobId} is no longer running`);
  }
  // Excluded already (a task placed there before the exclusion): place it elsewhere at once, the first reason kept.
  const excluded = job.excludedRegions?.[region];
  if (excluded) throw excludedError(region, excluded);
  const already = readyIn(job, region);
  if (already) return already;
  try {
    return await prepareRunning(ctx, job, region);
  } catch (err) {
    // Closed meanwhile (cancelled, failed), whatever the error: what was made here must not outlive the job. A
    // routine "not ready" (copy pending, region excluded) needs no second read: a closed job is seen on the next try.
    const closed =
      err instanceof JobClosedError || (!(err instanceof RegionNotReadyError) && (await jobs(ctx).get({ jobId }).then((row) => row?.state !== 'running', () => false)));
    if (closed) await sweepRegion(ctx, jobId, region);
    throw err;
  }
}

async function prepareRunning(ctx: Ctx, read: JobRow, region: string): Promise<RegionReady> {
  const cloud = ctx.cloud!;
  let job = read;
  const jobId = job.jobId;
  const spec = job.spec;
  let security = job.security!.regions[region];
  if (!security) {
    security = await createRegionSecurity(
      cloud,
      secretBox(ctx.config, ctx.resources),
      {
        fleet: ctx.config.prefix,
        jobId,
        region,
        ingressCidr: job.ingressCidr,
        tags: resourceTags(ctx.config.prefix, jobId, spec),
        stored: job.keyPairs?.[region],
        // Keep the new private key at once: a crash after CreateKeyPair must not lose it.
        onKeyPair: async (created) => {
          await record(ctx, jobId, (row) => ({ keyPairs: { ...row.keyPairs, [region]: created } }));
        },
      },
      ctx.log,
    );
    const made = security;
    job = await record(ctx, jobId, (row) => ({ security: { ...row.security!, regions: { ...row.security!.regions, [region]: made } } }));
    ctx.log.info({ region, keyName: security.keyName, securityGroupId: security.securityGroupId }, 'region secured for the job (first task placed there)');
    await ctx.store.events.append(jobId, 'job.region', { data: { region, keyName: security.keyName, securityGroupId: security.securityGroupId } });
  }
  const images = await regionImages(ctx, job, region);
  const done = security;
  await record(ctx, jobId, (row) => ({ images: { ...row.images, [region]: images } }));
  return { security: done, images };
}

/** The region's AMI per type; for a custom image from another region, the job's copy (started, followed, or failed). */
async function regionImages(ctx: Ctx, job: JobRow, region: string): Promise<Record<string, string>> {
  const cloud = ctx.cloud!;
  const source = customImage(job.spec);
  if (!source || source.region === region) return resolveImages(cloud, region, job.spec);
  let copy = job.imageCopies?.[region];
  if (!copy) {
    const imageId = await startImageCopy(cloud, { fleet: ctx.config.prefix, jobId: job.jobId, source, region, tags: Object.entries(resourceTags(ctx.config.prefix, job.jobId, job.spec)).map(([Key, Value]) => ({ Key, Value })) });
    const made = { imageId, sourceImageId: source.id, sourceRegion: source.region, startedAt: ctx.clock.now() };
    try {
      await record(ctx, job.jobId, (row) => ({ imageCopies: { ...row.imageCopies, [region]: made } }));
    } catch (err) {
      if (err instanceof JobClosedError) await deregisterJobImages(cloud, region, { fleet: ctx.config.prefix, jobId: job.jobId }, [imageId], source.id, ctx.log).catch(() => undefined);
      throw err;
    }
    ctx.log.info({ region, imageId, source: source.id, sourceRegion: source.region }, 'custom image copy started (CopyImage)');
    await ctx.store.events.append(job.jobId, 'job.image-copy', { data: { region, imageId, source: source.id, sourceRegion: source.region } });
    copy = made;
  }
  const state = await copyState(cloud, region, copy.imageId);
  if (state.state === 'pending') {
    // Bounded: a copy still pending after lifecycle.imageCopyWaitSeconds (from its start, kept on the job row) ends the job.
    const limit = ctx.config.lifecycle.imageCopyWaitSeconds;
    const startedAt = copy.startedAt ?? (await noteCopyStart(ctx, job.jobId, region));
    const waited = ctx.clock.now() - startedAt;
    if (waited >= limit * 1000) {
      const reason = `instances.image: the copy ${copy.imageId} of ${source.id} from ${source.region} to ${region} is still pending after ${Math.round(waited / 1000)} s (lifecycle.imageCopyWaitSeconds ${limit})`;
      return excludeRegion(ctx, job.jobId, region, reason);
    }
    throw new RegionNotReadyError(`${region}: the copy ${copy.imageId} of ${source.id} is not available yet`, ctx.config.lifecycle.pollSeconds);
  }
  if (state.state === 'failed') {
    // No task can run in the region without its image, and the copy will not recover: the job's other regions can.
    const reason = `instances.image: copying ${source.id} from ${source.region} to ${region} failed (${copy.imageId} ${state.reason})`;
    return excludeRegion(ctx, job.jobId, region, reason);
  }
  return resolveImages(cloud, region, job.spec, copy.imageId);
}

/**
 * Take `region` out of the job's regions (the job row's `regions`, which placement reads; the reason kept in
 * `excludedRegions`, and a `job.warning` event), and ask the task to be placed again (RegionNotReadyError,
 * at once): it goes to another region. The copy is deregistered now (teardown would find it anyway). When no
 * region is left, the job fails with the reason.
 */
async function excludeRegion(ctx: Ctx, jobId: string, region: string, reason: string): Promise<never> {
  let left: string[] = [];
  let first: string | undefined;
  const row = await record(ctx, jobId, (r) => {
    // Excluded by another task meanwhile: its reason stays, and it said so already.
    first = r.excludedRegions?.[region];
    if (first) return {};
    left = jobRegions(r.spec, ctx.config, r.regions).filter((x) => x !== region && !r.excludedRegions?.[x]);
    return { regions: left, excludedRegions: { ...r.excludedRegions, [region]: reason } };
  });
  if (first) throw excludedError(region, first);
  const source = customImage(row.spec);
  const copied = row.imageCopies?.[region]?.imageId;
  await deregisterJobImages(ctx.cloud!, region, { fleet: ctx.config.prefix, jobId }, copied ? [copied] : [], source?.id, ctx.log).catch((err: unknown) => {
    ctx.log.info({ region, reason: (err as Error).message }, 'copy of an excluded region not deregistered yet (teardown will)');
  });
  if (!left.length) {
    const text = `${reason}; no other region of the job is left`;
    await failJob(ctx, row, text);
    throw new JobClosedError(text);
  }
  const message = `${region} left out of the job: ${reason}`;
  ctx.log.warn({ region, regions: left }, message);
  await ctx.store.events.append(jobId, 'job.warning', { data: { message, region, regions: left } });
  throw excludedError(region, reason);
}

/** A region out of the job: the task is placed again at once, elsewhere (placement reads the job's `regions`). */
function excludedError(region: string, reason: string): RegionNotReadyError {
  return new RegionNotReadyError(`${region}: excluded from the job (${reason}); placing in another region`, 0);
}

/** A copy recorded without its start (by an older dispatcher): from now, kept on the row so every look counts from the same moment. */
async function noteCopyStart(ctx: Ctx, jobId: string, region: string): Promise<number> {
  const now = ctx.clock.now();
  const row = await record(ctx, jobId, (r) => {
    const copy = r.imageCopies?.[region];
    return copy ? { imageCopies: { ...r.imageCopies, [region]: { ...copy, startedAt: copy.startedAt ?? now } } } : {};
  });
  return row.imageCopies?.[region]?.startedAt ?? now;
}
