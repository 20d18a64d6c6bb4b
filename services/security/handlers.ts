/** security.create and security.teardown: the job's own key pairs, security groups, IAM role and profile. */
import { backoffSeconds, equalJitter, type Random } from '../../shared/backoff.js';
import { PermanentError, StateConflictError, TransientError } from '../../shared/errors.js';
import { isTerminal, jobMachine, type JobState } from '../../shared/states.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import { allTasks, jobs, type JobRow } from '../model/repo.js';
import { failJob } from '../job/lifecycle.js';
import { jobRegions } from '../model/regions.js';
import { requestIdsByRegion, resourceTags } from '../model/model.js';
import { secretBox } from '../model/secrets.js';
import { stopJobResources } from '../ec2/cleanup.js';
import { checkSourceImage, deregisterJobImages } from '../ec2/images.js';
import { createJobSecurity, teardownJobSecurity } from './resources.js';
import { jobArchitectures, offeredRegions, resolveJobRegions } from './regions.js';

type Ctx = HandlerContext<FleetCatalog>;

function cloudOf(ctx: Ctx) {
  if (!ctx.cloud) throw new PermanentError('this dispatcher has no EC2/IAM clients');
  return ctx.cloud;
}

/** How long one security.create may hold the job's securing lease. */
const SECURING_LEASE_MS = 5 * 60_000;

export async function securityCreate(body: { jobId: string }, ctx: Ctx): Promise<void> {
  // One at a time per job: two concurrent runs would each replace the other's key pair.
  const lease = `securing:${body.jobId}`;
  if (!(await ctx.store.leases.acquire(lease, ctx.messageId, SECURING_LEASE_MS))) {
    await ctx.bus.send('security.create', body, { delaySeconds: ctx.config.lifecycle.pollSeconds });
    return;
  }
  try {
    await secure(body, ctx);
  } finally {
    await ctx.store.leases.release(lease, ctx.messageId);
  }
}

async function secure(body: { jobId: string }, ctx: Ctx): Promise<void> {
  const job = await jobs(ctx).get({ jobId: body.jobId });
  if (!job || job.state !== 'securing') return;
  const cloud = cloudOf(ctx);
  const spec = job.spec;
  let security;
  let resolved;
  try {
    // Once per job: the regions it may use ("auto": every enabled one offering a type), before anything is made.
    resolved = await resolveJobRegions(cloud, ctx.config.region, spec, ctx.config.lifecycle.regions);
    const source = typeof spec.instances.image === 'object' ? spec.instances.image : undefined;
    // The custom image exists and suits every type (each type's architecture from a region offering it); else,
    // without offerings to go by, the types are ones EC2 knows.
    if (source) await checkSourceImage(cloud, source, spec.instances.types, await jobArchitectures(cloud, spec.instances.types, resolved, source.region));
    else if (resolved.unchecked) await jobArchitectures(cloud, spec.instances.types, resolved);
    // The role and profile only: a region's key pair and group are made when a task is first placed there (spot/region-security.ts).
    security = await createJobSecurity(
      cloud,
      secretBox(ctx.config, ctx.resources),
      {
        fleet: ctx.config.prefix,
        jobId: job.jobId,
        regions: [],
        regionsLater: true,
        ingressCidr: job.ingressCidr,
        tags: resourceTags(ctx.config.prefix, job.jobId, spec),
        // The spec's own statements, after the default; validated with the spec, checked again before any AWS call.
        ...(spec.policyStatements ? { policyStatements: spec.policyStatements } : {}),
        guard: ctx.config.security,
        ...(ctx.config.security.permissionsBoundary ? { permissionsBoundary: ctx.config.security.permissionsBoundary } : {}),
      },
      ctx.log,
    );
  } catch (err) {
    if (err instanceof PermanentError) {
      // Nothing can run: the job and its tasks end failed with the reason, and what was made is torn down.
      await failJob(ctx, job, err.message);
      return;
    }
    throw err;
  }
  const { regions, dropped, unchecked } = resolved;
  try {
    await jobs(ctx).transition({ jobId: job.jobId }, { from: 'securing', to: 'running', set: { security, images: {}, regions } });
  } catch (err) {
    // Cancelled meanwhile: what we just made must not outlive the job.
    if (err instanceof StateConflictError && err.actual?.state !== 'running') await ctx.bus.send('security.teardown', { jobId: job.jobId });
    throw err;
  }
  if (dropped.length) {
    const message = `instances.regions: ${dropped.join(', ')} offer${dropped.length === 1 ? 's' : ''} none of the types ${spec.instances.types.join(', ')} (DescribeInstanceTypeOfferings): not used`;
    ctx.log.warn({ dropped }, message);
    await ctx.store.events.append(job.jobId, 'job.warning', { data: { message, dropped } });
  }
  await ctx.store.events.append(job.jobId, 'job.running', { data: { regions, ...(unchecked ? { offeringsChecked: false } : {}) } });
  const pending = (await allTasks(ctx, job.jobId)).filter((t) => t.state === 'pending');
  await ctx.bus.sendMany(
    'spot.request',
    pending.map((t) => ({ jobId: t.jobId, taskId: t.taskId })),
  );
  ctx.log.info({ regions, tasks: pending.length }, 'job security ready (regions are secured as tasks are placed); tasks requested');
}

/**
 * How long security.teardown waits before its next look after `tries` earlier
 * ones: pollSeconds doubled per try, drawn between half and all of that (equal
 * jitter, shared/backoff.ts), at most teardownMaxDelaySeconds (which the
 * configuration keeps within SQS's 900 s and below the reconciler's redrive).
 */
export function teardownDelaySeconds(tries: number, lifecycle: { pollSeconds: number; teardownMaxDelaySeconds: number }, random: Random = Math.random): number {
  return backoffSeconds(tries, equalJitter({ base: lifecycle.pollSeconds, cap: lifecycle.teardownMaxDelaySeconds, min: 1 }), random);
}

/**
 * Where the job may have left something: every region it secured (or began to: a saved key pair) or placed
 * an attempt in, and those of the spec it never got to that EC2 offers (a region EC2 does not know holds
 * nothing, and asking it would fail for ever).
 */
async function teardownRegions(ctx: Ctx, job: JobRow, attemptRegions: string[]): Promise<string[]> {
  const made = new Set([...Object.keys(job.security?.regions ?? {}), ...Object.keys(job.keyPairs ?? {}), ...Object.keys(job.imageCopies ?? {}), ...attemptRegions]);
  const asked = jobRegions(job.spec, ctx.config, job.regions).filter((r) => !made.has(r));
  if (!asked.length) return [...made];
  const offered = await offeredRegions(cloudOf(ctx), ctx.config.region);
  const skipped = asked.filter((r) => !offered.has(r));
  if (skipped.length) ctx.log.info({ skipped }, 'regions EC2 does not offer hold nothing of the job: skipped');
  return [...made, ...asked.filter((r) => offered.has(r))];
}

/**
 * Whether security.teardown may act on a job in `state`: one that is ending (finishing, cancelling), or has
 * ended (a security.create that lost a race with a cancel tears down what it made after the job closed).
 * Never while the job may still run or start tasks (submitted, securing, running).
 */
export function teardownAllowed(state: JobState): boolean {
  return state === 'finishing' || state === 'cancelling' || isTerminal(jobMachine, state);
}

export async function securityTeardown(body: { jobId: string; tries?: number }, ctx: Ctx): Promise<void> {
  const job = await jobs(ctx).get({ jobId: body.jobId });
  if (!job) return;
  if (!teardownAllowed(job.state)) {
    ctx.log.warn({ state: job.state }, 'security.teardown for a job that is not ending: nothing done');
    return;
  }
  const cloud = cloudOf(ctx);
  // The spot requests the job's attempts recorded, by region: found whatever their state or tags.
  const requestIds = requestIdsByRegion(await allTasks(ctx, job.jobId));
  const regions = await teardownRegions(ctx, job, [...requestIds.keys()]);
  const tries = body.tries ?? 0;
  // Not yet: keep the job from looking stuck to the reconciler, and look again later, a little later each time.
  const again = async (): Promise<void> => {
    if (job.state === 'finishing' || job.state === 'cancelling') await jobs(ctx).keepAlive(job);
    const delaySeconds = teardownDelaySeconds(tries, ctx.config.lifecycle);
    await ctx.bus.send('security.teardown', { jobId: job.jobId, tries: tries + 1 }, { delaySeconds });
  };
  let alive = 0;
  for (const region of regions) alive += (await stopJobResources(cloud, region, { fleet: ctx.config.prefix, jobId: job.jobId }, requestIds.get(region) ?? [])).alive;
  if (alive > 0) {
    // Security groups cannot go while instances use them.
    ctx.log.info({ alive, tries }, 'waiting for the job\'s instances to terminate before teardown');
    await again();
    return;
  }
  // A task still preparing a region (spot/region-security.ts) may make a key pair, group or image copy there
  // after this look: wait for it. Held while deleting, so none starts meanwhile; one that starts after reads the
  // job closed and makes nothing. A holder that died lets its lease expire, and what it made is found by tag.
  const leases = regions.map((r) => `securing:${job.jobId}:${r}`);
  const held: string[] = [];
  try {
    for (const lease of leases) {
      if (!(await ctx.store.leases.acquire(lease, ctx.messageId, SECURING_LEASE_MS))) break;
      held.push(lease);
    }
    if (held.length < leases.length) {
      ctx.log.info({ region: regions[held.length], tries }, 'a task of the job is still preparing a region: teardown waits for it');
      await again();
      return;
    }
    // The custom image's copies the job made (never the source image) and their snapshots, then the security resources: all found by tag too.
    const source = typeof job.spec.instances.image === 'object' ? job.spec.instances.image.id : undefined;
    for (const region of regions) {
      const copied = job.imageCopies?.[region]?.imageId;
      if (!copied && !source) continue;
      const { left } = await deregisterJobImages(cloud, region, { fleet: ctx.config.prefix, jobId: job.jobId }, copied ? [copied] : [], source, ctx.log);
      // A snapshot an image that is not the job's uses stays (no wait would end): said once per snapshot, on the job.
      if (left.length) {
        const said = new Set((await ctx.store.events.list(job.jobId)).filter((e) => e.type === 'job.warning').map((e) => e.data?.snapshotId));
        for (const l of left.filter((x) => !said.has(x.snapshotId))) {
          const message = `snapshot ${l.snapshotId} in ${l.region} (of the job's image copy) ${l.reason}: delete it once that image is gone`;
          await ctx.store.events.append(job.jobId, 'job.warning', { data: { message, region: l.region, snapshotId: l.snapshotId } });
        }
      }
    }
    await teardownJobSecurity(cloud, { fleet: ctx.config.prefix, jobId: job.jobId, regions }, ctx.log);
  } catch (err) {
    if (err instanceof TransientError) {
      // DependencyViolation (an instance still holds the group), throttling, ...
      ctx.log.info({ reason: err.message, tries }, 'teardown not possible yet; trying again');
      await again();
      return;
    }
    throw err;
  } finally {
    for (const lease of held) await ctx.store.leases.release(lease, ctx.messageId);
  }
  // Nothing of the job is left in the cloud: job.complete closes it.
  if (job.state === 'finishing' || job.state === 'cancelling') await ctx.bus.send('job.complete', { jobId: job.jobId });
}
