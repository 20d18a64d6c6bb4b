/**
 * The page's stylesheet and its client script, served as files
 * (/static/status.css, /static/status.js) so that the Content-Security-Policy
 * can forbid inline script and style. No build step: plain ES2017.
 *
 * The script polls the JSON API and rebuilds rows with text nodes only
 * (never innerHTML); the timeline is the server's own SVG, fetched again and
 * parsed as XML. Its formatters mirror format.ts.
 */

export const STATUS_CSS = `
:root { --fg: #263238; --muted: #607d8b; --line: #eceff1; --bg: #fff; --accent: #1565c0; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header.top { display: flex; align-items: center; gap: 1em; padding: .6em 1.2em; background: #263238; color: #fff; }
header.top a.brand { color: #fff; font-weight: 600; text-decoration: none; letter-spacing: .02em; }
.live { font-size: 12px; color: #b0bec5; }
.live.bad { color: #ffab91; }
main { padding: 1em 1.2em 3em; max-width: 1400px; }
h1 { font-size: 1.5em; margin: .3em 0; word-break: break-word; }
h2 { font-size: 1.15em; margin: 1.4em 0 .4em; }
h3 { font-size: 1em; margin: .8em 0 .3em; }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .35em .6em; border-bottom: 1px solid var(--line); }
th { font-size: 12px; color: var(--muted); font-weight: 600; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
table.tasks td.mono, table.tasks td:first-child { white-space: nowrap; }
.mono, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
pre { margin: 0; white-space: pre-wrap; word-break: break-all; }
pre.err { color: #b71c1c; }
pre.spec { background: #f5f7f8; padding: .6em; border-radius: 4px; max-height: 24em; overflow: auto; }
.sub { color: var(--muted); font-size: 12px; word-break: break-word; }
.state { display: inline-block; padding: 0 .5em; border-radius: 9px; font-size: 12px; background: #eceff1; white-space: nowrap; }
.state-running, .state-starting, .state-securing, .state-finishing { background: #e3f2fd; color: #0d47a1; }
.state-succeeded { background: #e8f5e9; color: #1b5e20; }
.state-failed, .state-partially-failed { background: #ffebee; color: #b71c1c; }
.state-interrupted { background: #f3e5f5; color: #4a148c; }
.state-waiting, .state-pending, .state-submitted { background: #fff8e1; color: #795548; }
.state-cancelled, .state-cancelling { background: #eceff1; color: #37474f; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: .25em 1.2em; margin: .8em 0; }
dl.summary dt { color: var(--muted); }
dl.summary dd { margin: 0; }
.note { color: var(--muted); font-size: 12px; max-width: 60em; }
ul.tags, ul.legend { list-style: none; padding: 0; margin: .3em 0; display: flex; flex-wrap: wrap; gap: .4em .9em; }
ul.tags li { background: #f5f7f8; border-radius: 4px; padding: 0 .4em; font-size: 12px; word-break: break-all; }
ul.tags .k { color: var(--muted); }
ul.legend li { font-size: 12px; color: var(--muted); }
.timeline-box { overflow-x: auto; border: 1px solid var(--line); border-radius: 4px; padding: 4px; }
.timeline-box svg { display: block; max-width: 100%; height: auto; }
form.filter { margin: .6em 0 1em; }
nav.pages { margin: .6em 0; }
.empty { color: var(--muted); }
details.spec summary { cursor: pointer; font-weight: 600; }
`;

export const STATUS_JS = `(function () {
  'use strict';
  var body = document.body;
  var page = body.dataset.page;
  var pollMs = Number(body.dataset.pollMs || 0);
  var live = document.getElementById('live');

  // ---- formatters: the same as services/status/format.ts
  function usd(v) { if (v === null || v === undefined) return 'n/a'; return '$' + (v >= 100 ? v.toFixed(2) : v.toFixed(4)); }
  function pad(n) { return String(n).padStart(2, '0'); }
  function duration(s) {
    if (s === null || s === undefined || !isFinite(s)) return '';
    if (s < 60) return s.toFixed(1) + ' s';
    var t = Math.floor(s);
    if (t < 3600) return Math.floor(t / 60) + 'm ' + pad(t % 60) + 's';
    if (t < 86400) return Math.floor(t / 3600) + 'h ' + pad(Math.floor((t % 3600) / 60)) + 'm';
    return Math.floor(t / 86400) + 'd ' + pad(Math.floor((t % 86400) / 3600)) + 'h';
  }
  function between(from, to) { if (!from || !to) return undefined; return (Date.parse(to) - Date.parse(from)) / 1000; }
  function when(iso) { return iso ? iso.slice(0, 10) + ' ' + iso.slice(11, 19) + ' UTC' : ''; }
  function lastLines(text, n) { if (!text) return ''; return text.replace(/\\n$/, '').split('\\n').slice(-n).join('\\n'); }
  function age(s) { return s < 60 ? Math.max(0, Math.floor(s)) + ' s' : duration(s); }
  function tasksText(c) {
    return c.succeeded + ' succeeded, ' + c.running + ' running, ' + c.failed + ' failed, ' + c.waiting + ' waiting' + (c.cancelled ? ', ' + c.cancelled + ' cancelled' : '') + ' of ' + c.total;
  }
  function launchText(a) {
    if (!a) return '';
    var parts = [];
    if (a.runningAt) parts.push('running +' + duration(between(a.requestedAt, a.runningAt)));
    if (a.startedAt) parts.push('step +' + duration(between(a.requestedAt, a.startedAt)));
    if (a.startedAt && a.endedAt) parts.push('ran ' + duration(between(a.startedAt, a.endedAt)));
    return parts.length ? parts.join(' \\u00b7 ') : 'requested ' + when(a.requestedAt);
  }
  function spendText(s) {
    var spot = usd(s.spotUsd) + ' on spot so far, over ' + s.attemptsRun + ' attempt(s) whose instance ran.';
    if (s.attemptsRun === 0) return [spot, 'On-demand equivalent: nothing has run yet.'];
    if (s.onDemandUsd === null) return [spot, 'On-demand equivalent: not available (no on-demand list price shipped for ' + s.unpricedPools.join(', ') + ').'];
    var part = s.attemptsPriced < s.attemptsRun ? ' for the ' + s.attemptsPriced + ' of ' + s.attemptsRun + ' attempts with a list price (spot for those: ' + usd(s.spotUsdPriced) + '; none for ' + s.unpricedPools.join(', ') + ')' : '';
    var saved = s.savedFraction !== null ? '; spot saved ' + Math.round(s.savedFraction * 100) + '%' : '';
    return [spot, 'The same instance-hours on demand: ' + usd(s.onDemandUsd) + part + saved + '.'];
  }

  // ---- DOM from data: text nodes only
  function h(tag, attrs, children) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      if (c === null || c === undefined || c === '') return;
      el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
    });
    return el;
  }
  function badge(state) { return h('span', { class: 'state state-' + state }, [state]); }
  function jobRow(j) {
    return h('tr', { 'data-job-id': j.id }, [
      h('td', {}, [h('a', { href: '/jobs/' + encodeURIComponent(j.id) }, [j.name]), h('div', { class: 'sub' }, [j.id])]),
      h('td', {}, [badge(j.state)]),
      h('td', { class: 'num' }, [j.tasks.succeeded + ' / ' + j.tasks.running + ' / ' + j.tasks.failed + ' of ' + j.tasks.total]),
      h('td', { class: 'num' }, [String(j.attempts)]),
      h('td', { class: 'num' }, [String(j.interruptions)]),
      h('td', { class: 'num' }, [usd(j.spend.spotUsd)]),
      h('td', { class: 'num' }, [age(j.ageSeconds)])
    ]);
  }
  function taskRow(t) {
    var a = t.attempts[t.attempts.length - 1];
    var out = lastLines(t.stdoutTail, 3);
    var err = lastLines(t.stderrTail, 3);
    return h('tr', { 'data-task-id': t.taskId, 'data-state': t.state }, [
      h('td', {}, [h('span', { class: 'mono' }, [t.taskId]), t.args.length ? h('div', { class: 'sub' }, [t.args.join(' ')]) : null]),
      h('td', {}, [badge(t.state)]),
      h('td', { class: 'num' }, [String(t.attempt) + (t.interruptions ? ' (' + t.interruptions + ' interrupted)' : '')]),
      h('td', {}, [t.pool || '', h('div', { class: 'sub' }, [[t.region, a && a.placement].filter(Boolean).join(' \\u00b7 ')])]),
      h('td', { class: 'mono' }, [t.instanceId || '']),
      h('td', {}, [launchText(a)]),
      h('td', {}, [t.exitCode === undefined ? '' : String(t.exitCode), t.reason ? h('div', { class: 'sub' }, [t.reason]) : null]),
      h('td', { class: 'num' }, [usd(t.spotUsd)]),
      h('td', {}, [out ? h('pre', { class: 'out' }, [out]) : null, err ? h('pre', { class: 'err' }, [err]) : null])
    ]);
  }
  function eventRow(e) {
    return h('tr', {}, [
      h('td', { class: 'mono' }, [when(e.at)]),
      h('td', {}, [e.type]),
      h('td', { class: 'mono' }, [e.taskId || '']),
      h('td', { class: 'mono' }, [e.data ? JSON.stringify(e.data) : ''])
    ]);
  }
  function setRows(id, rows) {
    var tbody = document.getElementById(id);
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    rows.forEach(function (r) { tbody.appendChild(r); });
  }
  function setField(name, content) {
    var el = document.querySelector('[data-field="' + name + '"]');
    if (!el) return;
    while (el.firstChild) el.removeChild(el.firstChild);
    el.appendChild(typeof content === 'string' ? document.createTextNode(content) : content);
  }

  // ---- fetching
  function get(url, type) {
    return fetch(url, { credentials: 'same-origin', cache: 'no-store', headers: { accept: type } }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status + ' from ' + url);
      return type === 'application/json' ? r.json() : r.text();
    });
  }
  function getJson(url) { return get(url, 'application/json'); }

  var terminal = ['succeeded', 'partially-failed', 'failed', 'cancelled'];
  var lastTimeline = '';

  function refreshJobs() {
    return getJson(body.dataset.api).then(function (list) {
      setRows('jobs-body', list.jobs.map(jobRow));
      document.getElementById('jobs-empty').hidden = list.jobs.length > 0;
      return true;
    });
  }

  function refreshTimeline(base, query) {
    return get('/jobs/' + base + '/timeline.svg' + query, 'image/svg+xml').then(function (text) {
      var doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      if (doc.documentElement.nodeName !== 'svg') return;
      var old = document.getElementById('timeline');
      old.parentNode.replaceChild(document.importNode(doc.documentElement, true), old);
    });
  }

  function refreshJob() {
    var id = encodeURIComponent(body.dataset.jobId);
    var api = '/api/jobs/' + id;
    var query = '?limit=' + encodeURIComponent(body.dataset.limit) + (body.dataset.cursor ? '&cursor=' + encodeURIComponent(body.dataset.cursor) : '');
    return Promise.all([getJson(api), getJson(api + '/tasks' + query), getJson(api + '/events?limit=50')]).then(function (r) {
      var job = r[0].job;
      var page = r[1];
      setField('state', badge(job.state));
      setField('tasks', tasksText(job.tasks));
      setField('attempts', String(job.attempts));
      setField('interruptions', String(job.interruptions));
      setField('ended', when(job.endedAt));
      setField('error', job.error || '');
      var spend = spendText(job.spend);
      setField('spend', spend[0]);
      setField('ondemand', spend[1]);
      setRows('tasks-body', page.tasks.map(taskRow));
      setRows('events-body', r[2].events.map(eventRow));
      var open = terminal.indexOf(job.state) < 0;
      var shape = JSON.stringify(page.tasks.map(function (t) { return t.attempts.map(function (a) { return [a.n, a.outcome, a.runningAt, a.endedAt]; }); }));
      var growing = page.tasks.some(function (t) { return t.attempts.some(function (a) { return a.outcome === 'open'; }); });
      var work = shape !== lastTimeline || growing ? refreshTimeline(id, query) : Promise.resolve();
      lastTimeline = shape;
      return work.then(function () { return open; });
    });
  }

  var timer = null;
  var failures = 0;
  function schedule(ms) { clearTimeout(timer); timer = setTimeout(tick, ms); }
  function tick() {
    if (document.hidden) return;
    var work = page === 'jobs' ? refreshJobs() : refreshJob();
    work.then(function (goOn) {
      failures = 0;
      live.className = 'live';
      live.textContent = (goOn ? 'live' : 'finished') + ' \\u00b7 updated ' + new Date().toISOString().slice(11, 19) + ' UTC';
      if (goOn) schedule(pollMs);
    }, function (err) {
      failures++;
      live.className = 'live bad';
      live.textContent = 'live updates paused: ' + err.message + '; trying again';
      schedule(Math.min(30000, pollMs * Math.pow(2, failures)));
    });
  }

  var filter = document.getElementById('state-filter');
  if (filter) filter.addEventListener('change', function () { filter.form.submit(); });

  if (pollMs > 0 && (page === 'jobs' || (page === 'job' && body.dataset.open === '1'))) {
    document.addEventListener('visibilitychange', function () { if (!document.hidden) schedule(0); });
    live.textContent = 'live';
    schedule(pollMs);
  }
})();
`;
