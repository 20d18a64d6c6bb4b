/**
 * The market's read model: what /market and /api/market show. The daily
 * summaries market.summary stored in the market table (one Get for the day
 * shown, one keys-only Query for the newest days), each collection kind's
 * last run and the placement-score budget per credential, as
 * `spotbatch market status` reads them (services/market/status.ts).
 *
 * Built field by field. Credentials appear by their configured name only: the
 * views keep the names, never a key, and a collection's note (an error
 * message) has anything that looks like a key, and what a URL carries past
 * its path, removed before it is shown (marketNoteRedactor).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../../shared/clock.js';
import type { MarketCredential } from '../../shared/config.js';
import { tableNames } from '../../shared/store/tables.js';
import { marketStatus } from '../market/status.js';
import { MarketStore, type StoredSummary } from '../market/store.js';
import { BadRequest } from './cursor.js';
import { NotFound } from './errors.js';
import type { MarketSummaryView, MarketView } from './types.js';

/** Days listed for choosing an earlier summary. */
export const MARKET_DAYS = 30;

export interface MarketViewsOptions {
  ddb: DynamoDBDocumentClient;
  prefix: string;
  clock?: Clock;
  /** The fleet's market settings (config.market): the budget, and the credentials, of which only the names are kept. */
  market?: { sps: { budget: number; credentials: readonly MarketCredential[] } };
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;
const iso = (ms: number) => new Date(ms).toISOString();
/** AWS access key ids (AKIA..., ASIA...), and 40-character runs of base64 (a secret access key's shape). */
const KEY_LIKE = /\b(?:AKIA|ASIA|AIDA|AROA|ANPA)[A-Z0-9]{12,}\b|(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])/g;
/** A run is taken for a secret when it mixes lower case, upper case and digits (a path or a word does not). */
const keyLike = (m: string) => /^(?:AKIA|ASIA|AIDA|AROA|ANPA)[A-Z0-9]+$/.test(m) || (/[a-z]/.test(m) && /[A-Z]/.test(m) && /\d/.test(m));
/** A URL's user info, path, query and fragment (where tokens go: a webhook's path is its token): only its origin is kept. */
const URL_SECRETS = /\b(https?:\/\/)(?:[^\s/?#@]*@)?([^\s/?#]+)(?:[/?#]\S*)?/gi;

/**
 * The redactor of a collection's note (an error message), for every place that
 * shows one (this page, `spotbatch market status`): the configured credentials'
 * keys, anything key-like, and what a URL carries past its origin go.
 */
export function marketNoteRedactor(credentials: readonly MarketCredential[]): (text: string) => string {
  const secrets = credentials.flatMap((c) => ('accessKeyId' in c ? [c.accessKeyId, c.secretAccessKey, c.sessionToken] : [])).filter((s): s is string => !!s && s.length >= 4);
  return (text) =>
    secrets
      .reduce((t, s) => t.split(s).join('[redacted]'), text)
      .replace(URL_SECRETS, '$1$2')
      .replace(KEY_LIKE, (m) => (keyLike(m) ? '[redacted]' : m));
}

export class MarketViews {
  private readonly store: MarketStore;
  private readonly clock: Clock;
  private readonly budget: number;
  private readonly names: string[];
  /** Removes the configured credentials' keys and anything key-like from a text (kept as a function: the keys themselves are not a field). */
  private readonly redact: (text: string) => string;

  constructor(o: MarketViewsOptions) {
    this.clock = o.clock ?? { now: () => Date.now() };
    this.store = new MarketStore(o.ddb, tableNames(o.prefix).market, this.clock);
    this.budget = o.market?.sps.budget ?? 50;
    const credentials = o.market?.sps.credentials ?? [];
    this.names = credentials.map((c) => c.name);
    this.redact = marketNoteRedactor(credentials);
  }

  /** The summary of `day` (YYYY-MM-DD), or the newest stored; the days stored; the collectors and the budget. */
  async market(q: { day?: string | null } = {}): Promise<MarketView> {
    const asked = q.day || undefined;
    if (asked !== undefined && (!DAY.test(asked) || Number.isNaN(Date.parse(`${asked}T00:00:00Z`)))) throw new BadRequest(`day: must be a UTC day YYYY-MM-DD; got ${JSON.stringify(asked.slice(0, 40))}`);
    const now = this.clock.now();
    const [days, status] = await Promise.all([
      this.store.summaryDays(MARKET_DAYS),
      marketStatus(this.store, { market: { sps: { budget: this.budget, credentials: this.names.map((name) => ({ name })) } } }, now),
    ]);
    const day = asked ?? days[0];
    const stored = day !== undefined ? await this.store.summary(day) : undefined;
    if (asked !== undefined && !stored) throw new NotFound(`no market summary for ${asked}`);
    return {
      day: stored ? stored.day : null,
      summary: stored ? summaryView(stored) : null,
      days,
      collections: status.collections.map((c) => ({
        kind: c.kind,
        at: iso(c.at),
        ageSeconds: Math.max(0, Math.round((now - c.at) / 1000)),
        ok: c.ok,
        points: c.points,
        changed: c.changed,
        ceased: c.ceased,
        calls: c.calls,
        ...(c.note ? { note: this.redact(c.note) } : {}),
      })),
      budget: status.budget.map((b) => ({ credential: b.credential, used: b.used, budget: b.budget, ...(b.spentUntil !== undefined ? { spentUntil: iso(b.spentUntil) } : {}) })),
      at: iso(now),
    };
  }
}

function summaryView(s: StoredSummary): MarketSummaryView {
  return {
    day: s.day,
    builtAt: iso(s.at),
    moved: s.moved.map((m) => ({ region: m.region, type: m.type, moved: m.moved })),
    cheapestStable: s.cheapestStable.map((c) => ({ type: c.type, region: c.region, zone: c.zone, price: c.price, bucket: c.bucket, ...(c.score !== undefined ? { score: c.score } : {}) })),
    interruptions: s.interruptions.map((i) => ({ region: i.region, zone: i.zone, type: i.type, runs: i.runs, interruptions: i.interruptions })),
    interruptionsOmitted: s.interruptionsOmitted ?? 0,
  };
}
