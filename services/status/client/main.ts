/**
 * The status page's client script, served as /static/status.js: polls the
 * JSON API and rebuilds rows with text nodes only (never innerHTML); the
 * timeline is the server's own SVG, fetched again and parsed as XML.
 *
 * Bundled by esbuild (package.json `build` writes it to dist; in development
 * the server bundles it on first request, client-bundle.ts). It formats with
 * the same functions as the server's pages (../format.ts), so a live-updated
 * table reads exactly like a freshly served one.
 */
import { isTerminal, jobMachine, JOB_STATES, type JobState } from '../../../shared/states.js';
import { chartShape, ledgerFigures } from '../../ledger/figures.js';
import type { JobLedger } from '../../ledger/types.js';
import type { EventPageView, EventView, JobDetailView, JobListView, JobSummaryView, TaskPageView, TaskView } from '../../views/types.js';
import { age, lastLines, launchText, ledgerSpendText, spendText, tasksText, usd, when } from '../format.js';

type Child = Node | string | number | null | undefined;

const body = document.body;
const page = body.dataset.page;
const pollMs = Number(body.dataset.pollMs ?? 0);
const live = document.getElementById('live');

// ---- DOM from data: text nodes only
function h(tag: string, attrs: Record<string, string> = {}, children: Child[] = []): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) {
    if (c === null || c === undefined || c === '') continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return el;
}

const badge = (state: string): HTMLElement => h('span', { class: `state state-${state}` }, [state]);

function jobRow(j: JobSummaryView): HTMLElement {
  return h('tr', { 'data-job-id': j.id }, [
    h('td', {}, [h('a', { href: `/jobs/${encodeURIComponent(j.id)}` }, [j.name]), h('div', { class: 'sub' }, [j.id])]),
    h('td', {}, [badge(j.state)]),
    h('td', { class: 'num' }, [`${j.tasks.succeeded} / ${j.tasks.running} / ${j.tasks.failed} of ${j.tasks.total}`]),
    h('td', { class: 'num' }, [String(j.attempts)]),
    h('td', { class: 'num' }, [String(j.interruptions)]),
    h('td', { class: 'num' }, [usd(j.spend.spotUsd)]),
    h('td', { class: 'num' }, [age(j.ageSeconds)]),
  ]);
}

function taskRow(t: TaskView): HTMLElement {
  const a = t.attempts[t.attempts.length - 1];
  const out = lastLines(t.stdoutTail, 3);
  const err = lastLines(t.stderrTail, 3);
  return h('tr', { 'data-task-id': t.taskId, 'data-state': t.state }, [
    h('td', {}, [h('span', { class: 'mono' }, [t.taskId]), t.args.length ? h('div', { class: 'sub' }, [t.args.join(' ')]) : null]),
    h('td', {}, [badge(t.state)]),
    h('td', { class: 'num' }, [String(t.attempt) + (t.interruptions ? ` (${t.interruptions} interrupted)` : '')]),
    h('td', {}, [t.pool ?? '', h('div', { class: 'sub' }, [[t.region, a?.placement].filter(Boolean).join(' \u00b7 ')])]),
    h('td', { class: 'mono' }, [t.instanceId ?? '']),
    h('td', {}, [launchText(a)]),
    h('td', {}, [t.exitCode === undefined ? '' : String(t.exitCode), t.reason ? h('div', { class: 'sub' }, [t.reason]) : null]),
    h('td', { class: 'num' }, [usd(t.spotUsd)]),
    h('td', {}, [out ? h('pre', { class: 'out' }, [out]) : null, err ? h('pre', { class: 'err' }, [err]) : null]),
  ]);
}

function eventRow(e: EventView): HTMLElement {
  return h('tr', {}, [
    h('td', { class: 'mono' }, [when(e.at)]),
    h('td', {}, [e.type]),
    h('td', { class: 'mono' }, [e.taskId ?? '']),
    h('td', { class: 'mono' }, [e.data ? JSON.stringify(e.data) : '']),
  ]);
}

function setRows(id: string, rows: Node[]): void {
  const tbody = document.getElementById(id);
  if (!tbody) return;
  tbody.replaceChildren(...rows);
}

function setField(name: string, content: string | Node): void {
  const el = document.querySelector(`[data-field="${name}"]`);
  if (!el) return;
  el.replaceChildren(typeof content === 'string' ? document.createTextNode(content) : content);
}

// ---- fetching
async function get(url: string, type: string): Promise<Response> {
  const r = await fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { accept: type } });
  if (!r.ok) throw new Error(`HTTP ${r.status} from ${url}`);
  return r;
}
const getJson = async <T>(url: string): Promise<T> => (await (await get(url, 'application/json')).json()) as T;

/** Whether a job in this state can still change (the page stops polling once it cannot). */
const isOpen = (state: string): boolean => !(JOB_STATES as readonly string[]).includes(state) || !isTerminal(jobMachine, state as JobState);

let lastTimeline = '';
let lastLedger = '';

async function refreshJobs(): Promise<boolean> {
  const list = await getJson<JobListView>(body.dataset.api ?? '/api/jobs');
  setRows('jobs-body', list.jobs.map(jobRow));
  const empty = document.getElementById('jobs-empty');
  if (empty) empty.hidden = list.jobs.length > 0;
  return true;
}

async function refreshTimeline(base: string, query: string): Promise<void> {
  const text = await (await get(`/jobs/${base}/timeline.svg${query}`, 'image/svg+xml')).text();
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  if (doc.documentElement.nodeName !== 'svg') return;
  const old = document.getElementById('timeline');
  old?.parentNode?.replaceChild(document.importNode(doc.documentElement, true), old);
}

/** Swap an inline SVG for the server's own, fetched again and parsed as XML (never innerHTML). */
async function replaceSvg(url: string, holder: Element | null): Promise<void> {
  if (!holder) return;
  const text = await (await get(url, 'image/svg+xml')).text();
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  if (doc.documentElement.nodeName !== 'svg') return;
  holder.replaceChildren(document.importNode(doc.documentElement, true));
}

/** The cost section: its figures as text, its charts again when its attempts or price segments moved. */
async function refreshLedger(id: string): Promise<void> {
  const ledger = await getJson<JobLedger>(`/api/jobs/${id}/ledger`);
  for (const f of ledgerFigures(ledger)) {
    const el = document.querySelector(`#ledger [data-figure="${f.key}"]`);
    el?.replaceChildren(document.createTextNode(f.text));
  }
  document.querySelector('#ledger [data-figure="computed"]')?.replaceChildren(document.createTextNode(`${new Date(ledger.computedAt).toISOString().slice(0, 19).replace('T', ' ')} UTC`));
  const [spot, onDemand] = ledgerSpendText(ledger);
  setField('spend', spot);
  setField('ondemand', onDemand);
  // Redrawn when an attempt or a price segment changes, not at every higher spend (each chart is a request).
  const shape = chartShape(ledger);
  if (shape === lastLedger) return;
  lastLedger = shape;
  const holders = [...document.querySelectorAll('#ledger [data-chart]')];
  await Promise.all(holders.map((el) => replaceSvg(`/jobs/${id}/charts/${encodeURIComponent(el.getAttribute('data-chart') ?? '')}.svg`, el)));
}

async function refreshJob(): Promise<boolean> {
  const id = encodeURIComponent(body.dataset.jobId ?? '');
  const api = `/api/jobs/${id}`;
  const query = `?limit=${encodeURIComponent(body.dataset.limit ?? '')}${body.dataset.cursor ? `&cursor=${encodeURIComponent(body.dataset.cursor)}` : ''}`;
  const [detail, tasks, events] = await Promise.all([getJson<JobDetailView>(api), getJson<TaskPageView>(`${api}/tasks${query}`), getJson<EventPageView>(`${api}/events?limit=50`)]);
  const job = detail.job;
  setField('state', badge(job.state));
  setField('tasks', tasksText(job.tasks));
  setField('attempts', String(job.attempts));
  setField('interruptions', String(job.interruptions));
  setField('ended', when(job.endedAt));
  setField('error', job.error ?? '');
  if (body.dataset.ledger === '1') await refreshLedger(id);
  else {
    const [spot, onDemand] = spendText(job.spend);
    setField('spend', spot);
    setField('ondemand', onDemand);
  }
  setRows('tasks-body', tasks.tasks.map(taskRow));
  setRows('events-body', events.events.map(eventRow));
  const shape = JSON.stringify(tasks.tasks.map((t) => t.attempts.map((a) => [a.n, a.outcome, a.runningAt, a.endedAt])));
  const growing = tasks.tasks.some((t) => t.attempts.some((a) => a.outcome === 'open'));
  if (shape !== lastTimeline || growing) await refreshTimeline(id, query);
  lastTimeline = shape;
  return isOpen(job.state);
}

let timer: ReturnType<typeof setTimeout> | undefined;
let failures = 0;

function schedule(ms: number): void {
  clearTimeout(timer);
  timer = setTimeout(tick, ms);
}

function tick(): void {
  if (document.hidden || !live) return;
  const work = page === 'jobs' ? refreshJobs() : refreshJob();
  work.then(
    (goOn) => {
      failures = 0;
      live.className = 'live';
      live.textContent = `${goOn ? 'live' : 'finished'} \u00b7 updated ${new Date().toISOString().slice(11, 19)} UTC`;
      if (goOn) schedule(pollMs);
    },
    (err: unknown) => {
      failures++;
      live.className = 'live bad';
      live.textContent = `live updates paused: ${err instanceof Error ? err.message : String(err)}; trying again`;
      schedule(Math.min(30_000, pollMs * 2 ** failures));
    },
  );
}

const filter = document.getElementById('state-filter');
if (filter instanceof HTMLSelectElement) filter.addEventListener('change', () => filter.form?.submit());

if (live && pollMs > 0 && (page === 'jobs' || (page === 'job' && body.dataset.open === '1'))) {
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) schedule(0);
  });
  live.textContent = 'live';
  schedule(pollMs);
}
