/**
 * The market store: what the collectors saw of the spot market and what the
 * lifecycle recorded of its own launches and runs, in one DynamoDB table
 * (`<prefix>-market`, pk + sk). It implements MarketSignals (signals.ts), the
 * contract placement reads.
 *
 * Rows (pk / sk):
 * - `pool#<region>` / `<zone>#<type>`: the latest value per pool (price, single-AZ
 *   score), ceased, the no-capacity cache, recent launch samples
 * - `rt#<region>` / `<type>`: per region and type (advisor bucket and savings,
 *   on-demand price, the region-wide score)
 * - `log#<region>` / `<at>#<field>#<zone>#<type>`: the change log, a point only when a value changed
 * - `runs#<region>` / `<day>#<zone>#<type>`: runs, interruptions, hours per pool per UTC day
 * - `blocked` / `<region>`: regions whose spot quota is exhausted
 * - `collect` / `<kind>`: the last collection of each kind; `cursor` / `<kind>#<region>`: incremental cursors
 * - `sps#<credential>` / `<at>#<config>`: placement-score queries made (the budget ledger);
 *   `slot#<credential>` / `<n>`: the budget's slots, one per new configuration in the rolling 24 h (taken by a
 *   conditional write, so concurrent runs never take more than the budget);
 *   `spent` / `<credential>`: a credential AWS said was out of budget
 * - `summary` / `<day>`: the daily summary of that UTC day (what the status page shows)
 *
 * Every write is idempotent or harmless when repeated (at-least-once delivery).
 */
import { GetCommand, PutCommand, QueryCommand, UpdateCommand, paginateQuery, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import type { Clock } from '../../shared/clock.js';
import { isConditionFailed } from '../../shared/store/marshal.js';
import { parseRow } from '../../shared/store/rows.js';
import { tableNames } from '../../shared/store/tables.js';
import type { CoreClients } from '../../shared/aws.js';
import type { Config } from '../../shared/config.js';
import type { Pool } from '../model/model.js';
import type { LaunchTimeline, MarketSignals, PoolSignals, RegionBlock } from './signals.js';

const DAY_MS = 86_400_000;
/** Launch samples kept per pool (the newest), for the median request -> SSH-ready. */
export const LAUNCH_SAMPLES = 25;
/** Days of runs placement sees (PoolSignals.observed). */
export const RUN_WINDOW_DAYS = 30;

const LaunchSampleSchema = z.object({
  at: z.number(),
  fulfilled: z.number().optional(),
  running: z.number().optional(),
  ready: z.number().optional(),
});
export type LaunchSample = z.infer<typeof LaunchSampleSchema>;

const PoolRowSchema = z.object({
  pk: z.string(),
  sk: z.string(),
  region: z.string(),
  zone: z.string(),
  type: z.string(),
  price: z.number().optional(),
  priceAt: z.number().optional(),
  score: z.number().optional(),
  scoreTarget: z.number().optional(),
  scoreAt: z.number().optional(),
  ceased: z.boolean().optional(),
  ceasedAt: z.number().optional(),
  noCapacityUntil: z.number().optional(),
  noCapacityReason: z.string().optional(),
  launches: z.array(LaunchSampleSchema).optional(),
  lv: z.number().optional(),
});
export type PoolRow = z.infer<typeof PoolRowSchema>;

const RegionTypeRowSchema = z.object({
  pk: z.string(),
  sk: z.string(),
  region: z.string(),
  type: z.string(),
  bucket: z.number().optional(),
  savings: z.number().optional(),
  ifAt: z.number().optional(),
  onDemand: z.number().optional(),
  onDemandAt: z.number().optional(),
  score: z.number().optional(),
  scoreTarget: z.number().optional(),
  scoreAt: z.number().optional(),
  ceased: z.boolean().optional(),
  ceasedAt: z.number().optional(),
});
export type RegionTypeRow = z.infer<typeof RegionTypeRowSchema>;

const RunRowSchema = z.object({ zone: z.string(), type: z.string(), day: z.string(), runs: z.number().default(0), interruptions: z.number().default(0), hours: z.number().default(0) });
export type RunRow = z.infer<typeof RunRowSchema> & { region: string };

const BlockRowSchema = z.object({ sk: z.string(), until: z.number(), reason: z.string() });

/** One changed value, as the change log keeps it. */
export const ChangeSchema = z.object({
  region: z.string(),
  zone: z.string().optional(),
  type: z.string(),
  field: z.string(),
  at: z.number(),
  value: z.union([z.number(), z.boolean()]),
  previous: z.union([z.number(), z.boolean()]).optional(),
});
export type Change = z.infer<typeof ChangeSchema>;

const CollectionRowSchema = z.object({
  sk: z.string(),
  at: z.number(),
  ok: z.boolean(),
  points: z.number().default(0),
  changed: z.number().default(0),
  ceased: z.number().default(0),
  calls: z.number().default(0),
  note: z.string().optional(),
});
export type CollectionStatus = Omit<z.infer<typeof CollectionRowSchema>, 'sk'> & { kind: string };

const LedgerRowSchema = z.object({ sk: z.string(), at: z.number(), config: z.string() });
const SlotRowSchema = z.object({ sk: z.string(), at: z.number(), config: z.string() });

/**
 * A budget slot is free again this long after the day it covered: AWS's 24 h
 * of a configuration start at its first call, which comes just after the slot
 * was taken, so a slot reused at exactly 24 h could overlap it.
 */
export const SLOT_MARGIN_MS = 10 * 60_000;

/** What takeSlot did: the configuration already holds a live slot (free to ask again), a slot was taken for it, or the budget is used up. */
export type SlotOutcome = 'reused' | 'taken' | 'none';
const SpentRowSchema = z.object({ sk: z.string(), until: z.number() });

/** The daily market summary of one UTC day (summary.ts builds it; the status page reads it back). */
export const MarketSummarySchema = z.object({
  day: z.string(),
  moved: z.array(z.object({ region: z.string(), type: z.string(), moved: z.number() })),
  cheapestStable: z.array(z.object({ type: z.string(), region: z.string(), zone: z.string(), price: z.number(), bucket: z.number(), score: z.number().optional() })),
  interruptions: z.array(z.object({ region: z.string(), zone: z.string(), type: z.string(), runs: z.number(), interruptions: z.number() })),
});
export type MarketSummary = z.infer<typeof MarketSummarySchema>;
/** A stored summary: when it was built, and how many interrupted pools were left out to keep the row small. */
export type StoredSummary = MarketSummary & { at: number; interruptionsOmitted?: number };
const SummaryRowSchema = MarketSummarySchema.extend({ sk: z.string(), at: z.number(), interruptionsOmitted: z.number().optional() });
/** Interrupted pools kept in a stored summary (the most interrupted first): a DynamoDB item holds at most 400 KB. */
export const SUMMARY_INTERRUPTIONS = 500;
/** Summaries the store hands back at most in one read. */
export const SUMMARY_DAYS_MAX = 366;

/** Pool-level fields a collector sets (price collector, single-AZ scores). */
export interface PoolValue {
  zone: string;
  type: string;
  price?: number;
  priceAt?: number;
  score?: number;
  scoreTarget?: number;
  scoreAt?: number;
}

/** Region-and-type fields (advisor feed, on-demand prices, region-wide scores). */
export interface RegionTypeValue {
  type: string;
  bucket?: number;
  savings?: number;
  onDemand?: number;
  score?: number;
  scoreTarget?: number;
  at: number;
}

/** What an apply wrote. */
export interface ApplyResult {
  /** Values looked at. */
  points: number;
  /** Change-log points written. */
  changed: number;
  /** Rows newly marked ceased. */
  ceased: number;
}

/** Fields whose change writes a change-log point; the others (timestamps, targets) follow them. */
const POOL_TRACKED = ['price', 'score'] as const;
const RT_TRACKED = ['bucket', 'savings', 'onDemand', 'score'] as const;
/** Fields carried along with a tracked field. */
const COMPANIONS: Record<string, string[]> = { price: ['priceAt'], score: ['scoreTarget', 'scoreAt'], bucket: ['ifAt'], savings: ['ifAt'], onDemand: ['onDemandAt'] };
/**
 * Of those, the ones that say when (and how) the value was last observed: written on every observation, the
 * value changed or not, so a value that stays the same does not read as old (placement drops a score older
 * than 3 days) nor keep the target capacity of an older query. Never moved back by an older observation.
 * `priceAt` is not one: it is when the price took effect (the price history's point), written with a change.
 */
const OBSERVED = new Set(['scoreTarget', 'scoreAt', 'ifAt', 'onDemandAt']);
/** The field that dates each observed companion (scoreTarget goes with scoreAt). */
const OBSERVED_AT: Record<string, string> = { scoreTarget: 'scoreAt', scoreAt: 'scoreAt', ifAt: 'ifAt', onDemandAt: 'onDemandAt' };

/**
 * The companions of `field` to write for an observation: all of them when the value changed; else the
 * observed ones that differ from the row, when the observation is not older than the row's.
 */
function companionUpdate(field: string, changed: boolean, next: Record<string, unknown>, row: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of COMPANIONS[field] ?? []) {
    const value = next[c];
    if (value === undefined) continue;
    if (changed) {
      out[c] = value;
      continue;
    }
    if (!OBSERVED.has(c) || row?.[c] === value) continue;
    const when = OBSERVED_AT[c]!;
    const seen = next[when];
    const stored = row?.[when];
    if (typeof stored === 'number' && (typeof seen !== 'number' || seen < stored)) continue;
    out[c] = value;
  }
  return out;
}

export const dayOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const pad = (ms: number): string => String(Math.max(0, Math.floor(ms))).padStart(15, '0');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export class MarketStore implements MarketSignals {
  constructor(
    private readonly ddb: DynamoDBDocumentClient,
    readonly table: string,
    private readonly clock: Clock,
  ) {}

  // ---------------------------------------------------------------- reads

  private async *query(input: Omit<QueryCommandInput, 'TableName'>): AsyncGenerator<Record<string, unknown>> {
    for await (const page of paginateQuery({ client: this.ddb }, { TableName: this.table, ...input })) {
      for (const item of page.Items ?? []) yield item;
    }
  }

  private async partition<T>(schema: z.ZodType<T>, pk: string, skFrom?: string, skTo?: string): Promise<T[]> {
    const out: T[] = [];
    const range = skFrom !== undefined && skTo !== undefined ? ' AND sk BETWEEN :a AND :b' : skFrom !== undefined ? ' AND sk >= :a' : '';
    const values: Record<string, unknown> = { ':pk': pk };
    if (skFrom !== undefined) values[':a'] = skFrom;
    if (skTo !== undefined) values[':b'] = skTo;
    for await (const item of this.query({ KeyConditionExpression: `pk = :pk${range}`, ExpressionAttributeValues: values })) {
      out.push(parseRow(schema, item, this.table, `${pk}/${String(item.sk)}`));
    }
    return out;
  }

  /** Every pool row of a region. */
  poolRows(region: string): Promise<PoolRow[]> {
    return this.partition(PoolRowSchema, `pool#${region}`);
  }

  /** Every region-and-type row of a region. */
  regionTypeRows(region: string): Promise<RegionTypeRow[]> {
    return this.partition(RegionTypeRowSchema, `rt#${region}`);
  }

  /** Runs per pool per day in a region since `sinceDay` (YYYY-MM-DD, inclusive). */
  async runs(region: string, sinceDay: string): Promise<RunRow[]> {
    const rows = await this.partition(RunRowSchema.extend({ sk: z.string() }), `runs#${region}`, sinceDay);
    return rows.map(({ sk: _sk, ...r }) => ({ ...r, region }));
  }

  /** Change-log points of a region in [from, to). */
  async changes(region: string, from: number, to: number = Number.MAX_SAFE_INTEGER): Promise<Change[]> {
    return this.partition(ChangeSchema.extend({ sk: z.string() }), `log#${region}`, pad(from), `${pad(to - 1)}~`).then((rows) => rows.map(({ sk: _sk, ...c }) => c));
  }

  async pools(regions: readonly string[], types: readonly string[], now: number): Promise<PoolSignals[]> {
    const wanted = new Set(types);
    const since = dayOf(now - (RUN_WINDOW_DAYS - 1) * DAY_MS);
    const out: PoolSignals[] = [];
    for (const region of [...new Set(regions)]) {
      const [pools, rts, runs] = await Promise.all([this.poolRows(region), this.regionTypeRows(region), this.runs(region, since)]);
      const rt = new Map(rts.map((r) => [r.type, r]));
      const observed = new Map<string, { runs: number; interruptions: number; hours: number }>();
      for (const r of runs) {
        const k = `${r.zone}#${r.type}`;
        const o = observed.get(k) ?? { runs: 0, interruptions: 0, hours: 0 };
        o.runs += r.runs;
        o.interruptions += r.interruptions;
        o.hours += r.hours;
        observed.set(k, o);
      }
      // A pool the fleet ran in is known even before a collector saw it.
      const known = new Set(pools.map((p) => `${p.zone}#${p.type}`));
      for (const r of runs) {
        const k = `${r.zone}#${r.type}`;
        if (known.has(k)) continue;
        known.add(k);
        pools.push({ pk: `pool#${region}`, sk: k, region, zone: r.zone, type: r.type });
      }
      for (const p of pools) {
        if (!wanted.has(p.type)) continue;
        const t = rt.get(p.type);
        const s: PoolSignals = { region, zone: p.zone, type: p.type };
        if (p.price !== undefined) s.price = p.price;
        if (p.priceAt !== undefined) s.priceAt = p.priceAt;
        if (t?.onDemand !== undefined) s.onDemand = t.onDemand;
        // A single-AZ score of the pool wins over the region's.
        const score = p.score !== undefined ? p : t?.score !== undefined ? t : undefined;
        if (score?.score !== undefined) {
          s.score = score.score;
          if (score.scoreTarget !== undefined) s.scoreTarget = score.scoreTarget;
          if (score.scoreAt !== undefined) s.scoreAt = score.scoreAt;
        }
        if (t?.bucket !== undefined) s.bucket = t.bucket;
        if (t?.savings !== undefined) s.savings = t.savings;
        const o = observed.get(`${p.zone}#${p.type}`);
        if (o) s.observed = o;
        const ready = (p.launches ?? []).filter((l) => l.ready !== undefined).map((l) => l.ready!);
        if (ready.length > 0) {
          s.launchP50Seconds = median(ready);
          s.launchSamples = ready.length;
        }
        if (p.noCapacityUntil !== undefined && p.noCapacityUntil > now) s.noCapacityUntil = p.noCapacityUntil;
        if (p.ceased || t?.ceased) s.ceased = true;
        out.push(s);
      }
    }
    return out;
  }

  async blockedRegions(now: number): Promise<Map<string, RegionBlock>> {
    const rows = await this.partition(BlockRowSchema, 'blocked');
    return new Map(rows.filter((r) => r.until > now).map((r) => [r.sk, { until: r.until, reason: r.reason }]));
  }

  // --------------------------------------------------- what the lifecycle records

  async recordLaunch(pool: Pool, timeline: LaunchTimeline): Promise<void> {
    const secs = (t?: number) => (t === undefined ? undefined : Math.max(0, (t - timeline.requestedAt) / 1000));
    const sample: LaunchSample = { at: timeline.requestedAt };
    const f = secs(timeline.fulfilledAt);
    const r = secs(timeline.runningAt);
    const s = secs(timeline.readyAt);
    if (f !== undefined) sample.fulfilled = f;
    if (r !== undefined) sample.running = r;
    if (s !== undefined) sample.ready = s;
    const key = { pk: `pool#${pool.region}`, sk: `${pool.zone}#${pool.type}` };
    // Optimistic: read the samples, keep the newest LAUNCH_SAMPLES, write on the version read.
    for (let tries = 0; tries < 8; tries++) {
      const out = await this.ddb.send(new GetCommand({ TableName: this.table, Key: key, ConsistentRead: true }));
      const row = out.Item ? parseRow(PoolRowSchema, out.Item, this.table, `${key.pk}/${key.sk}`) : undefined;
      const launches = (row?.launches ?? []).filter((l) => l.at !== sample.at);
      launches.push(sample);
      launches.sort((a, b) => a.at - b.at);
      const lv = row?.lv ?? 0;
      try {
        await this.ddb.send(
          new UpdateCommand({
            TableName: this.table,
            Key: key,
            UpdateExpression: 'SET #l = :l, #lv = :next, #r = :r, #z = :z, #t = :t',
            ConditionExpression: lv === 0 ? 'attribute_not_exists(#lv)' : '#lv = :lv',
            ExpressionAttributeNames: { '#l': 'launches', '#lv': 'lv', '#r': 'region', '#z': 'zone', '#t': 'type' },
            ExpressionAttributeValues: { ':l': launches.slice(-LAUNCH_SAMPLES), ':next': lv + 1, ':r': pool.region, ':z': pool.zone, ':t': pool.type, ...(lv === 0 ? {} : { ':lv': lv }) },
          }),
        );
        return;
      } catch (err) {
        if (!isConditionFailed(err)) throw err;
      }
    }
    // Lost every race to other recorders: one sample less is harmless.
  }

  async recordRun(pool: Pool, run: { hours: number; interrupted: boolean; at: number }): Promise<void> {
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: `runs#${pool.region}`, sk: `${dayOf(run.at)}#${pool.zone}#${pool.type}` },
        UpdateExpression: 'SET #z = :z, #t = :t, #d = :d ADD #runs :one, #int :i, #h :h',
        ExpressionAttributeNames: { '#z': 'zone', '#t': 'type', '#d': 'day', '#runs': 'runs', '#int': 'interruptions', '#h': 'hours' },
        ExpressionAttributeValues: { ':z': pool.zone, ':t': pool.type, ':d': dayOf(run.at), ':one': 1, ':i': run.interrupted ? 1 : 0, ':h': Math.max(0, run.hours) },
      }),
    );
  }

  async markNoCapacity(pool: Pool, until: number, reason: string): Promise<void> {
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: `pool#${pool.region}`, sk: `${pool.zone}#${pool.type}` },
          UpdateExpression: 'SET #u = :u, #why = :why, #r = :r, #z = :z, #t = :t',
          // Never shortens a longer block another dispatcher set.
          ConditionExpression: 'attribute_not_exists(#u) OR #u < :u',
          ExpressionAttributeNames: { '#u': 'noCapacityUntil', '#why': 'noCapacityReason', '#r': 'region', '#z': 'zone', '#t': 'type' },
          ExpressionAttributeValues: { ':u': until, ':why': reason.slice(0, 500), ':r': pool.region, ':z': pool.zone, ':t': pool.type },
        }),
      );
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
    }
  }

  async markRegionBlocked(region: string, block: RegionBlock): Promise<void> {
    try {
      await this.ddb.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: 'blocked', sk: region },
          UpdateExpression: 'SET #u = :u, #why = :why',
          ConditionExpression: 'attribute_not_exists(#u) OR #u < :u',
          ExpressionAttributeNames: { '#u': 'until', '#why': 'reason' },
          ExpressionAttributeValues: { ':u': block.until, ':why': block.reason.slice(0, 500) },
        }),
      );
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
    }
  }

  // ------------------------------------------------------ what the collectors write

  private async logChange(c: Change): Promise<void> {
    // The key is made of the point itself: a redelivered collection writes the same row again.
    await this.ddb.send(
      new PutCommand({ TableName: this.table, Item: { pk: `log#${c.region}`, sk: `${pad(c.at)}#${c.field}#${c.zone ?? '-'}#${c.type}`, ...c } }),
    );
  }

  private async setFields(key: { pk: string; sk: string }, fields: Record<string, unknown>, remove: string[] = []): Promise<void> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    Object.entries(fields).forEach(([k, v], i) => {
      names[`#f${i}`] = k;
      values[`:v${i}`] = v;
      sets.push(`#f${i} = :v${i}`);
    });
    const removes = remove.map((k, i) => {
      names[`#r${i}`] = k;
      return `#r${i}`;
    });
    await this.ddb.send(
      new UpdateCommand({
        TableName: this.table,
        Key: key,
        UpdateExpression: [sets.length ? `SET ${sets.join(', ')}` : '', removes.length ? `REMOVE ${removes.join(', ')}` : ''].filter(Boolean).join(' '),
        ExpressionAttributeNames: names,
        ...(sets.length ? { ExpressionAttributeValues: values } : {}),
      }),
    );
  }

  /**
   * New values for a region's pools (a price or single-AZ score collection). A
   * changed value is written (latest row and a change-log point); an unchanged
   * one writes no point, only when it was seen (scoreAt, scoreTarget: see
   * OBSERVED), so an unchanged price history writes nothing. With `ceaseMissing`, a pool of those types that had a
   * price and is not among `values` is marked ceased (once); one seen again is
   * no longer ceased.
   */
  async applyPoolValues(region: string, values: readonly PoolValue[], at: number, ceaseMissing?: readonly string[]): Promise<ApplyResult> {
    const rows = new Map((await this.poolRows(region)).map((r) => [`${r.zone}#${r.type}`, r]));
    const result: ApplyResult = { points: values.length, changed: 0, ceased: 0 };
    const seen = new Set<string>();
    for (const v of values) {
      const sk = `${v.zone}#${v.type}`;
      seen.add(sk);
      const row = rows.get(sk);
      const update: Record<string, unknown> = {};
      for (const field of POOL_TRACKED) {
        const next = v[field];
        if (next === undefined) continue;
        const changed = row?.[field] !== next;
        if (changed) {
          await this.logChange({ region, zone: v.zone, type: v.type, field, at: (field === 'price' ? v.priceAt : v.scoreAt) ?? at, value: next, ...(row?.[field] !== undefined ? { previous: row[field] } : {}) });
          result.changed++;
          update[field] = next;
        }
        // An unchanged value still refreshes when it was seen (scoreAt, scoreTarget): no change-log point for it.
        Object.assign(update, companionUpdate(field, changed, { ...v }, row));
      }
      const revived = row?.ceased === true && v.price !== undefined;
      if (revived) {
        await this.logChange({ region, zone: v.zone, type: v.type, field: 'ceased', at, value: false, previous: true });
        result.changed++;
      }
      if (Object.keys(update).length === 0 && !revived) continue;
      await this.setFields({ pk: `pool#${region}`, sk }, { ...update, region, zone: v.zone, type: v.type }, revived ? ['ceased', 'ceasedAt'] : []);
    }
    if (ceaseMissing) {
      const types = new Set(ceaseMissing);
      for (const [sk, row] of rows) {
        if (seen.has(sk) || !types.has(row.type) || row.ceased || row.price === undefined) continue;
        await this.logChange({ region, zone: row.zone, type: row.type, field: 'ceased', at, value: true, previous: false });
        await this.setFields({ pk: `pool#${region}`, sk }, { ceased: true, ceasedAt: at });
        result.ceased++;
        result.changed++;
      }
    }
    return result;
  }

  /**
   * New values per region and type (advisor feed, on-demand prices, region-wide
   * scores): as applyPoolValues. With `ceaseMissing` (the feed's own field, such
   * as 'bucket'), a type that had that field and is missing from `values` is
   * marked ceased.
   */
  async applyRegionTypeValues(region: string, values: readonly RegionTypeValue[], ceaseMissing?: { field: 'bucket' | 'onDemand'; at: number }): Promise<ApplyResult> {
    const rows = new Map((await this.regionTypeRows(region)).map((r) => [r.type, r]));
    const result: ApplyResult = { points: values.length, changed: 0, ceased: 0 };
    const seen = new Set<string>();
    for (const v of values) {
      seen.add(v.type);
      const row = rows.get(v.type);
      const update: Record<string, unknown> = {};
      for (const field of RT_TRACKED) {
        const next = v[field];
        if (next === undefined) continue;
        const changed = row?.[field] !== next;
        if (changed) {
          await this.logChange({ region, type: v.type, field, at: v.at, value: next, ...(row?.[field] !== undefined ? { previous: row[field] } : {}) });
          result.changed++;
          update[field] = next;
        }
        // An unchanged value still refreshes when it was seen (ifAt, onDemandAt, scoreAt, scoreTarget): no change-log point for it.
        const seen = Object.fromEntries((COMPANIONS[field] ?? []).map((c) => [c, c === 'scoreTarget' ? v.scoreTarget : v.at]));
        Object.assign(update, companionUpdate(field, changed, seen, row));
      }
      const revived = row?.ceased === true && ceaseMissing !== undefined && v[ceaseMissing.field] !== undefined;
      if (revived) {
        await this.logChange({ region, type: v.type, field: 'ceased', at: v.at, value: false, previous: true });
        result.changed++;
      }
      if (Object.keys(update).length === 0 && !revived) continue;
      await this.setFields({ pk: `rt#${region}`, sk: v.type }, { ...update, region, type: v.type }, revived ? ['ceased', 'ceasedAt'] : []);
    }
    if (ceaseMissing) {
      for (const [type, row] of rows) {
        if (seen.has(type) || row.ceased || row[ceaseMissing.field] === undefined) continue;
        await this.logChange({ region, type, field: 'ceased', at: ceaseMissing.at, value: true, previous: false });
        await this.setFields({ pk: `rt#${region}`, sk: type }, { ceased: true, ceasedAt: ceaseMissing.at });
        result.ceased++;
        result.changed++;
      }
    }
    return result;
  }

  // ------------------------------------------------------------ collection status

  async cursor(name: string): Promise<number | undefined> {
    const out = await this.ddb.send(new GetCommand({ TableName: this.table, Key: { pk: 'cursor', sk: name }, ConsistentRead: true }));
    const at = out.Item?.at;
    return typeof at === 'number' ? at : undefined;
  }

  async setCursor(name: string, at: number): Promise<void> {
    try {
      await this.ddb.send(
        new PutCommand({ TableName: this.table, Item: { pk: 'cursor', sk: name, at }, ConditionExpression: 'attribute_not_exists(#at) OR #at <= :at', ExpressionAttributeNames: { '#at': 'at' }, ExpressionAttributeValues: { ':at': at } }),
      );
    } catch (err) {
      if (!isConditionFailed(err)) throw err;
    }
  }

  async recordCollection(kind: string, status: Omit<CollectionStatus, 'kind'>): Promise<void> {
    await this.ddb.send(new PutCommand({ TableName: this.table, Item: { pk: 'collect', sk: kind, ...status } }));
  }

  async collections(): Promise<CollectionStatus[]> {
    const rows = await this.partition(CollectionRowSchema, 'collect');
    return rows.map(({ sk, ...r }) => ({ kind: sk, ...r }));
  }

  // ------------------------------------------------- placement-score budget ledger

  /** A placement-score query made with `credential` (its name, never its secret) for the configuration `config`. */
  async recordQuery(credential: string, config: string, at: number): Promise<void> {
    await this.ddb.send(new PutCommand({ TableName: this.table, Item: { pk: `sps#${credential}`, sk: `${pad(at)}#${config}`, at, config } }));
  }

  /** The distinct configurations `credential` queried in the 24 h before `now`. */
  async configsUsed(credential: string, now: number): Promise<Set<string>> {
    const rows = await this.partition(LedgerRowSchema, `sps#${credential}`, pad(now - DAY_MS + 1));
    return new Set(rows.filter((r) => r.at <= now).map((r) => r.config));
  }

  /** The live slots of `credential` at `now` (taken in the 24 h before, plus the margin). */
  private async slots(credential: string, now: number): Promise<Array<z.infer<typeof SlotRowSchema>>> {
    const rows: Array<z.infer<typeof SlotRowSchema>> = [];
    for await (const item of this.query({ KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `slot#${credential}` }, ConsistentRead: true })) {
      rows.push(parseRow(SlotRowSchema, item, this.table, `slot#${credential}/${String(item.sk)}`));
    }
    return rows.filter((r) => r.at > now - DAY_MS - SLOT_MARGIN_MS);
  }

  /** How many of its `budget` new configurations `credential` has left at `now` (its live slots counted). */
  async slotsLeft(credential: string, budget: number, now: number): Promise<number> {
    return Math.max(0, budget - (await this.slots(credential, now)).length);
  }

  /**
   * Before a placement-score query of `config` with `credential`: a configuration
   * already asked in its live window is free ('reused'); a new one takes one of
   * the `budget` slots `slot#<credential>` / `0..budget-1` by a conditional write
   * (the slot missing, or expired), so two runs at once can never take more than
   * `budget` between them ('taken'); no slot left: 'none' (do not ask).
   */
  async takeSlot(credential: string, config: string, now: number, budget: number): Promise<SlotOutcome> {
    const live = await this.slots(credential, now);
    // A configuration AWS still counts (our slot is taken before AWS's first call, so AWS's window ends later) is free.
    if (live.some((r) => r.config === config && r.at > now - DAY_MS)) return 'reused';
    if (live.length >= budget) return 'none';
    const busy = new Set(live.map((r) => r.sk));
    for (let n = 0; n < budget; n++) {
      const sk = String(n).padStart(6, '0');
      if (busy.has(sk)) continue;
      try {
        await this.ddb.send(
          new PutCommand({
            TableName: this.table,
            Item: { pk: `slot#${credential}`, sk, at: now, config },
            ConditionExpression: 'attribute_not_exists(pk) OR #at <= :expired',
            ExpressionAttributeNames: { '#at': 'at' },
            ExpressionAttributeValues: { ':expired': now - DAY_MS - SLOT_MARGIN_MS },
          }),
        );
        return 'taken';
      } catch (err) {
        // Another run took this slot since the read: try the next.
        if (!isConditionFailed(err)) throw err;
      }
    }
    return 'none';
  }

  /** AWS refused `credential` for its budget: none of its queries before `until`. */
  async markSpent(credential: string, until: number): Promise<void> {
    await this.ddb.send(new PutCommand({ TableName: this.table, Item: { pk: 'spent', sk: credential, until } }));
  }

  async spentUntil(credential: string): Promise<number | undefined> {
    const out = await this.ddb.send(new GetCommand({ TableName: this.table, Key: { pk: 'spent', sk: credential }, ConsistentRead: true }));
    return out.Item ? parseRow(SpentRowSchema, out.Item, this.table, `spent/${credential}`).until : undefined;
  }

  // ---------------------------------------------------------- daily summaries

  /** Store the summary of its day (built at `at`): a redelivered market.summary writes the same row again. */
  async putSummary(summary: MarketSummary, at: number): Promise<void> {
    const interruptions = [...summary.interruptions].sort((a, b) => b.interruptions - a.interruptions || a.region.localeCompare(b.region) || a.zone.localeCompare(b.zone) || a.type.localeCompare(b.type));
    const omitted = Math.max(0, interruptions.length - SUMMARY_INTERRUPTIONS);
    const item = { pk: 'summary', sk: summary.day, day: summary.day, at, moved: summary.moved, cheapestStable: summary.cheapestStable, interruptions: interruptions.slice(0, SUMMARY_INTERRUPTIONS), ...(omitted ? { interruptionsOmitted: omitted } : {}) };
    await this.ddb.send(new PutCommand({ TableName: this.table, Item: item }));
  }

  /** The summary of one UTC day (YYYY-MM-DD), if one was stored. */
  async summary(day: string): Promise<StoredSummary | undefined> {
    const out = await this.ddb.send(new GetCommand({ TableName: this.table, Key: { pk: 'summary', sk: day } }));
    if (!out.Item) return undefined;
    const { sk: _sk, ...s } = parseRow(SummaryRowSchema, out.Item, this.table, `summary/${day}`);
    return s;
  }

  /** Items of the `summary` partition, newest day first, at most `limit` (DynamoDB pages at 1 MB, so this may take more than one Query). */
  private async summaryItems(limit: number, projection?: string): Promise<Record<string, unknown>[]> {
    const n = Math.max(1, Math.min(SUMMARY_DAYS_MAX, Math.floor(limit)));
    const items: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.ddb.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': 'summary' },
          ScanIndexForward: false,
          Limit: n - items.length,
          ...(projection ? { ProjectionExpression: projection } : {}),
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start && items.length < n);
    return items;
  }

  /** The newest `limit` stored summaries, newest day first. */
  async latestSummaries(limit: number): Promise<StoredSummary[]> {
    return (await this.summaryItems(limit)).map((item) => {
      const { sk: _sk, ...s } = parseRow(SummaryRowSchema, item, this.table, `summary/${String(item.sk)}`);
      return s;
    });
  }

  /** The days of the newest `limit` stored summaries, newest first (only their keys are read). */
  async summaryDays(limit: number): Promise<string[]> {
    return (await this.summaryItems(limit, 'sk')).map((item) => String(item.sk));
  }

  /** The fleet clock this store was made with. */
  now(): number {
    return this.clock.now();
  }
}

/** The market store of a fleet (or of any caller with its clients, config and clock). */
export function marketSignals(ctx: { clients: Pick<CoreClients, 'ddb'>; config: Pick<Config, 'prefix'>; clock: Clock }): MarketStore {
  return new MarketStore(ctx.clients.ddb, tableNames(ctx.config.prefix).market, ctx.clock);
}
