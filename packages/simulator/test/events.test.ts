/** EventBridge-shaped EC2 events on an SQS queue (local-aws-sqs): state changes and the interruption warning. */
import { expect } from 'chai';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DescribeImagesCommand, DescribeInstancesCommand, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { createSqsServer } from 'local-aws-sqs';
import { credentials, startHarness, waitFor } from './helpers.js';
import type { Harness } from './helpers.js';

interface Ec2Event {
  version: string;
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, string>;
}

describe('simulator: events queue', function () {
  this.timeout(60_000);
  let sqsServer: Server;
  let sqs: SQSClient;
  let queueUrl: string;
  let h: Harness;
  const received: Ec2Event[] = [];

  before(async () => {
    sqsServer = await createSqsServer({ port: 0, hostname: '127.0.0.1', emulateQueueCreationLifecycle: false });
    const port = (sqsServer.address() as AddressInfo).port;
    sqs = new SQSClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials });
    const q = await sqs.send(new CreateQueueCommand({ QueueName: `sim-events-${Date.now()}` }));
    queueUrl = q.QueueUrl!;
    h = await startHarness({ timeScale: 60, eventsQueueUrl: queueUrl, launchLatency: { kind: 'fixed', seconds: 5 } });
  });
  after(async () => {
    await h?.close();
    sqs?.destroy();
    await new Promise<void>((resolve) => (sqsServer ? sqsServer.close(() => resolve()) : resolve()));
  });

  async function drain(): Promise<void> {
    const r = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
    for (const m of r.Messages ?? []) received.push(JSON.parse(m.Body!) as Ec2Event);
  }

  it('sends state changes and the interruption warning for an interrupted spot instance', async () => {
    const images = await h.ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'architecture', Values: ['x86_64'] }] }));
    const run = await h.ec2.send(
      new RunInstancesCommand({
        ImageId: images.Images![0]!.ImageId,
        InstanceType: 'c5.large',
        MinCount: 1,
        MaxCount: 1,
        InstanceMarketOptions: { MarketType: 'spot', SpotOptions: { SpotInstanceType: 'one-time' } },
      }),
    );
    const id = run.Instances![0]!.InstanceId!;
    expect(run.Instances![0]!.InstanceLifecycle).to.equal('spot');
    await waitFor('running', async () => {
      const d = await h.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
      return d.Reservations![0]!.Instances![0]!.State?.Name === 'running' ? true : undefined;
    });
    const res = await h.admin('POST', `/_sim/instances/${id}/interrupt`);
    expect(res.status).to.equal(200);
    const again = await h.admin('POST', `/_sim/instances/${id}/interrupt`);
    expect(again.status).to.equal(409);

    const warning = await waitFor(
      'interruption warning',
      async () => {
        await drain();
        return received.find((e) => e['detail-type'] === 'EC2 Spot Instance Interruption Warning');
      },
      20_000,
      0,
    );
    expect(warning.source).to.equal('aws.ec2');
    expect(warning.version).to.equal('0');
    expect(warning.region).to.equal('us-east-1');
    expect(warning.account).to.match(/^\d{12}$/);
    expect(warning.resources).to.deep.equal([`arn:aws:ec2:us-east-1:${warning.account}:instance/${id}`]);
    expect(warning.detail).to.deep.equal({ 'instance-id': id, 'instance-action': 'terminate' });
    expect(warning.time).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    await waitFor(
      'terminated state change',
      async () => {
        await drain();
        return received.find((e) => e['detail-type'] === 'EC2 Instance State-change Notification' && e.detail.state === 'terminated');
      },
      20_000,
      0,
    );
    const states = received.filter((e) => e['detail-type'] === 'EC2 Instance State-change Notification').map((e) => e.detail.state);
    expect(states).to.include.members(['pending', 'running', 'shutting-down', 'terminated']);
    expect(received.some((e) => e['detail-type'] === 'EC2 Instance Rebalance Recommendation')).to.equal(true);
    await h.ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  });
});
