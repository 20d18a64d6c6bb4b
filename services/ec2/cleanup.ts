/**
 * Find and stop what a job still has running: its spot requests (open, active, or cancelled with their
 * instance still running) and its live instances. Found by every handle the fleet has: the job tag on
 * requests and instances, the request ids its attempts recorded, and the instance id of each of those
 * requests in any state (an instance launched by a request carries no job tag until spot.check adds it).
 * Tagged means tagged with the fleet (config.prefix) and the job, both: another fleet's job of the same id is not this one.
 */
import {
  CancelSpotInstanceRequestsCommand,
  paginateDescribeInstances,
  DescribeSpotInstanceRequestsCommand,
  paginateDescribeSpotInstanceRequests,
  TerminateInstancesCommand,
  type Filter,
  type Instance,
  type SpotInstanceRequest,
} from '@aws-sdk/client-ec2';
import { untilVisible, type CloudClients } from '../../shared/aws.js';
import { call, callOr } from '../../shared/aws-errors.js';
import type { Attempt } from '../model/model.js';

const JOB_TAG = 'spotbatch:job';
const FLEET_TAG = 'spotbatch:fleet';
/** Ids per Describe filter: well under EC2's limits. */
const CHUNK = 100;
/** Request statuses that say the request's instance still runs, whatever DescribeInstances shows yet. */
const INSTANCE_RUNNING_CODES = new Set(['fulfilled', 'request-canceled-and-instance-running', 'marked-for-termination', 'marked-for-stop']);

export interface Leftovers {
  /** Instances not yet terminated (including shutting-down). */
  alive: number;
  cancelledRequests: number;
  terminated: number;
}

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/** Every spot request matching the filters, in any state (a filter never answers NotFound, unlike ids). */
async function describeRequests(cloud: CloudClients, region: string, filters: Filter[]): Promise<SpotInstanceRequest[]> {
  const out: SpotInstanceRequest[] = [];
  await call('DescribeSpotInstanceRequests', async () => {
    for await (const page of paginateDescribeSpotInstanceRequests({ client: cloud.ec2(region) }, { Filters: filters })) out.push(...(page.SpotInstanceRequests ?? []));
  });
  return out;
}

async function describeInstances(cloud: CloudClients, region: string, filters: Filter[]): Promise<Instance[]> {
  const out: Instance[] = [];
  await call('DescribeInstances', async () => {
    for await (const page of paginateDescribeInstances({ client: cloud.ec2(region) }, { Filters: filters })) {
      for (const r of page.Reservations ?? []) out.push(...(r.Instances ?? []));
    }
  });
  return out;
}

/**
 * Cancel the job's open and active spot requests and terminate its instances in `region`. `requestIds`:
 * the spot requests the job's attempts recorded there (found even if their tags never arrived).
 */
export async function stopJobResources(cloud: CloudClients, region: string, owner: { fleet: string; jobId: string }, requestIds: readonly string[] = []): Promise<Leftovers> {
  return stopTaggedResources(cloud, region, { [FLEET_TAG]: owner.fleet, [JOB_TAG]: owner.jobId }, requestIds);
}

/** The same for whatever carries every one of `tags` (a fleet's job, a market probe) and the requests `requestIds`. */
export async function stopTaggedResources(cloud: CloudClients, region: string, tags: Record<string, string>, requestIds: readonly string[] = []): Promise<Leftovers> {
  const tagFilter: Filter[] = Object.entries(tags).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] }));
  const requests = new Map<string, SpotInstanceRequest>();
  const remember = (list: SpotInstanceRequest[]) => {
    for (const r of list) if (r.SpotInstanceRequestId) requests.set(r.SpotInstanceRequestId, r);
  };
  remember(await describeRequests(cloud, region, tagFilter));
  const untold = [...new Set(requestIds)].filter((id) => !requests.has(id));
  for (const ids of chunks(untold)) remember(await describeRequests(cloud, region, [{ Name: 'spot-instance-request-id', Values: ids }]));

  const open = [...requests.values()].filter((r) => r.State === 'open' || r.State === 'active').map((r) => r.SpotInstanceRequestId!);
  for (const ids of chunks(open)) {
    await callOr('CancelSpotInstanceRequests', () => cloud.ec2(region).send(new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: ids })), [
      'InvalidSpotInstanceRequestID.NotFound',
    ]);
    // A request fulfilled between the describe and the cancel has an instance now: look again.
    remember(await describeRequests(cloud, region, [{ Name: 'spot-instance-request-id', Values: ids }]));
  }

  // Instances of the job: tagged, or launched by one of its requests (whatever their state).
  const fromRequests = new Map<string, string>();
  for (const r of requests.values()) if (r.InstanceId) fromRequests.set(r.InstanceId, r.Status?.Code ?? '');
  const states = new Map<string, string>();
  const note = (list: Instance[]) => {
    for (const i of list) if (i.InstanceId) states.set(i.InstanceId, i.State?.Name ?? '');
  };
  note(await describeInstances(cloud, region, tagFilter));
  for (const ids of chunks([...fromRequests.keys()].filter((id) => !states.has(id)))) {
    note(await describeInstances(cloud, region, [{ Name: 'instance-id', Values: ids }]));
  }
  // Not described (yet: EC2 is eventually consistent): alive if its request says it runs.
  for (const [id, code] of fromRequests) if (!states.has(id)) states.set(id, INSTANCE_RUNNING_CODES.has(code) ? 'unknown-running' : 'unknown');

  const toTerminate = [...states].filter(([, s]) => s !== 'shutting-down' && s !== 'terminated' && s !== 'unknown').map(([id]) => id);
  let terminated = 0;
  for (const ids of chunks(toTerminate)) {
    const out = await callOr('TerminateInstances', () => cloud.ec2(region).send(new TerminateInstancesCommand({ InstanceIds: ids })), ['InvalidInstanceID.NotFound']);
    if (out) {
      terminated += out.TerminatingInstances?.length ?? 0;
      continue;
    }
    // One id EC2 does not see (yet) fails the whole call: the others one by one.
    for (const id of ids.length > 1 ? ids : []) {
      await terminateInstance(cloud, region, id);
      terminated++;
    }
  }
  const alive = [...states.values()].filter((s) => s !== 'terminated' && s !== 'unknown').length;
  return { alive, cancelledRequests: open.length, terminated };
}

/**
 * Terminate one instance. A NotFound right after its launch does not prove it gone (EC2 eventual
 * consistency): the call is tried again with backoff a few times (untilVisible) before a NotFound
 * counts as gone; teardown still finds it by tag and by its request if it was not.
 */
export async function terminateInstance(cloud: CloudClients, region: string, instanceId: string): Promise<void> {
  try {
    await untilVisible(() => cloud.ec2(region).send(new TerminateInstancesCommand({ InstanceIds: [instanceId] })));
  } catch (err) {
    if ((err as { name?: string }).name !== 'InvalidInstanceID.NotFound') throw err;
  }
}

export async function cancelSpotRequest(cloud: CloudClients, region: string, requestId: string): Promise<void> {
  try {
    await untilVisible(() => cloud.ec2(region).send(new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [requestId] })));
  } catch (err) {
    if ((err as { name?: string }).name !== 'InvalidSpotInstanceRequestID.NotFound') throw err;
  }
}

/**
 * Cancel a spot request and terminate its instance, if it launched one (a cancelled request leaves its
 * instance running): `instanceId` when known, else the one the request names after the cancel.
 */
export async function releaseRequest(cloud: CloudClients, region: string, requestId: string, instanceId?: string): Promise<void> {
  await cancelSpotRequest(cloud, region, requestId);
  const out = await cloud.ec2(region).send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [requestId] })).catch(() => undefined);
  const launched = instanceId ?? out?.SpotInstanceRequests?.[0]?.InstanceId;
  if (launched) await terminateInstance(cloud, region, launched);
}

/** The spot requests in `region` carrying every one of `tags`, in any state. */
export async function requestsTagged(cloud: CloudClients, region: string, tags: Record<string, string>): Promise<SpotInstanceRequest[]> {
  return describeRequests(cloud, region, Object.entries(tags).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] })));
}

/**
 * The live (pending or running) instances in `region` carrying every one of `tags`, or launched with
 * `clientToken`: how an on-demand attempt an earlier delivery launched is found again (on-demand.ts).
 */
export async function liveInstancesTagged(cloud: CloudClients, region: string, tags: Record<string, string>, clientToken?: string): Promise<Instance[]> {
  const filters: Filter[] = [
    ...Object.entries(tags).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] })),
    ...(clientToken ? [{ Name: 'client-token', Values: [clientToken] }] : []),
    { Name: 'instance-state-name', Values: ['pending', 'running'] },
  ];
  return describeInstances(cloud, region, filters);
}

/** Cancel a task's standby request (rebalance migration) and terminate its instance, if any: the task ended or gave it up. */
export async function releaseStandby(cloud: CloudClients | undefined, standby: Attempt | undefined): Promise<void> {
  if (!standby || !cloud) return;
  if (standby.spotRequestId) await releaseRequest(cloud, standby.pool.region, standby.spotRequestId, standby.instanceId);
  else if (standby.instanceId) await terminateInstance(cloud, standby.pool.region, standby.instanceId);
}
