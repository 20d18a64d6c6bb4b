/**
 * The engine that moves instances and spot requests through their states on
 * the simulated clock: launch latency, runtime start, market interruptions
 * (notice two simulated minutes ahead, then kill), user termination, spot
 * request evaluation and fulfilment, expiry.
 */
import type { SimContext } from './context.js';
import { buildEvent } from './events.js';
import { ids } from './ids.js';
import { allocateIp, releaseIp } from './ip-pool.js';
import { drawLatencyMs } from './latency.js';
import { standardFamily } from './faults.js';
import { resolveProfile } from './state/profiles.js';
import type { InstanceRecord, InstanceStateName, SpotRequestRecord, Tags } from './state/records.js';

const NOTICE_MS = 120_000;
const REBALANCE_LEAD_MS = 600_000;
const EVALUATION_MS = 2_000;
const RETRY_MS = 30_000;
/** Terminated instances stay visible this long (simulated), as on AWS. */
const TERMINATED_VISIBLE_MS = 3_600_000;
/** Closed and cancelled spot requests stay visible this long (simulated), as on AWS. */
const FINISHED_REQUEST_VISIBLE_MS = 4 * 3_600_000;

export type TerminationCause = 'user' | 'no-capacity' | 'price' | 'launch-failure';

export interface LaunchRequest {
  region: string;
  zone: string;
  instanceType: string;
  imageId: string;
  keyName?: string;
  groupIds: string[];
  spot: boolean;
  spotRequestId?: string;
  maxPrice?: number;
  iamProfile?: { arn: string; id: string; name: string };
  roleName?: string;
  tags: Tags;
  reservationId: string;
  clientToken?: string;
  /** User data as EC2 keeps it (base64). */
  userData?: string;
}

export class Lifecycle {
  /** runtime.start calls in flight, awaited by terminate so that stop follows start. */
  private readonly starting = new Map<string, Promise<void>>();

  constructor(private readonly sim: SimContext) {}

  private get clock() {
    return this.sim.clock;
  }

  private stateEvent(inst: InstanceRecord): void {
    this.sim.events.emit(
      buildEvent('EC2 Instance State-change Notification', inst.region, inst.instanceId, this.clock.date(), { state: inst.state }),
    );
  }

  private setState(inst: InstanceRecord, state: InstanceStateName): void {
    if (inst.state === state) return;
    inst.state = state;
    this.stateEvent(inst);
  }

  /** Create an instance in `pending`; it becomes `running` after the launch latency. */
  launch(req: LaunchRequest): InstanceRecord {
    const ordinal = ++this.sim.world.launches;
    const inst: InstanceRecord = {
      instanceId: ids.instance(),
      reservationId: req.reservationId,
      region: req.region,
      zone: req.zone,
      instanceType: req.instanceType,
      imageId: req.imageId,
      keyName: req.keyName,
      groupIds: req.groupIds,
      state: 'pending',
      stateTransitionReason: '',
      ip: allocateIp(),
      launchTime: this.clock.date(),
      spot: req.spot,
      spotRequestId: req.spotRequestId,
      maxPrice: req.maxPrice,
      iamProfile: req.iamProfile,
      roleName: req.roleName,
      tags: req.tags,
      clientToken: req.clientToken,
      ...(req.userData ? { userData: req.userData } : {}),
      launchOrdinal: ordinal,
      timers: [],
      started: false,
    };
    this.sim.world.instances.set(inst.instanceId, inst);
    this.sim.consistency.createdNow(inst.instanceId);
    this.stateEvent(inst);
    const latency = drawLatencyMs(this.sim.launchLatency, this.sim.seed, ordinal);
    inst.timers.push(this.clock.after(latency, () => void this.start(inst)));
    return inst;
  }

  private authorizedKeys(inst: InstanceRecord): string[] {
    if (!inst.keyName) return [];
    const kp = this.sim.world.keyPairByName(inst.region, inst.keyName);
    return kp ? [kp.publicKey] : [];
  }

  /** Whether the instance's security groups let `sourceIp` in on tcp/`port`. */
  allowIngress(inst: InstanceRecord, sourceIp: string, port: number): boolean {
    for (const gid of inst.groupIds) {
      const sg = this.sim.world.securityGroups.get(gid);
      if (!sg) continue;
      for (const rule of sg.ingress) {
        if (rule.protocol !== '-1' && rule.protocol !== 'tcp') continue;
        if (rule.protocol !== '-1' && !(port >= rule.fromPort && port <= rule.toPort)) continue;
        if (rule.cidr !== undefined && cidrContains(rule.cidr, sourceIp)) return true;
      }
    }
    return false;
  }

  private start(inst: InstanceRecord): Promise<void> {
    if (inst.state !== 'pending') return Promise.resolve();
    const starting = this.startRuntime(inst);
    this.starting.set(inst.instanceId, starting);
    return starting.finally(() => this.starting.delete(inst.instanceId));
  }

  private async startRuntime(inst: InstanceRecord): Promise<void> {
    try {
      await this.sim.runtime.start({
        instanceId: inst.instanceId,
        region: inst.region,
        availabilityZone: inst.zone,
        instanceType: inst.instanceType,
        imageId: inst.imageId,
        ip: inst.ip,
        authorizedKeys: this.authorizedKeys(inst),
        // An injected forgery: the instance ignores its cloud-init host keys, as an impostor at its address would.
        ...(inst.userData && !this.sim.faults.forgedHostKeys() ? { userData: Buffer.from(inst.userData, 'base64').toString('utf8') } : {}),
        loginUser: 'ec2-user',
        iamRoleName: inst.roleName,
        spot: inst.spot,
        launchTime: inst.launchTime,
        allowIngress: (sourceIp, port) => this.allowIngress(inst, sourceIp, port),
      });
    } catch (err) {
      this.sim.logger.error({ instanceId: inst.instanceId, err: String(err) }, 'instance runtime failed to start');
      if (inst.state === 'pending') {
        // no runtime.stop owed: the start failed (and terminate must not wait for this start)
        this.starting.delete(inst.instanceId);
        await this.terminate(inst, 'launch-failure');
      }
      return;
    }
    inst.started = true;
    if (inst.state !== 'pending') return; // terminated while starting: terminate() stops it
    this.setState(inst, 'running');
    if (inst.spot) this.planInterruption(inst);
  }

  /** Schedule the market's interruption of a spot instance (capacity or price). */
  private planInterruption(inst: InstanceRecord): void {
    const now = this.clock.now();
    const pool = { region: inst.region, zone: inst.zone, type: inst.instanceType };
    if (this.sim.faults.interrupting(inst.region, inst.zone, inst.instanceType)) {
      // the pool is kept interrupting (POST /_sim/pools/interrupt): the notice comes as soon as it runs
      this.interrupt(inst.instanceId);
      return;
    }
    let when = this.sim.market.interruptionTime(pool, now, inst.launchOrdinal);
    let cause: TerminationCause = 'no-capacity';
    if (inst.maxPrice !== undefined) {
      const byPrice = this.sim.market.priceExceeds(pool, now, inst.maxPrice);
      if (byPrice !== undefined && byPrice < when) {
        when = byPrice;
        cause = 'price';
      }
    }
    if (!Number.isFinite(when)) return;
    const noticeAt = Math.max(now, when - NOTICE_MS);
    if (noticeAt - now > 400 * 24 * 3_600_000) return; // beyond any sensible run
    const rebalanceAt = noticeAt - REBALANCE_LEAD_MS;
    if (rebalanceAt > now) inst.timers.push(this.clock.at(rebalanceAt, () => this.recommendRebalance(inst)));
    inst.timers.push(this.clock.at(noticeAt, () => this.interrupt(inst.instanceId, cause)));
  }

  /**
   * Give the interruption notice (metadata, events, spot request status) and
   * schedule the kill two simulated minutes later. False when not applicable.
   */
  interrupt(instanceId: string, cause: 'no-capacity' | 'price' = 'no-capacity'): boolean {
    const inst = this.sim.world.instances.get(instanceId);
    if (!inst || !inst.spot || (inst.state !== 'running' && inst.state !== 'pending') || inst.noticeTime !== undefined) return false;
    const now = this.clock.now();
    const time = new Date(now + NOTICE_MS);
    inst.noticeTime = now;
    this.sim.interruptions.record({ region: inst.region, zone: inst.zone, type: inst.instanceType }, now);
    this.recommendRebalance(inst);
    this.sim.runtime.notice(instanceId, { action: 'terminate', time });
    const at = this.clock.date();
    this.sim.events.emit(
      buildEvent('EC2 Spot Instance Interruption Warning', inst.region, instanceId, at, { 'instance-action': 'terminate' }),
    );
    const req = inst.spotRequestId ? this.sim.world.spotRequests.get(inst.spotRequestId) : undefined;
    if (req && (req.state === 'active' || req.state === 'cancelled')) {
      this.setRequestStatus(req, 'marked-for-termination', 'Spot Instance is marked for termination.');
    }
    inst.timers.push(this.clock.at(time.getTime(), () => void this.terminate(inst, cause)));
    return true;
  }

  /**
   * Admin (POST /_sim/pools/interrupt): the notice now to every pending or running spot instance of the
   * matching pools (not yet noticed). The ids noticed.
   */
  interruptPool(match: { region?: string; availabilityZone?: string; instanceType?: string }): string[] {
    const out: string[] = [];
    for (const inst of this.sim.world.instances.values()) {
      if (match.region !== undefined && inst.region !== match.region) continue;
      if (match.availabilityZone !== undefined && inst.zone !== match.availabilityZone) continue;
      if (match.instanceType !== undefined && inst.instanceType !== match.instanceType) continue;
      if (this.interrupt(inst.instanceId)) out.push(inst.instanceId);
    }
    return out;
  }

  /**
   * Standard spot vCPUs the region's quota counts now: spot instances pending or running, plus open spot
   * requests waiting for fulfilment (AWS counts both, "running Spot Instances ... or will use pending the
   * fulfillment of open Spot Instance requests").
   */
  spotVcpusInUse(region: string): number {
    let sum = 0;
    const vcpus = (type: string): number => (standardFamily(type) ? (this.sim.catalog.type(type)?.vcpus ?? 2) : 0);
    for (const inst of this.sim.world.instances.values()) {
      if (inst.region === region && inst.spot && (inst.state === 'pending' || inst.state === 'running')) sum += vcpus(inst.instanceType);
    }
    for (const req of this.sim.world.spotRequests.values()) {
      if (req.region === region && req.state === 'open') sum += vcpus(req.launchSpecification.InstanceType ?? 'm5.large');
    }
    return sum;
  }

  /** A rebalance recommendation now, without a notice (the admin API's). False when not applicable. */
  rebalance(instanceId: string): boolean {
    const inst = this.sim.world.instances.get(instanceId);
    if (!inst || !inst.spot || inst.state !== 'running' || inst.rebalanceTime !== undefined) return false;
    this.recommendRebalance(inst);
    return true;
  }

  /** The rebalance recommendation (metadata and event), once per instance. */
  private recommendRebalance(inst: InstanceRecord): void {
    if (inst.rebalanceTime !== undefined || inst.state === 'shutting-down' || inst.state === 'terminated') return;
    inst.rebalanceTime = this.clock.now();
    this.sim.runtime.rebalance(inst.instanceId, new Date(inst.rebalanceTime));
    this.sim.events.emit(buildEvent('EC2 Instance Rebalance Recommendation', inst.region, inst.instanceId, this.clock.date(), {}));
  }

  /** Terminate now: runtime stopped, state terminated, spot request updated. Idempotent. */
  async terminate(inst: InstanceRecord, cause: TerminationCause): Promise<void> {
    if (inst.state === 'shutting-down' || inst.state === 'terminated') return;
    for (const t of inst.timers) this.clock.cancel(t);
    inst.timers = [];
    const reason =
      cause === 'user'
        ? { code: 'Client.UserInitiatedShutdown', message: 'Client.UserInitiatedShutdown: User initiated shutdown' }
        : cause === 'launch-failure'
          ? { code: 'Server.InternalError', message: 'Server.InternalError: Internal error on launch' }
          : { code: 'Server.SpotInstanceTermination', message: 'Server.SpotInstanceTermination: Spot instance termination' };
    inst.stateReason = reason;
    inst.stateTransitionReason = `${cause === 'user' ? 'User initiated' : 'Service initiated'} (${this.clock.date().toISOString().replace(/\.\d{3}Z$/, ' GMT').replace('T', ' ')})`;
    this.setState(inst, 'shutting-down');
    this.updateRequestOnTermination(inst, cause);
    const starting = this.starting.get(inst.instanceId);
    if (starting) await starting;
    if (inst.started) {
      try {
        await this.sim.runtime.stop(inst.instanceId);
      } catch (err) {
        this.sim.logger.warn({ instanceId: inst.instanceId, err: String(err) }, 'instance runtime stop failed');
      }
    }
    inst.started = false;
    inst.terminatedAt = this.clock.now();
    this.setState(inst, 'terminated');
    releaseIp(inst.ip);
  }

  private updateRequestOnTermination(inst: InstanceRecord, cause: TerminationCause): void {
    const req = inst.spotRequestId ? this.sim.world.spotRequests.get(inst.spotRequestId) : undefined;
    if (!req) return;
    const [code, message] =
      cause === 'user'
        ? ['instance-terminated-by-user', 'Spot Instance terminated due to user-initiated termination.']
        : cause === 'price'
          ? ['instance-terminated-by-price', 'Spot Instance terminated because the Spot price rose above your maximum price.']
          : cause === 'launch-failure'
            ? ['bad-parameters', 'The instance could not be launched.']
            : ['instance-terminated-no-capacity', 'Spot Instance terminated due to no available capacity.'];
    this.setRequestStatus(req, code, message);
    if (req.type === 'persistent' && req.state === 'active' && cause !== 'launch-failure') {
      // a persistent request opens again and launches a replacement (until cancelled)
      req.state = 'open';
      req.timers.push(this.clock.after(RETRY_MS, () => this.evaluate(req)));
      return;
    }
    if (req.state === 'active' || req.state === 'open') req.state = cause === 'launch-failure' ? 'failed' : 'closed';
  }

  /** Drop terminated instances and finished spot requests that AWS would no longer show. */
  purge(): void {
    const now = this.clock.now();
    for (const [id, inst] of this.sim.world.instances) {
      if (inst.state === 'terminated' && inst.terminatedAt !== undefined && now - inst.terminatedAt > TERMINATED_VISIBLE_MS) {
        this.sim.world.instances.delete(id);
      }
    }
    for (const [id, req] of this.sim.world.spotRequests) {
      const done = req.state === 'closed' || req.state === 'cancelled' || req.state === 'failed';
      if (done && now - req.statusUpdate.getTime() > FINISHED_REQUEST_VISIBLE_MS && !(req.instanceId && this.isLive(req.instanceId))) {
        this.sim.world.spotRequests.delete(id);
      }
    }
  }

  private isLive(instanceId: string): boolean {
    const inst = this.sim.world.instances.get(instanceId);
    return inst !== undefined && inst.state !== 'terminated';
  }

  // ---- spot requests -------------------------------------------------------

  setRequestStatus(req: SpotRequestRecord, code: string, message: string): void {
    req.statusCode = code;
    req.statusMessage = message;
    req.statusUpdate = this.clock.date();
  }

  /** Spot launches refused with MaxSpotInstanceCountExceeded (calls and CreateFleet error entries), for /_sim/stats. */
  spotQuotaRefusals = 0;

  /** Admin (POST /_sim/spot-requests/hold): new requests stay open, pending evaluation, until fulfilNow, a cancel or their expiry. */
  holdRequests = false;

  /** A new request: pending-evaluation, then evaluated on the market. */
  submit(req: SpotRequestRecord): void {
    this.setRequestStatus(req, 'pending-evaluation', 'Your Spot request has been submitted for review, and is pending evaluation.');
    if (this.holdRequests) {
      if (req.validUntil) req.timers.push(this.clock.at(req.validUntil.getTime(), () => this.expire(req)));
      return;
    }
    const wait = req.validFrom ? Math.max(0, req.validFrom.getTime() - this.clock.now()) : 0;
    req.timers.push(this.clock.after(wait + EVALUATION_MS, () => this.evaluate(req)));
    if (req.validUntil) req.timers.push(this.clock.at(req.validUntil.getTime(), () => this.expire(req)));
  }

  private expire(req: SpotRequestRecord): void {
    if (req.state !== 'open') return;
    for (const t of req.timers) this.clock.cancel(t);
    req.timers = [];
    req.state = 'closed';
    this.setRequestStatus(req, 'schedule-expired', 'Your Spot request has expired (ValidUntil passed) before it could be fulfilled.');
  }

  /** Pick a pool for the request now, or explain why not (status code). */
  private choosePool(req: SpotRequestRecord): { zone?: string; code?: string; message?: string } {
    const spec = req.launchSpecification;
    const type = spec.InstanceType ?? 'm5.large';
    const wanted = spec.Placement?.AvailabilityZone;
    const zones = wanted ? [wanted] : this.sim.catalog.zones(req.region).map((z) => z.name);
    const now = this.clock.now();
    const withCapacity = zones.filter(
      (zone) =>
        !this.sim.faults.noCapacity(req.region, zone, type) && this.sim.market.hasCapacity({ region: req.region, zone, type }, now),
    );
    if (withCapacity.length === 0) {
      return { code: 'capacity-not-available', message: 'There is no Spot capacity available that matches your request.' };
    }
    const priced = withCapacity
      .map((zone) => ({ zone, price: this.sim.market.price({ region: req.region, zone, type }, now) }))
      .sort((a, b) => a.price - b.price || a.zone.localeCompare(b.zone));
    const best = priced[0]!;
    if (best.price > req.maxPrice) {
      return { code: 'price-too-low', message: 'Your Spot request price is lower than the minimum required Spot request fulfillment price.' };
    }
    return { zone: best.zone };
  }

  private evaluate(req: SpotRequestRecord): void {
    if (req.state !== 'open') return;
    if (req.validUntil && this.clock.now() >= req.validUntil.getTime()) return this.expire(req);
    const choice = this.choosePool(req);
    if (!choice.zone) {
      this.setRequestStatus(req, choice.code!, choice.message!);
      req.timers.push(this.clock.after(RETRY_MS, () => this.evaluate(req)));
      return;
    }
    const zone = choice.zone;
    this.setRequestStatus(req, 'pending-fulfillment', 'Your Spot request is pending fulfillment.');
    req.timers.push(this.clock.after(EVALUATION_MS, () => this.fulfil(req, zone)));
  }

  private fulfil(req: SpotRequestRecord, zone: string): void {
    if (req.state !== 'open') return;
    const spec = req.launchSpecification;
    const type = spec.InstanceType ?? 'm5.large';
    if (this.sim.faults.noCapacity(req.region, zone, type) || !this.sim.market.hasCapacity({ region: req.region, zone, type }, this.clock.now())) {
      return this.evaluate(req);
    }
    const profile = resolveProfile(this.sim.world, spec.IamInstanceProfile);
    const inst = this.launch({
      region: req.region,
      zone,
      instanceType: type,
      imageId: spec.ImageId ?? '',
      keyName: spec.KeyName,
      groupIds: (spec.SecurityGroups ?? []).map((g) => g.GroupId ?? '').filter(Boolean),
      spot: true,
      spotRequestId: req.spotInstanceRequestId,
      maxPrice: req.maxPrice,
      iamProfile: profile?.profile,
      roleName: profile?.roleName,
      tags: new Map(),
      reservationId: ids.reservation(),
      ...(spec.UserData ? { userData: spec.UserData } : {}),
    });
    for (const t of req.timers) this.clock.cancel(t);
    req.timers = [];
    req.state = 'active';
    req.instanceId = inst.instanceId;
    req.launchedAvailabilityZone = zone;
    this.setRequestStatus(req, 'fulfilled', 'Your Spot request is fulfilled.');
  }

  /**
   * Admin (POST /_sim/spot-requests/{id}/fulfil): fulfil an open request now, in its cheapest zone with
   * capacity. The instance, or why not.
   */
  fulfilNow(req: SpotRequestRecord): { instanceId: string } | { error: string } {
    if (req.state !== 'open') return { error: `the request is ${req.state}` };
    const choice = this.choosePool(req);
    if (!choice.zone) return { error: choice.code ?? 'no pool' };
    this.fulfil(req, choice.zone);
    return req.instanceId ? { instanceId: req.instanceId } : { error: req.statusCode };
  }

  /** CancelSpotInstanceRequests for one request. */
  cancel(req: SpotRequestRecord): void {
    for (const t of req.timers) this.clock.cancel(t);
    req.timers = [];
    if (req.state === 'open') {
      req.state = 'cancelled';
      this.setRequestStatus(req, 'canceled-before-fulfillment', 'You canceled the Spot request before it was fulfilled.');
    } else if (req.state === 'active') {
      req.state = 'cancelled';
      this.setRequestStatus(req, 'request-canceled-and-instance-running', 'You canceled the Spot request, but the instance is still running.');
    }
  }
}

export function cidrContains(cidr: string, ip: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText ?? '32');
  const a = ipv4(base ?? '');
  const b = ipv4(ip);
  if (a === undefined || b === undefined || !(bits >= 0 && bits <= 32)) return false;
  if (bits === 0) return true;
  const mask = bits === 32 ? 0xffffffff : (~((1 << (32 - bits)) - 1)) >>> 0;
  return ((a & mask) >>> 0) === ((b & mask) >>> 0);
}

function ipv4(s: string): number | undefined {
  const parts = s.replace(/^::ffff:/, '').split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    const v = Number(p);
    if (!Number.isInteger(v) || v < 0 || v > 255) return undefined;
    n = n * 256 + v;
  }
  return n >>> 0;
}
