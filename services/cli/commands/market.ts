/** spotbatch market status | collect | probe: the fleet's own market data. */
import { Command } from 'commander';
import { createCloudClients, type CloudClients } from '../../../shared/aws.js';
import { cidrSchema } from '../../../shared/validation.js';
import { COLLECTION_KINDS, type CollectionKind } from '../../market/collect.js';
import { checkProbeId, cleanUpProbe, formatProbe, newProbeId, runProbe, type ProbeResult } from '../../market/probe.js';
import { formatMarketStatus, marketStatus } from '../../market/status.js';
import { marketSignals } from '../../market/store.js';
import { marketNoteRedactor } from '../../views/index.js';
import { UsageError } from '../errors.js';
import { parseCount } from './common.js';
import { connect } from './connect.js';

/** `90`, `90s`, `10m`, `1h`, `500ms`: milliseconds. */
export function parseDuration(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  const ms = m ? Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'] : NaN;
  if (!Number.isFinite(ms) || ms <= 0 || ms > 24 * 3_600_000) throw new UsageError(`${flag}: a duration such as 90s, 10m or 1h (at most 24h), got ${JSON.stringify(value)}`);
  return Math.round(ms);
}

const list = (value: string | undefined, flag: string): string[] => {
  const out = [...new Set((value ?? '').split(',').map((x) => x.trim()).filter(Boolean))];
  if (out.length === 0) throw new UsageError(`${flag}: a comma-separated list is required`);
  for (const x of out) if (!/^[a-z0-9][a-z0-9.-]*$/.test(x)) throw new UsageError(`${flag}: ${JSON.stringify(x.slice(0, 40))} is not a name EC2 uses`);
  return out;
};

const closeCloud = (cloud: CloudClients, regions: string[]): void => {
  for (const r of regions) cloud.ec2(r).destroy();
  cloud.iam.destroy();
};

/** Run `work` with SIGINT/SIGTERM aborting it: the first says so and aborts, later ones only say that cleanup goes on. */
async function withSignals<T>(probeId: string, work: (signal: AbortSignal) => Promise<T>): Promise<{ out: T; signalled: boolean }> {
  const controller = new AbortController();
  let count = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    count++;
    if (count === 1) {
      process.stderr.write(`\n${sig}: stopping probe ${probeId}: cancelling its spot requests and terminating its instances first\n`);
      controller.abort();
    } else {
      process.stderr.write(`${sig}: still cleaning up probe ${probeId}; it ends by itself once its instances are gone\n`);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return { out: await work(controller.signal), signalled: count > 0 };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const SERVICE: Record<CollectionKind, 'market.collect.price' | 'market.collect.sps' | 'market.collect.if' | 'market.collect.ondemand'> = {
  price: 'market.collect.price',
  sps: 'market.collect.sps',
  if: 'market.collect.if',
  ondemand: 'market.collect.ondemand',
};

export function marketCommand(): Command {
  const market = new Command('market').description("the fleet's own market data: spot prices, placement scores, advisor buckets, on-demand prices (docs/market.md)");
  market
    .command('status')
    .description('what was collected and when, and the placement-score budget used in the last 24 h per credential')
    .option('--json', 'print JSON: {"collections": [...], "budget": [...]}')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const c = connect(cmd);
      try {
        const now = Date.now();
        const found = await marketStatus(marketSignals({ clients: c.clients, config: c.config, clock: { now: () => now } }), c.config, now);
        // A note is an error message: redacted as the status page does (keys, and what a URL carries past its origin).
        const redact = marketNoteRedactor(c.config.market.sps.credentials);
        const status = { ...found, collections: found.collections.map((x) => (x.note ? { ...x, note: redact(x.note) } : x)) };
        console.log(opts.json ? JSON.stringify(status) : formatMarketStatus(status, now));
      } finally {
        c.close();
      }
    });
  market
    .command('collect')
    .description('run a collection now: sends its message to the fleet (a dispatcher runs it; `market status` shows the result)')
    .option('--kind <kind>', `one of ${COLLECTION_KINDS.join(', ')}; default all`)
    .action(async (opts: { kind?: string }, cmd: Command) => {
      if (opts.kind !== undefined && !(COLLECTION_KINDS as readonly string[]).includes(opts.kind)) throw new UsageError(`--kind: must be one of ${COLLECTION_KINDS.join(', ')}, got ${JSON.stringify(opts.kind)}`);
      const kinds = opts.kind ? [opts.kind as CollectionKind] : [...COLLECTION_KINDS];
      const c = connect(cmd);
      try {
        const bus = await c.bus();
        for (const kind of kinds) {
          await bus.send(SERVICE[kind], {});
          console.log(`sent ${SERVICE[kind]}`);
        }
      } finally {
        c.close();
      }
    });
  market
    .command('probe')
    .description('measure launch times: N spot requests per (type, region), each followed to SSH-ready and recorded in the market store, then everything cancelled and terminated')
    .option('--types <list>', 'instance types, comma-separated')
    .option('--regions <list>', 'regions, comma-separated')
    .option('--count <n>', 'requests per (type, region), 1 to 20', '1')
    .option('--timeout <duration>', 'how long to send and follow (90s, 10m, 1h); cleanup comes after, always', '10m')
    .option('--image <ami>', 'al2023 (the newest Amazon Linux 2023 per region and architecture) or an AMI id used in every region', 'al2023')
    .option('--ingress-cidr <cidr>', "who may reach the instances' SSH port: your address (default lifecycle.sshIngressCidr, SPOTBATCH_SSH_INGRESS_CIDR)")
    .option('--clean-up <probeId>', 'only stop what that probe left in --regions (a probe whose process was killed)')
    .option('--json', 'print the result as JSON (progress goes to stderr)')
    .action(async (opts: { types?: string; regions?: string; count: string; timeout: string; image: string; ingressCidr?: string; cleanUp?: string; json?: boolean }, cmd: Command) => {
      const regions = list(opts.regions, '--regions');
      const c = connect(cmd);
      const cloud = createCloudClients({ region: c.config.region });
      try {
        if (opts.cleanUp !== undefined) {
          const probeId = (() => {
            try {
              return checkProbeId(opts.cleanUp);
            } catch (err) {
              throw new UsageError(`--clean-up: ${(err as Error).message}`);
            }
          })();
          const cleanup = await cleanUpProbe(cloud, probeId, regions);
          const clean = cleanup.every((x) => x.alive === 0 && x.groupsLeft.length === 0 && x.error === undefined);
          console.log(opts.json ? JSON.stringify({ probeId, cleanup, clean }) : cleanup.map((x) => `${x.region}: ${x.cancelledRequests} request(s) cancelled, ${x.terminated} instance(s) terminated, ${x.groupsDeleted} security group(s) deleted${x.alive ? `, ${x.alive} not yet terminated` : ''}${x.error ? `, FAILED: ${x.error}` : ''}`).join('\n'));
          if (!clean) process.exitCode = 1;
          return;
        }
        const types = list(opts.types, '--types');
        const count = parseCount(opts.count, '--count', 1, 20);
        const timeoutMs = parseDuration(opts.timeout, '--timeout');
        const ingressCidr = opts.ingressCidr ?? c.config.lifecycle.sshIngressCidr;
        if (!ingressCidr) throw new UsageError('--ingress-cidr: needed (or lifecycle.sshIngressCidr, SPOTBATCH_SSH_INGRESS_CIDR) so that the probe can reach its instances over SSH');
        if (!cidrSchema.safeParse(ingressCidr).success) throw new UsageError(`--ingress-cidr: ${JSON.stringify(ingressCidr.slice(0, 64))} is not an IPv4 CIDR block (a.b.c.d/n)`);
        const now = () => Date.now();
        const probeId = newProbeId();
        process.stderr.write(`probe ${probeId}: ${count} request(s) per type and region, ${types.join(', ')} in ${regions.join(', ')}, for at most ${opts.timeout}\n`);
        const { out: result } = await withSignals<ProbeResult>(probeId, (signal) =>
          runProbe(
            { cloud, market: marketSignals({ clients: c.clients, config: c.config, clock: { now } }), clock: { now } },
            { probeId, types, regions, count, timeoutMs, ingressCidr, sshPort: c.config.lifecycle.sshPort, image: opts.image, signal, onProgress: (line) => process.stderr.write(`${line}\n`) },
          ),
        );
        console.log(opts.json ? JSON.stringify(result) : formatProbe(result));
        if (!result.clean) process.stderr.write(`probe ${probeId}: cleanup left something behind (see above)\n`);
        process.exitCode = result.ended === 'interrupted' ? 130 : result.ended === 'done' && result.clean && result.launches.every((l) => l.outcome === 'ready') ? 0 : 1;
      } finally {
        closeCloud(cloud, regions);
        c.close();
      }
    });
  return market;
}
