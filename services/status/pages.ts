/**
 * The status page's HTML, rendered on the server from the same views the
 * JSON API sends. Every value goes through `html`, which escapes it; the
 * client script (/static/status.js) keeps the page live by polling the JSON
 * API and writing text nodes only.
 */
import { JOB_STATES } from '../../shared/states.js';
import type { JobLedger } from '../ledger/types.js';
import { age, launchText, lastLines, ledgerSpendText, spendText, tasksText, usd, when } from './format.js';
import { html, trusted, type Html } from '../../shared/html.js';
import { ledgerSection } from './ledger.js';
import { OUTCOME_COLOURS, timelineSvg, type TimelineSpan } from './timeline.js';
import { isJobOpen, type EventPageView, type EventView, type JobDetailView, type JobListView, type JobSummaryView, type MarketView, type TaskPageView, type TaskView } from '../views/index.js';

export interface PageOptions {
  /** How often the client script polls, ms (0: no live updates). */
  pollMs: number;
}

/** Tasks per page on the job page (the JSON API's own default is larger). */
export const JOB_PAGE_TASKS = 50;

const jobHref = (id: string) => `/jobs/${encodeURIComponent(id)}`;

function layout(title: string, body: Html, data: Record<string, string>): Html {
  const attrs = Object.entries(data).map(([k, v]) => html` data-${trusted(k)}="${v}"`);
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · spotbatch</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/status.css">
<script src="/static/status.js" defer></script>
</head>
<body${attrs}>
<header class="top"><a class="brand" href="/">spotbatch</a><nav class="top-nav"><a href="/">Jobs</a><a href="/market">Market</a></nav><span class="live" id="live" aria-live="polite"></span></header>
<main>
${body}
</main>
</body>
</html>
`;
}

function stateBadge(state: string): Html {
  return html`<span class="state state-${state}">${state}</span>`;
}

export function jobRow(j: JobSummaryView): Html {
  return html`<tr data-job-id="${j.id}"><td><a href="${jobHref(j.id)}">${j.name}</a><div class="sub">${j.id}</div></td><td>${stateBadge(j.state)}</td><td class="num">${j.tasks.succeeded} / ${j.tasks.running} / ${j.tasks.failed} of ${j.tasks.total}</td><td class="num">${j.attempts}</td><td class="num">${j.interruptions}</td><td class="num">${usd(j.spend.spotUsd)}</td><td class="num">${age(j.ageSeconds)}</td></tr>`;
}

export function jobsPage(list: JobListView, q: { state: string; cursor: string }, o: PageOptions): Html {
  const state = q.state;
  const options = ['', ...JOB_STATES].map((s) => html`<option value="${s}"${s === state ? trusted(' selected') : ''}>${s || 'any state'}</option>`);
  const query = new URLSearchParams({ ...(state ? { state } : {}), ...(q.cursor ? { cursor: q.cursor } : {}) }).toString();
  const api = `/api/jobs${query ? `?${query}` : ''}`;
  const next = list.nextCursor ? `/?${new URLSearchParams({ ...(state ? { state } : {}), cursor: list.nextCursor })}` : undefined;
  const body = html`<h1>Jobs</h1>
<form class="filter" method="get" action="/"><label>State <select name="state" id="state-filter">${options}</select></label> <button type="submit">Filter</button></form>
<table class="jobs">
<thead><tr><th>Job</th><th>State</th><th>Tasks (succeeded / running / failed)</th><th>Attempts</th><th>Interruptions</th><th>Spend so far</th><th>Age</th></tr></thead>
<tbody id="jobs-body">${list.jobs.map(jobRow)}</tbody>
</table>
<p class="empty" id="jobs-empty"${list.jobs.length ? trusted(' hidden') : ''}>No jobs${state ? html` in state ${state}` : ''}.</p>
${next ? html`<nav class="pages"><a href="/">first page</a> · <a href="${next}">next page</a></nav>` : ''}
<p class="api">JSON: <a href="${api}">${api}</a></p>`;
  return layout('Jobs', body, { page: 'jobs', api, 'poll-ms': String(o.pollMs) });
}

export function taskRow(t: TaskView): Html {
  const a = t.attempts[t.attempts.length - 1];
  const out = lastLines(t.stdoutTail, 3);
  const err = lastLines(t.stderrTail, 3);
  return html`<tr data-task-id="${t.taskId}" data-state="${t.state}"><td><span class="mono">${t.taskId}</span>${t.args.length ? html`<div class="sub">${t.args.join(' ')}</div>` : ''}</td><td>${stateBadge(t.state)}</td><td class="num">${t.attempt}${t.interruptions ? ` (${t.interruptions} interrupted)` : ''}</td><td>${t.pool ?? ''}${a?.market === 'on-demand' ? ' (on demand)' : ''}<div class="sub">${[t.region, a?.placement].filter(Boolean).join(' · ')}</div></td><td class="mono">${t.instanceId ?? ''}</td><td>${launchText(a)}</td><td>${t.exitCode ?? ''}${t.reason ? html`<div class="sub">${t.reason}</div>` : ''}</td><td class="num">${usd(t.spotUsd)}</td><td>${out ? html`<pre class="out">${out}</pre>` : ''}${err ? html`<pre class="err">${err}</pre>` : ''}</td></tr>`;
}

export function eventRow(e: EventView): Html {
  return html`<tr><td class="mono">${when(e.at)}</td><td>${e.type}</td><td class="mono">${e.taskId ?? ''}</td><td class="mono">${e.data ? JSON.stringify(e.data) : ''}</td></tr>`;
}

function summaryList(j: JobSummaryView, ledger: JobLedger | undefined): Html {
  const [spot, onDemand] = ledger ? ledgerSpendText(ledger) : spendText(j.spend);
  return html`<dl class="summary" id="summary">
<dt>State</dt><dd data-field="state">${stateBadge(j.state)}</dd>
<dt>Tasks</dt><dd data-field="tasks">${tasksText(j.tasks)}</dd>
<dt>Attempts</dt><dd data-field="attempts">${j.attempts}</dd>
<dt>Interruptions</dt><dd data-field="interruptions">${j.interruptions}</dd>
<dt>Submitted</dt><dd>${when(j.submittedAt)}</dd>
<dt>Ended</dt><dd data-field="ended">${when(j.endedAt)}</dd>
<dt>Error</dt><dd data-field="error">${j.error ?? ''}</dd>
<dt>Spend</dt><dd><span data-field="spend">${spot}</span><br><span data-field="ondemand">${onDemand}</span></dd>
</dl>
${ledger ? html`<p class="note">Spend is the cost ledger's (below).</p>` : html`<p class="note">Spend is the cost ledger's: each attempt billed as EC2 bills Linux instances (per second with a one-minute minimum; a spot instance EC2 interrupted in its first hour is free) at its pool's spot price history. On-demand prices are the list prices shipped in data/market (us-east-1, GovCloud, cn-north-1).</p>`}`;
}

function specSection(d: JobDetailView): Html {
  const s = d.spec;
  const run = s.command
    ? html`<h3>Command</h3><pre class="spec">${s.command.map((a) => JSON.stringify(a)).join(' ')}</pre>`
    : html`${(s.steps ?? []).map((st, i) => html`<h3>Step ${i + 1}${st.name ? html`: ${st.name}` : ''}</h3><pre class="spec">${st.run ?? ''}</pre>`)}`;
  return html`<details class="spec" id="spec"><summary>Job definition</summary>
${run}
<dl class="summary">
<dt>Instance types</dt><dd>${s.instances.types.join(', ')}</dd>
<dt>Regions</dt><dd>${Array.isArray(s.instances.regions) ? s.instances.regions.join(', ') : s.instances.regions}</dd>
<dt>Zones</dt><dd>${Array.isArray(s.instances.zones) ? s.instances.zones.join(', ') : s.instances.zones}</dd>
<dt>Image, user</dt><dd>${typeof s.instances.image === 'string' ? s.instances.image : `${s.instances.image.id} (${s.instances.image.region}, copied to the job's other regions)`}, ${s.instances.user}</dd>
<dt>Retry</dt><dd>at most ${s.retry.maxAttempts} attempt(s), ${s.retry.maxInterruptions} interruption(s)${s.retry.retryExitCodes.length ? `; retried exit codes ${s.retry.retryExitCodes.join(', ')}` : ''}</dd>
<dt>Environment</dt><dd>${s.envNames.length ? `${s.envNames.join(', ')} (values not shown)` : 'none'}</dd>
<dt>Uploads</dt><dd>${s.uploads.map((u) => `${u.from} → ${u.to}`).join('; ') || 'none'}</dd>
<dt>SSH from</dt><dd>${d.ingressCidr ?? ''}</dd>
</dl>
</details>`;
}

export interface JobPageData {
  detail: JobDetailView;
  tasks: TaskPageView;
  events: EventPageView;
  span: TimelineSpan;
  /** The cost ledger, when the server has a source of them. */
  ledger?: JobLedger;
  /** The cursor this page of tasks was read from ('' for the first page). */
  cursor: string;
}

export function jobPage(p: JobPageData, o: PageOptions): Html {
  const j = p.detail.job;
  const t = p.tasks;
  const base = jobHref(j.id);
  const limitParam: Record<string, string> = t.limit === JOB_PAGE_TASKS ? {} : { limit: String(t.limit) };
  const next = t.nextCursor ? `${base}?${new URLSearchParams({ cursor: t.nextCursor, ...limitParam })}` : undefined;
  const range = t.tasks.length ? `Tasks ${t.tasks[0]!.taskId} to ${t.tasks[t.tasks.length - 1]!.taskId} of ${t.totalTasks}` : `No tasks on this page (of ${t.totalTasks})`;
  const tags = Object.entries(j.tags);
  const legend = Object.entries(OUTCOME_COLOURS).map(([k, c]) => html`<li><svg width="12" height="10" aria-hidden="true"><rect width="12" height="10" fill="${c}"/></svg> ${k === 'open' ? 'running' : k}</li>`);
  const body = html`<p class="crumbs"><a href="/">Jobs</a> / <span class="mono">${j.id}</span></p>
<h1 id="job-name">${j.name}</h1>
${tags.length ? html`<ul class="tags">${tags.map(([k, v]) => html`<li><span class="k">${k}</span>=<span class="v">${v}</span></li>`)}</ul>` : ''}
${summaryList(j, p.ledger)}
${p.ledger ? ledgerSection(p.ledger) : ''}
<section><h2>Timeline</h2>
<p class="sub">${range}: each attempt from its spot request (thin) through its instance's run (thick), coloured by how it ended; ▼ marks an interruption.</p>
<div class="timeline-box" id="timeline-box">${timelineSvg(t.tasks, p.span)}</div>
<ul class="legend">${legend}<li><svg width="12" height="10" aria-hidden="true"><path d="M2,1 h8 l-4,6 z" fill="${OUTCOME_COLOURS.interrupted}"/></svg> interruption</li></ul>
</section>
<section><h2>Tasks</h2>
<p class="sub" id="tasks-range">${range}</p>
<table class="tasks">
<thead><tr><th>Task</th><th>State</th><th>Attempt</th><th>Pool</th><th>Instance</th><th>Launch</th><th>Exit</th><th>Spend</th><th>Last output</th></tr></thead>
<tbody id="tasks-body">${t.tasks.map(taskRow)}</tbody>
</table>
<nav class="pages">${p.cursor ? html`<a href="${base}">first page</a>` : ''}${p.cursor && next ? ' · ' : ''}${next ? html`<a href="${next}" id="next-page">next page</a>` : ''}</nav>
</section>
<section>${specSection(p.detail)}</section>
<section><h2>Events</h2>
<table class="events"><thead><tr><th>When</th><th>Event</th><th>Task</th><th>Data</th></tr></thead>
<tbody id="events-body">${p.events.events.map(eventRow)}</tbody></table>
<p class="api">Newest ${p.events.limit} shown. JSON: <a href="${`/api${base}`}">${`/api${base}`}</a> · <a href="${`/api${base}/tasks`}">tasks</a> · <a href="${`/api${base}/events`}">events</a></p>
</section>`;
  return layout(j.name, body, {
    page: 'job',
    'job-id': j.id,
    cursor: p.cursor,
    limit: String(t.limit),
    open: isJobOpen(j.state) ? '1' : '0',
    ledger: p.ledger ? '1' : '0',
    'poll-ms': String(o.pollMs),
  });
}

/** Spot Instance Advisor buckets in words (a month's interruption frequency). */
const BUCKETS = ['<5%', '5-10%', '10-15%', '15-20%', '>20%'];
const bucketText = (b: number) => BUCKETS[b] ?? String(b);
const marketHref = (day?: string) => (day ? `/market?${new URLSearchParams({ day })}` : '/market');

function marketSummarySection(v: MarketView): Html {
  const s = v.summary;
  const chooser = v.days.length
    ? html`<form class="filter" method="get" action="/market"><label>Day <select name="day" id="day-select">${v.days.map((d) => html`<option value="${d}"${d === v.day ? trusted(' selected') : ''}>${d}</option>`)}</select></label> <button type="submit">Show</button></form>
<nav class="pages days">${v.days.map((d, i) => html`${i ? ' · ' : ''}${d === v.day ? html`<strong aria-current="page">${d}</strong>` : html`<a href="${marketHref(d)}">${d}</a>`}`)}</nav>`
    : '';
  if (!s) {
    return html`<section id="summary"><h2>Daily summary</h2>
<p class="empty" id="summary-empty">No daily summary yet. market.summary stores one each UTC day (after <code>market.schedule.summaryHour</code>) for the day before, once the collectors have run.</p></section>`;
  }
  const moved = s.moved.length
    ? html`<table class="market moved"><thead><tr><th>Region</th><th>Type</th><th>Score moved (sum of moves)</th></tr></thead><tbody>${s.moved.map((m) => html`<tr><td>${m.region}</td><td>${m.type}</td><td class="num">${m.moved}</td></tr>`)}</tbody></table>`
    : html`<p class="empty">No placement score moved that day.</p>`;
  const cheapest = s.cheapestStable.length
    ? html`<table class="market cheapest"><thead><tr><th>Type</th><th>Pool</th><th>Spot price</th><th>Interruptions (advisor)</th><th>Placement score</th></tr></thead><tbody>${s.cheapestStable.map((c) => html`<tr><td>${c.type}</td><td>${c.zone}<div class="sub">${c.region}</div></td><td class="num">${usd(c.price)}/h</td><td>${bucketText(c.bucket)}</td><td class="num">${c.score ?? ''}</td></tr>`)}</tbody></table>`
    : html`<p class="empty">No stable pool with a price (advisor bucket &lt;5% or 5-10%, not ceased).</p>`;
  const interrupted = s.interruptions.length
    ? html`<table class="market interruptions"><thead><tr><th>Pool</th><th>Type</th><th>Runs</th><th>Interrupted</th></tr></thead><tbody>${s.interruptions.map((i) => html`<tr><td>${i.zone}<div class="sub">${i.region}</div></td><td>${i.type}</td><td class="num">${i.runs}</td><td class="num">${i.interruptions}</td></tr>`)}</tbody></table>${s.interruptionsOmitted ? html`<p class="note">${s.interruptionsOmitted} less interrupted pools are not shown.</p>` : ''}`
    : html`<p class="empty">The fleet's runs had no interruption that day.</p>`;
  return html`<section id="summary"><h2>Daily summary of ${s.day}</h2>
${chooser}
<p class="sub">Built ${when(s.builtAt)}.</p>
<h3>Pools whose placement scores moved most</h3>
${moved}
<h3>Cheapest stable pool per type</h3>
${cheapest}
<h3>Interruptions of the fleet's runs</h3>
${interrupted}
</section>`;
}

function collectorsSection(v: MarketView): Html {
  const rows = v.collections.map(
    (c) =>
      html`<tr data-kind="${c.kind}"><td>${c.kind}</td><td>${when(c.at)}<div class="sub">${age(c.ageSeconds)} ago</div></td><td>${c.ok ? html`<span class="state state-succeeded">ok</span>` : html`<span class="state state-failed">error</span>`}</td><td class="num">${c.points}</td><td class="num">${c.changed}</td><td class="num">${c.ceased}</td><td class="num">${c.calls}</td><td>${c.note ?? ''}</td></tr>`,
  );
  const budget = v.budget.map(
    (b) => html`<tr data-credential="${b.credential}"><td>${b.credential}</td><td class="num">${b.used} / ${b.budget}</td><td>${b.spentUntil ? html`refused by AWS until ${when(b.spentUntil)}` : ''}</td></tr>`,
  );
  return html`<section id="collectors"><h2>Collectors</h2>
${v.collections.length
  ? html`<table class="market collectors"><thead><tr><th>Collection</th><th>Last run</th><th>Result</th><th>Points</th><th>Changed</th><th>Ceased</th><th>Calls</th><th>Note</th></tr></thead><tbody>${rows}</tbody></table>`
  : html`<p class="empty" id="collectors-empty">Nothing collected yet: the dispatchers collect on their schedule, or run <code>spotbatch market collect</code>.</p>`}
<h3>Placement-score budget (rolling 24 h)</h3>
<table class="market budget"><thead><tr><th>Credential</th><th>Query configurations used</th><th></th></tr></thead><tbody>${budget}</tbody></table>
</section>`;
}

export function marketPage(v: MarketView): Html {
  const api = v.day ? `/api/market?${new URLSearchParams({ day: v.day })}` : '/api/market';
  const body = html`<h1>Market</h1>
<p class="sub">What the fleet collected of the spot market (docs/market.md). Read ${when(v.at)}.</p>
${marketSummarySection(v)}
${collectorsSection(v)}
<p class="api">JSON: <a href="${api}">${api}</a></p>`;
  return layout('Market', body, { page: 'market', 'poll-ms': '0' });
}

export function errorPage(status: number, message: string): Html {
  return layout(`${status}`, html`<h1>${status}</h1><p>${message}</p><p><a href="/">All jobs</a></p>`, { page: 'error', 'poll-ms': '0' });
}
