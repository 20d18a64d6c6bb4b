/** report: a job's cost ledger, or the fleet's totals over a period, as json, md (or html, once it has a renderer). */
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { createCloudClients } from '../../../shared/aws.js';
import { tableNames } from '../../../shared/store/index.js';
import { ec2PriceSource } from '../../ledger/history.js';
import { jobLedger } from '../../ledger/fleet.js';
import { fleetReport, type ReportedJob } from '../../ledger/fleet-report.js';
import { REPORT_FORMATS, renderers, type ReportFormat } from '../../ledger/render.js';
import { summarize } from '../../ledger/summary.js';
import { jobs } from '../../model/repo.js';
import { listJobs } from '../../views/job-list.js';
import { UsageError } from '../errors.js';
import { connect, orUnknown } from './connect.js';

interface ReportOptions {
  format: string;
  out?: string;
  all?: boolean;
  since?: string;
  until?: string;
}

/** An ISO date-time or a YYYY-MM-DD day (UTC midnight), as epoch ms; errors name the option. */
export function parseDate(value: string, flag: string): number {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const iso = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(value);
  const ms = day ? Date.parse(`${value}T00:00:00Z`) : iso ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms) || (day && new Date(ms).toISOString().slice(0, 10) !== value)) {
    throw new UsageError(`${flag}: must be a date (YYYY-MM-DD, UTC) or an ISO date-time with its zone (2025-01-31T12:00:00Z); got ${JSON.stringify(value)}`);
  }
  return ms;
}

function formatOf(value: string): ReportFormat {
  if (!(REPORT_FORMATS as readonly string[]).includes(value)) throw new UsageError(`--format: must be one of ${REPORT_FORMATS.join(', ')}; got ${JSON.stringify(value)}`);
  const format = value as ReportFormat;
  if (!renderers[format]) {
    const there = REPORT_FORMATS.filter((f) => renderers[f]);
    throw new UsageError(`--format: ${format} is not available in this version; use ${there.join(' or ')}`);
  }
  return format;
}

export function reportCommand(): Command {
  return new Command('report')
    .description("a job's cost ledger (spend under EC2's billing rules, where the time went, pools, interruptions), or with --all the fleet's totals by job, pool and day")
    .argument('[job]', 'a job id')
    .option('--format <format>', `${REPORT_FORMATS.join(', ')}`, 'md')
    .option('--out <file>', 'write the report to this file instead of stdout')
    .option('--all', 'every job submitted in the period (needs --since)')
    .option('--since <date>', 'with --all: jobs submitted from this date (YYYY-MM-DD, UTC, or an ISO date-time)')
    .option('--until <date>', 'with --all: jobs submitted before this date (default: now)')
    .addHelpText('after', '\nSpot prices come from DescribeSpotPriceHistory through the fleet\'s EC2 endpoint (AWS_ENDPOINT_URL_EC2 locally); a finished job\'s --all totals come from the summary stored on its row.')
    .action(async (jobId: string | undefined, opts: ReportOptions, cmd: Command) => {
      const format = formatOf(opts.format);
      if (opts.all && jobId) throw new UsageError('give a job id or --all, not both');
      if (!opts.all && !jobId) throw new UsageError('give a job id, or --all --since DATE');
      if (!opts.all && (opts.since !== undefined || opts.until !== undefined)) throw new UsageError('--since and --until go with --all');
      const since = opts.all ? (opts.since === undefined ? undefined : parseDate(opts.since, '--since')) : undefined;
      if (opts.all && since === undefined) throw new UsageError('--since: required with --all (YYYY-MM-DD or an ISO date-time)');
      const until = opts.until === undefined ? Date.now() : parseDate(opts.until, '--until');
      if (since !== undefined && until <= since) throw new UsageError(`--until: must be after --since (${new Date(since).toISOString()})`);
      const c = connect(cmd);
      const cloud = createCloudClients({ region: c.config.region });
      const prices = ec2PriceSource(cloud);
      const clock = { now: () => Date.now() };
      try {
        const renderer = renderers[format]!;
        let text: string;
        if (jobId) {
          const row = await orUnknown(c.views().jobRow(jobId));
          text = renderer.job(await jobLedger({ store: c.store, clock }, row, { prices }));
        } else {
          const picked: ReportedJob[] = [];
          const notes: string[] = [];
          let after: { submittedAt: number; jobId: string } | undefined;
          for (let more = true; more; ) {
            const page = await listJobs(c.clients.ddb, tableNames(c.config.prefix).jobs, { limit: 100, ...(after ? { after } : {}) });
            for (const listed of page.rows) {
              if (listed.submittedAt >= until) continue;
              if (listed.submittedAt < since!) {
                more = false;
                break;
              }
              const row = await jobs({ store: c.store }).get({ jobId: listed.jobId });
              if (!row) continue;
              let summary = row.ledger;
              if (!summary) {
                // An open job (or one finished before the ledger existed): its ledger so far, read from its tasks.
                summary = summarize(await jobLedger({ store: c.store, clock }, row, { prices }));
                notes.push(`${row.jobId}: no stored ledger (${row.state}); computed from its tasks now`);
              }
              picked.push({ jobId: row.jobId, name: row.name, state: row.state, submittedAt: row.submittedAt, summary });
            }
            const last = page.rows[page.rows.length - 1];
            if (!page.more || !last) more = false;
            else after = { submittedAt: last.submittedAt, jobId: last.jobId };
          }
          text = renderer.fleet(fleetReport(picked.reverse(), since!, until, notes.slice(0, 50)));
        }
        if (opts.out) writeFileSync(opts.out, text);
        else process.stdout.write(text);
      } finally {
        cloud.iam.destroy();
        c.close();
      }
    });
}
