/** Find and stop what a job still has running: open spot requests and live instances, by the job tag. */
import {
  CancelSpotInstanceRequestsCommand,
  DescribeInstancesCommand,
  DescribeSpotInstanceRequestsCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { CloudClients } from '../../shared/aws.js';
import type { Attempt } from '../job/model.js';

const JOB_TAG = 'spotbatch:job';

export interface Leftovers {
  /** Instances not yet terminated (including shutting-down). */
  alive: number;
  cancelledRequests: number;
  terminated: number;
}

/** Cancel the job's open spot requests and terminate its instances in `region`. */
export async function stopJobResources(cloud: CloudClients, region: string, jobId: string): Promise<Leftovers> {
  const ec2 = cloud.ec2(region);
  const tagFilter = { Name: `tag:${JOB_TAG}`, Values: [jobId] };
  const requests = await ec2.send(
    new DescribeSpotInstanceRequestsCommand({ Filters: [tagFilter, { Name: 'state', Values: ['open', 'active'] }] }),
  );
  const open = (requests.SpotInstanceRequests ?? []).map((r) => r.SpotInstanceRequestId!).filter(Boolean);
  if (open.length) await ec2.send(new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: open }));
  // Instances of the job: tagged at launch, or launched by one of its requests.
  const ids = new Set<string>((requests.SpotInstanceRequests ?? []).map((r) => r.InstanceId!).filter(Boolean));
  const described = await ec2.send(
    new DescribeInstancesCommand({ Filters: [tagFilter, { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] }] }),
  );
  const states = new Map<string, string>();
  for (const r of described.Reservations ?? []) for (const i of r.Instances ?? []) if (i.InstanceId) states.set(i.InstanceId, i.State?.Name ?? '');
  for (const id of ids) if (!states.has(id)) states.set(id, 'unknown');
  const toTerminate = [...states].filter(([, s]) => s !== 'shutting-down' && s !== 'terminated').map(([id]) => id);
  let terminated = 0;
  if (toTerminate.length) {
    const out = await ec2.send(new TerminateInstancesCommand({ InstanceIds: toTerminate })).catch((err: { name?: string }) => {
      if (err.name === 'InvalidInstanceID.NotFound') return undefined;
      throw err;
    });
    terminated = out?.TerminatingInstances?.length ?? 0;
  }
  const alive = [...states.values()].filter((s) => s !== 'terminated' && s !== 'unknown').length;
  return { alive, cancelledRequests: open.length, terminated };
}

export async function terminateInstance(cloud: CloudClients, region: string, instanceId: string): Promise<void> {
  try {
    await cloud.ec2(region).send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'InvalidInstanceID.NotFound') throw err;
  }
}

export async function cancelSpotRequest(cloud: CloudClients, region: string, requestId: string): Promise<void> {
  try {
    await cloud.ec2(region).send(new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [requestId] }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'InvalidSpotInstanceRequestID.NotFound') throw err;
  }
}

/** Cancel a task's standby request (rebalance migration) and terminate its instance, if any: the task ended or gave it up. */
export async function releaseStandby(cloud: CloudClients | undefined, standby: Attempt | undefined): Promise<void> {
  if (!standby || !cloud) return;
  if (standby.spotRequestId) await cancelSpotRequest(cloud, standby.pool.region, standby.spotRequestId);
  const out = standby.spotRequestId
    ? await cloud.ec2(standby.pool.region).send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [standby.spotRequestId] })).catch(() => undefined)
    : undefined;
  const instanceId = standby.instanceId ?? out?.SpotInstanceRequests?.[0]?.InstanceId;
  if (instanceId) await terminateInstance(cloud, standby.pool.region, instanceId);
}
