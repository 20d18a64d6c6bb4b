/** submit, status, cancel: a person's view of jobs. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { checkJobId, confirmJobId, JobRefusedError, prepareSpec, refusalOf, sendSubmission, submission, submissionDigest } from '../../job/client.js';
import { checkSpecPolicy } from '../../model/spec.js';
import { configuredArtifactStore } from '../../artifacts/index.js';
import { BadRequest } from '../../views/cursor.js';
import { NotFound, parseJobStates, type JobSummaryView } from '../../views/index.js';
import { isTerminal, jobMachine, JOB_STATES, type JobState } from '../../../shared/states.js';
import { UsageError } from '../errors.js';
import { TASK_HEAD, formatJobList, formatJobView, formatSummary, formatTable, progressBar, progressCounts, progressLine, progressOf, taskCells } from '../format.js';
import { connect, orUnknown, type Connection } from './connect.js';
import { parseCount } from './common.js';

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
    throw new UsageError(`${file}: is not valid JSON (${(err as Error).message}); see docs/job-spec.md`);
  }
}

const ended = (state: string): boolean => (JOB_STATES as readonly string[]).includes(state) && isTerminal(jobMachine, state as JobState);

/** Tables longer than this are left to `spotbatch tasks`. */
const TASK_TABLE_MAX = 50;

/** The job's counts, then its first tasks and where the rest are. */
async function jobText(c: Connection, summary: JobSummaryView, heading = formatJobView(summary)): Promise<string> {
  const page = await c.views().tasks(summary.id, { limit: TASK_TABLE_MAX });
  const now = Date.now();
  const more = page.totalTasks - page.tasks.length;
  return [heading, '', formatTable(TASK_HEAD, page.tasks.map((t) => taskCells(t, now))), ...(more > 0 ? [`... and ${more} more task(s): spotbatch tasks ${summary.id}`] : [])].join('\n');
}

/** Wait for the job to end, showing progress on stderr: a bar on a terminal, a line on each change otherwise. */
async function waitJob(c: Connection, jobId: string, messageId: string, quiet: boolean): Promise<JobSummaryView> {
  const views = c.views();
  const tty = process.stderr.isTTY === true;
  let lastCounts = '';
  let lastLineAt = 0;
  let drawn = false;
  const clear = (): void => {
    if (drawn) process.stderr.write('\r\x1b[K');
    drawn = false;
  };
  const onInterrupt = (): void => {
    clear();
    process.stderr.write(`\nstopped waiting; ${jobId} goes on (spotbatch status ${jobId}, spotbatch cancel ${jobId})\n`);
    process.exit(130);
  };
  process.once('SIGINT', onInterrupt);
  try {
    for (;;) {
      const began = Date.now();
      // Until the fleet has stored the job (the submit message is on its way), there is nothing to show.
      const row = await views.jobRow(jobId).catch((err: unknown) => {
        if (err instanceof NotFound) return undefined;
        throw err;
      });
      if (!row) {
        // Refused by the fleet (a rule only its configuration can check): the reason, not a wait for ever.
        const refused = await refusalOf(c.store, jobId, messageId);
        if (refused !== undefined) {
          clear();
          throw new JobRefusedError(jobId, refused);
        }
      }
      if (row) {
        const summary = await views.summary(row);
        if (ended(row.state)) {
          clear();
          return summary;
        }
        const now = Date.now();
        const p = progressOf(summary, now);
        if (!quiet && tty) {
          process.stderr.write(`\r${progressBar(p, process.stderr.columns || 80)}\x1b[K`);
          drawn = true;
        } else if (!quiet) {
          const counts = progressCounts(p);
          if (counts !== lastCounts || now - lastLineAt >= 30_000) {
            process.stderr.write(`${progressLine(jobId, p)}\n`);
            lastCounts = counts;
            lastLineAt = now;
          }
        }
      }
      // Poll again after 1 s, or longer when reading the job takes long (a job of many tasks).
      const took = Date.now() - began;
      await new Promise((r) => setTimeout(r, Math.min(10_000, Math.max(1000, 3 * took))));
    }
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

export function submitCommand(): Command {
  return new Command('submit')
    .description('submit a job spec (a JSON file, or - for standard input); prints the job id')
    .argument('<file>', 'the job spec (see docs/job-spec.md), or - to read it from standard input')
    .option('--wait', 'wait until the job ends, showing progress on stderr, then print a summary; exit 0 only if it succeeded')
    .option('--quiet', 'with --wait: no progress')
    .option('--json', 'print JSON: {"id"}, or with --wait the job as `status JOB --json` shows it')
    .addHelpText('after', '\nExit codes: 0 submitted (with --wait: the job succeeded), 1 failed (the job ID already exists with another spec; with --wait: the job did not succeed), 2 bad spec or usage.')
    .action(async (file: string, opts: { wait?: boolean; json?: boolean; quiet?: boolean }, cmd: Command) => {
      if (opts.quiet && !opts.wait) throw new UsageError('--quiet: only with --wait');
      const { raw, baseDir } = readSpec(file);
      const c = connect(cmd);
      try {
        // Files and scripts the spec names go to the fleet's artifact store; the fleet never reads this machine's paths.
        const artifacts = configuredArtifactStore(c.config);
        const spec = await prepareSpec(raw, baseDir, artifacts);
        // The fleet's IAM guard (config security.*), before anything is sent; job.submit checks again.
        checkSpecPolicy(spec, c.config.security);
        // An id the spec chose may be another spec's: refused before sending, and checked again once the
        // fleet has stored the job (two submits of one id at the same moment: one wins whole, the other exits 1).
        const body = await submission(spec, artifacts);
        const digest = submissionDigest(body);
        const jobId = body.id;
        if (spec.id !== undefined) await checkJobId(c.store, jobId, digest);
        const { messageId } = await sendSubmission(await c.bus(), body, artifacts);
        if (spec.id !== undefined) await confirmJobId(c.store, jobId, digest, messageId);
        if (!opts.wait) {
          console.log(opts.json ? JSON.stringify({ id: jobId }) : jobId);
          return;
        }
        if (!opts.quiet) process.stderr.write(`submitted ${jobId}; waiting for it to end (Ctrl-C stops waiting, not the job)\n`);
        const summary = await waitJob(c, jobId, messageId, opts.quiet === true);
        if (opts.json) console.log(JSON.stringify(await c.views().job(jobId), null, 2));
        else console.log(await jobText(c, summary, formatSummary(summary, progressOf(summary, Date.now()))));
        process.exitCode = summary.state === 'succeeded' ? 0 : 1;
      } finally {
        c.close();
      }
    });
}

export function statusCommand(): Command {
  return new Command('status')
    .description('list the jobs, newest first, or show one job: its counts, spend and first tasks')
    .argument('[job]', 'a job id')
    .option('--state <states>', `with no job: only jobs in these states, comma-separated (${JOB_STATES.join(', ')})`)
    .option('--json', 'print JSON: an array of job summaries, or one job with its spec (the shapes of the status page\'s /api/jobs and /api/jobs/JOB)')
    .action(async (jobId: string | undefined, opts: { json?: boolean; state?: string }, cmd: Command) => {
      let states: JobState[] | undefined;
      try {
        states = opts.state === undefined ? undefined : parseJobStates(opts.state);
      } catch (err) {
        if (err instanceof BadRequest) throw new UsageError(`--${err.message}`);
        throw err;
      }
      if (opts.state !== undefined && jobId) throw new UsageError('--state: only without a job id (it filters the list of jobs)');
      const c = connect(cmd);
      try {
        if (!jobId) {
          const list: JobSummaryView[] = [];
          let cursor: string | null = null;
          do {
            const page = await c.views().jobs({ ...(states ? { states } : {}), limit: 500, cursor });
            list.push(...page.jobs);
            cursor = page.nextCursor;
          } while (cursor);
          if (opts.json) console.log(JSON.stringify(list, null, 2));
          else if (!list.length) console.log(opts.state ? `no ${opts.state} jobs` : 'no jobs (spotbatch submit FILE starts one)');
          else console.log(formatJobList(list));
          return;
        }
        const detail = await orUnknown(
          c.views().job(jobId).catch(async (err: unknown) => {
            // No job row: was a submit under this id refused? Then that is the answer, with its reason.
            if (!(err instanceof NotFound)) throw err;
            const { events } = await c.store.events.page(jobId, { limit: 50 });
            const refused = events.find((e) => e.type === 'job.refused');
            if (refused) throw new JobRefusedError(jobId, String(refused.data?.reason ?? 'no reason recorded'));
            throw err;
          }),
        );
        console.log(opts.json ? JSON.stringify(detail, null, 2) : await jobText(c, detail.job));
      } finally {
        c.close();
      }
    });
}

export function cancelCommand(): Command {
  return new Command('cancel')
    .description('cancel a job in any open state (finishing too): open requests cancelled, instances terminated, resources torn down')
    .argument('<job>', 'a job id')
    .option('--wait', 'wait until the job is cancelled')
    .option('--timeout <seconds>', 'with --wait: give up after this long (exit 1)', '600')
    .option('--json', 'print JSON: {"id", "state"}')
    .addHelpText('after', '\nExit codes: 0 cancelling (or already cancelled), 1 the job had already ended otherwise, or --wait timed out, 2 no such job.')
    .action(async (jobId: string, opts: { wait?: boolean; timeout: string; json?: boolean }, cmd: Command) => {
      const timeoutS = parseCount(opts.timeout, '--timeout', 1, 86_400);
      const c = connect(cmd);
      const say = (state: string, text: string): void => console.log(opts.json ? JSON.stringify({ id: jobId, state }) : text);
      try {
        const job = await c.store.jobs.get({ jobId });
        if (!job) throw new UsageError(`no job ${jobId} (see \`spotbatch status\` for the list)`);
        if (job.state === 'cancelled') return say(job.state, `${jobId} is already cancelled`);
        if (ended(job.state)) {
          say(job.state, `${jobId} has already ended (${job.state}): nothing to cancel`);
          process.exitCode = 1;
          return;
        }
        await (await c.bus()).send('job.cancel', { jobId, reason: 'cancelled from the CLI' });
        if (!opts.wait) return say('cancelling', `cancelling ${jobId} (spotbatch status ${jobId} shows when it is done)`);
        const until = Date.now() + timeoutS * 1000;
        for (;;) {
          const now = await c.store.jobs.get({ jobId });
          if (now?.state === 'cancelled') return say('cancelled', `${jobId} cancelled`);
          if (now && ended(now.state)) {
            // Its teardown could not finish (or it ended before the cancel came): the state and the reason.
            say(now.state, `${jobId} ended ${now.state}${now.error ? `: ${String(now.error)}` : ''}`);
            process.exitCode = 1;
            return;
          }
          if (Date.now() > until) {
            say(now?.state ?? 'unknown', `${jobId} is still ${now?.state ?? 'unknown'} after ${timeoutS} s`);
            process.exitCode = 1;
            return;
          }
          await new Promise((r) => setTimeout(r, 1000));
        }
      } finally {
        c.close();
      }
    });
}
