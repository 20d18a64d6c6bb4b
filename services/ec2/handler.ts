/**
 * ec2.event: EventBridge's EC2 events on the events queue. An interruption
 * warning for one of our instances becomes termination.detected (source
 * `events`), a rebalance recommendation rebalance.detected, for the task whose
 * instance it is, found through the instance's tags. State changes are acknowledged.
 */
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import type { Ec2Event } from '../model/ec2-event.js';

export const INTERRUPTION_WARNING = 'EC2 Spot Instance Interruption Warning';
export const REBALANCE_RECOMMENDATION = 'EC2 Instance Rebalance Recommendation';

export async function ec2Event(event: Ec2Event, ctx: HandlerContext<FleetCatalog>): Promise<void> {
  const instanceId = event.detail['instance-id'];
  const type = event['detail-type'];
  if ((type !== INTERRUPTION_WARNING && type !== REBALANCE_RECOMMENDATION) || !instanceId || !ctx.cloud) {
    ctx.log.debug({ instanceId, type, state: event.detail.state }, 'EC2 event acknowledged');
    return;
  }
  let tags: Record<string, string> = {};
  try {
    const out = await ctx.cloud.ec2(event.region).send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    const instance = out.Reservations?.[0]?.Instances?.[0];
    tags = Object.fromEntries((instance?.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  } catch (err) {
    if ((err as { name?: string }).name !== 'InvalidInstanceID.NotFound') throw err;
  }
  const jobId = tags['spotbatch:job'];
  const taskId = tags['spotbatch:task'];
  const attempt = Number(tags['spotbatch:attempt']);
  if (!jobId || !taskId || !Number.isInteger(attempt) || attempt < 1) {
    ctx.log.debug({ instanceId, type }, 'EC2 event for an instance that is not a task of ours');
    return;
  }
  if (type === REBALANCE_RECOMMENDATION) {
    await ctx.bus.send('rebalance.detected', { jobId, taskId, attempt, source: 'events', instanceId });
    return;
  }
  await ctx.bus.send('termination.detected', {
    jobId,
    taskId,
    attempt,
    source: 'events',
    instanceId,
    ...(event.detail['instance-action'] ? { action: event.detail['instance-action'] } : {}),
    noticeTime: event.time,
  });
}
