/** submit, status, cancel: a person's view of jobs. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { jobStatus, listJobs, prepareSpec, submitJob, type JobSummary, type TaskSummary } from '../../job/client.js';
import { UsageError } from '../errors.js';
import { connect } from './connect.js';

function readSpec(file: string): { raw: unknown; baseDir: string } {
  let text: string;
  try {
    text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    return { raw: JSON.parse(text), baseDir: file === '-' ? process.cwd() : path.dirname(path.resolve(file)) };
  } catch (err) {
    throw new UsageError(`${file}: is not valid JSON (${(err as Error).message})`);
  }
}

const terminal = new Set(['succeeded', 'partially-failed', 'failed', 'cancelled']);

export function formatTasks(tasks: TaskSummary[]): string {
  const rows = tasks.map((t) => [t.taskId, t.state, String(t.attempts), t.pool ?? '-', t.runtimeSeconds !== undefined ? `${t.runtimeSeconds}s` : '-', `$${t.costUsd.toFixed(4)}`, t.reason ?? '']);
  const head = ['task', 'state', 'attempts', 'pool', 'runtime', 'cost', 'reason'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export function formatJob(j: JobSummary): string {
  return `${j.id}  ${j.name}  ${j.state}  tasks ${j.succeeded}/${j.tasks} succeeded, ${j.failed} failed, ${j.running} running  attempts ${j.attempts}  cost $${j.costUsd.toFixed(4)}${j.error ? `  (${j.error})` : ''}`;
}

export function submitCommand(): Command {
  return new Command('submit')
    .description('submit a job spec (a JSON file, or - for standard input)')
    .argument('<file>', 'the job spec')
    .option('--wait', 'wait until the job ends and print its summary')
    .option('--json', 'print JSON')
    .action(async (file: string, opts: { wait?: boolean; json?: boolean }, cmd: Command) => {
      const { raw, baseDir } = readSpec(file);
      const spec = prepareSpec(raw, baseDir);
      const c = connect(cmd);
      try {
        const jobId = await submitJob(await c.bus(), spec);
        if (!opts.wait) {
          console.log(opts.json ? JSON.stringify({ id: jobId }) : jobId);
          return;
        }
        if (!opts.json) console.error(`submitted ${jobId}; waiting`);
        for (;;) {
          const s = await jobStatus(c.store, jobId, Date.now());
          if (s && terminal.has(s.job.state)) {
            console.log(opts.json ? JSON.stringify(s, null, 2) : `${formatJob(s.job)}\n\n${formatTasks(s.tasks)}`);
            process.exitCode = s.job.state === 'succeeded' ? 0 : 1;
            return;
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
      } finally {
        c.close();
      }
    });
}

export function statusCommand(): Command {
  return new Command('status')
    .description('list jobs, or show one job with its tasks')
    .argument('[job]', 'a job id')
    .option('--json', 'print JSON')
    .action(async (jobId: string | undefined, opts: { json?: boolean }, cmd: Command) => {
      const c = connect(cmd);
      try {
        if (!jobId) {
          const list = await listJobs(c.clients.ddb, c.config.prefix);
          if (opts.json) console.log(JSON.stringify(list, null, 2));
          else if (!list.length) console.log('no jobs');
          else for (const j of list) console.log(`${j.id}  ${j.state.padEnd(16)}  ${String(j.tasks).padStart(5)} task(s)  ${j.name}`);
          return;
        }
        const s = await jobStatus(c.store, jobId, Date.now());
        if (!s) throw new UsageError(`no job ${jobId} (see \`spotbatch status\` for the list)`);
        console.log(opts.json ? JSON.stringify(s, null, 2) : `${formatJob(s.job)}\n\n${formatTasks(s.tasks)}`);
      } finally {
        c.close();
      }
    });
}

export function cancelCommand(): Command {
  return new Command('cancel')
    .description('cancel a job: open requests cancelled, instances terminated, resources torn down')
    .argument('<job>', 'a job id')
    .action(async (jobId: string, _opts: unknown, cmd: Command) => {
      const c = connect(cmd);
      try {
        if (!(await c.store.jobs.get({ jobId }))) throw new UsageError(`no job ${jobId} (see \`spotbatch status\` for the list)`);
        await (await c.bus()).send('job.cancel', { jobId, reason: 'cancelled from the CLI' });
        console.log(`cancelling ${jobId}`);
      } finally {
        c.close();
      }
    });
}
