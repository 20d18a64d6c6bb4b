/** The admin API under /_sim/: inventory, stats, interrupt, rebalance, host-key, faults, spot request hold and fulfil, reset, healthz. JSON in and out. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { SimContext } from '../context.js';
import { faultsSchema } from '../faults.js';
import type { Stats } from '../stats.js';
import { inventory } from './inventory.js';

/** POST /_sim/spot-requests/hold: whether new spot requests wait for POST /_sim/spot-requests/{id}/fulfil. */
const holdSchema = z.object({ hold: z.boolean() }).strict();

/** POST /_sim/pools/interrupt: the pools (each field narrows; {} is every pool) and what follows, in simulated seconds. */
const poolInterruptSchema = z
  .object({
    region: z.string().min(1).optional(),
    availabilityZone: z.string().min(1).optional(),
    instanceType: z.string().min(1).optional(),
    /** The pools have no spot capacity for this long (InsufficientInstanceCapacity, capacity-not-available). */
    noCapacitySeconds: z.number().min(0).max(30 * 86_400).optional(),
    /** Spot instances that start running in the pools for this long get the notice at once. */
    interruptingSeconds: z.number().min(0).max(30 * 86_400).optional(),
  })
  .strict();

export interface AdminHooks {
  reset(): Promise<void>;
}

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const error = (res: ServerResponse, status: number, code: string, message: string, extra: Record<string, unknown> = {}): void =>
  json(res, status, { error: { code, message, ...extra } });

function parseJson(body: string): { ok: true; value: unknown } | { ok: false } {
  if (body.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(body) as unknown };
  } catch {
    return { ok: false };
  }
}

function validationError(res: ServerResponse, err: z.ZodError): void {
  const issues = err.issues.map((i) => ({ field: i.path.join('.') || '(body)', message: i.message }));
  const first = issues[0];
  error(res, 400, 'ValidationError', first ? `${first.field}: ${first.message}` : 'invalid body', { issues });
}

export async function handleAdmin(sim: SimContext, stats: Stats, hooks: AdminHooks, req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const method = req.method ?? 'GET';
  const route = url.pathname.replace(/\/+$/, '');
  if (route === '/_sim/healthz' && method === 'GET') {
    return json(res, 200, { ok: true, simulatedTime: sim.clock.date().toISOString(), clock: sim.clock.origin() });
  }
  if (route === '/_sim/inventory' && method === 'GET') return json(res, 200, inventory(sim));
  if (route === '/_sim/stats' && method === 'GET') {
    return json(res, 200, {
      ...stats.toJSON(),
      eventsSent: sim.events.sent,
      placementScores: sim.spsBudget.toJSON(sim.clock.now(), sim.faults.placementScoreConfigLimit()),
      interruptions: sim.interruptions.toJSON(),
      spotQuotaRefusals: sim.lifecycle.spotQuotaRefusals,
    });
  }
  if (route === '/_sim/faults' && method === 'GET') return json(res, 200, { faults: sim.faults.current() });
  if (route === '/_sim/faults' && method === 'POST') {
    const parsed = parseJson(body);
    if (!parsed.ok) return error(res, 400, 'InvalidJson', 'the body is not JSON');
    const result = faultsSchema.safeParse(parsed.value);
    if (!result.success) return validationError(res, result.error);
    sim.faults.set(result.data);
    return json(res, 200, { faults: sim.faults.current() });
  }
  if (route === '/_sim/reset' && method === 'POST') {
    await hooks.reset();
    sim.lifecycle.holdRequests = false;
    return json(res, 200, { ok: true });
  }
  if (route === '/_sim/spot-requests/hold' && method === 'POST') {
    const parsed = parseJson(body);
    if (!parsed.ok) return error(res, 400, 'InvalidJson', 'the body is not JSON');
    const result = holdSchema.safeParse(parsed.value);
    if (!result.success) return validationError(res, result.error);
    sim.lifecycle.holdRequests = result.data.hold;
    return json(res, 200, { hold: sim.lifecycle.holdRequests });
  }
  if (route === '/_sim/pools/interrupt' && method === 'POST') {
    const parsed = parseJson(body);
    if (!parsed.ok) return error(res, 400, 'InvalidJson', 'the body is not JSON');
    const result = poolInterruptSchema.safeParse(parsed.value);
    if (!result.success) return validationError(res, result.error);
    const { noCapacitySeconds, interruptingSeconds, ...match } = result.data;
    const now = sim.clock.now();
    const noCapacityUntil = noCapacitySeconds ? now + noCapacitySeconds * 1000 : undefined;
    const interruptingUntil = interruptingSeconds ? now + interruptingSeconds * 1000 : undefined;
    if (noCapacityUntil !== undefined || interruptingUntil !== undefined) sim.faults.addOutage({ match, noCapacityUntil, interruptingUntil });
    const interrupted = sim.lifecycle.interruptPool(match);
    return json(res, 200, {
      interrupted,
      noticeTime: new Date(now).toISOString(),
      terminationTime: new Date(now + 120_000).toISOString(),
      ...(noCapacityUntil !== undefined ? { noCapacityUntil: new Date(noCapacityUntil).toISOString() } : {}),
      ...(interruptingUntil !== undefined ? { interruptingUntil: new Date(interruptingUntil).toISOString() } : {}),
    });
  }
  const fulfil = /^\/_sim\/spot-requests\/([^/]+)\/fulfil$/.exec(route);
  if (fulfil && method === 'POST') {
    const id = decodeURIComponent(fulfil[1]!);
    const req = sim.world.spotRequests.get(id);
    if (!req) return error(res, 404, 'SpotRequestNotFound', `no spot request ${id}`, { field: 'id' });
    const out = sim.lifecycle.fulfilNow(req);
    if ('error' in out) return error(res, 409, 'NotFulfillable', `spot request ${id} cannot be fulfilled: ${out.error}`, { field: 'id' });
    return json(res, 200, { spotInstanceRequestId: id, instanceId: out.instanceId });
  }
  const interrupt = /^\/_sim\/instances\/([^/]+)\/interrupt$/.exec(route);
  if (interrupt && method === 'POST') {
    const id = decodeURIComponent(interrupt[1]!);
    const inst = sim.world.instances.get(id);
    if (!inst) return error(res, 404, 'InstanceNotFound', `no instance ${id}`, { field: 'id' });
    if (!sim.lifecycle.interrupt(id)) {
      const why = !inst.spot ? 'an on-demand instance' : `${inst.state}${inst.noticeTime !== undefined ? ' and already noticed' : ''}`;
      return error(res, 409, 'NotInterruptible', `instance ${id} is ${why}`, { field: 'id' });
    }
    return json(res, 200, {
      instanceId: id,
      noticeTime: new Date(inst.noticeTime!).toISOString(),
      terminationTime: new Date(inst.noticeTime! + 120_000).toISOString(),
    });
  }
  const hostKey = /^\/_sim\/instances\/([^/]+)\/host-key$/.exec(route);
  if (hostKey && (method === 'POST' || method === 'GET')) {
    const id = decodeURIComponent(hostKey[1]!);
    if (!sim.world.instances.get(id)) return error(res, 404, 'InstanceNotFound', `no instance ${id}`, { field: 'id' });
    // GET: the host key the instance presents; POST: it presents a new one from now on (an impostor at its address).
    const key = method === 'POST' ? sim.runtime.replaceHostKey(id) : sim.runtime.hostPublicKey(id);
    if (!key) return error(res, 409, 'NotRunning', `instance ${id} has no running SSH server`, { field: 'id' });
    return json(res, 200, { instanceId: id, hostPublicKey: key });
  }
  const rebalance = /^\/_sim\/instances\/([^/]+)\/rebalance$/.exec(route);
  if (rebalance && method === 'POST') {
    const id = decodeURIComponent(rebalance[1]!);
    const inst = sim.world.instances.get(id);
    if (!inst) return error(res, 404, 'InstanceNotFound', `no instance ${id}`, { field: 'id' });
    if (!sim.lifecycle.rebalance(id)) {
      const why = !inst.spot ? 'an on-demand instance' : `${inst.state}${inst.rebalanceTime !== undefined ? ' and already recommended' : ''}`;
      return error(res, 409, 'NotRebalanceable', `instance ${id} is ${why}`, { field: 'id' });
    }
    return json(res, 200, { instanceId: id, noticeTime: new Date(inst.rebalanceTime!).toISOString() });
  }
  return error(res, 404, 'NotFound', `no admin route ${method} ${url.pathname}`);
}
