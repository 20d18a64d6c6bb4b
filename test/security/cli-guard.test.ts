import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetQueueAttributesCommand, GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { emulatorsWithSetup, runCli } from '../helpers/cli.js';
import { clientsFor } from '../helpers/fleet.js';
import type { Emulators } from '../../services/local/emulators.js';

describe('spotbatch submit: the IAM guard before sending (emulators)', function () {
  this.timeout(120_000);
  let emu: Emulators;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  before(async () => {
    ({ emu, env } = await emulatorsWithSetup());
    dir = mkdtempSync(path.join(tmpdir(), 'spotbatch-guard-'));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await emu?.stop();
  });

  async function masterDepth(): Promise<number> {
    const clients = clientsFor(emu);
    try {
      const url = (await clients.sqs.send(new GetQueueUrlCommand({ QueueName: `${env.SPOTBATCH_PREFIX}-master` }))).QueueUrl!;
      const a = (await clients.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }))).Attributes ?? {};
      return Number(a.ApproximateNumberOfMessages ?? 0);
    } finally {
      clients.sqs.destroy();
    }
  }

  it('refuses Action "*" with exit 2 naming the statement, sends nothing; the fleet\'s security.allowActions widens it', async () => {
    const file = path.join(dir, 'star.json');
    writeFileSync(file, JSON.stringify({ name: 'star', tasks: { count: 1 }, command: ['true'], instances: { types: ['m5.large'] }, policyStatements: [{ Effect: 'Allow', Action: '*', Resource: 'arn:aws:s3:::in/*' }] }));
    const refused = await runCli(['submit', file], env);
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.contain('policyStatements[0].Action: "*" is not allowed (the fleet\'s guard refuses "*" actions');
    expect(await masterDepth()).to.equal(0);
    const widened = await runCli(['submit', file, '--json'], { ...env, SPOTBATCH_ALLOW_ACTIONS: '*' });
    expect(widened.code, widened.stderr).to.equal(0);
    expect(JSON.parse(widened.stdout).id).to.be.a('string');
  });
});
