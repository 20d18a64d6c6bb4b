/**
 * `npm run bench -- status [--tasks 10000] [--requests 50]`
 *
 * The status page over a job of 10,000 tasks whose rows are written straight
 * to the store (DynamoDB emulator in a process of its own, as in production).
 * For each route: the server's own time per request (its Server-Timing
 * header: store reads and rendering), the time the client saw, and the bytes
 * sent; median and p95 over N requests after 3 warm-up requests. Target:
 * job page and one page of tasks <= 150 ms median.
 */
import { parseArgs } from 'node:util';
import { createCoreClients, destroyClients } from '../shared/aws.js';
import { Store } from '../shared/store/index.js';
import { ensureTables } from '../shared/setup.js';
import { startStatusServer } from '../services/status/server.js';
import type { TaskPageView } from '../services/views/index.js';
import { seedJob } from '../test/status/seed.js';
import { emulatorsInChild } from './lib.js';

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

interface Figures {
  route: string;
  server: number[];
  client: number[];
  bytes: number;
}

function show(f: Figures): string {
  const s = [...f.server].sort((a, b) => a - b);
  const c = [...f.client].sort((a, b) => a - b);
  return `${f.route.padEnd(50)} server median ${quantile(s, 0.5).toFixed(1)} ms, p95 ${quantile(s, 0.95).toFixed(1)} ms; client median ${quantile(c, 0.5).toFixed(1)} ms; ${f.bytes.toLocaleString('en')} bytes`;
}

export default async function statusBench(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { tasks: { type: 'string', default: '10000' }, requests: { type: 'string', default: '50' } } });
  const n = Number(values.tasks);
  const requests = Number(values.requests);
  const emu = await emulatorsInChild();
  const clients = createCoreClients({ region: 'us-east-1', endpoints: emu.endpoints, credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
  const prefix = `bench${process.pid}`;
  try {
    await ensureTables(clients.dynamodb, prefix);
    const store = new Store(clients.ddb, prefix);
    const jobId = 'bench-status';
    const t0 = Date.now();
    await seedJob(store, clients.ddb, { jobId, tasks: n });
    console.log(`job: ${n.toLocaleString('en')} task rows written in ${((Date.now() - t0) / 1000).toFixed(1)} s; DynamoDB emulator in a child process; node ${process.version}`);
    const server = await startStatusServer({ ddb: clients.ddb, prefix, port: 0 });
    const measure = async (route: string, o: { times?: number; before?: () => void; label?: string } = {}): Promise<Figures> => {
      const times = o.times ?? requests;
      const f: Figures = { route: o.label ?? route, server: [], client: [], bytes: 0 };
      for (let i = 0; i < times + 3; i++) {
        o.before?.();
        const start = performance.now();
        const res = await fetch(`${server.url}${route}`);
        const body = await res.arrayBuffer();
        const client = performance.now() - start;
        if (res.status !== 200) throw new Error(`${route}: HTTP ${res.status}`);
        const dur = Number(/dur=([\d.]+)/.exec(res.headers.get('server-timing') ?? '')?.[1]);
        if (i < 3) continue; // warm-up
        f.server.push(dur);
        f.client.push(client);
        f.bytes = body.byteLength;
      }
      return f;
    };
    try {
      // The first look at the job reads all its task rows for the summary (then cached while the job runs).
      const cold = performance.now();
      await fetch(`${server.url}/api/jobs/${jobId}`).then((r) => r.arrayBuffer());
      console.log(`first look at the job (summary read from all ${n.toLocaleString('en')} rows): ${(performance.now() - cold).toFixed(0)} ms`);
      const mid = (await (await fetch(`${server.url}/api/jobs/${jobId}/tasks?limit=100`)).json()) as TaskPageView;
      const figures = [
        await measure(`/jobs/${jobId}`),
        await measure(`/api/jobs/${jobId}/tasks?limit=100`),
        await measure(`/api/jobs/${jobId}/tasks?limit=100&cursor=${mid.nextCursor}`, { label: `/api/jobs/${jobId}/tasks?limit=100&cursor=(2nd)` }),
        await measure(`/api/jobs/${jobId}/tasks?limit=1000`),
        await measure(`/api/jobs/${jobId}`),
        await measure('/api/jobs'),
        await measure(`/jobs/${jobId}/timeline.svg`),
        await measure(`/jobs/${jobId}`, { times: 10, before: () => server.views.clearCache(), label: `/jobs/${jobId}, summary cache cleared` }),
      ];
      for (const f of figures) console.log(show(f));
    } finally {
      await server.close();
    }
  } finally {
    destroyClients(clients);
    await emu.stop();
  }
}
