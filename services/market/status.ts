/** What `spotbatch market status` shows: each collection's last run, and the placement-score budget used per credential in the last 24 h. */
import type { CollectionStatus, MarketStore } from './store.js';

export interface MarketStatus {
  collections: CollectionStatus[];
  /** Per credential (by name; never a secret): configurations used in the rolling 24 h, the budget, and until when AWS refused it. */
  budget: Array<{ credential: string; used: number; budget: number; spentUntil?: number }>;
}

/** Only the budget settings and the credentials' names are read (the status page passes nothing else). */
export type MarketStatusConfig = { market: { sps: { budget: number; credentials: ReadonlyArray<{ name: string }> } } };

export async function marketStatus(store: MarketStore, config: MarketStatusConfig, now: number): Promise<MarketStatus> {
  const names = config.market.sps.credentials.length ? config.market.sps.credentials.map((c) => c.name) : ['default'];
  const budget: MarketStatus['budget'] = [];
  for (const credential of names) {
    const spent = await store.spentUntil(credential);
    budget.push({ credential, used: (await store.configsUsed(credential, now)).size, budget: config.market.sps.budget, ...(spent !== undefined && spent > now ? { spentUntil: spent } : {}) });
  }
  return { collections: (await store.collections()).sort((a, b) => a.kind.localeCompare(b.kind)), budget };
}

export function formatMarketStatus(s: MarketStatus, now: number): string {
  const ago = (at: number): string => {
    const secs = Math.max(0, Math.round((now - at) / 1000));
    return secs < 120 ? `${secs}s ago` : secs < 7200 ? `${Math.round(secs / 60)}m ago` : `${Math.round(secs / 3600)}h ago`;
  };
  const lines = ['collection  last         ok   points  changed  ceased  calls'];
  for (const c of s.collections) {
    lines.push(`${c.kind.padEnd(11)} ${ago(c.at).padEnd(12)} ${(c.ok ? 'yes' : 'no').padEnd(4)} ${String(c.points).padStart(6)}  ${String(c.changed).padStart(7)}  ${String(c.ceased).padStart(6)}  ${String(c.calls).padStart(5)}${c.note ? `  ${c.note}` : ''}`);
  }
  if (s.collections.length === 0) lines.push('(nothing collected yet: spotbatch market collect)');
  lines.push('', 'placement-score budget (rolling 24 h)');
  for (const b of s.budget) lines.push(`  ${b.credential}: ${b.used}/${b.budget} used${b.spentUntil ? `, refused by AWS until ${new Date(b.spentUntil).toISOString()}` : ''}`);
  return lines.join('\n');
}
