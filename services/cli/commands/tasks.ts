/** tasks, logs: a job's tasks page by page, and one task's output. */
import { Command } from 'commander';
import { taskLogs } from '../../remote/logs.js';
import { TASK_STATES } from '../../../shared/states.js';
import { UsageError } from '../errors.js';
import { TASK_HEAD, formatTable, taskCells } from '../format.js';
import { parseCount } from './common.js';
import { connect, orUnknown } from './connect.js';

/** Write and wait when the pipe is full, so 10,000 rows never pile up in memory. */
function write(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.write(text, (err) => (err ? reject(err) : resolve()));
  });
}

export function tasksCommand(): Command {
  return new Command('tasks')
    .description("list a job's tasks (read from the store page by page, so a job of 10,000 tasks streams)")
    .argument('<job>', 'a job id')
    .option('--state <state>', `only tasks in this state (${TASK_STATES.join(', ')})`)
    .option('--limit <n>', 'at most this many tasks')
    .option('--json', "print a JSON array of tasks (each as the status page's /api/jobs/JOB/tasks shows it)")
    .action(async (jobId: string, opts: { state?: string; limit?: string; json?: boolean }, cmd: Command) => {
      if (opts.state !== undefined && !(TASK_STATES as readonly string[]).includes(opts.state)) {
        throw new UsageError(`--state: must be one of ${TASK_STATES.join(', ')}; got ${JSON.stringify(opts.state)}`);
      }
      const limit = opts.limit === undefined ? Infinity : parseCount(opts.limit, '--limit', 1, 10_000_000);
      const c = connect(cmd);
      try {
        const views = c.views();
        const job = await orUnknown(views.jobRow(jobId));
        const now = Date.now();
        let count = 0;
        let widths: number[] | undefined;
        const print = async (rows: string[][]): Promise<void> => {
          if (!rows.length) return;
          // Column widths fit the first rows; the header goes once, above them.
          const first = widths === undefined;
          widths ??= TASK_HEAD.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
          const lines = formatTable(TASK_HEAD, rows, widths).split('\n');
          await write(`${(first ? lines : lines.slice(1)).join('\n')}\n`);
        };
        if (opts.json) await write('[');
        let cursor: string | null = null;
        do {
          const page = await views.tasks(jobId, { limit: 1000, cursor }, job);
          const rows: string[][] = [];
          for (const t of page.tasks) {
            if (count >= limit) break;
            if (opts.state && t.state !== opts.state) continue;
            if (opts.json) await write(`${count ? ',' : ''}\n  ${JSON.stringify(t)}`);
            else rows.push(taskCells(t, now));
            count++;
          }
          if (!opts.json) await print(rows);
          cursor = count >= limit ? null : page.nextCursor;
        } while (cursor);
        if (opts.json) await write(count ? '\n]\n' : ']\n');
        else if (!count) await write(opts.state ? `no ${opts.state} tasks in ${jobId}\n` : `no tasks in ${jobId} yet\n`);
      } finally {
        c.close();
      }
    });
}

export function logsCommand(): Command {
  return new Command('logs')
    .description("a task's last output: read live from its instance while it runs, otherwise the tails kept when its last attempt ended")
    .argument('<job>', 'a job id')
    .argument('<task>', 'a task id (0002) or index (2)')
    .option('--lines <n>', 'last lines of each stream', '50')
    .option('--stream <which>', 'stdout, stderr or both; with one, it is printed as it is (no headers)', 'both')
    .option('--stored', 'do not connect to the instance: only the tails kept in the task row')
    .option('--json', 'print JSON: {"jobId", "taskId", "state", "attempt", "source", "stdout", "stderr"}')
    .addHelpText('after', '\nReading a running task live needs SPOTBATCH_SECRET_KEY or SPOTBATCH_SECRET_KEY_FILE (as for ssh); without it, or when the instance does not answer, the stored tails are shown and stderr says why.')
    .action(async (jobId: string, taskRef: string, opts: { lines: string; stream: string; stored?: boolean; json?: boolean }, cmd: Command) => {
      const lines = parseCount(opts.lines, '--lines', 1, 100_000);
      if (!['stdout', 'stderr', 'both'].includes(opts.stream)) throw new UsageError(`--stream: must be stdout, stderr or both; got ${JSON.stringify(opts.stream)}`);
      const c = connect(cmd);
      try {
        const logs = await taskLogs(c.store, c.config, jobId, taskRef, { live: !opts.stored, lines });
        if (logs.liveError) process.stderr.write(`spotbatch: the live output could not be read (${logs.liveError}); showing the tails kept when the last attempt ended\n`);
        if (opts.json) {
          console.log(JSON.stringify(logs, null, 2));
          return;
        }
        const withEol = (s: string): string => (s === '' || s.endsWith('\n') ? s : `${s}\n`);
        if (opts.stream !== 'both') {
          process.stdout.write(withEol(opts.stream === 'stdout' ? logs.stdout : logs.stderr));
          return;
        }
        const from = logs.source === 'instance' ? 'live from the instance' : 'kept when the attempt ended';
        const attempt = logs.attempt !== undefined ? `, attempt ${logs.attempt}` : '';
        process.stdout.write(`--- stdout (task ${logs.taskId} ${logs.state}${attempt}, ${from}) ---\n${withEol(logs.stdout) || '(empty)\n'}--- stderr ---\n${withEol(logs.stderr) || '(empty)\n'}`);
      } finally {
        c.close();
      }
    });
}
