/** A task's spot request: the library spot.request and rebalance.detected (a standby) both place attempts with. */
import { RequestSpotInstancesCommand } from '@aws-sdk/client-ec2';
import { awsCode } from '../../shared/aws-errors.js';
import { PermanentError } from '../../shared/errors.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import { poolKey, resourceTags, type Attempt, type Pool } from '../model/model.js';
import type { PoolSignals, RegionBlock } from '../market/signals.js';
import { jobRegions } from '../model/regions.js';
import type { JobRow, TaskRow } from '../model/repo.js';
import { attemptHostKey, hostKeyUserData } from './host-keys.js';
import { choosePool, taskProfile, type Placement } from './placement.js';
import { isQuotaError, marketOf, NO_CAPACITY_CODES, NO_CAPACITY_MS, record, REGION_BLOCK_MS } from './market-link.js';
import { ensureRegion } from './region-security.js';
import { currentPrices } from './pricing.js';

type Ctx = HandlerContext<FleetCatalog>;

function cloudOf(ctx: Ctx) {
  if (!ctx.cloud) throw new PermanentError('this dispatcher has no EC2/IAM clients');
  return ctx.cloud;
}

/** Placements a request may try in one delivery when AWS refuses a pool at once (capacity, quota). */
const MAX_TRIES = 4;

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
 * delivery. Throws PermanentError when no pool fits the spec.
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
  for (let tryNo = 0; ; tryNo++) {
    const placement = choosePool({
      candidates,
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
    const { pool } = placement;
    try {
      return await sendRequest(ctx, job, task, n, placement, tryNo, now);
    } catch (err) {
      const code = awsCode(err);
      const message = (err as Error).message ?? '';
      if (tryNo + 1 >= MAX_TRIES) throw err;
      if (code && NO_CAPACITY_CODES.has(code)) {
        ctx.log.info({ attempt: n, pool: poolKey(pool), code }, 'pool out of capacity: asking the next best');
        await record(ctx.log, 'no capacity', pool, () => market.markNoCapacity(pool, now + NO_CAPACITY_MS, code));
        refused.push(poolKey(pool));
        markLocally(signals, pool, now + NO_CAPACITY_MS);
        continue;
      }
      if (isQuotaError(code, message)) {
        const block = { until: now + REGION_BLOCK_MS, reason: code ?? 'vCPU limit' };
        ctx.log.info({ attempt: n, region: pool.region, code }, "region's spot quota exhausted: asking another region");
        await record(ctx.log, 'quota', pool.region, () => market.markRegionBlocked(pool.region, block));
        blocked.set(pool.region, block);
        continue;
      }
      throw err;
    }
  }
}

/** The no-capacity mark, in this placement's copy of the signals too (the store may not read its own write at once). */
function markLocally(signals: PoolSignals[], pool: Pool, until: number): void {
  const found = signals.find((s) => s.region === pool.region && poolKey(s) === poolKey(pool));
  if (found) found.noCapacityUntil = until;
  else signals.push({ ...pool, noCapacityUntil: until });
}

async function sendRequest(ctx: Ctx, job: JobRow, task: TaskRow, n: number, placement: Placement, tryNo: number, now: number): Promise<Attempt> {
  const spec = job.spec;
  const security = job.security!;
  const cloud = cloudOf(ctx);
  const { pool } = placement;
  const { security: sec, images } = await ensureRegion(ctx, job, pool.region);
  const imageId = images[pool.type];
  if (!imageId) throw new PermanentError(`no image resolved for ${pool.type} in ${pool.region}`);
  const tags = Object.entries({ ...resourceTags(job.jobId, spec), 'spotbatch:task': task.taskId, 'spotbatch:attempt': String(n) }).map(([Key, Value]) => ({ Key, Value }));
  // The instance's host key, pinned: the same for every delivery of this attempt (see host-keys.ts).
  const hostKey = attemptHostKey(ctx.config, job, task.taskId, n);
  const out = await cloud.ec2(pool.region).send(
    new RequestSpotInstancesCommand({
      // The same attempt asks once, however often this message is delivered; a pool refused at once
      // (capacity, quota) makes the next try a request of its own.
      ClientToken: `${job.jobId}-${task.taskId}-${n}${tryNo ? `-${tryNo}` : ''}`,
      InstanceCount: 1,
      Type: 'one-time',
      ...(spec.instances.maxPrice ? { SpotPrice: String(spec.instances.maxPrice) } : {}),
      ValidUntil: new Date(now + 15 * 60_000),
      LaunchSpecification: {
        ImageId: imageId,
        InstanceType: pool.type as never,
        KeyName: sec.keyName,
        SecurityGroupIds: [sec.securityGroupId],
        IamInstanceProfile: { Arn: security.instanceProfileArn },
        Placement: { AvailabilityZone: pool.zone },
        UserData: hostKeyUserData(hostKey),
      },
      TagSpecifications: [{ ResourceType: 'spot-instances-request', Tags: tags }],
    }),
  );
  const requestId = out.SpotInstanceRequests?.[0]?.SpotInstanceRequestId;
  if (!requestId) throw new Error('RequestSpotInstances answered without a request id');
  return { n, pool, price: placement.price, spotRequestId: requestId, hostKey: hostKey.public, requestedAt: now, placement: placement.why, placementRecord: placement.record };
}
