import { expect } from 'chai';
import { GetQueueAttributesCommand, ListQueuesCommand } from '@aws-sdk/client-sqs';
import { DescribeTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import type { Emulators } from '../../services/local/emulators.js';
import { destroyClients } from '../../shared/aws.js';
import { setup } from '../../shared/setup.js';
import { tableNames } from '../../shared/store/index.js';
import { clientsFor, testConfig, testEmulators, uniquePrefix } from '../helpers/fleet.js';

describe('setup', function () {
  let emu: Emulators;
  before(async () => {
    emu = await testEmulators();
  });
  after(async () => {
    await emu.stop();
  });

  it('creates queues with dead-letter queues and tables; a second run succeeds and changes nothing', async () => {
    const clients = clientsFor(emu);
    const config = testConfig(uniquePrefix());
    try {
      const snapshot = async () => {
        const { QueueUrls = [] } = await clients.sqs.send(new ListQueuesCommand({ QueueNamePrefix: config.prefix }));
        const queues: Record<string, Record<string, string>> = {};
        for (const url of QueueUrls.sort()) {
          const { Attributes = {} } = await clients.sqs.send(
            new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn', 'RedrivePolicy', 'VisibilityTimeout', 'MessageRetentionPeriod'] }),
          );
          queues[url] = Attributes;
        }
        const { TableNames = [] } = await clients.dynamodb.send(new ListTablesCommand({}));
        const tables: Record<string, unknown> = {};
        for (const t of TableNames.filter((n) => n.startsWith(`${config.prefix}-`)).sort()) {
          const { Table } = await clients.dynamodb.send(new DescribeTableCommand({ TableName: t }));
          tables[t] = { keys: Table?.KeySchema, indexes: Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName), created: Table?.CreationDateTime?.getTime() };
        }
        return { queues, tables };
      };
      const first = await setup(clients, config);
      expect(first.createdTables.sort()).to.deep.equal(Object.values(tableNames(config.prefix)).sort());
      const before = await snapshot();
      expect(Object.keys(before.queues)).to.have.length(6);
      const redrive = JSON.parse(before.queues[first.queues.main.request]!.RedrivePolicy!);
      expect(redrive).to.deep.equal({ deadLetterTargetArn: before.queues[first.queues.dlq.request]!.QueueArn, maxReceiveCount: config.dispatcher.maxReceiveCount });
      expect(Object.keys(before.tables)).to.have.length(5);

      const second = await setup(clients, config);
      expect(second.createdTables).to.deep.equal([]);
      expect(second.queues).to.deep.equal(first.queues);
      expect(await snapshot()).to.deep.equal(before);
    } finally {
      destroyClients(clients);
    }
  });
});
