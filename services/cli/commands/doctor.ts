/** doctor: whether the fleet's queues, tables, stores, event rules, boundary and permissions are what the dispatchers need. */
import { Command } from 'commander';
import { STSClient } from '@aws-sdk/client-sts';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { createCloudClients, createCoreClients, destroyClients } from '../../../shared/aws.js';
import { anyFailed, defaultS3Client, runDoctor, type CheckResult } from '../../ops/doctor.js';
import { formatTable } from '../format.js';
import { EXIT_FAILED } from '../errors.js';
import { configFor, parseCount } from './common.js';

/** An endpoint as shown: the origin only (never a user:password@ or a path that could be a token). */
function shown(url: string | undefined): string | undefined {
  if (!url) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return '(not a URL)';
  }
}

export function formatChecks(results: readonly CheckResult[]): string {
  const rows = results.map((r) => [r.status.toUpperCase(), r.name, r.detail]);
  const lines = formatTable(['status', 'check', 'detail'], rows).split('\n');
  const out: string[] = [lines[0]!];
  results.forEach((r, i) => {
    out.push(lines[i + 1]!);
    if (r.fix) out.push(`      fix: ${r.fix}`);
  });
  const count = (s: string) => results.filter((r) => r.status === s).length;
  out.push('', `${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped`);
  return out.join('\n');
}

export function doctorCommand(): Command {
  return new Command('doctor')
    .description("check the fleet: credentials, endpoints, queues and their redrive, tables and indexes, the artifact and checkpoint stores, the EC2 event rules per region, the job roles' permissions boundary, and the dispatchers' permissions (EC2 dry runs, IAM policy simulation)")
    .option('--json', 'print {"ok", "checks": [{"name", "status", "detail", "fix"}]}')
    .option('--timeout <seconds>', 'how long each check may take', '20')
    .option('--role <name|arn>', "the dispatchers' task role whose permissions the IAM policy simulation judges (default the deploy template's <prefix>-dispatcher, path /spotbatch/); the EC2 dry runs judge whoever runs the doctor")
    .addHelpText('after', '\nExit codes: 0 every check passed or was skipped (each skip says why), 1 a check failed (each failure says how to fix it).')
    .action(async (opts: { json?: boolean; timeout: string; role?: string }, cmd: Command) => {
      const timeoutMs = parseCount(opts.timeout, '--timeout', 1, 600) * 1000;
      const config = configFor(cmd);
      const env = process.env;
      const core = createCoreClients({ region: config.region });
      const cloud = createCloudClients({ region: config.region });
      const s3 = defaultS3Client();
      const made: Array<{ destroy(): void }> = [];
      const keep = <T extends { destroy(): void }>(c: T): T => {
        made.push(c);
        return c;
      };
      let sts: STSClient | undefined;
      const events = new Map<string, EventBridgeClient>();
      try {
        const results = await runDoctor({
          config,
          core,
          cloud,
          s3,
          sts: () => (sts ??= keep(new STSClient({ region: config.region }))),
          events: (region) => events.get(region) ?? events.set(region, keep(new EventBridgeClient({ region }))).get(region)!,
          emulated: Boolean(env.AWS_ENDPOINT_URL_EC2 || env.AWS_ENDPOINT_URL_IAM || env.AWS_ENDPOINT_URL),
          endpoints: Object.fromEntries(
            (['sqs', 'dynamodb', 'ec2', 'iam', 's3'] as const).flatMap((s) => {
              const url = shown(env[`AWS_ENDPOINT_URL_${s.toUpperCase()}`] || env.AWS_ENDPOINT_URL);
              return url ? [[s, url]] : [];
            }),
          ),
          timeoutMs,
          ...(opts.role ? { role: opts.role } : {}),
        });
        const ok = !anyFailed(results);
        if (opts.json) console.log(JSON.stringify({ ok, checks: results }, null, 2));
        else console.log(formatChecks(results));
        if (!ok) process.exitCode = EXIT_FAILED;
      } finally {
        destroyClients(core);
        cloud.iam.destroy();
        s3.destroy();
        for (const c of made) c.destroy();
      }
    });
}
