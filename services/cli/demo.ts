/**
 * The demo of `npm start`: submit examples/testsleep.json to the local fleet,
 * print progress, then a per-task summary, and check that the simulator holds
 * nothing of the job afterwards.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCoreClients, destroyClients } from '../../shared/aws.js';
import { MessageBus } from '../../shared/envelope.js';
import { resolveQueueUrls } from '../../shared/queues.js';
import { catalog } from '../catalog.js';
import { prepareSpec, submitJob } from '../job/client.js';
import { configuredArtifactStore } from '../artifacts/index.js';
import { formatJobView, formatTable, TASK_HEAD, taskCells } from './format.js';
import { isJobOpen, JobViews, LIMITS, NotFound } from '../views/index.js';
import { LOCAL_CREDENTIALS } from '../local/defaults.js';
import type { LocalFleet } from '../local/local.js';

export function demoSpecPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../../examples/testsleep.json'), path.resolve(here, '../../../examples/testsleep.json')];
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}

export interface DemoResult {
  jobId: string;
  state: string;
  leftovers: number;
}

export async function runDemo(fleet: LocalFleet, print: (line: string) => void, timeoutMs = 15 * 60_000): Promise<DemoResult> {
  const clients = createCoreClients({ region: fleet.config.region, endpoints: fleet.endpoints, credentials: LOCAL_CREDENTIALS });
  try {
    const file = demoSpecPath();
    const artifacts = configuredArtifactStore(fleet.config);
    const spec = await prepareSpec(JSON.parse(readFileSync(file, 'utf8')), path.dirname(file), artifacts);
    const bus = new MessageBus(clients.sqs, await resolveQueueUrls(clients.sqs, fleet.config.prefix), catalog);
    const views = new JobViews({ ddb: clients.ddb, prefix: fleet.config.prefix });
    const jobId = await submitJob(bus, spec, artifacts);
    print(`demo: submitted ${spec.name} as ${jobId} (${file})`);
    let last = '';
    const end = Date.now() + timeoutMs;
    for (;;) {
      // The read model the status page and `spotbatch status` use.
      const row = await views.jobRow(jobId).catch((err: unknown) => {
        if (err instanceof NotFound) return undefined;
        throw err;
      });
      if (row) {
        const page = await views.tasks(jobId, { limit: LIMITS.tasks.max }, row);
        const line = `demo: ${row.state}: ${page.tasks.map((t) => `${t.taskId} ${t.state}`).join(', ')}`;
        if (line !== last) print(line);
        last = line;
        if (!isJobOpen(row.state)) {
          const now = Date.now();
          print(`\n${formatJobView(await views.summary(row))}\n\n${formatTable(TASK_HEAD, page.tasks.map((t) => taskCells(t, now)))}\n`);
          const inventory = (await (await fetch(`${fleet.endpoints.ec2}/_sim/inventory`)).json()) as Record<string, Array<{ tags?: Record<string, string> }>>;
          const leftovers = Object.values(inventory).flat().filter((r) => r.tags?.['spotbatch:job'] === jobId).length;
          print(leftovers ? `demo: ${leftovers} resource(s) of the job are still in the simulator` : 'demo: nothing of the job is left in the simulator');
          return { jobId, state: row.state, leftovers };
        }
      }
      if (Date.now() > end) return { jobId, state: row?.state ?? 'unknown', leftovers: -1 };
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    destroyClients(clients);
  }
}
