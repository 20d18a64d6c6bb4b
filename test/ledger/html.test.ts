import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { renderFleetReportHtml, renderJobReportHtml } from '../../services/ledger/html.js';
import { fleetReport, HOSTILE_NAME, jobLedger } from './fixture.js';
import { byClass, elements } from './xml.js';

const svgs = (doc: string) => [...doc.matchAll(/<svg[\s\S]*?<\/svg>/g)].map((m) => m[0]);
const rows = (doc: string, table: string) => {
  const body = new RegExp(`<table class="${table}">[\\s\\S]*?<tbody>([\\s\\S]*?)</tbody>`).exec(doc)?.[1] ?? '';
  return body.match(/<tr[ >]/g)?.length ?? 0;
};

function checkDocument(doc: string): void {
  expect(doc.startsWith('<!doctype html>')).to.equal(true);
  expect(doc).to.not.match(/<script/i);
  // No event handler attribute in any tag (values are quoted and escaped, so a tag ends at the first ">").
  const attributes = [...doc.matchAll(/<[a-zA-Z][^>]*>/g)].flatMap((t) => [...t[0].matchAll(/\s([\w:-]+)=(?:"[^"]*"|[^\s>]+)/g)].map((a) => a[1]!));
  expect(attributes).to.include('data-pool');
  expect(attributes.filter((a) => /^on/i.test(a) || /href$/i.test(a))).to.deep.equal([]);
  expect(doc).to.not.match(/<(link|iframe|object|embed|img)\b/i); // nothing loaded from elsewhere
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(doc)?.[1]?.replace(/&#39;/g, "'");
  expect(csp).to.be.a('string');
  expect(csp).to.contain("default-src 'none'");
  expect(csp).to.not.contain('script-src');
  expect(csp).to.not.contain('unsafe-inline');
  // The inline stylesheet is allowed by its hash, and by nothing else.
  const style = /<style>([\s\S]*?)<\/style>/.exec(doc)![1]!;
  expect(csp).to.contain(`'sha256-${createHash('sha256').update(style, 'utf8').digest('base64')}'`);
  for (const s of svgs(doc)) elements(s); // every chart well formed
}

describe('ledger HTML report', () => {
  it('a job: one self-contained document with its figures, the five charts and a table per task, pool and attempt', () => {
    const l = jobLedger();
    const doc = renderJobReportHtml(l);
    checkDocument(doc);
    const charts = svgs(doc).map((s) => elements(s)[0]!.attrs.class);
    expect(charts).to.deep.equal(['chart chart-spend', 'chart chart-timeline', 'chart chart-launches', 'chart chart-split', 'chart chart-pools']);
    expect(rows(doc, 'tasks')).to.equal(3);
    expect(rows(doc, 'pools')).to.equal(3);
    expect(rows(doc, 'attempts')).to.equal(4);
    expect(doc).to.contain('<dd data-figure="usd">$0.1800 so far</dd>');
    expect(doc).to.contain('<dd data-figure="on-demand">$0.4162</dd>');
    expect(doc).to.contain('<dd data-figure="savings">$0.2362 (56.8%)</dd>');
    expect(doc).to.contain('<dd data-figure="fallback">$0.0850</dd>');
    expect(doc).to.contain('<dd data-figure="interruptions">1</dd>');
    // The bars of the timeline inside the report are the chart's own.
    expect(byClass(elements(svgs(doc)[1]!), 'g', 'attempt')).to.have.length(4);
  });

  it('escapes the job name, pool names and notes, and says when there is no on-demand equivalent', () => {
    const l = jobLedger();
    delete l.onDemandUsd;
    delete l.savingsUsd;
    delete l.savingsPct;
    const doc = renderJobReportHtml(l);
    checkDocument(doc);
    expect(doc).to.not.contain(HOSTILE_NAME);
    expect(doc).to.contain('<title>Cost report: &lt;script&gt;alert(1)&lt;/script&gt; · spotbatch</title>');
    expect(doc).to.not.contain('<b onmouseover');
    expect(doc).to.not.contain('<i>x</i>');
    expect(doc).to.contain('us-east-1z/&lt;i&gt;x&lt;/i&gt;');
    expect(doc).to.contain('<dd data-figure="on-demand">not available (see the notes)</dd>');
    expect(svgs(doc).map((s) => byClass(elements(s), 'path', 'on-demand').length)).to.deep.equal([0, 0, 0, 0, 0]);
  });

  it('the fleet: totals, spend by day and by pool, a table per job, pool and day', () => {
    const r = fleetReport();
    const doc = renderFleetReportHtml(r);
    checkDocument(doc);
    expect(svgs(doc).map((s) => elements(s)[0]!.attrs.class)).to.deep.equal(['chart chart-days', 'chart chart-pools']);
    expect(rows(doc, 'jobs')).to.equal(2);
    expect(rows(doc, 'pools')).to.equal(3);
    expect(rows(doc, 'days')).to.equal(3);
    expect(doc).to.not.contain(HOSTILE_NAME);
    expect(doc).to.contain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(renderFleetReportHtml(fleetReport())).to.equal(doc);
  });
});
