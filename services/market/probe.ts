/**
 * The launch-time probe (`spotbatch market probe`): N spot requests per (type,
 * region), EC2 choosing the zone, each followed until its instance runs and its
 * SSH port answers with a version banner; each launch's timeline (request,
 * fulfilled, running, SSH-ready) goes to the market store (recordLaunch), so
 * placement's launchP50Seconds includes it. Then every request is cancelled and
 * every instance terminated, whatever happened: done, error, timeout, or the
 * caller's abort signal (the CLI's Ctrl-C).
 *
 * Everything it makes carries the tag `spotbatch:probe=<probe id>`: the requests
 * (at creation), their instances (tagged once seen; cleanup also finds them
 * through their requests) and one security group per region,
 * `spotbatch-probe-<probe id>`, that lets SSH in from the ingress CIDR (no key
 * pair: reading the banner needs no login). cleanUpProbe finds all of it again
 * by that tag, should a probe process die before its own cleanup.
 */
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import {
  AuthorizeSecurityGroupIngressCommand,
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeInstanceTypesCommand,
  DescribeSecurityGroupsCommand,
  RequestSpotInstancesCommand,
  paginateDescribeInstances,
  paginateDescribeSpotInstanceRequests,
  type Instance,
  type SpotInstanceRequest,
} from '@aws-sdk/client-ec2';
import { untilVisible, type CloudClients } from '../../shared/aws.js';
import { awsCode, call, callOr } from '../../shared/aws-errors.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { stopTaggedResources } from '../ec2/cleanup.js';
import type { MarketSignals } from './signals.js';

export const PROBE_TAG = 'spotbatch:probe';
/** How often a probe looks at its requests and instances. */
export const PROBE_POLL_MS = 3000;
/** How long one SSH banner read may take. */
const BANNER_TIMEOUT_MS = 2000;
/** How long cleanup waits for instances to terminate (and the security group to become deletable). */
const CLEANUP_WAIT_MS = 180_000;
const CLEANUP_POLL_MS = 2000;
/** Request states and status codes after which a request without an instance will never get one. */
const DEAD_REQUEST_STATES = new Set(['cancelled', 'closed', 'failed']);
const ID = /^p[0-9a-f]{8}$/;

export interface ProbeOptions {
  types: readonly string[];
  regions: readonly string[];
  /** Requests per (type, region). */
  count: number;
  /** Bounds sending and following (cleanup comes after, always). */
  timeoutMs: number;
  /** Who may reach the instances' SSH port (the probe's security group rule): the caller's address. */
  ingressCidr: string;
  /** The port the instances' SSH servers listen on (lifecycle.sshPort; the simulator announces its own). */
  sshPort: number;
  /** `al2023` (default: the newest Amazon Linux 2023 of each region and architecture) or an AMI id used in every region. */
  image?: string;
  pollMs?: number;
  /** Aborting it stops sending and following; cleanup still runs. */
  signal?: AbortSignal;
  probeId?: string;
  /** One line per event (sent, fulfilled, running, ready, failed, cleanup), for a person watching. */
  onProgress?: (line: string) => void;
}

export interface ProbeDeps {
  cloud: CloudClients;
  market: Pick<MarketSignals, 'recordLaunch'>;
  clock: Clock;
  log?: Logger;
}

/** ready: SSH answered; failed: the request or its instance ended without it; not-ready: the probe stopped following first (timeout, abort, error). */
export type LaunchOutcome = 'ready' | 'failed' | 'not-ready';

export interface ProbeLaunch {
  region: string;
  type: string;
  /** Where EC2 placed it; absent until fulfilled. */
  zone?: string;
  clientToken: string;
  requestId?: string;
  instanceId?: string;
  ip?: string;
  requestedAt: number;
  fulfilledAt?: number;
  runningAt?: number;
  readyAt?: number;
  outcome: LaunchOutcome;
  /** Where it stood (not-ready) or what ended it (failed). */
  detail?: string;
  /** Its timeline went to the market store. */
  recorded: boolean;
}

export interface ProbePool {
  region: string;
  /** '-' for requests never fulfilled. */
  zone: string;
  type: string;
  launches: number;
  ready: number;
  /** Medians in seconds from the request, over the launches that got that far. */
  p50: { fulfilled?: number; running?: number; ready?: number };
}

export interface ProbeCleanup {
  region: string;
  cancelledRequests: number;
  terminated: number;
  /** Instances not yet terminated when cleanup gave up waiting (0 when clean). */
  alive: number;
  /** Security groups of the probe deleted, and those left (still in use, or an error). */
  groupsDeleted: number;
  groupsLeft: string[];
  error?: string;
}

export interface ProbeResult {
  probeId: string;
  /** done: every launch ready or failed; timeout / interrupted: stopped following first; error: see `error`. */
  ended: 'done' | 'timeout' | 'interrupted' | 'error';
  error?: string;
  launches: ProbeLaunch[];
  pools: ProbePool[];
  cleanup: ProbeCleanup[];
  /** Cleanup left nothing: no open request, no instance not terminated, no probe security group. */
  clean: boolean;
}

export function newProbeId(): string {
  return `p${randomBytes(4).toString('hex')}`;
}

export function checkProbeId(id: string): string {
  if (!ID.test(id)) throw new Error(`probe id: expected p and 8 hex digits (as a probe prints), got ${JSON.stringify(id.slice(0, 40))}`);
  return id;
}

const groupName = (probeId: string): string => `spotbatch-probe-${probeId}`;
const probeTags = (probeId: string) => [{ Key: PROBE_TAG, Value: probeId }];

const median = (xs: number[]): number | undefined => {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Wait `ms`, less if `until` (epoch ms) comes first, or until the signal aborts. */
function pause(ms: number, signal: AbortSignal | undefined, until = Number.POSITIVE_INFINITY): Promise<void> {
  const wait = Math.max(0, Math.min(ms, until - Date.now()));
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, wait);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Connect to `host:port` and read the SSH identification line (RFC 4253 4.2: `SSH-protoversion-...`;
 * other lines may come before it). The line, or undefined when nothing answered in time.
 */
export function sshBanner(host: string, port: number, timeoutMs = BANNER_TIMEOUT_MS): Promise<string | undefined> {
  return new Promise((resolve) => {
    let buffered = '';
    let settled = false;
    const socket = connect({ host, port });
    const finish = (line: string | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(line);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      const found = lines.slice(0, -1).find((l) => l.startsWith('SSH-'));
      if (found) return finish(found.replace(/\r$/, ''));
      if (buffered.length > 8192) finish(undefined);
    });
    socket.on('error', () => finish(undefined));
    socket.on('close', () => finish(undefined));
  });
}

/** The image of each type in a region: the AMI given, or the newest Amazon Linux 2023 of the type's architecture. */
async function imagesFor(cloud: CloudClients, region: string, types: readonly string[], image: string): Promise<Map<string, string>> {
  if (image !== 'al2023') return new Map(types.map((t) => [t, image]));
  const out = await call('DescribeInstanceTypes', () => cloud.ec2(region).send(new DescribeInstanceTypesCommand({ InstanceTypes: [...types] as never })));
  const arch = new Map<string, string>();
  for (const t of out.InstanceTypes ?? []) {
    const a = t.ProcessorInfo?.SupportedArchitectures?.find((x) => x === 'x86_64' || x === 'arm64');
    if (t.InstanceType && a) arch.set(t.InstanceType, a);
  }
  const missing = types.filter((t) => !arch.has(t));
  if (missing.length) throw new Error(`--types: ${missing.join(', ')} not offered in ${region}`);
  const byArch = new Map<string, string>();
  for (const a of new Set(arch.values())) {
    const imgs = await call('DescribeImages', () =>
      cloud.ec2(region).send(
        new DescribeImagesCommand({
          Owners: ['amazon'],
          Filters: [
            { Name: 'name', Values: [`al2023-ami-2023.*-${a}`] },
            { Name: 'architecture', Values: [a] },
            { Name: 'state', Values: ['available'] },
          ],
        }),
      ),
    );
    const newest = (imgs.Images ?? []).filter((i) => i.ImageId).sort((x, y) => (y.CreationDate ?? '').localeCompare(x.CreationDate ?? ''))[0];
    if (!newest?.ImageId) throw new Error(`no Amazon Linux 2023 image for ${a} in ${region}`);
    byArch.set(a, newest.ImageId);
  }
  return new Map(types.map((t) => [t, byArch.get(arch.get(t)!)!]));
}

/** The probe's security group in a region: SSH from `cidr`, nothing else. */
async function createGroup(cloud: CloudClients, region: string, probeId: string, cidr: string): Promise<string> {
  const ec2 = cloud.ec2(region);
  const out = await call('CreateSecurityGroup', () =>
    ec2.send(
      new CreateSecurityGroupCommand({
        GroupName: groupName(probeId),
        Description: `spotbatch market probe ${probeId}: ssh from ${cidr}`,
        TagSpecifications: [{ ResourceType: 'security-group', Tags: probeTags(probeId) }],
      }),
    ),
  );
  const groupId = out.GroupId;
  if (!groupId) throw new Error(`CreateSecurityGroup in ${region} answered without a group id`);
  await callOr(
    'AuthorizeSecurityGroupIngress',
    () =>
      untilVisible(() =>
        ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: cidr, Description: 'spotbatch probe ssh' }] }] })),
      ),
    ['InvalidPermission.Duplicate'],
  );
  return groupId;
}

async function describeRequests(cloud: CloudClients, region: string, ids: string[]): Promise<SpotInstanceRequest[]> {
  const out: SpotInstanceRequest[] = [];
  // A filter, not ids: ids just made may answer NotFound for a while (EC2 eventual consistency), a filter never does.
  for (let i = 0; i < ids.length; i += 100) {
    await call('DescribeSpotInstanceRequests', async () => {
      for await (const page of paginateDescribeSpotInstanceRequests({ client: cloud.ec2(region) }, { Filters: [{ Name: 'spot-instance-request-id', Values: ids.slice(i, i + 100) }] })) {
        out.push(...(page.SpotInstanceRequests ?? []));
      }
    });
  }
  return out;
}

async function describeInstances(cloud: CloudClients, region: string, ids: string[]): Promise<Instance[]> {
  const out: Instance[] = [];
  for (let i = 0; i < ids.length; i += 100) {
    await call('DescribeInstances', async () => {
      for await (const page of paginateDescribeInstances({ client: cloud.ec2(region) }, { Filters: [{ Name: 'instance-id', Values: ids.slice(i, i + 100) }] })) {
        for (const r of page.Reservations ?? []) out.push(...(r.Instances ?? []));
      }
    });
  }
  return out;
}

/** Delete the probe's security groups in a region, waiting (bounded) while an instance still holds one. */
async function deleteGroups(cloud: CloudClients, region: string, probeId: string, until: number): Promise<{ deleted: number; left: string[] }> {
  const ec2 = cloud.ec2(region);
  const out = await call('DescribeSecurityGroups', () => ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: `tag:${PROBE_TAG}`, Values: [probeId] }] })));
  let deleted = 0;
  const left: string[] = [];
  for (const g of out.SecurityGroups ?? []) {
    if (!g.GroupId) continue;
    for (;;) {
      try {
        await ec2.send(new DeleteSecurityGroupCommand({ GroupId: g.GroupId }));
        deleted++;
        break;
      } catch (err) {
        const code = awsCode(err);
        if (code === 'InvalidGroup.NotFound') break;
        if (code === 'DependencyViolation' && Date.now() < until) {
          await pause(CLEANUP_POLL_MS, undefined, until);
          continue;
        }
        left.push(`${g.GroupId} (${code ?? (err as Error).message})`);
        break;
      }
    }
  }
  return { deleted, left };
}

/**
 * Cancel every spot request of the probe in `region`, terminate every instance it made, wait (bounded) until
 * they are terminated, then delete its security group. `requestIds`: the requests the probe knows of (found
 * even if their tag never arrived); the tag finds the others.
 */
async function cleanRegion(cloud: CloudClients, region: string, probeId: string, requestIds: string[], log?: Logger): Promise<ProbeCleanup> {
  const until = Date.now() + CLEANUP_WAIT_MS;
  const result: ProbeCleanup = { region, cancelledRequests: 0, terminated: 0, alive: 0, groupsDeleted: 0, groupsLeft: [] };
  try {
    for (;;) {
      const left = await stopTaggedResources(cloud, region, { [PROBE_TAG]: probeId }, requestIds);
      result.cancelledRequests += left.cancelledRequests;
      result.terminated += left.terminated;
      result.alive = left.alive;
      // alive counts shutting-down instances too: once none is left, the security group can go.
      if (left.alive === 0 || Date.now() >= until) break;
      await pause(CLEANUP_POLL_MS, undefined, until);
    }
    const groups = await deleteGroups(cloud, region, probeId, until);
    result.groupsDeleted = groups.deleted;
    result.groupsLeft = groups.left;
  } catch (err) {
    result.error = (err as Error).message;
    log?.error({ region, probeId, err: result.error }, 'probe cleanup failed');
  }
  return result;
}

/** Stop everything a probe made in `regions` (its own cleanup, or after a probe process died): by its tag. */
export async function cleanUpProbe(cloud: CloudClients, probeId: string, regions: readonly string[], requestIds: ReadonlyMap<string, string[]> = new Map(), log?: Logger): Promise<ProbeCleanup[]> {
  checkProbeId(probeId);
  return Promise.all([...new Set(regions)].map((r) => cleanRegion(cloud, r, probeId, requestIds.get(r) ?? [], log)));
}

/** Per (region, zone, type): launches, how many got ready, median seconds to each stage. */
export function probePools(launches: readonly ProbeLaunch[]): ProbePool[] {
  const groups = new Map<string, ProbeLaunch[]>();
  for (const l of launches) {
    const k = `${l.region}\t${l.zone ?? '-'}\t${l.type}`;
    groups.set(k, [...(groups.get(k) ?? []), l]);
  }
  const secs = (ls: ProbeLaunch[], f: (l: ProbeLaunch) => number | undefined) =>
    median(ls.flatMap((l) => {
      const t = f(l);
      return t === undefined ? [] : [(t - l.requestedAt) / 1000];
    }));
  return [...groups]
    .map(([k, ls]) => {
      const [region, zone, type] = k.split('\t') as [string, string, string];
      const p50: ProbePool['p50'] = {};
      const f = secs(ls, (l) => l.fulfilledAt);
      const r = secs(ls, (l) => l.runningAt);
      const s = secs(ls, (l) => l.readyAt);
      if (f !== undefined) p50.fulfilled = f;
      if (r !== undefined) p50.running = r;
      if (s !== undefined) p50.ready = s;
      return { region, zone, type, launches: ls.length, ready: ls.filter((l) => l.outcome === 'ready').length, p50 };
    })
    .sort((a, b) => a.region.localeCompare(b.region) || a.type.localeCompare(b.type) || a.zone.localeCompare(b.zone));
}

/**
 * Run a probe: set up (images, one security group per region), send the requests, follow them every
 * `pollMs` until each is ready or failed, the timeout passes or the signal aborts; then clean up (always),
 * record the timelines of the launches that ended (ready or failed in a known pool; those cut short say
 * nothing of the pool and are not recorded), and answer what happened. Never throws for what happens in
 * EC2: an error ends the probe with `ended: 'error'`, after its cleanup.
 */
export async function runProbe(deps: ProbeDeps, opts: ProbeOptions): Promise<ProbeResult> {
  const { cloud, clock, log } = deps;
  const probeId = checkProbeId(opts.probeId ?? newProbeId());
  const regions = [...new Set(opts.regions)];
  const types = [...new Set(opts.types)];
  const pollMs = opts.pollMs ?? PROBE_POLL_MS;
  const deadline = Date.now() + opts.timeoutMs;
  const signal = opts.signal;
  const say = (line: string) => opts.onProgress?.(line);
  const stopped = (): 'timeout' | 'interrupted' | undefined => (signal?.aborted ? 'interrupted' : Date.now() >= deadline ? 'timeout' : undefined);
  const launches: ProbeLaunch[] = [];
  let ended: ProbeResult['ended'] = 'done';
  let error: string | undefined;
  let lastRequestedAt = 0;
  /** Set when the timeout or the signal came before every request was sent. */
  let cutShort: 'timeout' | 'interrupted' | undefined;

  try {
    // Set-up first, for every region, so that a region that cannot be probed stops the probe before any request.
    const setups = new Map<string, { images: Map<string, string>; groupId: string }>();
    for (const region of regions) {
      cutShort ??= stopped();
      if (cutShort) break;
      const images = await imagesFor(cloud, region, types, opts.image ?? 'al2023');
      const groupId = await createGroup(cloud, region, probeId, opts.ingressCidr);
      setups.set(region, { images, groupId });
    }
    let k = 0;
    for (const region of regions) {
      const setup = setups.get(region);
      for (const type of types) {
        for (let n = 1; n <= opts.count; n++) {
          k++;
          cutShort ??= stopped();
          if (cutShort || !setup) continue;
          // Timelines are keyed by request time in the store: one probe never gives two the same.
          const requestedAt = Math.max(clock.now(), lastRequestedAt + 1);
          lastRequestedAt = requestedAt;
          const launch: ProbeLaunch = { region, type, clientToken: `${probeId}-${k}`, requestedAt, outcome: 'not-ready', detail: 'not sent', recorded: false };
          launches.push(launch);
          try {
            const out = await cloud.ec2(region).send(
              new RequestSpotInstancesCommand({
                // The SDK's own retries of this call ask once.
                ClientToken: launch.clientToken,
                InstanceCount: 1,
                Type: 'one-time',
                // Expires by itself should every cleanup fail.
                ValidUntil: new Date(Date.now() + opts.timeoutMs),
                LaunchSpecification: { ImageId: setup.images.get(type)!, InstanceType: type as never, SecurityGroupIds: [setup.groupId] },
                TagSpecifications: [{ ResourceType: 'spot-instances-request', Tags: probeTags(probeId) }],
              }),
            );
            launch.requestId = out.SpotInstanceRequests?.[0]?.SpotInstanceRequestId;
            launch.detail = 'open';
            say(`${launch.requestId ?? '?'} ${region} ${type}: requested`);
          } catch (err) {
            launch.outcome = 'failed';
            launch.detail = `RequestSpotInstances: ${awsCode(err) ?? (err as Error).message}`;
            say(`${region} ${type}: ${launch.detail}`);
          }
        }
      }
    }

    // Follow every open launch until it is ready or failed.
    for (;;) {
      const open = launches.filter((l) => l.outcome === 'not-ready' && l.requestId);
      if (open.length === 0) break;
      const why = stopped();
      if (why) {
        ended = why;
        break;
      }
      await Promise.all(regions.map((region) => follow(deps, region, open.filter((l) => l.region === region), opts.sshPort, probeId, say)));
      if (launches.some((l) => l.outcome === 'not-ready' && l.requestId)) await pause(pollMs, signal, deadline);
    }
    if (ended === 'done' && cutShort) ended = cutShort;
  } catch (err) {
    ended = 'error';
    error = (err as Error).message;
    log?.error({ probeId, err: error }, 'probe failed; cleaning up');
  }

  // Cleanup, whatever happened above.
  say(`cleaning up probe ${probeId}: cancelling its spot requests, terminating its instances`);
  const ids = new Map<string, string[]>();
  for (const l of launches) if (l.requestId) ids.set(l.region, [...(ids.get(l.region) ?? []), l.requestId]);
  const cleanup = await cleanUpProbe(cloud, probeId, regions, ids, log);
  const clean = cleanup.every((c) => c.alive === 0 && c.groupsLeft.length === 0 && c.error === undefined);

  for (const l of launches) {
    if (l.outcome === 'not-ready' && ended !== 'done') l.detail = `${l.detail ?? ''}; stopped following (${ended})`.replace(/^; /, '');
    if (l.zone === undefined || l.outcome === 'not-ready') continue;
    try {
      await deps.market.recordLaunch(
        { region: l.region, zone: l.zone, type: l.type },
        { requestedAt: l.requestedAt, ...(l.fulfilledAt !== undefined ? { fulfilledAt: l.fulfilledAt } : {}), ...(l.runningAt !== undefined ? { runningAt: l.runningAt } : {}), ...(l.readyAt !== undefined ? { readyAt: l.readyAt } : {}) },
      );
      l.recorded = true;
    } catch (err) {
      log?.warn({ probeId, requestId: l.requestId, err: (err as Error).message }, 'probe launch not recorded');
    }
  }
  return { probeId, ended, ...(error !== undefined ? { error } : {}), launches, pools: probePools(launches), cleanup, clean };
}

/** One look at a region's open launches: request -> instance -> running -> SSH banner. */
async function follow(deps: ProbeDeps, region: string, open: ProbeLaunch[], sshPort: number, probeId: string, say: (line: string) => void): Promise<void> {
  if (open.length === 0) return;
  const { cloud, clock } = deps;
  const requests = new Map((await describeRequests(cloud, region, open.map((l) => l.requestId!))).map((r) => [r.SpotInstanceRequestId, r]));
  const now = clock.now();
  for (const l of open) {
    const r = requests.get(l.requestId);
    if (!r) continue; // not visible yet
    if (r.InstanceId && !l.instanceId) {
      l.instanceId = r.InstanceId;
      l.fulfilledAt = Math.max(now, l.requestedAt);
      const zone = r.LaunchedAvailabilityZone ?? r.LaunchSpecification?.Placement?.AvailabilityZone;
      if (zone) l.zone = zone;
      l.detail = 'fulfilled';
      say(`${l.requestId} ${region} ${l.zone ?? '?'} ${l.type}: fulfilled (${l.instanceId})`);
      // Request tags do not reach the instance: tag it, so the tag finds it (cleanup also finds it through its request).
      await untilVisible(() => cloud.ec2(region).send(new CreateTagsCommand({ Resources: [r.InstanceId!], Tags: probeTags(probeId) }))).catch((err: unknown) => {
        deps.log?.warn({ region, instanceId: r.InstanceId, code: awsCode(err) }, 'probe instance not tagged');
      });
    } else if (!r.InstanceId && DEAD_REQUEST_STATES.has(r.State ?? '')) {
      l.outcome = 'failed';
      l.detail = `request ${r.State}: ${r.Status?.Code ?? '?'}`;
      say(`${l.requestId} ${region} ${l.type}: ${l.detail}`);
    } else if (!r.InstanceId) {
      l.detail = `request ${r.State ?? '?'}: ${r.Status?.Code ?? '?'}`;
    }
  }
  const launched = open.filter((l) => l.instanceId && l.runningAt === undefined && l.outcome === 'not-ready');
  if (launched.length) {
    const instances = new Map((await describeInstances(cloud, region, launched.map((l) => l.instanceId!))).map((i) => [i.InstanceId, i]));
    const at = clock.now();
    for (const l of launched) {
      const i = instances.get(l.instanceId);
      const state = i?.State?.Name;
      const ip = i?.PublicIpAddress ?? i?.PrivateIpAddress;
      if (state === 'running' && ip) {
        l.runningAt = Math.max(at, l.fulfilledAt ?? l.requestedAt);
        l.ip = ip;
        l.detail = 'running; SSH not answering yet';
        say(`${l.requestId} ${region} ${l.zone ?? '?'} ${l.type}: running (${ip})`);
      } else if (state === 'shutting-down' || state === 'terminated' || state === 'stopping' || state === 'stopped') {
        l.outcome = 'failed';
        l.detail = `instance ${state}${i?.StateReason?.Code ? ` (${i.StateReason.Code})` : ''}`;
        say(`${l.requestId} ${region} ${l.type}: ${l.detail}`);
      } else {
        l.detail = `instance ${state ?? 'not visible yet'}`;
      }
    }
  }
  await Promise.all(
    open
      .filter((l) => l.ip && l.readyAt === undefined && l.outcome === 'not-ready')
      .map(async (l) => {
        const banner = await sshBanner(l.ip!, sshPort);
        if (!banner) return;
        l.readyAt = Math.max(clock.now(), l.runningAt ?? l.requestedAt);
        l.outcome = 'ready';
        l.detail = banner.slice(0, 80);
        say(`${l.requestId} ${region} ${l.zone ?? '?'} ${l.type}: SSH ready in ${((l.readyAt - l.requestedAt) / 1000).toFixed(1)} s`);
      }),
  );
}

const s1 = (x: number | undefined): string => (x === undefined ? '-' : x.toFixed(1));
const since = (l: ProbeLaunch, t: number | undefined): string => s1(t === undefined ? undefined : (t - l.requestedAt) / 1000);

/** The probe for a person: the pools (p50 seconds from the request), each launch's timeline, what was not ready, the cleanup. */
export function formatProbe(r: ProbeResult): string {
  const table = (head: string[], rows: string[][]): string[] => {
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
    return [head, ...rows].map((row) => row.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd());
  };
  const lines = [`probe ${r.probeId}: ${r.ended}${r.error ? ` (${r.error})` : ''}`, ''];
  lines.push(
    ...table(
      ['region', 'zone', 'type', 'launches', 'ready', 'p50 fulfilled s', 'p50 running s', 'p50 ssh-ready s'],
      r.pools.map((p) => [p.region, p.zone, p.type, String(p.launches), String(p.ready), s1(p.p50.fulfilled), s1(p.p50.running), s1(p.p50.ready)]),
    ),
    '',
    ...table(
      ['request', 'region', 'zone', 'type', 'instance', 'fulfilled s', 'running s', 'ssh-ready s', 'outcome', 'recorded'],
      r.launches.map((l) => [l.requestId ?? '-', l.region, l.zone ?? '-', l.type, l.instanceId ?? '-', since(l, l.fulfilledAt), since(l, l.runningAt), since(l, l.readyAt), l.outcome, l.recorded ? 'yes' : 'no']),
    ),
  );
  const notReady = r.launches.filter((l) => l.outcome !== 'ready');
  if (notReady.length) {
    lines.push('', 'not ready:');
    for (const l of notReady) lines.push(`  ${l.requestId ?? l.clientToken} ${l.region} ${l.zone ?? '-'} ${l.type}: ${l.outcome}: ${l.detail ?? ''}`);
  }
  lines.push('', 'cleanup:');
  for (const c of r.cleanup) {
    lines.push(
      `  ${c.region}: ${c.cancelledRequests} request(s) cancelled, ${c.terminated} instance(s) terminated, security groups deleted ${c.groupsDeleted}` +
        (c.alive ? `; ${c.alive} instance(s) NOT yet terminated` : '') +
        (c.groupsLeft.length ? `; left: ${c.groupsLeft.join(', ')}` : '') +
        (c.error ? `; FAILED: ${c.error}` : ''),
    );
  }
  if (!r.clean) lines.push(`  something is left: run \`spotbatch market probe --clean-up ${r.probeId} --regions ${r.cleanup.map((c) => c.region).join(',')}\``);
  return lines.join('\n');
}
