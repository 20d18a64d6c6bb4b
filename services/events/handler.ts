/**
 * ec2.event: EventBridge's EC2 events on the events queue. State changes are
 * acknowledged (the lifecycle follows instances itself); interruption warnings
 * and rebalance recommendations are logged here until the interruption
 * handling maps them to the task whose instance it is.
 */
import type { HandlerContext } from '../dispatcher/context.js';
import type { FleetCatalog } from '../catalog.js';
import type { Ec2Event } from './schema.js';

export async function ec2Event(event: Ec2Event, ctx: HandlerContext<FleetCatalog>): Promise<void> {
  const instanceId = event.detail['instance-id'];
  const type = event['detail-type'];
  if (type === 'EC2 Instance State-change Notification') {
    ctx.log.debug({ instanceId, state: event.detail.state }, 'instance state change');
    return;
  }
  ctx.log.info({ instanceId, type, region: event.region, action: event.detail['instance-action'] }, 'EC2 event');
}
