/**
 * `npm run bench -- dispatch [--messages N] [--concurrency C] [--batch B] [--rounds R] [--no-write]`
 *
 * Messages per second through one spotbatch dispatcher whose handler makes one
 * conditional DynamoDB write, and, in the same run on the same emulators, raw
 * sqs-consumer with a no-op handler and the same receive settings. Prints
 * both and the ratio (target >= 0.8). `--no-write` drops the write, to see the
 * dispatcher's own overhead apart from the emulator's cost of the write.
 */
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { Consumer } from 'sqs-consumer';
import { z } from 'zod';
import { parseArgs } from 'node:util';
import { createCoreClients, destroyClients } from '../shared/aws.js';
import { loadConfig } from '../shared/config.js';
import { defineCatalog } from '../shared/envelope.js';
import { silentLogger } from '../shared/logger.js';
import { setup } from '../shared/setup.js';
import { buildDeps, startDispatcher } from '../services/dispatcher/fleet.js';
import { Registry } from '../services/dispatcher/registry.js';
import { emulatorsInChild } from './lib.js';

async function preload(sqs: SQSClient, url: string, n: number, service: string, tag: string): Promise<void> {
  for (let i = 0; i < n; i += 10) {
    const entries = [];
    for (let j = i; j < Math.min(n, i + 10); j++) {
      entries.push({
        Id: String(j),
        MessageBody: JSON.stringify({ jobId: `${tag}-${j}` }),
        MessageAttributes: { service: { DataType: 'String', StringValue: service } },
      });
    }
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
  }
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('benchmark timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

export default async function dispatchBench(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { messages: { type: 'string', default: '2000' }, concurrency: { type: 'string', default: '4' }, batch: { type: 'string', default: '10' }, 'no-write': { type: 'boolean', default: false }, rounds: { type: 'string', default: '3' } },
  });
  const n = Number(values.messages);
  const concurrency = Number(values.concurrency);
  const batchSize = Number(values.batch);
  const rounds = Number(values.rounds);
  const emu = await emulatorsInChild();
  const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench' };
  const clients = createCoreClients({ region: 'us-east-1', endpoints: emu.endpoints, credentials });
  const config = loadConfig({
    env: {},
    overrides: {
      prefix: `bench${Date.now() % 100000}`,
      log: { level: 'silent' },
      dispatcher: { concurrency, batchSize, waitTimeSeconds: 1, retryBackoffMaxSeconds: 0, queues: ['master'] },
      reconciler: { enabled: false },
    },
  });
  const { queues } = await setup(clients, config);
  const catalog = defineCatalog({ 'bench.write': { queue: 'master', schema: z.object({ jobId: z.string() }), summary: 'bench', sentBy: 'bench', public: true } });

  const deps = await buildDeps({ config, log: silentLogger(), catalog, clients, queues });
  let round = 0;

  /** Raw sqs-consumer with a no-op handler and the same receive settings. */
  const runRaw = async (count: number): Promise<number> => {
    const tag = `raw${round++}`;
    await preload(clients.sqs, queues.main.master, count, 'bench.write', tag);
    let processed = 0;
    const consumers = Array.from({ length: concurrency }, () =>
      Consumer.create({
        queueUrl: queues.main.master,
        sqs: clients.sqs,
        batchSize,
        waitTimeSeconds: 1,
        visibilityTimeout: 60,
        messageAttributeNames: ['All'],
        handleMessage: async (m) => {
          processed++;
          return m;
        },
      }),
    );
    const t0 = performance.now();
    consumers.forEach((c) => c.start());
    await until(() => processed >= count, 300_000);
    const seconds = (performance.now() - t0) / 1000;
    consumers.forEach((c) => c.stop());
    await until(() => consumers.every((c) => !c.status.isPolling), 10_000);
    return count / seconds;
  };

  /** The spotbatch dispatcher, one conditional DynamoDB write per message. */
  const runOurs = async (count: number): Promise<number> => {
    const tag = `disp${round++}`;
    let processed = 0;
    const registry = Registry.of(catalog, {
      'bench.write': async (body, ctx) => {
        if (!values['no-write']) await ctx.store.jobs.create({ jobId: body.jobId }, {});
        processed++;
      },
    });
    await preload(clients.sqs, queues.main.master, count, 'bench.write', tag);
    const t0 = performance.now();
    const running = await startDispatcher(deps, registry);
    await until(() => processed >= count, 300_000);
    const seconds = (performance.now() - t0) / 1000;
    await running.stop();
    return count / seconds;
  };

  // Warm both paths up (JIT, connection pools), then alternate so neither gains from going second.
  await runRaw(Math.min(500, n));
  await runOurs(Math.min(500, n));
  const raws: number[] = [];
  const ours: number[] = [];
  for (let i = 0; i < rounds; i++) {
    raws.push(await runRaw(n));
    ours.push(await runOurs(n));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const raw = median(raws);
  const mine = median(ours);
  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
  console.log(`messages: ${n} per round, ${rounds} rounds, concurrency: ${concurrency} loops, batch: ${batchSize}, emulators: local-aws-sqs + dynalite (in memory, one process each), node ${process.version}`);
  console.log(`raw sqs-consumer, no-op handler:           median ${raw.toFixed(0)} msg/s (rounds: ${fmt(raws)})`);
  console.log(`spotbatch dispatcher, ${values['no-write'] ? 'no-op handler:      ' : '1 conditional write:'} median ${mine.toFixed(0)} msg/s (rounds: ${fmt(ours)})`);
  console.log(`ratio: ${(mine / raw).toFixed(2)} (target >= 0.8)`);
  destroyClients(clients);
  await emu.stop();
}
