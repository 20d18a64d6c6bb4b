/**
 * An on-demand attempt: a deadline's fallback. RunInstances (no InstanceMarketOptions: on demand) with
 * what a spot request of the job carries (image, key pair, security group, instance profile, the attempt's
 * pinned host key in the user data) and the job's tags on the instance at launch; no spot request.
 */
import { RunInstancesCommand, type Instance } from '@aws-sdk/client-ec2';
import { awsCode } from '../../shared/aws-errors.js';
import { PermanentError, TransientError } from '../../shared/errors.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import { poolKey, resourceTags, type Attempt, type Pool } from '../model/model.js';
import type { JobRow, TaskRow } from '../model/repo.js';
import { liveInstancesTagged } from '../ec2/cleanup.js';
import { attemptHostKey, hostKeyUserData } from './host-keys.js';
import { ensureRegion, RegionNotReadyError } from './region-security.js';
import { onDemandTags, onDemandToken, readJobRegions } from './attempt.js';
import { NO_CAPACITY_CODES } from './market-link.js';
import type { OnDemandTarget } from './deadline.js';

type Ctx = HandlerContext<FleetCatalog>;

/** Targets a launch may try in one delivery when EC2 has no on-demand capacity for one. */
const MAX_TRIES = 4;

/**
 * Launch attempt `n` of the task on demand in the first of `targets` EC2 has capacity and the job an image
 * for, or adopt the instance an earlier delivery launched for it. Before launching, the attempt's live
 * on-demand instance is looked for by its tags (job, task, attempt n, market on-demand) in the regions the
 * job was prepared in: a delivery that stopped after RunInstances and before the row's update (or whose
 * write failed) left it there, and a redelivery may choose another target. The ClientToken is the
 * attempt's alone (onDemandToken), not the target's: a launch repeated in the same region gets the same
 * instance back (another zone included: the attempt takes the instance's own zone and type), and AWS's
 * IdempotentParameterMismatch (the same token with parameters other than the Region or zone: another type)
 * is answered by adopting the instance launched with that token. A region not ready yet (its image
 * copy pending) passes to the next target, as a zone without on-demand capacity does. Throws TransientError
 * when none can take it now (RegionNotReadyError when only unready regions were left), PermanentError when
 * no target is left.
 */
export async function launchOnDemand(ctx: Ctx, job: JobRow, task: TaskRow, n: number, targets: readonly OnDemandTarget[], why: string): Promise<Attempt> {
  const cloud = ctx.cloud;
  if (!cloud) throw new PermanentError('this dispatcher has no EC2/IAM clients');
  const security = job.security;
  if (!security) throw new PermanentError('the job has no security resources yet');
  if (!targets.length) throw new PermanentError('no pool of the job to run on demand in');
  const hostKey = attemptHostKey(ctx.config, job, task.taskId, n);
  const token = onDemandToken(ctx.config.prefix, job.jobId, task.taskId, n);
  const now = ctx.clock.now();
  const attemptOf = (pool: Pool, instanceId: string, target: OnDemandTarget | undefined, adopted: boolean): Attempt => {
    const price = targets.find((t) => t.region === pool.region && t.type === pool.type) ?? target ?? targets[0]!;
    const notes = [
      price.priceKnown ? `the list price ${price.price.toFixed(4)} USD/h` : `no list price known: ${price.price.toFixed(4)} USD/h assumed (${price.priceSource})`,
      ...(price.overMaxPrice ? [`above the spec's instances.maxPrice ${job.spec.instances.maxPrice}`] : []),
      ...(adopted ? ['the instance an earlier delivery launched, adopted'] : []),
    ];
    return {
      n,
      pool,
      price: price.price,
      market: 'on-demand',
      ...(price.priceKnown ? {} : { priceAssumed: true }),
      instanceId,
      hostKey: hostKey.public,
      requestedAt: now,
      placement: `on demand: ${why}; ${poolKey(pool)} at ${notes.join('; ')}`,
    };
  };
  const poolOf = (region: string, i: Instance, fallback?: Pool): Pool => ({ region, zone: i.Placement?.AvailabilityZone ?? fallback?.zone ?? '', type: i.InstanceType ?? fallback?.type ?? '' });

  // An instance of this attempt an earlier delivery launched: adopt it rather than launch a second.
  const regions = new Set([...Object.keys((await readJobRegions(ctx, job)) ?? {}), ...targets.map((t) => t.region)]);
  for (const region of regions) {
    const [found] = await liveInstancesTagged(cloud, region, onDemandTags(ctx.config.prefix, job.jobId, task.taskId, n));
    if (found?.InstanceId) {
      const pool = poolOf(region, found);
      ctx.log.info({ attempt: n, pool: poolKey(pool), instanceId: found.InstanceId }, 'on-demand instance of the attempt found: adopted');
      return attemptOf(pool, found.InstanceId, undefined, true);
    }
  }

  const refused: string[] = [];
  let tries = 0;
  let notReady: RegionNotReadyError | undefined;
  for (const target of targets) {
    if (tries >= MAX_TRIES) break;
    const pool = { region: target.region, zone: target.zone, type: target.type };
    let prepared;
    try {
      prepared = await ensureRegion(ctx, job, pool.region);
    } catch (err) {
      if (!(err instanceof RegionNotReadyError)) throw err;
      // Its image copy is pending (or another task prepares it): the next target, which may be ready.
      notReady ??= err;
      refused.push(`${poolKey(pool)}: region not ready (${err.message})`);
      continue;
    }
    const imageId = prepared.images[pool.type];
    if (!imageId) {
      refused.push(`${poolKey(pool)}: no image`);
      continue;
    }
    const tags = Object.entries({ ...resourceTags(ctx.config.prefix, job.jobId, job.spec), ...onDemandTags(ctx.config.prefix, job.jobId, task.taskId, n) }).map(([Key, Value]) => ({ Key, Value }));
    tries++;
    try {
      const out = await cloud.ec2(pool.region).send(
        new RunInstancesCommand({
          ClientToken: token,
          MinCount: 1,
          MaxCount: 1,
          ImageId: imageId,
          InstanceType: pool.type as never,
          KeyName: prepared.security.keyName,
          SecurityGroupIds: [prepared.security.securityGroupId],
          IamInstanceProfile: { Arn: security.instanceProfileArn },
          Placement: { AvailabilityZone: pool.zone },
          UserData: hostKeyUserData(hostKey),
          TagSpecifications: [{ ResourceType: 'instance', Tags: tags }],
        }),
      );
      const instance = out.Instances?.[0];
      if (!instance?.InstanceId) throw new Error('RunInstances answered without an instance id');
      // The same token in the region answers with the instance launched first, wherever that was.
      const got = poolOf(pool.region, instance, pool);
      ctx.log.info({ attempt: n, pool: poolKey(got), instanceId: instance.InstanceId, price: target.price }, 'on-demand instance launched');
      return attemptOf(got, instance.InstanceId, target, poolKey(got) !== poolKey(pool));
    } catch (err) {
      const code = awsCode(err);
      if (code === 'IdempotentParameterMismatch') {
        // An earlier delivery launched this attempt in the region with other parameters: that instance is the attempt.
        const [found] = await liveInstancesTagged(cloud, pool.region, {}, token);
        if (found?.InstanceId) return attemptOf(poolOf(pool.region, found, pool), found.InstanceId, target, true);
        throw new TransientError(`RunInstances: IdempotentParameterMismatch for ${token} and no live instance launched with it (yet)`);
      }
      if (!code || !NO_CAPACITY_CODES.has(code)) throw err;
      ctx.log.info({ attempt: n, pool: poolKey(pool), code }, 'no on-demand capacity: trying the next pool');
      refused.push(`${poolKey(pool)}: ${code}`);
    }
  }
  const message = `no on-demand instance to be had now (${refused.join('; ')})`;
  if (!tries && notReady) throw notReady;
  if (refused.every((r) => r.endsWith('no image'))) throw new PermanentError(message);
  throw new TransientError(message);
}
