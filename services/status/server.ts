/**
 * The status page's HTTP server (node:http): the HTML pages, the JSON API
 * they poll, /healthz. GET and HEAD only; 127.0.0.1 unless told otherwise;
 * an optional bearer token on every route (see auth.ts). Every answer carries
 * a Content-Security-Policy that allows only this server's own script and
 * stylesheet, so even a string that escaped escaping could not run.
 *
 * Routes
 *   /                         jobs, newest first (?state=, ?cursor=)
 *   /jobs/:id                 one job (?cursor=, ?limit= for its tasks)
 *   /jobs/:id/timeline.svg    the timeline of one page of tasks (the page's live updates)
 *   /jobs/:id/charts/NAME.svg a chart of the job's cost ledger (spend, split, pools, launches, attempts)
 *   /market                   the market: a day's summary (?day=), the collectors, the placement-score budget
 *   /api/jobs                 ?state=a,b &limit= &cursor=
 *   /api/jobs/:id
 *   /api/jobs/:id/tasks       ?limit= &cursor=
 *   /api/jobs/:id/events      ?limit= &cursor= &order=newest|oldest
 *   /api/jobs/:id/ledger      the job's cost ledger (404 without one)
 *   /api/market               ?day=YYYY-MM-DD
 *   /static/status.js, /static/status.css
 *   /healthz
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../shared/logger.js';
import { STATUS_CSS } from './assets.js';
import { clientScript } from './client-bundle.js';
import { authorize, tokenCookie } from './auth.js';
import { BadRequest, parseLimit } from '../views/cursor.js';
import type { Html } from '../../shared/html.js';
import { LEDGER_CHARTS } from './ledger.js';
import { errorPage, jobPage, jobsPage, marketPage, JOB_PAGE_TASKS } from './pages.js';
import { timelineSvg } from './timeline.js';
import { LIMITS, MarketViews, NotFound, JobViews, parseJobStates, sharedLedgers, type JobLedger, type JobLedgerSource, type JobViewsOptions, type MarketViewsOptions } from '../views/index.js';

export interface StatusServerOptions extends JobViewsOptions {
  /** The fleet's market settings (config.market) for the placement-score budget; only the credentials' names are kept. */
  market?: MarketViewsOptions['market'];
  port: number;
  host?: string;
  /** Wanted on every route when set. */
  token?: string;
  /** How often the page polls the API, ms (default 2000; 0 turns live updates off). */
  pollMs?: number;
  /** Where the job view's cost ledger comes from (figures and charts); default: the job views (priced by `priceSource`, else at request prices). */
  ledger?: JobLedgerSource;
  /** What /healthz answers (default: 200 {"status":"ok"}). */
  health?: () => { status: number; body: unknown };
  log?: Logger;
}

export interface StatusServer {
  url: string;
  port: number;
  views: JobViews;
  close(): Promise<void>;
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

const ETAG = (text: string) => `"${createHash('sha1').update(text).digest('base64url')}"`;
type Asset = { type: string; body: string; etag: string };
const asset = (type: string, body: string): Asset => ({ type, body, etag: ETAG(body) });
/** The stylesheet is a string; the client script is read (or bundled, from source) once, on its first request. */
let script: Promise<Asset> | undefined;
const ASSETS: Record<string, () => Promise<Asset>> = {
  '/static/status.js': () =>
    (script ??= clientScript()
      .then((body) => asset('text/javascript; charset=utf-8', body))
      .catch((err: unknown) => {
        script = undefined;
        throw err;
      })),
  '/static/status.css': () => Promise.resolve(asset('text/css; charset=utf-8', STATUS_CSS)),
};

type Answer = { status: number; type: string; body: string; headers?: Record<string, string> };

/** JSON with "<" written as \u003c: the same value, and never markup to a browser that sniffs. */
const json = (value: unknown, status = 200): Answer => ({ status, type: 'application/json; charset=utf-8', body: `${JSON.stringify(value).replace(/</g, '\\u003c')}\n` });
const page = (h: Html, status = 200): Answer => ({ status, type: 'text/html; charset=utf-8', body: h.text });
const svg = (h: Html): Answer => ({ status: 200, type: 'image/svg+xml; charset=utf-8', body: `<?xml version="1.0" encoding="UTF-8"?>\n${h.text}\n` });

export async function startStatusServer(o: StatusServerOptions): Promise<StatusServer> {
  const host = o.host ?? '127.0.0.1';
  const pollMs = o.pollMs ?? 2000;
  const views = new JobViews(o);
  const market = new MarketViews({ ddb: o.ddb, prefix: o.prefix, ...(o.clock ? { clock: o.clock } : {}), ...(o.market ? { market: o.market } : {}) });
  // A page bound to loopback answers only to loopback names, so a web page
  // elsewhere cannot reach it through a DNS name re-pointed at 127.0.0.1.
  // The job views compute the ledger themselves (from the price source they were given); a caller may pass another source.
  // One computation per job per poll interval, shared by the page, its JSON and its charts (and by the tabs polling it).
  const ledgers: JobLedgerSource = sharedLedgers(o.ledger ?? views, pollMs > 0 ? pollMs : 2000);
  const ledgerOf = async (jobId: string): Promise<JobLedger> => {
    const ledger = await ledgers.jobLedger(jobId);
    if (!ledger) throw new NotFound(`no cost ledger for job ${jobId}`);
    return ledger;
  };
  const allowedHost = (h: string | undefined) => {
    if (!LOOPBACK.test(host)) return true;
    const name = (h ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
    return LOOPBACK.test(name);
  };

  async function route(url: URL): Promise<Answer> {
    const p = url.pathname;
    const q = url.searchParams;
    if (p === '/healthz') {
      const h = o.health?.() ?? { status: 200, body: { status: 'ok' } };
      return json(h.body, h.status);
    }
    const file = await ASSETS[p]?.();
    if (file) return { status: 200, type: file.type, body: file.body, headers: { 'cache-control': 'no-cache', etag: file.etag } };
    if (p === '/api/jobs') {
      return json(await views.jobs({ states: parseJobStates(q.get('state')), limit: parseLimit(q.get('limit'), LIMITS.jobs.default, LIMITS.jobs.max), cursor: q.get('cursor') }));
    }
    if (p === '/') {
      const state = q.get('state') ?? '';
      const list = await views.jobs({ states: parseJobStates(state), limit: parseLimit(q.get('limit'), LIMITS.jobs.default, LIMITS.jobs.max), cursor: q.get('cursor') });
      return page(jobsPage(list, { state, cursor: q.get('cursor') ?? '' }, { pollMs }));
    }
    if (p === '/api/market') return json(await market.market({ day: q.get('day') }));
    if (p === '/market') return page(marketPage(await market.market({ day: q.get('day') })));
    const api = /^\/api\/jobs\/([^/]+)(\/tasks|\/events|\/ledger)?$/.exec(p);
    if (api) {
      const jobId = decodeURIComponent(api[1]!);
      if (api[2] === '/tasks') return json(await views.tasks(jobId, { limit: parseLimit(q.get('limit'), LIMITS.tasks.default, LIMITS.tasks.max), cursor: q.get('cursor') }));
      if (api[2] === '/ledger') {
        await views.jobRow(jobId);
        return json(await ledgerOf(jobId));
      }
      if (api[2] === '/events') {
        const order = q.get('order') ?? 'newest';
        if (order !== 'newest' && order !== 'oldest') throw new BadRequest('order: must be newest or oldest');
        return json(await views.events(jobId, { limit: parseLimit(q.get('limit'), LIMITS.events.default, LIMITS.events.max), cursor: q.get('cursor'), order }));
      }
      return json(await views.job(jobId));
    }
    const chart = /^\/jobs\/([^/]+)\/charts\/([a-z]+)\.svg$/.exec(p);
    if (chart) {
      const jobId = decodeURIComponent(chart[1]!);
      const make = Object.hasOwn(LEDGER_CHARTS, chart[2]!) ? LEDGER_CHARTS[chart[2]!] : undefined;
      if (!make) throw new NotFound(`no chart ${chart[2]!}: one of ${Object.keys(LEDGER_CHARTS).join(', ')}`);
      await views.jobRow(jobId);
      return svg(make.svg(await ledgerOf(jobId)));
    }
    const html = /^\/jobs\/([^/]+)(\/timeline\.svg)?$/.exec(p);
    if (html) {
      const jobId = decodeURIComponent(html[1]!);
      const row = await views.jobRow(jobId);
      const cursor = q.get('cursor') ?? '';
      const tasks = await views.tasks(jobId, { limit: parseLimit(q.get('limit'), JOB_PAGE_TASKS, LIMITS.tasks.max), cursor }, row);
      const now = Date.now();
      const span = { start: row.submittedAt, end: row.endedAt ?? now, now };
      if (html[2]) return svg(timelineSvg(tasks.tasks, span, true));
      const [detail, events, ledger] = await Promise.all([
        views.job(jobId),
        views.events(jobId, { limit: 50 }, row),
        // A ledger that cannot be computed leaves the page with the estimate rather than failing it.
        ledgers.jobLedger(jobId).catch((err: unknown) => {
          o.log?.error({ err: String(err), jobId }, 'status page: cost ledger failed');
          return undefined;
        }),
      ]);
      return page(jobPage({ detail, tasks, events, span, cursor, ...(ledger ? { ledger } : {}) }, { pollMs }));
    }
    throw new NotFound(`no page ${p}`);
  }

  const wantsJson = (url: URL) => url.pathname.startsWith('/api/') || url.pathname === '/healthz';

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const url = new URL(req.url ?? '/', 'http://status.invalid');
    let answer: Answer;
    if (!allowedHost(req.headers.host)) {
      answer = { status: 421, type: 'text/plain; charset=utf-8', body: 'this page answers only to 127.0.0.1 or localhost\n' };
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      answer = { status: 405, type: 'text/plain; charset=utf-8', body: 'GET or HEAD only\n', headers: { allow: 'GET, HEAD' } };
    } else {
      const auth = authorize(req, url, o.token);
      if (!auth.ok) {
        answer = wantsJson(url)
          ? { ...json({ error: 'unauthorized: send Authorization: Bearer <token>' }, 401), headers: { 'www-authenticate': 'Bearer realm="spotbatch status"' } }
          : { ...page(errorPage(401, 'This status page wants a token: open it once as /?token=… (it is then kept in a cookie), or send Authorization: Bearer ….'), 401), headers: { 'www-authenticate': 'Bearer realm="spotbatch status"' } };
      } else if ('setCookieAndRedirect' in auth) {
        answer = { status: 303, type: 'text/plain; charset=utf-8', body: '', headers: { location: auth.setCookieAndRedirect, 'set-cookie': tokenCookie(o.token!) } };
      } else {
        try {
          answer = await route(url);
        } catch (err) {
          const status = err instanceof NotFound ? 404 : err instanceof BadRequest ? 400 : err instanceof URIError ? 400 : 500;
          const message = status === 500 ? 'internal error (logged)' : (err as Error).message;
          if (status === 500) o.log?.error({ err: String(err), path: url.pathname }, 'status page: request failed');
          answer = wantsJson(url) ? json({ error: message }, status) : page(errorPage(status, message), status);
        }
      }
    }
    const headers: Record<string, string | number> = {
      ...SECURITY_HEADERS,
      'content-type': answer.type,
      'cache-control': 'no-store',
      // How long this server took (reads and rendering), for the benchmark and a browser's network panel.
      'server-timing': `app;dur=${(Number(process.hrtime.bigint() - started) / 1e6).toFixed(1)}`,
      ...answer.headers,
    };
    const etag = answer.headers?.etag;
    if (etag && req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    const body = Buffer.from(answer.body, 'utf8');
    headers['content-length'] = body.length;
    res.writeHead(answer.status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      o.log?.error({ err: String(err) }, 'status page: answer failed');
      if (!res.headersSent) res.writeHead(500, SECURITY_HEADERS);
      res.end();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}`,
    port,
    views,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
