/** A task's spot request: the library spot.request and rebalance.detected (a standby) both place attempts with. */
import { createHash } from 'node:crypto';
import { RequestSpotInstancesCommand, type SpotInstanceRequest } from '@aws-sdk/client-ec2';
import { NOT_FOUND_RETRY } from '../../shared/aws.js';
import { awsCode } from '../../shared/aws-errors.js';
import { retrying } from '../../shared/backoff.js';
import { PermanentError, TransientError } from '../../shared/errors.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import { poolKey, resourceTags, type Attempt, type Pool } from '../model/model.js';
import type { PoolSignals, RegionBlock } from '../market/signals.js';
import { jobRegions } from '../model/regions.js';
import { jobs, type JobRow, type TaskRow } from '../model/repo.js';
import { attemptHostKey, hostKeyUserData } from './host-keys.js';
import { choosePool, taskProfile, type Placement } from './placement.js';
import { isQuotaError, marketOf, NO_CAPACITY_CODES, NO_CAPACITY_MS, record, REGION_BLOCK_MS } from './market-link.js';
import { ensureRegion } from './region-security.js';
import { liveInstancesTagged, releaseRequest, requestsTagged, terminateInstance } from '../ec2/cleanup.js';
import { currentPrices } from './pricing.js';

type Ctx = HandlerContext<FleetCatalog>;

function cloudOf(ctx: Ctx) {
  if (!ctx.cloud) throw new PermanentError('this dispatcher has no EC2/IAM clients');
  return ctx.cloud;
}

/** Placements a request may try in one delivery when AWS refuses a pool at once (capacity, quota). */
const MAX_TRIES = 4;
/** EC2's limit on a ClientToken: 64 ASCII characters. */
const TOKEN_MAX = 64;

/** The window ValidUntil is rounded to: an unfulfilled request stays open 15 to 30 minutes (requestValidUntil). */
const VALID_WINDOW_MS = 15 * 60_000;

/**
 * The ValidUntil of a spot request asked at `now`: the end of the window after the current one, 15 to 30
 * minutes ahead. Every delivery of an attempt in the same 15-minute window sends the same time, so a
 * redelivery repeats the request exactly and gets it back by its ClientToken (AWS answers a token repeated
 * with any other parameter IdempotentParameterMismatch); one in a later window is told apart by that answer,
 * and adopts the request (sendRequest).
 */
function requestValidUntil(now: number): Date {
  return new Date((Math.floor(now / VALID_WINDOW_MS) + 2) * VALID_WINDOW_MS);
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * The ClientToken of attempt `n` of a task in `pool`: `<fleet>-<job>-<task>-<n>-<8 hex of the pool>`, the
 * fleet and job shortened to their start and a digest of them when the whole would pass 64 characters. A
 * token is the account's: the fleet is in it, so two fleets running the same job id never share a request. The same attempt in
 * the same pool is always the same request (however many deliveries, whichever try of a delivery asks it);
 * another pool is another request.
 */
export function requestToken(fleet: string, jobId: string, taskId: string, n: number, pool: Pool): string {
  const rest = `-${taskId}-${n}-${sha256(`${pool.region}/${pool.zone}/${pool.type}`).slice(0, 8)}`;
  const room = TOKEN_MAX - rest.length;
  const whole = `${fleet}-${jobId}`;
  const job = whole.length <= room ? whole : `${whole.slice(0, room - 13)}-${sha256(whole).slice(0, 12)}`;
  return `${job}${rest}`;
}

/**
 * The ClientToken of attempt `n` of a task on demand: `od-<job>-<task>-<n>`, the job id shortened as in
 * requestToken. Pool-independent (unlike a spot request's): however the on-demand target order changes
 * between deliveries, a redelivery in the same region gets the same instance back (or, for other parameters,
 * IdempotentParameterMismatch, and launchOnDemand adopts the instance it finds by the token).
 */
export function onDemandToken(fleet: string, jobId: string, taskId: string, n: number): string {
  const rest = `-${taskId}-${n}`;
  const room = TOKEN_MAX - rest.length - 3;
  const whole = `${fleet}-${jobId}`;
  const job = whole.length <= room ? whole : `${whole.slice(0, room - 13)}-${sha256(whole).slice(0, 12)}`;
  return `od-${job}${rest}`;
}

/** What placement reads of the market for the job: a failure reads as no signals (the live price alone decides). */
async function readSignals(ctx: Ctx, regions: string[], types: string[], now: number): Promise<{ signals: PoolSignals[]; blocked: Map<string, RegionBlock> }> {
  const market = marketOf(ctx);
  try {
    const [signals, blocked] = await Promise.all([market.pools(regions, types, now), market.blockedRegions(now)]);
    return { signals, blocked };
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, 'market signals unreadable: placing on the live price alone');
    return { signals: [], blocked: new Map() };
  }
}

/**
 * Choose a pool for attempt `n` of the task (services/spot/placement.ts: the
 * expected cost per task from the live price and the market's signals, the
 * job's spread, skipping its failed pools, the job's cooled-down pools,
 * `avoidAlso`, pools out of capacity and regions out of spot quota) and send
 * the spot request. A pool AWS refuses at once for capacity, or a region for
 * quota, is recorded with the market and the next best is asked, in the same
 * delivery; a pool whose type has no image in its region is passed over the same way. Throws
 * PermanentError when no pool fits the spec (or none has an image), TransientError when no pool can take the
 * task now (every pool out of capacity or quota, or the last of MAX_TRIES refused at once for either).
 */
export async function requestAttempt(ctx: Ctx, job: JobRow, task: TaskRow, n: number, avoidAlso: string[] = []): Promise<Attempt> {
  const spec = job.spec;
  const security = job.security;
  if (!security || !job.images) throw new PermanentError('the job has no security resources or images yet');
  const cloud = cloudOf(ctx);
  const now = ctx.clock.now();
  // Any of the job's regions: its key pair, group and images are made there when a task is first placed there.
  const regions = jobRegions(spec, ctx.config, job.regions);
  const candidates = (await Promise.all(regions.map((r) => currentPrices({ cloud, resources: ctx.resources }, r, spec.instances.types, now)))).flat();
  const { signals, blocked } = await readSignals(ctx, regions, spec.instances.types, now);
  const market = marketOf(ctx);
  const refused: string[] = [];
  /** Pools whose type has no image in their region, and why (said if nothing else is left). */
  const noImage = new Set<string>();
  const passed: string[] = [];
  for (let tryNo = 0; ; tryNo++) {
    let placement: Placement;
    try {
      placement = choosePool({
        // A pool without an image is not one for this job: out of the choice (a refused pool is only avoided, and comes back when all are).
        candidates: candidates.filter((c) => !noImage.has(poolKey(c))),
        signals,
        zones: spec.instances.zones,
        avoid: [...new Set([...task.avoid, ...avoidAlso, ...refused])],
        cooled: job.cooldowns ?? {},
        blockedRegions: blocked,
        ...(spec.instances.maxPrice !== undefined ? { maxPrice: spec.instances.maxPrice } : {}),
        ...(spec.instances.maxPoolShare !== undefined ? { maxPoolShare: spec.instances.maxPoolShare } : {}),
        ...(spec.instances.minPlacementScore !== undefined ? { scoreFloor: spec.instances.minPlacementScore } : {}),
        taskCount: job.taskCount,
        profile: taskProfile(spec),
        taskIndex: task.index,
        now,
      });
    } catch (err) {
      // Nothing left once the pools without an image are out (permanent when no pool with an image is left at all): say so.
      if (passed.length && (err instanceof PermanentError || err instanceof TransientError)) {
        const Kind = err instanceof PermanentError ? PermanentError : TransientError;
        throw new Kind(`${err.message}; passed over: ${passed.join('; ')}`, { cause: err });
      }
      throw err;
    }
    const { pool } = placement;
    try {
      return await sendRequest(ctx, job, task, n, placement, now);
    } catch (err) {
      const code = awsCode(err);
      const message = (err as Error).message ?? '';
      const last = tryNo + 1 >= MAX_TRIES;
      if (err instanceof NoImageError) {
        // A type with a spot price but no image in the region (a retiring type, say): no pool of that type in the
        // region is one for this job (all passed over at once, so they do not use up the tries).
        ctx.log.info({ attempt: n, pool: poolKey(pool) }, last ? err.message : `${err.message}: asking the next best`);
        for (const c of candidates) if (c.region === pool.region && c.type === pool.type) noImage.add(poolKey(c));
        passed.push(err.message);
        if (last) throw new TransientError(`no pool can take the task now: ${MAX_TRIES} pools passed over or refused at once (last: ${err.message})`);
        continue;
      }
      if (code && NO_CAPACITY_CODES.has(code)) {
        ctx.log.info({ attempt: n, pool: poolKey(pool), code }, last ? 'pool out of capacity' : 'pool out of capacity: asking the next best');
        await record(ctx.log, 'no capacity', pool, () => market.markNoCapacity(pool, now + NO_CAPACITY_MS, code));
        refused.push(poolKey(pool));
        markLocally(signals, pool, now + NO_CAPACITY_MS);
      } else if (isQuotaError(code, message)) {
        const block = { until: now + REGION_BLOCK_MS, reason: code ?? 'vCPU limit' };
        ctx.log.info({ attempt: n, region: pool.region, code }, last ? "region's spot quota exhausted" : "region's spot quota exhausted: asking another region");
        await record(ctx.log, 'quota', pool.region, () => market.markRegionBlocked(pool.region, block));
        blocked.set(pool.region, block);
      } else {
        throw err;
      }
      // Every try of this delivery refused at once: the same as no pool now (spot.request waits, bounded).
      if (last) throw new TransientError(`no pool can take the task now: ${MAX_TRIES} pools refused at once (last: ${code ?? 'vCPU limit'} in ${pool.region} ${poolKey(pool)})`, { cause: err });
    }
  }
}

/** The no-capacity mark, in this placement's copy of the signals too (the store may not read its own write at once). */
function markLocally(signals: PoolSignals[], pool: Pool, until: number): void {
  const found = signals.find((s) => s.region === pool.region && poolKey(s) === poolKey(pool));
  if (found) found.noCapacityUntil = until;
  else signals.push({ ...pool, noCapacityUntil: until });
}

/** The chosen pool's type has no image in its region: requestAttempt takes that type's pools there out of the choice. */
class NoImageError extends Error {}

async function sendRequest(ctx: Ctx, job: JobRow, task: TaskRow, n: number, placement: Placement, now: number): Promise<Attempt> {
  const spec = job.spec;
  const security = job.security!;
  const cloud = cloudOf(ctx);
  const { pool } = placement;
  const { security: sec, images } = await ensureRegion(ctx, job, pool.region);
  const imageId = images[pool.type];
  if (!imageId) throw new NoImageError(`no image for ${pool.type} in ${pool.region}`);
  const tags = Object.entries({ ...resourceTags(ctx.config.prefix, job.jobId, spec), 'spotbatch:task': task.taskId, 'spotbatch:attempt': String(n) }).map(([Key, Value]) => ({ Key, Value }));
  // The instance's host key, pinned: the same for every delivery of this attempt (see host-keys.ts).
  const hostKey = attemptHostKey(ctx.config, job, task.taskId, n);
  // Every parameter is the attempt's and the pool's alone (the job's stored security and images, the derived
  // host key, a ValidUntil rounded to its window): a redelivery sends the very same request.
  const input = {
    // One request per attempt and pool, however often this message is delivered and whichever try
    // asks: a redelivery that lands on the same pool gets the same request back (requestToken).
    ClientToken: requestToken(ctx.config.prefix, job.jobId, task.taskId, n, pool),
    InstanceCount: 1,
    Type: 'one-time' as const,
    ...(spec.instances.maxPrice ? { SpotPrice: String(spec.instances.maxPrice) } : {}),
    ValidUntil: requestValidUntil(now),
    LaunchSpecification: {
      ImageId: imageId,
      InstanceType: pool.type as never,
      KeyName: sec.keyName,
      SecurityGroupIds: [sec.securityGroupId],
      IamInstanceProfile: { Arn: security.instanceProfileArn },
      Placement: { AvailabilityZone: pool.zone },
      UserData: hostKeyUserData(hostKey),
    },
    TagSpecifications: [{ ResourceType: 'spot-instances-request' as const, Tags: tags }],
  };
  let requestId: string | undefined;
  try {
    const out = await cloud.ec2(pool.region).send(new RequestSpotInstancesCommand(input));
    requestId = out.SpotInstanceRequests?.[0]?.SpotInstanceRequestId;
  } catch (err) {
    if (awsCode(err) !== 'IdempotentParameterMismatch') throw err;
    // The token was used with other parameters: by an earlier delivery of this attempt in this pool (in
    // another ValidUntil window, say). That request is this attempt's: adopt it.
    const found = await attemptRequestIn(cloud, pool, attemptTags(ctx.config.prefix, job.jobId, task.taskId, n));
    requestId = found.SpotInstanceRequestId;
    ctx.log.info({ attempt: n, pool: poolKey(pool), spotRequestId: requestId }, "the attempt's spot request in this pool exists (IdempotentParameterMismatch): adopting it");
  }
  if (!requestId) throw new Error('RequestSpotInstances answered without a request id');
  return { n, pool, price: placement.price, spotRequestId: requestId, hostKey: hostKey.public, requestedAt: now, placement: placement.why, placementRecord: placement.record };
}

/** A spot request the search did not see yet (EC2 is eventually consistent right after a create). */
class NotVisibleYet extends Error {}

/**
 * The spot request of the attempt (by `tags`) in `pool`, asked again a few times while not visible (a
 * request made a moment ago); one open or active first, else the newest. Throws when there is none
 * (the message is delivered again later).
 */
async function attemptRequestIn(cloud: ReturnType<typeof cloudOf>, pool: Pool, tags: Record<string, string>): Promise<SpotInstanceRequest> {
  return retrying(
    async () => {
      const inPool = (await requestsTagged(cloud, pool.region, tags)).filter(
        (r) => r.LaunchSpecification?.InstanceType === pool.type && (r.LaunchSpecification?.Placement?.AvailabilityZone ?? r.LaunchedAvailabilityZone) === pool.zone && r.SpotInstanceRequestId,
      );
      const live = inPool.filter((r) => r.State === 'open' || r.State === 'active');
      const found = (live.length ? live : inPool).sort((a, b) => (b.CreateTime?.getTime() ?? 0) - (a.CreateTime?.getTime() ?? 0))[0];
      if (!found) throw new NotVisibleYet(`IdempotentParameterMismatch, and no spot request of the attempt found in ${poolKey(pool)} (${pool.region})`);
      return found;
    },
    { policy: NOT_FOUND_RETRY, attempts: 5, retryable: (err) => err instanceof NotVisibleYet },
  );
}

/** The tags of attempt `n`'s spot requests (sendRequest sets them): how releaseStrayRequests finds them. */
/** The tags that name an attempt's spot requests, this fleet's only. */
const attemptTags = (fleet: string, jobId: string, taskId: string, n: number): Record<string, string> => ({ 'spotbatch:fleet': fleet, 'spotbatch:job': jobId, 'spotbatch:task': taskId, 'spotbatch:attempt': String(n) });

/**
 * Release (cancel, and terminate the instance of) every spot request of attempt `n` of the task but
 * `keep`, in the regions the job was prepared in (a request can be nowhere else): the requests an earlier
 * delivery of this message made in another pool and never recorded, because it stopped between the
 * request and the row's update and the market changed before the redelivery. Returns how many it released.
 */
export async function releaseStrayRequests(ctx: Ctx, job: JobRow, taskId: string, n: number, keep: string): Promise<number> {
  const cloud = cloudOf(ctx);
  const regions = new Set(Object.keys((await readJobRegions(ctx, job)) ?? {}));
  let released = 0;
  for (const region of regions) {
    for (const r of await requestsTagged(cloud, region, attemptTags(ctx.config.prefix, job.jobId, taskId, n))) {
      const id = r.SpotInstanceRequestId;
      if (!id || id === keep) continue;
      if (r.State !== 'open' && r.State !== 'active' && !r.InstanceId) continue;
      ctx.log.info({ attempt: n, region, spotRequestId: id, instanceId: r.InstanceId }, "releasing a spot request of the attempt an earlier delivery made and never recorded");
      await releaseRequest(cloud, region, id, r.InstanceId);
      released++;
    }
  }
  return released;
}

/** The tags of attempt `n`'s on-demand instance (launchOnDemand sets them at launch): how it is found again. */
export const onDemandTags = (fleet: string, jobId: string, taskId: string, n: number): Record<string, string> => ({ ...attemptTags(fleet, jobId, taskId, n), 'spotbatch:market': 'on-demand' });

/**
 * Everything attempt `n` of the task launched but `keep`: spot requests (releaseStrayRequests) and
 * on-demand instances (found by their tags) an earlier delivery made and never recorded, whichever way
 * that delivery went (a redelivery may choose spot where it chose on demand, or the reverse). Both
 * spot.request paths call it once their attempt is recorded. Returns how many it released.
 */
export async function releaseStrayLaunches(ctx: Ctx, job: JobRow, taskId: string, n: number, keep: { spotRequestId?: string | undefined; instanceId?: string | undefined }): Promise<number> {
  const cloud = cloudOf(ctx);
  let released = await releaseStrayRequests(ctx, job, taskId, n, keep.spotRequestId ?? '');
  for (const region of Object.keys((await readJobRegions(ctx, job)) ?? {})) {
    for (const i of await liveInstancesTagged(cloud, region, onDemandTags(ctx.config.prefix, job.jobId, taskId, n))) {
      if (!i.InstanceId || i.InstanceId === keep.instanceId) continue;
      ctx.log.info({ attempt: n, region, instanceId: i.InstanceId }, 'terminating an on-demand instance of the attempt an earlier delivery launched and never recorded');
      await terminateInstance(cloud, region, i.InstanceId);
      released++;
    }
  }
  return released;
}

/** The regions the job's security was prepared in, read again/** The regions the job's security was prepared in, read again (a delivery that stopped may have prepared one since the job was read). */
export async function readJobRegions(ctx: Ctx, job: JobRow): Promise<Record<string, unknown> | undefined> {
  const fresh = await jobs(ctx).get({ jobId: job.jobId });
  return { ...(job.security?.regions ?? {}), ...(fresh?.security?.regions ?? {}) };
}
