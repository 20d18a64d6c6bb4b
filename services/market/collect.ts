/**
 * The collectors: spot prices (DescribeSpotPriceHistory), spot placement
 * scores (GetSpotPlacementScores, within the budget planner's plan), the Spot
 * Instance Advisor feed and on-demand prices, each written to the market store
 * (only what changed). One collection of a kind runs at a time fleet-wide (a
 * lease); the handlers in handlers.ts call these.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DescribeAvailabilityZonesCommand, DescribeSpotPriceHistoryCommand, EC2Client, GetSpotPlacementScoresCommand, type EC2ClientConfig } from '@aws-sdk/client-ec2';
import type { Clock } from '../../shared/clock.js';
import type { Config } from '../../shared/config.js';
import type { CloudClients, CoreClients } from '../../shared/aws.js';
import type { Logger } from '../../shared/logger.js';
import type { Store } from '../../shared/store/index.js';
import { abortReason } from '../../shared/abort.js';
import { awsCode } from '../../shared/aws-errors.js';
import { describeError } from '../../shared/errors.js';
import { jobs } from '../model/repo.js';
import { marketSignals, type MarketStore, type PoolValue, type RegionTypeValue } from './store.js';
import { plan, poolId, type Plan } from './planner.js';

export const COLLECTION_KINDS = ['price', 'sps', 'if', 'ondemand'] as const;
export type CollectionKind = (typeof COLLECTION_KINDS)[number];

const DAY_MS = 86_400_000;
/** The longest a collector waits for one AWS call or one fetch (the drain's signal ends it sooner). */
export const CALL_TIMEOUT_MS = 30_000;
/** Pages read of one GetSpotPlacementScores query (single-AZ scores of 10 regions fit in one page of 100). */
export const SPS_PAGE_CAP = 10;
/** Pages of DescribeSpotPriceHistory read per region and run (1000 points each); a region cut short keeps its cursor. */
export const PRICE_PAGE_CAP = 100;
/** How long a collection's lease runs between renewals. */
const LEASE_MS = 15 * 60_000;

/** What a collector needs of a handler's context. */
export interface CollectContext {
  config: Config;
  clock: Clock;
  log: Logger;
  clients: CoreClients;
  cloud?: CloudClients;
  store: Store;
  /** Who runs it (the lease holder): the message id. */
  messageId: string;
  signal?: AbortSignal;
}

export interface CollectResult {
  kind: CollectionKind;
  skipped?: string;
  /** What went wrong without failing the collection (a credential that failed), stored as the collection's note. */
  note?: string;
  points: number;
  changed: number;
  ceased: number;
  calls: number;
  plan?: Plan;
}

function shipped(relative: string): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../..', relative), path.resolve(here, '../../..', relative)];
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}

export const defaultAdvisorFeed = (): string => shipped('data/market/spot-advisor/spot-advisor-data.2025-06-28.json');
export const defaultOnDemandFile = (): string => shipped('data/market/prices/ondemand_prices.csv');

export function marketRegions(config: Config): string[] {
  return [...new Set(config.market.regions ?? config.lifecycle.regions)].sort();
}

/** The abort signal of one AWS call or fetch: the drain's, and at most CALL_TIMEOUT_MS. */
export function callSignal(signal: AbortSignal | undefined, ms = CALL_TIMEOUT_MS): AbortSignal {
  return signal ? AbortSignal.any([signal, AbortSignal.timeout(ms)]) : AbortSignal.timeout(ms);
}

/**
 * A URL as errors and logs may show it: its origin only, and a short hash of the rest (path, query, fragment)
 * to tell two URLs of one origin apart. No user info, and nothing of the path: for a Slack, Discord or Teams
 * webhook (hooks.slack.com/services/T…/B…/<token>) and many feeds, the path is the credential.
 */
export function urlForLog(source: string): string {
  try {
    const u = new URL(source);
    const rest = `${u.pathname}${u.search}${u.hash}`;
    const tag = rest === '/' ? '' : ` (path #${createHash('sha256').update(rest).digest('hex').slice(0, 8)})`;
    return `${u.protocol}//${u.host}${tag}`;
  } catch {
    return '(a URL that does not parse)';
  }
}

const knownTypesCache = new Map<string, ReadonlySet<string>>();

/** The instance types the fleet knows: those of the on-demand price list (market.onDemandFile when a file, else the shipped one). */
export function knownTypes(config: Config): ReadonlySet<string> {
  const configured = config.market.onDemandFile;
  const file = configured && !/^https?:\/\//.test(configured) && existsSync(configured) ? configured : defaultOnDemandFile();
  let known = knownTypesCache.get(file);
  if (!known) {
    known = new Set(readFileSync(file, 'utf8').split('\n').slice(1).map((line) => line.split(',')[1]?.trim() ?? '').filter(Boolean));
    knownTypesCache.set(file, known);
  }
  return known;
}

/**
 * The types collected: market.types, and those the open jobs' specs name, only
 * known ones (knownTypes), the most named first, at most market.specTypes of
 * them: a submitter cannot make the fleet follow types without end.
 */
export async function marketTypes(ctx: Pick<CollectContext, 'config' | 'store'>): Promise<{ configured: string[]; fromSpecs: string[] }> {
  const configured = new Set(ctx.config.market.types);
  const cap = ctx.config.market.specTypes;
  const named = new Map<string, number>();
  if (cap > 0) {
    const known = knownTypes(ctx.config);
    for (const job of await jobs(ctx).listDue(Number.MAX_SAFE_INTEGER, 100)) {
      for (const t of new Set(job.spec?.instances.types ?? [])) if (!configured.has(t) && known.has(t)) named.set(t, (named.get(t) ?? 0) + 1);
    }
  }
  const fromSpecs = [...named].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, cap).map(([t]) => t);
  return { configured: [...configured].sort(), fromSpecs: fromSpecs.sort() };
}

/** The configured types plus (within their cap) those the open jobs' specs name. */
export async function typesInUse(ctx: Pick<CollectContext, 'config' | 'store'>): Promise<string[]> {
  const { configured, fromSpecs } = await marketTypes(ctx);
  return [...new Set([...configured, ...fromSpecs])].sort();
}

function ec2(ctx: CollectContext, region: string): EC2Client {
  if (!ctx.cloud) throw new Error('market collection needs EC2 clients (a fleet with cloud clients)');
  return ctx.cloud.ec2(region);
}

/** The lease of a running collection: `renew()` extends it, false when another holder has it now (the run should stop). */
interface Lease {
  renew(): Promise<boolean>;
}

/** Runs `fn` under the fleet-wide lease of `kind` (renewed by `fn` as it goes); a second collection of the same kind meanwhile is skipped. */
async function leased(ctx: CollectContext, kind: CollectionKind, fn: (store: MarketStore, lease: Lease) => Promise<Omit<CollectResult, 'kind'>>): Promise<CollectResult> {
  const name = `market:${kind}`;
  const holder = ctx.messageId;
  if (!(await ctx.store.leases.acquire(name, holder, LEASE_MS))) {
    ctx.log.info({ kind }, 'market: a collection of this kind is running elsewhere; skipped');
    return { kind, skipped: 'running elsewhere', points: 0, changed: 0, ceased: 0, calls: 0 };
  }
  const store = marketSignals(ctx);
  const at = ctx.clock.now();
  const lease: Lease = { renew: () => ctx.store.leases.acquire(name, holder, LEASE_MS) };
  try {
    const r = await fn(store, lease);
    const note = [r.skipped, r.note].filter(Boolean).join('; ');
    await store.recordCollection(kind, { at, ok: true, points: r.points, changed: r.changed, ceased: r.ceased, calls: r.calls, ...(note ? { note: note.slice(0, 500) } : {}) });
    ctx.log.info({ kind, points: r.points, changed: r.changed, ceased: r.ceased, calls: r.calls, ...(r.note ? { note: r.note } : {}) }, 'market: collected');
    return { kind, ...r };
  } catch (err) {
    await store.recordCollection(kind, { at, ok: false, points: 0, changed: 0, ceased: 0, calls: 0, note: describeError(err).slice(0, 500) }).catch(() => undefined);
    throw err;
  } finally {
    await ctx.store.leases.release(name, holder);
  }
}

/** DescribeSpotPriceHistory per region for the types in use, paginated, from the last point stored (the price in effect then included). */
export function collectPrices(ctx: CollectContext): Promise<CollectResult> {
  return leased(ctx, 'price', async (store, lease) => {
    const types = await typesInUse(ctx);
    const now = ctx.clock.now();
    const total = { points: 0, changed: 0, ceased: 0, calls: 0 };
    const cut: string[] = [];
    for (const region of marketRegions(ctx.config)) {
      if (!(await lease.renew())) throw new Error('market: the price collection lost its lease to another run; stopped');
      const cursor = await store.cursor(`price#${region}`);
      const start = Math.max(cursor ?? now - DAY_MS, now - 89 * DAY_MS);
      const newest = new Map<string, PoolValue>();
      let token: string | undefined;
      let pages = 0;
      do {
        total.calls++;
        pages++;
        const page = await ec2(ctx, region).send(
          new DescribeSpotPriceHistoryCommand({ InstanceTypes: types as never[], ProductDescriptions: ['Linux/UNIX'], StartTime: new Date(start), EndTime: new Date(now), MaxResults: 1000, ...(token ? { NextToken: token } : {}) }),
          { abortSignal: callSignal(ctx.signal) },
        );
        for (const p of page.SpotPriceHistory ?? []) {
          if (!p.AvailabilityZone || !p.InstanceType || !p.SpotPrice || !p.Timestamp) continue;
          const k = `${p.AvailabilityZone}#${p.InstanceType}`;
          const at = p.Timestamp.getTime();
          if ((newest.get(k)?.priceAt ?? -1) < at) newest.set(k, { zone: p.AvailabilityZone, type: p.InstanceType, price: Number(p.SpotPrice), priceAt: at });
        }
        token = page.NextToken || undefined;
      } while (token && pages < PRICE_PAGE_CAP);
      if (token) {
        // Cut short: what was read is applied, but the cursor stays, so the next run reads this region again.
        cut.push(region);
        ctx.log.warn({ region, pages }, 'market: price history cut short at the page cap; the region is read again next run');
      }
      const r = await store.applyPoolValues(region, [...newest.values()], now, token ? undefined : types);
      total.points += r.points;
      total.changed += r.changed;
      total.ceased += r.ceased;
      const last = Math.max(0, ...[...newest.values()].map((v) => v.priceAt ?? 0));
      if (last > 0 && !token) await store.setCursor(`price#${region}`, last);
    }
    return { ...total, ...(cut.length ? { note: `cut short at ${PRICE_PAGE_CAP} pages: ${cut.join(', ')}` } : {}) };
  });
}

/** How much each (region, type) score moved in the day before `now` (summed over zones); on the first day, the advisor's bucket. */
export async function scoreMoves(store: MarketStore, regions: readonly string[], now: number): Promise<Map<string, number>> {
  const moved = new Map<string, number>();
  let any = false;
  for (const region of regions) {
    for (const c of await store.changes(region, now - DAY_MS, now)) {
      if (c.field !== 'score' || typeof c.value !== 'number') continue;
      any = true;
      const prev = typeof c.previous === 'number' ? c.previous : c.value;
      const id = poolId({ region, type: c.type });
      moved.set(id, (moved.get(id) ?? 0) + Math.abs(c.value - prev));
    }
  }
  if (any) return moved;
  // First day: no score history yet. Riskier types (a higher advisor bucket) move most, so they go first.
  for (const region of regions) {
    for (const rt of await store.regionTypeRows(region)) if (rt.bucket !== undefined && rt.bucket > 0) moved.set(poolId({ region, type: rt.type }), rt.bucket);
  }
  return moved;
}

export function isBudgetRefusal(err: unknown): boolean {
  const name = (err as { name?: string; Code?: string }).name ?? '';
  return name === 'MaxConfigLimitExceeded';
}

/** The endpoint a client was configured with (tests, emulators), if any. */
async function endpointOf(client: EC2Client): Promise<string | undefined> {
  if (!client.config.endpoint) return undefined;
  const e = await client.config.endpoint();
  return `${e.protocol}//${e.hostname}${e.port ? `:${e.port}` : ''}${e.path}`;
}

/** The EC2 client a credential's queries go through (the fleet's own for the default), with a request timeout. */
function spsClient(ctx: CollectContext, credential: string, fleetEndpoint?: string): EC2Client {
  const region = ctx.config.region;
  const cred = ctx.config.market.sps.credentials.find((c) => c.name === credential);
  if (!cred) return ec2(ctx, region);
  const base: EC2ClientConfig = { region, maxAttempts: 2, requestHandler: { requestTimeout: CALL_TIMEOUT_MS, connectionTimeout: 10_000 } };
  // The same endpoint as the fleet's own EC2 client (AWS, or an emulator).
  if (fleetEndpoint) base.endpoint = fleetEndpoint;
  return new EC2Client('profile' in cred ? { ...base, profile: cred.profile } : { ...base, credentials: { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey, ...(cred.sessionToken ? { sessionToken: cred.sessionToken } : {}) } });
}

/** An error's AWS code or name: what a note may say of a credential's failure (its message may name a profile or a key). */
const errorCode = (err: unknown): string => awsCode(err) ?? (err instanceof Error ? err.name : 'error');

/**
 * GetSpotPlacementScores (SingleAvailabilityZone) for the planner's plan. Each
 * new configuration first takes a budget slot (MarketStore.takeSlot, a
 * conditional write), so no credential ever asks more new configurations than
 * its budget in a rolling 24 h, however many runs go at once. A query that
 * fails makes its credential unusable for the rest of the run (spent for 24 h
 * when AWS refused it for its budget); the other credentials go on, and the
 * scores read are written whatever happens after.
 */
export function collectScores(ctx: CollectContext, options: { seed?: number } = {}): Promise<CollectResult> {
  return leased(ctx, 'sps', async (store, lease) => {
    // The first day ranks pools by the advisor's buckets: load the feed first if it never was.
    if (!(await store.collections()).some((c) => c.kind === 'if' && c.ok)) {
      await collectAdvisor(ctx).catch((err: unknown) => ctx.log.warn({ err: describeError(err) }, 'market: the advisor feed could not be loaded before the first scores'));
    }
    const now = ctx.clock.now();
    const sps = ctx.config.market.sps;
    const regions = marketRegions(ctx.config);
    const { configured, fromSpecs } = await marketTypes(ctx);
    const types = [...new Set([...configured, ...fromSpecs])].sort();
    const names = sps.credentials.length ? sps.credentials.map((c) => c.name) : ['default'];
    const credentials: Array<{ name: string; left: number }> = [];
    for (const name of names) {
      const spent = await store.spentUntil(name);
      credentials.push({ name, left: spent !== undefined && spent > now ? 0 : await store.slotsLeft(name, sps.budget, now) });
    }
    const perRun = Math.max(1, Math.floor((sps.budget * names.length * sps.everyHours) / 24));
    const thePlan = plan({
      pools: regions.flatMap((region) => types.map((type) => ({ region, type }))),
      moved: await scoreMoves(store, regions, now),
      credentials,
      maxQueries: perRun,
      topK: sps.topK,
      explore: sps.explore,
      targets: sps.targets,
      limited: { types: new Set(fromSpecs), maxQueries: Math.floor(perRun * sps.specShare) },
      day: Math.floor(now / DAY_MS),
      seed: options.seed ?? now,
    });
    const zoneNames = new Map<string, string>();
    for (const region of new Set(thePlan.queries.flatMap((q) => q.regions))) {
      const out = await ec2(ctx, region).send(new DescribeAvailabilityZonesCommand({}), { abortSignal: callSignal(ctx.signal) });
      for (const z of out.AvailabilityZones ?? []) if (z.ZoneId && z.ZoneName) zoneNames.set(`${region}#${z.ZoneId}`, z.ZoneName);
    }
    const total = { points: 0, changed: 0, ceased: 0, calls: 0 };
    const byRegion = new Map<string, PoolValue[]>();
    const unusable = new Set<string>();
    const notes: string[] = [];
    const clients = new Map<string, EC2Client>();
    const fleetEndpoint = sps.credentials.length ? await endpointOf(ec2(ctx, ctx.config.region)) : undefined;
    let stopped: unknown;
    try {
      for (const q of thePlan.queries) {
        if (unusable.has(q.credential)) continue;
        if (!(await lease.renew())) {
          notes.push('stopped: another run took the lease');
          break;
        }
        // The slot first: a crash after the call never under-counts, and a slot another run took is never used twice.
        const slot = await store.takeSlot(q.credential, q.config, ctx.clock.now(), sps.budget);
        if (slot === 'none') {
          unusable.add(q.credential);
          continue;
        }
        await store.recordQuery(q.credential, q.config, now);
        let client = clients.get(q.credential);
        if (!client) clients.set(q.credential, (client = spsClient(ctx, q.credential, fleetEndpoint)));
        const scores: Array<[string, PoolValue]> = [];
        let token: string | undefined;
        let pages = 0;
        try {
          do {
            total.calls++;
            pages++;
            const out = await client.send(
              new GetSpotPlacementScoresCommand({ InstanceTypes: [q.type], RegionNames: q.regions, TargetCapacity: q.targetCapacity, SingleAvailabilityZone: true, MaxResults: 100, ...(token ? { NextToken: token } : {}) }),
              { abortSignal: callSignal(ctx.signal) },
            );
            for (const s of out.SpotPlacementScores ?? []) {
              const zone = s.Region && s.AvailabilityZoneId ? zoneNames.get(`${s.Region}#${s.AvailabilityZoneId}`) : undefined;
              if (!zone || !s.Region || s.Score === undefined) continue;
              scores.push([s.Region, { zone, type: q.type, score: s.Score, scoreTarget: q.targetCapacity, scoreAt: now }]);
            }
            token = out.NextToken || undefined;
          } while (token && pages < SPS_PAGE_CAP);
          if (token) ctx.log.warn({ credential: q.credential, type: q.type, pages }, 'market: placement scores cut short at the page cap');
        } catch (err) {
          // The drain ends the run (what was read is still written, below).
          if (ctx.signal?.aborted) throw err;
          unusable.add(q.credential);
          if (isBudgetRefusal(err)) {
            // AWS counts differently than we do: the credential is spent for a day.
            ctx.log.warn({ credential: q.credential }, 'market: AWS refused a placement-score query for its budget; credential marked spent for 24 h');
            await store.markSpent(q.credential, now + DAY_MS);
            notes.push(`${q.credential}: refused for its budget, spent for 24 h`);
          } else {
            ctx.log.warn({ credential: q.credential, code: errorCode(err) }, 'market: a placement-score query failed; the credential sits out the rest of this run');
            notes.push(`${q.credential}: ${errorCode(err)}`);
          }
        }
        for (const [region, v] of scores) {
          const list = byRegion.get(region) ?? [];
          list.push(v);
          byRegion.set(region, list);
        }
      }
    } catch (err) {
      stopped = err;
    } finally {
      for (const [name, c] of clients) if (ctx.config.market.sps.credentials.some((x) => x.name === name)) c.destroy();
    }
    // The scores already read are written, whatever stopped the run.
    try {
      for (const [region, values] of byRegion) {
        const r = await store.applyPoolValues(region, values, now);
        total.points += r.points;
        total.changed += r.changed;
      }
    } catch (err) {
      if (stopped === undefined) throw err;
    }
    if (stopped !== undefined) throw stopped;
    return { ...total, plan: thePlan, ...(notes.length ? { note: notes.join('; ') } : {}) };
  });
}

/**
 * fetch, bounded by CALL_TIMEOUT_MS and the drain's signal, whose errors name
 * the URL by its origin only (urlForLog): Node's own error text may hold the
 * whole URL (a token in its path or query), so it is never passed on, only its code.
 */
export async function fetchBounded(url: string, init: RequestInit, signal: AbortSignal | undefined, what: string): Promise<Response> {
  const shown = urlForLog(url);
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: callSignal(signal) });
  } catch (err) {
    if (signal?.aborted) throw abortReason(signal);
    const e = err as { name?: string; cause?: { code?: unknown; name?: unknown } };
    const why = e.name === 'TimeoutError' ? `no answer within ${CALL_TIMEOUT_MS / 1000} s` : typeof e.cause?.code === 'string' ? e.cause.code : typeof e.cause?.name === 'string' ? e.cause.name : (e.name ?? 'failed');
    // No `cause`: Node's error (and so any log of its cause) carries the whole URL.
    // eslint-disable-next-line preserve-caught-error
    throw new Error(`${what}: ${shown}: ${why}`);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new Error(`${what}: ${shown} answered HTTP ${res.status}`);
  }
  return res;
}

async function readSource(source: string, signal: AbortSignal | undefined, what: string): Promise<string> {
  if (/^https?:\/\//.test(source)) {
    const res = await fetchBounded(source, {}, signal, what);
    try {
      return await res.text();
    } catch (err) {
      if (signal?.aborted) throw abortReason(signal);
      // eslint-disable-next-line preserve-caught-error -- no cause: its text may carry the whole URL
      throw new Error(`${what}: ${urlForLog(source)}: the answer was cut off (${(err as Error).name})`);
    }
  }
  return readFileSync(source, 'utf8');
}

interface AdvisorFeed {
  spot_advisor?: Record<string, { Linux?: Record<string, { r?: number; s?: number }> }>;
}

/** The Spot Instance Advisor feed (spot-advisor-data.json): bucket and savings per region and type in use; a type gone from the feed is ceased. */
export function collectAdvisor(ctx: CollectContext): Promise<CollectResult> {
  return leased(ctx, 'if', async (store) => {
    const feed = JSON.parse(await readSource(ctx.config.market.advisorFeed ?? defaultAdvisorFeed(), ctx.signal, 'market: the advisor feed')) as AdvisorFeed;
    const now = ctx.clock.now();
    const types = new Set(await typesInUse(ctx));
    const total = { points: 0, changed: 0, ceased: 0, calls: 1 };
    for (const region of marketRegions(ctx.config)) {
      const linux = feed.spot_advisor?.[region]?.Linux ?? {};
      const values: RegionTypeValue[] = [];
      for (const [type, v] of Object.entries(linux)) {
        if (!types.has(type) || typeof v.r !== 'number') continue;
        values.push({ type, bucket: v.r, ...(typeof v.s === 'number' ? { savings: v.s } : {}), at: now });
      }
      const r = await store.applyRegionTypeValues(region, values, { field: 'bucket', at: now });
      total.points += r.points;
      total.changed += r.changed;
      total.ceased += r.ceased;
    }
    return total;
  });
}

/** On-demand prices from a CSV file (region,instance_type,ondemand_usd_per_hour) for the regions and types in use. */
export function collectOnDemand(ctx: CollectContext): Promise<CollectResult> {
  return leased(ctx, 'ondemand', async (store) => {
    const text = await readSource(ctx.config.market.onDemandFile ?? defaultOnDemandFile(), ctx.signal, 'market: the on-demand prices');
    const now = ctx.clock.now();
    const types = new Set(await typesInUse(ctx));
    const regions = new Set(marketRegions(ctx.config));
    const byRegion = new Map<string, RegionTypeValue[]>();
    for (const line of text.split('\n').slice(1)) {
      const [region, type, price] = line.split(',');
      const usd = Number(price);
      if (!region || !type || !regions.has(region) || !types.has(type) || !(usd > 0)) continue;
      const list = byRegion.get(region) ?? [];
      list.push({ type, onDemand: usd, at: now });
      byRegion.set(region, list);
    }
    const total = { points: 0, changed: 0, ceased: 0, calls: 1 };
    for (const [region, values] of byRegion) {
      const r = await store.applyRegionTypeValues(region, values);
      total.points += r.points;
      total.changed += r.changed;
    }
    return total;
  });
}
