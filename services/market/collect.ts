/**
 * The collectors: spot prices (DescribeSpotPriceHistory), spot placement
 * scores (GetSpotPlacementScores, within the budget planner's plan), the Spot
 * Instance Advisor feed and on-demand prices, each written to the market store
 * (only what changed). One collection of a kind runs at a time fleet-wide (a
 * lease); the handlers in handlers.ts call these.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DescribeAvailabilityZonesCommand, EC2Client, GetSpotPlacementScoresCommand, paginateDescribeSpotPriceHistory, type EC2ClientConfig } from '@aws-sdk/client-ec2';
import type { Clock } from '../../shared/clock.js';
import type { Config } from '../../shared/config.js';
import type { CloudClients, CoreClients } from '../../shared/aws.js';
import type { Logger } from '../../shared/logger.js';
import type { Store } from '../../shared/store/index.js';
import { describeError } from '../../shared/errors.js';
import { jobs } from '../model/repo.js';
import { marketSignals, type MarketStore, type PoolValue, type RegionTypeValue } from './store.js';
import { plan, poolId, type Plan } from './planner.js';

export const COLLECTION_KINDS = ['price', 'sps', 'if', 'ondemand'] as const;
export type CollectionKind = (typeof COLLECTION_KINDS)[number];

const DAY_MS = 86_400_000;

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

/** The configured types plus those the open jobs' specs name. */
export async function typesInUse(ctx: Pick<CollectContext, 'config' | 'store'>): Promise<string[]> {
  const types = new Set(ctx.config.market.types);
  for (const job of await jobs(ctx).listDue(Number.MAX_SAFE_INTEGER, 100)) {
    for (const t of job.spec?.instances.types ?? []) types.add(t);
  }
  return [...types].sort();
}

function ec2(ctx: CollectContext, region: string): EC2Client {
  if (!ctx.cloud) throw new Error('market collection needs EC2 clients (a fleet with cloud clients)');
  return ctx.cloud.ec2(region);
}

/** Runs `fn` under the fleet-wide lease of `kind`; a second collection of the same kind meanwhile is skipped. */
async function leased(ctx: CollectContext, kind: CollectionKind, fn: (store: MarketStore) => Promise<Omit<CollectResult, 'kind'>>): Promise<CollectResult> {
  const name = `market:${kind}`;
  const holder = ctx.messageId;
  if (!(await ctx.store.leases.acquire(name, holder, 15 * 60_000))) {
    ctx.log.info({ kind }, 'market: a collection of this kind is running elsewhere; skipped');
    return { kind, skipped: 'running elsewhere', points: 0, changed: 0, ceased: 0, calls: 0 };
  }
  const store = marketSignals(ctx);
  const at = ctx.clock.now();
  try {
    const r = await fn(store);
    await store.recordCollection(kind, { at, ok: true, points: r.points, changed: r.changed, ceased: r.ceased, calls: r.calls, ...(r.skipped ? { note: r.skipped } : {}) });
    ctx.log.info({ kind, points: r.points, changed: r.changed, ceased: r.ceased, calls: r.calls }, 'market: collected');
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
  return leased(ctx, 'price', async (store) => {
    const types = await typesInUse(ctx);
    const now = ctx.clock.now();
    const total = { points: 0, changed: 0, ceased: 0, calls: 0 };
    for (const region of marketRegions(ctx.config)) {
      const cursor = await store.cursor(`price#${region}`);
      const start = Math.max(cursor ?? now - DAY_MS, now - 89 * DAY_MS);
      const newest = new Map<string, PoolValue>();
      const pages = paginateDescribeSpotPriceHistory(
        { client: ec2(ctx, region), pageSize: 1000 },
        { InstanceTypes: types as never[], ProductDescriptions: ['Linux/UNIX'], StartTime: new Date(start), EndTime: new Date(now) },
      );
      for await (const page of pages) {
        total.calls++;
        for (const p of page.SpotPriceHistory ?? []) {
          if (!p.AvailabilityZone || !p.InstanceType || !p.SpotPrice || !p.Timestamp) continue;
          const k = `${p.AvailabilityZone}#${p.InstanceType}`;
          const at = p.Timestamp.getTime();
          if ((newest.get(k)?.priceAt ?? -1) < at) newest.set(k, { zone: p.AvailabilityZone, type: p.InstanceType, price: Number(p.SpotPrice), priceAt: at });
        }
      }
      const r = await store.applyPoolValues(region, [...newest.values()], now, types);
      total.points += r.points;
      total.changed += r.changed;
      total.ceased += r.ceased;
      const last = Math.max(0, ...[...newest.values()].map((v) => v.priceAt ?? 0));
      if (last > 0) await store.setCursor(`price#${region}`, last);
    }
    return total;
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

/** The EC2 client a credential's queries go through (the fleet's own for the default). */
function spsClient(ctx: CollectContext, credential: string, fleetEndpoint?: string): EC2Client {
  const region = ctx.config.region;
  const cred = ctx.config.market.sps.credentials.find((c) => c.name === credential);
  if (!cred) return ec2(ctx, region);
  const base: EC2ClientConfig = { region, maxAttempts: 2 };
  // The same endpoint as the fleet's own EC2 client (AWS, or an emulator).
  if (fleetEndpoint) base.endpoint = fleetEndpoint;
  return new EC2Client('profile' in cred ? { ...base, profile: cred.profile } : { ...base, credentials: { accessKeyId: cred.accessKeyId, secretAccessKey: cred.secretAccessKey, ...(cred.sessionToken ? { sessionToken: cred.sessionToken } : {}) } });
}

/** GetSpotPlacementScores (SingleAvailabilityZone) for the planner's plan: never more queries than a credential has left in the rolling 24 h. */
export function collectScores(ctx: CollectContext, options: { seed?: number } = {}): Promise<CollectResult> {
  return leased(ctx, 'sps', async (store) => {
    const now = ctx.clock.now();
    const sps = ctx.config.market.sps;
    const regions = marketRegions(ctx.config);
    const types = await typesInUse(ctx);
    const names = sps.credentials.length ? sps.credentials.map((c) => c.name) : ['default'];
    const credentials: Array<{ name: string; left: number }> = [];
    for (const name of names) {
      const spent = await store.spentUntil(name);
      const used = (await store.configsUsed(name, now)).size;
      credentials.push({ name, left: spent !== undefined && spent > now ? 0 : Math.max(0, sps.budget - used) });
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
      day: Math.floor(now / DAY_MS),
      seed: options.seed ?? now,
    });
    const zoneNames = new Map<string, string>();
    for (const region of new Set(thePlan.queries.flatMap((q) => q.regions))) {
      const out = await ec2(ctx, region).send(new DescribeAvailabilityZonesCommand({}), { abortSignal: ctx.signal });
      for (const z of out.AvailabilityZones ?? []) if (z.ZoneId && z.ZoneName) zoneNames.set(`${region}#${z.ZoneId}`, z.ZoneName);
    }
    const total = { points: 0, changed: 0, ceased: 0, calls: 0 };
    const byRegion = new Map<string, PoolValue[]>();
    const spent = new Set<string>();
    const clients = new Map<string, EC2Client>();
    const fleetEndpoint = sps.credentials.length ? await endpointOf(ec2(ctx, ctx.config.region)) : undefined;
    try {
      for (const q of thePlan.queries) {
        if (spent.has(q.credential)) continue;
        let client = clients.get(q.credential);
        if (!client) clients.set(q.credential, (client = spsClient(ctx, q.credential, fleetEndpoint)));
        // The ledger first: a crash after the call never under-counts.
        await store.recordQuery(q.credential, q.config, now);
        let token: string | undefined;
        try {
          do {
            total.calls++;
            const out = await client.send(
              new GetSpotPlacementScoresCommand({ InstanceTypes: [q.type], RegionNames: q.regions, TargetCapacity: q.targetCapacity, SingleAvailabilityZone: true, MaxResults: 100, ...(token ? { NextToken: token } : {}) }),
              { abortSignal: ctx.signal },
            );
            for (const s of out.SpotPlacementScores ?? []) {
              const zone = s.Region && s.AvailabilityZoneId ? zoneNames.get(`${s.Region}#${s.AvailabilityZoneId}`) : undefined;
              if (!zone || !s.Region || s.Score === undefined) continue;
              const list = byRegion.get(s.Region) ?? [];
              list.push({ zone, type: q.type, score: s.Score, scoreTarget: q.targetCapacity, scoreAt: now });
              byRegion.set(s.Region, list);
            }
            token = out.NextToken;
          } while (token);
        } catch (err) {
          if (!isBudgetRefusal(err)) throw err;
          // AWS counts differently than we do: the credential is spent for a day.
          ctx.log.warn({ credential: q.credential }, 'market: AWS refused a placement-score query for its budget; credential marked spent for 24 h');
          await store.markSpent(q.credential, now + DAY_MS);
          spent.add(q.credential);
        }
      }
    } finally {
      for (const [name, c] of clients) if (ctx.config.market.sps.credentials.some((x) => x.name === name)) c.destroy();
    }
    for (const [region, values] of byRegion) {
      const r = await store.applyPoolValues(region, values, now);
      total.points += r.points;
      total.changed += r.changed;
    }
    return { ...total, plan: thePlan };
  });
}

async function readSource(source: string, signal?: AbortSignal): Promise<string> {
  if (/^https?:\/\//.test(source)) {
    const res = await fetch(source, { ...(signal ? { signal } : {}) });
    if (!res.ok) throw new Error(`market: ${source} answered HTTP ${res.status}`);
    return res.text();
  }
  return readFileSync(source, 'utf8');
}

interface AdvisorFeed {
  spot_advisor?: Record<string, { Linux?: Record<string, { r?: number; s?: number }> }>;
}

/** The Spot Instance Advisor feed (spot-advisor-data.json): bucket and savings per region and type in use; a type gone from the feed is ceased. */
export function collectAdvisor(ctx: CollectContext): Promise<CollectResult> {
  return leased(ctx, 'if', async (store) => {
    const feed = JSON.parse(await readSource(ctx.config.market.advisorFeed ?? defaultAdvisorFeed(), ctx.signal)) as AdvisorFeed;
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
    const text = await readSource(ctx.config.market.onDemandFile ?? defaultOnDemandFile(), ctx.signal);
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
