/**
 * An on-demand attempt: a deadline's fallback. RunInstances (no InstanceMarketOptions: on demand) with
 * what a spot request of the job carries (image, key pair, security group, instance profile, the attempt's
 * pinned host key in the user data) and the job's tags on the instance at launch; no spot request.
 */
import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { awsCode } from '../../shared/aws-errors.js';
import { PermanentError, TransientError } from '../../shared/errors.js';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import { poolKey, resourceTags, type Attempt } from '../model/model.js';
import type { JobRow, TaskRow } from '../model/repo.js';
import { attemptHostKey, hostKeyUserData } from './host-keys.js';
import { ensureRegion } from './region-security.js';
import { requestToken } from './attempt.js';
import { NO_CAPACITY_CODES } from './market-link.js';
import type { OnDemandTarget } from './deadline.js';

type Ctx = HandlerContext<FleetCatalog>;

/** Targets a launch may try in one delivery when EC2 has no on-demand capacity for one. */
const MAX_TRIES = 4;

/**
 * Launch attempt `n` of the task on demand in the first of `targets` EC2 has capacity and the job an image
 * for. The ClientToken is the attempt's and the pool's (requestToken), so a redelivery gets the same
 * instance back. Throws TransientError when none has capacity now, PermanentError when no target is left.
 */
export async function launchOnDemand(ctx: Ctx, job: JobRow, task: TaskRow, n: number, targets: readonly OnDemandTarget[], why: string): Promise<Attempt> {
  const cloud = ctx.cloud;
  if (!cloud) throw new PermanentError('this dispatcher has no EC2/IAM clients');
  const security = job.security;
  if (!security) throw new PermanentError('the job has no security resources yet');
  if (!targets.length) throw new PermanentError('no pool of the job to run on demand in');
  const refused: string[] = [];
  for (const target of targets) {
    if (refused.length >= MAX_TRIES) break;
    const pool = { region: target.region, zone: target.zone, type: target.type };
    const { security: sec, images } = await ensureRegion(ctx, job, pool.region);
    const imageId = images[pool.type];
    if (!imageId) {
      refused.push(`${poolKey(pool)}: no image`);
      continue;
    }
    const hostKey = attemptHostKey(ctx.config, job, task.taskId, n);
    const tags = Object.entries({ ...resourceTags(ctx.config.prefix, job.jobId, job.spec), 'spotbatch:task': task.taskId, 'spotbatch:attempt': String(n), 'spotbatch:market': 'on-demand' }).map(([Key, Value]) => ({ Key, Value }));
    const now = ctx.clock.now();
    try {
      const out = await cloud.ec2(pool.region).send(
        new RunInstancesCommand({
          ClientToken: requestToken(ctx.config.prefix, job.jobId, task.taskId, n, pool),
          MinCount: 1,
          MaxCount: 1,
          ImageId: imageId,
          InstanceType: pool.type as never,
          KeyName: sec.keyName,
          SecurityGroupIds: [sec.securityGroupId],
          IamInstanceProfile: { Arn: security.instanceProfileArn },
          Placement: { AvailabilityZone: pool.zone },
          UserData: hostKeyUserData(hostKey),
          TagSpecifications: [{ ResourceType: 'instance', Tags: tags }],
        }),
      );
      const instanceId = out.Instances?.[0]?.InstanceId;
      if (!instanceId) throw new Error('RunInstances answered without an instance id');
      ctx.log.info({ attempt: n, pool: poolKey(pool), instanceId, price: target.price }, 'on-demand instance launched');
      return { n, pool, price: target.price, market: 'on-demand', instanceId, hostKey: hostKey.public, requestedAt: now, placement: `on demand: ${why}; ${poolKey(pool)} at the list price ${target.price.toFixed(4)} USD/h` };
    } catch (err) {
      const code = awsCode(err);
      if (!code || !NO_CAPACITY_CODES.has(code)) throw err;
      ctx.log.info({ attempt: n, pool: poolKey(pool), code }, 'no on-demand capacity: trying the next pool');
      refused.push(`${poolKey(pool)}: ${code}`);
    }
  }
  const message = `no on-demand instance to be had now (${refused.join('; ')})`;
  if (refused.every((r) => r.endsWith('no image'))) throw new PermanentError(message);
  throw new TransientError(message);
}
