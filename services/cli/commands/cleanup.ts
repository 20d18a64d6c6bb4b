/** cleanup: delete what the fleet left in the cloud for jobs (a fleet killed half-way, an orphan), in dependency order. */
import { Command } from 'commander';
import { createCloudClients, createCoreClients, destroyClients } from '../../../shared/aws.js';
import { cleanup, type CleanupReport } from '../../ops/cleanup.js';
import { defaultS3Client } from '../../ops/doctor.js';
import { EXIT_FAILED, UsageError } from '../errors.js';
import { formatTable } from '../format.js';
import { isTerminal, jobMachine } from '../../../shared/states.js';
import { configFor, loggerFor } from './common.js';
import { connect } from './connect.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `90s`, `30m`, `12h`, `7d`, `2w`: milliseconds. */
export function parseAge(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/.exec(value.trim());
  const ms = m ? Number(m[1]) * UNITS[m[2]!]! : NaN;
  if (!Number.isFinite(ms) || ms <= 0) throw new UsageError(`${flag}: an age such as 30m, 12h or 7d, got ${JSON.stringify(value)}`);
  return ms;
}

export function formatCleanup(report: CleanupReport): string {
  if (!report.items.length) return `nothing found in ${report.regions.join(', ')}`;
  const verb = { deleted: 'deleted', 'would-delete': 'would delete', kept: 'kept', failed: 'FAILED' } as const;
  const table = formatTable(
    ['region', 'kind', 'id', 'job', 'outcome', 'why'],
    report.items.map((i) => [i.region, i.kind, i.id, i.jobId, verb[i.outcome], i.reason ?? '']),
  );
  const count = (o: keyof typeof verb) => report.items.filter((i) => i.outcome === o).length;
  const summary = report.dryRun
    ? `dry run: ${count('would-delete')} would be deleted, ${count('kept')} kept; nothing was changed`
    : `${count('deleted')} deleted, ${count('kept')} kept, ${count('failed')} not deleted`;
  return `${table}\n\n${summary} (regions: ${report.regions.join(', ')})`;
}

export function cleanupCommand(): Command {
  return new Command('cleanup')
    .description("delete what the fleet made for jobs (instances, spot requests, security groups, key pairs, job roles and instance profiles, copied images and snapshots, checkpoint objects) in every region in use, in dependency order")
    .option('--job <job>', "this job's resources, even while it runs (a running job is cancelled first)")
    .option('--all', "every ended job's resources and every orphan's (no job row); a running job's stay")
    .option('--dry-run', 'list what would be deleted and delete nothing')
    .option('--older-than <age>', 'keep the resources of jobs younger than this (30m, 12h, 7d)')
    .option('--json', 'print {"dryRun", "regions", "items": [{"kind", "region", "id", "jobId", "outcome", "reason"}], "failed"}')
    .addHelpText('after', '\nExit codes: 0 everything chosen was deleted (or listed, with --dry-run), 1 something could not be deleted (its line says why), 2 usage.')
    .action(async (opts: { job?: string; all?: boolean; dryRun?: boolean; olderThan?: string; json?: boolean }, cmd: Command) => {
      if (!opts.job === !opts.all) throw new UsageError('cleanup: give --job JOB (one job, even running) or --all (every ended job and every orphan), not both');
      const olderThanMs = opts.olderThan === undefined ? undefined : parseAge(opts.olderThan, '--older-than');
      const config = configFor(cmd);
      const log = loggerFor(config, 'cleanup', { stderr: true });
      const core = createCoreClients({ region: config.region });
      const cloud = createCloudClients({ region: config.region });
      const s3 = defaultS3Client();
      try {
        // A job that still runs would only launch again what cleanup deletes: it is cancelled first (as
        // `spotbatch cancel` does), and its dispatchers' teardown meets resources already gone.
        if (opts.job && !opts.dryRun) await cancelIfRunning(cmd, opts.job);
        const report = await cleanup(
          { config, core, cloud, s3 },
          { ...(opts.job ? { jobId: opts.job } : { all: true }), dryRun: Boolean(opts.dryRun), ...(olderThanMs !== undefined ? { olderThanMs } : {}), log },
        );
        console.log(opts.json ? JSON.stringify(report, null, 2) : formatCleanup(report));
        if (report.failed) process.exitCode = EXIT_FAILED;
      } finally {
        destroyClients(core);
        cloud.iam.destroy();
        s3.destroy();
      }
    });
}

/** Sends job.cancel for `jobId` when its row says it still runs; says so on stderr. */
async function cancelIfRunning(cmd: Command, jobId: string): Promise<void> {
  const c = connect(cmd);
  try {
    const job = await c.store.jobs.get({ jobId });
    if (!job || isTerminal(jobMachine, job.state) || job.state === 'cancelling') return;
    await (await c.bus()).send('job.cancel', { jobId, reason: 'cancelled by spotbatch cleanup --job' });
    process.stderr.write(`${jobId} was ${job.state}: cancelled it first, so that its dispatchers launch nothing more\n`);
  } finally {
    c.close();
  }
}
