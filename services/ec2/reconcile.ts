/**
 * Reconciliation against EC2: when SSH fails or a heartbeat stops, ask EC2
 * whether the attempt's instance is still there before calling it lost.
 */
import { DescribeInstancesCommand, DescribeSpotInstanceRequestsCommand } from '@aws-sdk/client-ec2';
import type { CloudClients } from '../../shared/aws.js';
import type { Attempt } from '../model/model.js';

/** Spot request status codes that mean the instance was (or is being) reclaimed. */
export const INTERRUPTED_CODES = new Set([
  'marked-for-termination',
  'marked-for-stop',
  'instance-terminated-by-price',
  'instance-terminated-no-capacity',
  'instance-terminated-capacity-oversubscribed',
  'instance-terminated-launch-group-constraint',
]);

/** Why an instance in `state` with state reason `reasonCode` was reclaimed by spot, or undefined when it was not (or is not gone). */
export function reclaimedState(state: string | undefined, reasonCode: string | undefined): string | undefined {
  if ((state === 'terminated' || state === 'shutting-down') && /Spot|spot/.test(reasonCode ?? '')) return `instance ${state} (${reasonCode})`;
  return undefined;
}

/** Why the attempt's instance is gone by spot reclaim, or undefined while EC2 still has it running (or it ended otherwise, or it is on demand). */
export async function reclaimed(cloud: CloudClients, attempt: Attempt): Promise<string | undefined> {
  // An on-demand instance is never reclaimed: one that stopped or vanished is a lost instance.
  if (attempt.market === 'on-demand') return undefined;
  const ec2 = cloud.ec2(attempt.pool.region);
  if (attempt.spotRequestId) {
    const out = await ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [attempt.spotRequestId] })).catch(() => undefined);
    const code = out?.SpotInstanceRequests?.[0]?.Status?.Code;
    if (code && INTERRUPTED_CODES.has(code)) return `spot request ${code}`;
  }
  if (!attempt.instanceId) return undefined;
  try {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [attempt.instanceId] }));
    const state = out.Reservations?.[0]?.Instances?.[0]?.State?.Name;
    const reason = out.Reservations?.[0]?.Instances?.[0]?.StateReason?.Code;
    if (!state) return 'instance vanished';
    return reclaimedState(state, reason);
  } catch (err) {
    if ((err as { name?: string }).name === 'InvalidInstanceID.NotFound') return 'instance vanished';
    throw err;
  }
}
