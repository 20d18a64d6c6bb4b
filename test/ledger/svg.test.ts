import { expect } from 'chai';
import { attemptTimelineSvg, dailySpendSvg, launchHistogramSvg, moneySplitSvg, onDemandOverTime, poolSpendSvg, spendOverTimeSvg } from '../../services/ledger/svg.js';
import { fleetReport, HOSTILE_NAME, HOSTILE_POOL, jobLedger } from './fixture.js';
import { byClass, elements, pathPoints, type Element } from './xml.js';

const svgOf = (text: string) => {
  const els = elements(text);
  expect(els[0]!.name).to.equal('svg');
  return els;
};
const num = (e: Element, a: string) => Number(e.attrs[a]);

describe('ledger charts (SVG)', () => {
  it('are self-contained, accessible and scaled by their viewBox, with no script', () => {
    const l = jobLedger();
    for (const svg of [spendOverTimeSvg(l), attemptTimelineSvg(l), launchHistogramSvg(l), moneySplitSvg(l.time, l.usd, 'job'), poolSpendSvg(l.pools, 'job'), dailySpendSvg(fleetReport().days)]) {
      const els = svgOf(svg.text);
      const root = els[0]!;
      expect(root.attrs.xmlns).to.equal('http://www.w3.org/2000/svg');
      expect(root.attrs.viewBox).to.match(/^0 0 \d+ \d+$/);
      expect(root.attrs.role).to.equal('img');
      expect(els[1]!.name).to.equal('title');
      expect(els[2]!.name).to.equal('desc');
      expect(els.map((e) => e.name)).to.not.include.members(['script', 'foreignObject', 'image', 'use']);
      expect(els.some((e) => Object.keys(e.attrs).some((k) => /^on/i.test(k) || k === 'href' || k === 'xlink:href'))).to.equal(false);
    }
  });

  it('give the same text for the same ledger', () => {
    expect(spendOverTimeSvg(jobLedger()).text).to.equal(spendOverTimeSvg(jobLedger()).text);
    expect(attemptTimelineSvg(jobLedger()).text).to.equal(attemptTimelineSvg(jobLedger()).text);
    expect(launchHistogramSvg(jobLedger()).text).to.equal(launchHistogramSvg(jobLedger()).text);
  });

  it('spend over time: a point per change, ending at the total, the on-demand line dashed and as high as its figure', () => {
    const l = jobLedger();
    const els = svgOf(spendOverTimeSvg(l).text);
    const spend = pathPoints(byClass(els, 'path', 'spend')[0]!.attrs.d!);
    // A zero at submission, then each point (the last is at computedAt, the chart's right edge).
    expect(spend).to.have.length(l.spendOverTime.length + 1);
    expect(spend[spend.length - 1]!.x).to.equal(720 - 16);
    // A ledger computed later runs flat to the right edge.
    expect(pathPoints(byClass(svgOf(spendOverTimeSvg({ ...l, computedAt: l.computedAt + 3_600_000 }).text), 'path', 'spend')[0]!.attrs.d!)).to.have.length(l.spendOverTime.length + 2);
    for (let i = 1; i < spend.length; i++) expect(spend[i]!.x).to.be.at.least(spend[i - 1]!.x);
    const dashed = byClass(els, 'path', 'on-demand')[0]!;
    expect(dashed.attrs['stroke-dasharray']).to.be.a('string');
    const od = pathPoints(dashed.attrs.d!);
    const base = spend[0]!.y;
    // Heights above the axis in the ratio of the two totals.
    const ratio = (base - od[od.length - 1]!.y) / (base - spend[spend.length - 1]!.y);
    expect(ratio).to.be.closeTo(l.onDemandUsd! / l.usd, 0.02);
    // The dashed line reaches the ledger's on-demand figure: the attempts' on-demand equivalents, accrued over their running time.
    expect(onDemandOverTime(l).at(-1)!.usd).to.be.closeTo(l.onDemandUsd!, 1e-9);
  });

  it('spend over time: no dashed line when there is no on-demand equivalent', () => {
    const l = jobLedger();
    delete l.onDemandUsd;
    const els = svgOf(spendOverTimeSvg(l).text);
    expect(byClass(els, 'path', 'on-demand')).to.have.length(0);
    expect(byClass(els, 'path', 'spend')).to.have.length(1);
  });

  it('attempt timeline: a row per task, a bar per attempt from its request, the boot part its own lighter rect', () => {
    const l = jobLedger();
    const els = svgOf(attemptTimelineSvg(l).text);
    expect(byClass(els, 'g', 'task-row')).to.have.length(3);
    const attempts = byClass(els, 'g', 'attempt');
    expect(attempts.map((a) => `${a.attrs['data-task']}#${a.attrs['data-attempt']}:${a.attrs['data-market']}:${a.attrs['data-outcome']}`)).to.deep.equal([
      't-0000#1:spot:interrupted',
      't-0000#2:spot:succeeded',
      't-0001#1:on-demand:succeeded',
      't-0002#1:spot:open',
    ]);
    const boots = byClass(els, 'rect', 'boot');
    const runs = byClass(els, 'rect', 'run');
    expect(boots).to.have.length(4);
    expect(runs).to.have.length(4);
    for (const b of boots) expect(b.attrs['fill-opacity']).to.equal('0.35');
    // Widths in proportion to the times: attempt 1 boots 60 s and runs 1740 s.
    expect(num(runs[0]!, 'width') / num(boots[0]!, 'width')).to.be.closeTo(1740 / 60, 1);
    // The run starts where the boot ends, and the retry after the interrupted attempt's end.
    expect(num(runs[0]!, 'x')).to.be.closeTo(num(boots[0]!, 'x') + num(boots[0]!, 'width'), 0.2);
    expect(num(boots[1]!, 'x')).to.be.greaterThan(num(runs[0]!, 'x') + num(runs[0]!, 'width'));
    // The on-demand attempt is outlined; the interruption marked once.
    expect(runs[2]!.attrs.stroke).to.be.a('string');
    expect(runs[0]!.attrs.stroke).to.equal(undefined);
    expect(byClass(els, 'path', 'interruption')).to.have.length(1);
  });

  it('attempt timeline: draws at most maxRows tasks and says how many more', () => {
    const text = attemptTimelineSvg(jobLedger(), 2).text;
    expect(byClass(svgOf(text), 'g', 'task-row')).to.have.length(2);
    expect(text).to.contain('and 1 more task(s)');
  });

  it('launch histogram: a panel per pool, a bar per non-empty bin, the counts adding up', () => {
    const l = jobLedger();
    const els = svgOf(launchHistogramSvg(l).text);
    expect(byClass(els, 'g', 'pool').map((g) => g.attrs['data-pool'])).to.deep.equal([...new Set(l.launches.map((p) => p.pool))].sort());
    const bins = byClass(els, 'rect', 'bin');
    expect(bins.reduce((s, b) => s + num(b, 'data-count'), 0)).to.equal(l.launches.length);
    const a = bins.filter((b) => b.attrs['data-pool'] === 'us-east-1a/m5.large');
    expect(a).to.have.length(1);
    expect(num(a[0]!, 'data-count')).to.equal(2);
    // Height in proportion to the count: the pool with one launch in its bin is half as tall.
    const one = bins.find((b) => b.attrs['data-pool'] === 'us-east-1c/m5.large')!;
    expect(num(one, 'height') * 2).to.be.closeTo(num(a[0]!, 'height'), 0.2);
    // The slower launch lands in a later bin.
    expect(num(one, 'data-from')).to.be.greaterThan(num(a[0]!, 'data-from'));
  });

  it('launch histogram: says so when no attempt reached SSH', () => {
    const l = { ...jobLedger(), launches: [] };
    const els = svgOf(launchHistogramSvg(l).text);
    expect(byClass(els, 'rect', 'bin')).to.have.length(0);
    expect(byClass(els, 'text', 'empty')).to.have.length(1);
  });

  it('where the money went: a segment per part with time, widths and dollars in proportion to time', () => {
    const l = jobLedger();
    const els = svgOf(moneySplitSvg(l.time, l.usd, 'job').text);
    const parts = els.filter((e) => e.name === 'rect' && (e.attrs.class ?? '').startsWith('part '));
    expect(parts.map((p) => p.attrs.class)).to.deep.equal(['part part-useful', 'part part-lost', 'part part-boot', 'part part-idle', 'part part-duplicate']);
    const total = 14180 + 1740 + 230 + 600 + 300;
    expect(parts.reduce((s, p) => s + num(p, 'data-usd'), 0)).to.be.closeTo(l.usd, 1e-5);
    expect(num(parts[1]!, 'data-usd')).to.be.closeTo((l.usd * 1740) / total, 1e-6);
    expect(num(parts[0]!, 'width') / num(parts[1]!, 'width')).to.be.closeTo(14180 / 1740, 0.1);
    // Without a part, no segment for it.
    const none = svgOf(moneySplitSvg({ ...l.time, duplicateSeconds: 0 }, l.usd, 'job').text);
    expect(byClass(none, 'rect', 'part-duplicate')).to.have.length(0);
  });

  it('spend by pool: a bar per pool, longest first, lengths in proportion to spend, on-demand pools marked', () => {
    const l = jobLedger();
    const els = svgOf(poolSpendSvg(l.pools, 'job').text);
    const groups = byClass(els, 'g', 'pool');
    expect(groups.map((g) => g.attrs['data-pool'])).to.deep.equal([HOSTILE_POOL, 'us-east-1c/m5.large', 'us-east-1a/m5.large']);
    expect(groups[0]!.attrs['data-market']).to.equal('on-demand');
    const bars = byClass(els, 'rect', 'spend');
    expect(num(bars[0]!, 'width') / num(bars[2]!, 'width')).to.be.closeTo(0.085 / 0.035, 0.02);
  });

  it('spend by day: a bar per day, the on-demand mark only where known', () => {
    const els = svgOf(dailySpendSvg(fleetReport().days).text);
    expect(byClass(els, 'g', 'day').map((g) => g.attrs['data-day'])).to.deep.equal(['2026-01-01', '2026-01-02', '2026-01-03']);
    expect(byClass(els, 'line', 'on-demand')).to.have.length(1);
    const bars = byClass(els, 'rect', 'spend');
    expect(num(bars[1]!, 'height') / num(bars[0]!, 'height')).to.be.closeTo(0.3 / 0.18, 0.02);
    expect(num(bars[2]!, 'height')).to.equal(0);
  });

  it('escape the job name and pool names', () => {
    const l = jobLedger();
    const texts = [spendOverTimeSvg(l), attemptTimelineSvg(l), launchHistogramSvg(l), poolSpendSvg(l.pools, HOSTILE_NAME)].map((s) => s.text);
    for (const t of texts) {
      expect(t).to.not.contain('<script');
      expect(t).to.not.contain('<b ');
      svgOf(t); // still well formed
    }
    expect(texts[0]).to.contain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(texts[2]).to.contain('&lt;b onmouseover=&quot;x&quot;&gt;c5&lt;/b&gt;');
    // And the escaped strings read back as the originals.
    expect(byClass(svgOf(texts[2]!), 'g', 'pool').map((g) => g.attrs['data-pool'])).to.include(HOSTILE_POOL);
  });
});
