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
import { Store } from '../../shared/store/index.js';
import { catalog } from '../catalog.js';
import { jobStatus, prepareSpec, submitJob } from '../job/client.js';
import { configuredArtifactStore } from '../artifacts/index.js';
import { formatJob, formatTasks } from './commands/jobs.js';
import { LOCAL_CREDENTIALS, type LocalFleet } from '../local/local.js';

export function demoSpecPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../../examples/testsleep.json'), path.resolve(here, '../../../examples/testsleep.json')];
  return candidates.find((c) => existsSync(c)) ?? candidates[0]!;
}

const terminal = new Set(['succeeded', 'partially-failed', 'failed', 'cancelled']);

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
    const store = new Store(clients.ddb, fleet.config.prefix);
    const jobId = await submitJob(bus, spec, artifacts);
    print(`demo: submitted ${spec.name} as ${jobId} (${file})`);
    let last = '';
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = await jobStatus(store, jobId, Date.now());
      if (s) {
        const line = `demo: ${s.job.state}: ${s.tasks.map((t) => `${t.taskId} ${t.state}`).join(', ')}`;
        if (line !== last) print(line);
        last = line;
        if (terminal.has(s.job.state)) {
          print(`\n${formatJob(s.job)}\n\n${formatTasks(s.tasks)}\n`);
          const inventory = (await (await fetch(`${fleet.endpoints.ec2}/_sim/inventory`)).json()) as Record<string, Array<{ tags?: Record<string, string> }>>;
          const leftovers = Object.values(inventory).flat().filter((r) => r.tags?.['spotbatch:job'] === jobId).length;
          print(leftovers ? `demo: ${leftovers} resource(s) of the job are still in the simulator` : 'demo: nothing of the job is left in the simulator');
          return { jobId, state: s.job.state, leftovers };
        }
      }
      if (Date.now() > end) return { jobId, state: s?.job.state ?? 'unknown', leftovers: -1 };
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    destroyClients(clients);
  }
}
