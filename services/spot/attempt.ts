/** A task's spot request: the library spot.request and rebalance.detected (a standby) both place attempts with. */
import { RequestSpotInstancesCommand } from '@aws-sdk/client-ec2';
import { PermanentError } from '../../shared/errors.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import { resourceTags, type Attempt } from '../model/model.js';
import { jobRegions } from '../model/regions.js';
import type { JobRow, TaskRow } from '../model/repo.js';
import { attemptHostKey, hostKeyUserData } from './host-keys.js';
import { choosePool } from './placement.js';
import { ensureRegion } from './region-security.js';
import { currentPrices } from './pricing.js';

type Ctx = HandlerContext<FleetCatalog>;

function cloudOf(ctx: Ctx) {
  if (!ctx.cloud) throw new PermanentError('this dispatcher has no EC2/IAM clients');
  return ctx.cloud;
}

/**
 * Choose a pool for attempt `n` of the task (cheapest current price among the
 * candidates, skipping its failed pools, the job's cooled-down pools and
 * `avoidAlso`) and send the spot request. Throws PermanentError when no pool fits.
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
  // This task's failed pools, and the pools that interrupted any task of the job lately.
  const cooled = Object.entries(job.cooldowns ?? {}).filter(([, until]) => until > now).map(([pool]) => pool);
  const placement = choosePool({ candidates, zones: spec.instances.zones, avoid: [...new Set([...task.avoid, ...cooled, ...avoidAlso])], maxPrice: spec.instances.maxPrice });
  const { pool } = placement;
  const { security: sec, images } = await ensureRegion(ctx, job, pool.region);
  const imageId = images[pool.type];
  if (!imageId) throw new PermanentError(`no image resolved for ${pool.type} in ${pool.region}`);
  const tags = Object.entries({ ...resourceTags(job.jobId, spec), 'spotbatch:task': task.taskId, 'spotbatch:attempt': String(n) }).map(([Key, Value]) => ({ Key, Value }));
  // The instance's host key, pinned: the same for every delivery of this attempt (see host-keys.ts).
  const hostKey = attemptHostKey(ctx.config, job, task.taskId, n);
  const out = await cloud.ec2(pool.region).send(
    new RequestSpotInstancesCommand({
      // The same attempt asks once, however often this message is delivered.
      ClientToken: `${job.jobId}-${task.taskId}-${n}`,
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
  return { n, pool, price: placement.price, spotRequestId: requestId, hostKey: hostKey.public, requestedAt: now, placement: placement.why };
}

