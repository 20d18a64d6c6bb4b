/**
 * The daily market summary: the pools whose scores moved most, the cheapest
 * stable pools per type (advisor bucket 0 or 1, not ceased), and yesterday's
 * interruptions of the fleet's own runs. Always stored in the market table
 * (`summary` / `<day>`, which the status page's /market shows), and sent to a
 * webhook and/or written to a folder when configured (market.summary). SNS is
 * not used: the project does not depend on @aws-sdk/client-sns.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dayOf, marketSignals, type MarketSummary } from './store.js';
import { fetchBounded, marketRegions, scoreMoves, typesInUse, type CollectContext } from './collect.js';

const DAY_MS = 86_400_000;

export type { MarketSummary } from './store.js';

/** The summary of the UTC day before `now`. */
export async function buildSummary(ctx: Pick<CollectContext, 'config' | 'clients' | 'clock' | 'store'>, now: number): Promise<MarketSummary> {
  const store = marketSignals(ctx);
  const dayStart = Math.floor(now / DAY_MS) * DAY_MS;
  const day = dayOf(dayStart - DAY_MS);
  const regions = marketRegions(ctx.config);
  const moves = await scoreMoves(store, regions, dayStart);
  const moved = [...moves]
    .map(([id, m]) => {
      const [region, type] = id.split('#') as [string, string];
      return { region, type, moved: m };
    })
    .sort((a, b) => b.moved - a.moved)
    .slice(0, 10);
  const pools = await store.pools(regions, await typesInUse(ctx), now);
  const cheapest = new Map<string, MarketSummary['cheapestStable'][number]>();
  for (const p of pools) {
    if (p.ceased || p.price === undefined || p.bucket === undefined || p.bucket > 1) continue;
    const best = cheapest.get(p.type);
    if (!best || p.price < best.price) cheapest.set(p.type, { type: p.type, region: p.region, zone: p.zone, price: p.price, bucket: p.bucket, ...(p.score !== undefined ? { score: p.score } : {}) });
  }
  const interruptions: MarketSummary['interruptions'] = [];
  for (const region of regions) {
    for (const r of await store.runs(region, day)) {
      if (r.day === day && r.interruptions > 0) interruptions.push({ region, zone: r.zone, type: r.type, runs: r.runs, interruptions: r.interruptions });
    }
  }
  return { day, moved, cheapestStable: [...cheapest.values()].sort((a, b) => a.type.localeCompare(b.type)), interruptions };
}

/** Build yesterday's summary, store it (the status page reads it), and deliver it where configured. Returns it, and the file written (if any). */
export async function sendSummary(ctx: Pick<CollectContext, 'config' | 'clients' | 'clock' | 'store' | 'log' | 'signal'>): Promise<{ summary: MarketSummary; file?: string }> {
  const now = ctx.clock.now();
  const summary = await buildSummary(ctx, now);
  // Stored first: a webhook that fails retries the message, which writes the same row again.
  await marketSignals(ctx).putSummary(summary, now);
  const { dir, webhook } = ctx.config.market.summary;
  let file: string | undefined;
  if (dir) {
    mkdirSync(dir, { recursive: true });
    file = path.join(dir, `market-summary-${summary.day}.json`);
    writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  }
  if (webhook) {
    // Bounded (30 s and the drain), and an error names the webhook by its origin only (its path is its token).
    const res = await fetchBounded(webhook, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(summary) }, ctx.signal, 'market summary: the webhook');
    await res.body?.cancel().catch(() => undefined);
  }
  ctx.log.info({ day: summary.day, moved: summary.moved.length, interruptions: summary.interruptions.length, ...(file ? { file } : {}) }, 'market: daily summary');
  return { summary, ...(file ? { file } : {}) };
}
