/**
 * On-demand list prices (the ledger's on-demand equivalent, a deadline's
 * fallback price, the planner's defaults): data/market/prices/ondemand_prices.csv as the project ships it
 * (us-east-1, GovCloud and cn-north-1; see data/market/SOURCES.md). A pool in
 * any other region has no on-demand price here, and the page says so rather
 * than guess one.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export type OnDemandPrices = (region: string, type: string) => number | undefined;

function defaultFile(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../data/market/prices/ondemand_prices.csv'), path.resolve(here, '../../data/market/prices/ondemand_prices.csv')];
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}

/** USD per hour by region and instance type, read once from the CSV; a missing file gives no prices. */
export function loadOnDemandPrices(file = defaultFile()): OnDemandPrices {
  const table = new Map<string, number>();
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const [region, type, price] = line.split(',');
      const usd = Number(price);
      if (region && type && price && Number.isFinite(usd) && usd > 0) table.set(`${region}|${type}`, usd);
    }
  }
  return (region, type) => table.get(`${region}|${type}`);
}
