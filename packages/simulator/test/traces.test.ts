/**
 * How the simulator reads the shipped spot traces: a tick's value 0 is spot available (the instance alive,
 * in a preemption trace), anything else not, as the traces' authors read them (issue 15).
 */
import { expect } from 'chai';
import { mkdtemp, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Catalog } from '../src/market/catalog.js';
import { MarketData, spotAvailable } from '../src/market/data.js';
import { Market } from '../src/market/market.js';

const DATA = fileURLToPath(new URL('../../../data/market', import.meta.url));
const ANCHOR = Date.UTC(2024, 0, 1);

interface TraceFile {
  metadata: { gap_seconds: number };
  data: number[];
}

/** Every shipped trace file with the pool the simulator serves it as. */
async function shippedTraces(): Promise<{ file: string; zone: string; type: string; trace: TraceFile }[]> {
  const out = [];
  for (const [kind, type] of [
    ['availability', 'p3.2xlarge'],
    ['preemption', 'r5.16xlarge'],
  ] as const) {
    const root = path.join(DATA, 'traces', kind);
    for (const sub of await readdir(root)) {
      for (const file of (await readdir(path.join(root, sub))).filter((f) => f.endsWith('.json'))) {
        const trace = JSON.parse(await readFile(path.join(root, sub, file), 'utf8')) as TraceFile;
        out.push({ file: `${kind}/${sub}/${file}`, zone: file.split('_')[0]!, type, trace });
      }
    }
  }
  return out;
}

function marketOn(dir: string, seed = 5): Market {
  const data = new MarketData(dir);
  return new Market(seed, data, new Catalog(data));
}

describe('simulator: trace reading', () => {
  it('reads a tick of 0 as spot available and any other value as not', () => {
    expect(spotAvailable(0)).to.equal(true);
    for (const v of [1, 2, 7]) expect(spotAvailable(v)).to.equal(false);
  });

  it("gives each shipped trace pool the availability of its file's share of 0-ticks", async () => {
    const files = await shippedTraces();
    expect(files).to.have.length(12);
    const market = marketOn(DATA);
    for (const { file, zone, type, trace } of files) {
      const zeros = trace.data.filter((v) => v === 0).length / trace.data.length;
      expect(market.data.traces().get(`${zone}|${type}`)!.availability, file).to.equal(zeros);
      // one full loop of the trace, tick by tick, through the capacity the EC2 endpoint serves
      const gap = trace.metadata.gap_seconds * 1000;
      const pool = { region: zone.slice(0, -1), zone, type };
      let up = 0;
      for (let i = 0; i < trace.data.length; i++) if (market.hasCapacity(pool, ANCHOR + i * gap + 1)) up++;
      expect(up / trace.data.length, file).to.equal(zeros);
    }
  });

  it('matches the figures data/market/SOURCES.md quotes: us-east-1a 83% of ticks, us-west-2b 10%', () => {
    const traces = marketOn(DATA).data.traces();
    expect(Math.round(traces.get('us-east-1a|p3.2xlarge')!.availability * 100)).to.equal(83);
    expect(Math.round(traces.get('us-west-2b|p3.2xlarge')!.availability * 100)).to.equal(10);
  });

  describe('on a hand-made trace', () => {
    let dir: string;
    // ticks of 60 s: available, available, not (1), not (2), available, not (3), then it loops
    const values = [0, 0, 1, 2, 0, 3];
    const n = values.length;
    const ticks = Array.from({ length: n }, (_, i) => i);
    const pool = { region: 'us-east-1', zone: 'us-east-1a', type: 'p3.2xlarge' };
    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'spotbatch-traces-'));
      await mkdir(path.join(dir, 'traces', 'availability', 'hand'), { recursive: true });
      await writeFile(path.join(dir, 'traces', 'availability', 'hand', 'us-east-1a_v100_1.json'), JSON.stringify({ metadata: { gap_seconds: 60 }, data: values }));
    });
    after(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('has capacity exactly in the 0-ticks, and interrupts at the first tick that is not 0', () => {
      const market = marketOn(dir);
      expect(market.data.traces().get('us-east-1a|p3.2xlarge')!.availability).to.equal(3 / 6);
      // the seed shifts where the loop starts: find the rotation that the simulated ticks follow
      const seen = ticks.map((i) => market.hasCapacity(pool, ANCHOR + i * 60_000 + 1));
      const shift = ticks.find((s) => seen.every((up, i) => up === (values[(i + s) % n] === 0)));
      expect(shift, `capacity ${JSON.stringify(seen)} is no rotation of the 0-ticks of ${JSON.stringify(values)}`).to.not.equal(undefined);
      // launched in the tick that replays the file's first value: the run 0, 0 ends where the 1 begins, two ticks on
      const first = (n - shift!) % n;
      const launched = ANCHOR + first * 60_000 + 5_000;
      expect(market.hasCapacity(pool, launched)).to.equal(true);
      expect(market.interruptionTime(pool, launched, 0)).to.equal(ANCHOR + (first + 2) * 60_000);
      // and in the lone 0 between the 2 and the 3: one tick on
      const lone = (first + 4) % n;
      expect(market.interruptionTime(pool, ANCHOR + lone * 60_000, 0)).to.equal(ANCHOR + (lone + 1) * 60_000);
    });
  });
});
