import { expect } from 'chai';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { tableNames } from '../../shared/store/index.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { eventually } from '../helpers/fleet.js';

const good = {
  name: 'ok',
  tasks: { count: 1 },
  command: ['true'],
  instances: { types: ['m5.large'] },
};

/** Each bad spec with the field path its refusal must name. */
const cases: Array<[string, unknown, string]> = [
  ['no name', { ...good, name: undefined }, 'name: is required'],
  ['empty name', { ...good, name: '' }, 'name: must not be empty'],
  ['zero tasks', { ...good, tasks: { count: 0 } }, 'tasks.count: must be >= 1'],
  ['too many tasks', { ...good, tasks: { count: 10_001 } }, 'tasks.count: must be <= 10000'],
  ['tasks not a count or list', { ...good, tasks: 5 }, 'tasks: must be {"count": N}'],
  ['neither command nor steps', { ...good, command: undefined }, 'command: give exactly one of "command" or "steps"'],
  ['both command and steps', { ...good, steps: [{ run: 'true' }] }, 'command: give exactly one of "command" or "steps"'],
  ['step with run and script', { ...good, command: undefined, steps: [{ run: 'x', script: 'y.sh' }] }, 'steps[0].script: a local file is read by the CLI'],
  ['step with run and artifact', { ...good, command: undefined, steps: [{ run: 'x', artifact: `sha256:${'0'.repeat(64)}` }] }, 'steps[0]: exactly one of "run" or "artifact"'],
  ['upload from a path on the dispatcher', { ...good, uploads: [{ from: '/etc/passwd', to: 'p' }] }, 'uploads[0].from: a local path is read by the CLI'],
  ['bad instance type', { ...good, instances: { types: ['M5 large'] } }, 'instances.types[0]: must be an instance type'],
  ['no instance types', { ...good, instances: { types: [] } }, 'instances.types: must have at least 1 item(s)'],
  ['bad region', { ...good, instances: { types: ['m5.large'], regions: ['mars-1'] } }, 'instances.regions'],
  ['zone outside the regions', { ...good, instances: { types: ['m5.large'], regions: ['us-east-1'], zones: ['eu-west-1a'] } }, 'instances.zones[0]: zone eu-west-1a is not in one of the regions'],
  ['negative max price', { ...good, instances: { types: ['m5.large'], maxPrice: -1 } }, 'instances.maxPrice: must be > 0'],
  ['bad AMI', { ...good, instances: { types: ['m5.large'], image: 'ubuntu' } }, 'instances.image'],
  ['bad CIDR', { ...good, ssh: { ingressCidr: '10.0.0.300/32' } }, 'ssh.ingressCidr: must be an IPv4 CIDR such as 203.0.113.7/32'],
  ['retry code also a fail code', { ...good, retry: { retryExitCodes: [3], failExitCodes: [3] } }, 'retry.failExitCodes: exit codes 3 also listed in retryExitCodes'],
  ['max attempts 0', { ...good, retry: { maxAttempts: 0 } }, 'retry.maxAttempts: must be >= 1'],
  ['bad duration', { ...good, timeouts: { step: '10 minutes' } }, 'timeouts.step: must be a duration'],
  ['reserved tag', { ...good, tags: { 'spotbatch:job': 'x' } }, 'key must not start with "aws:" or "spotbatch:"'],
  ['bad env name', { ...good, env: { '1X': 'y' } }, 'env.1X: key must be an environment variable name'],
  ['upload escaping home', { ...good, uploads: [{ from: 'a', to: '../../etc/passwd' }] }, 'uploads[0].to: must not contain ".."'],
  ['unknown field', { ...good, instance: { types: ['m5.large'] } }, 'unknown field(s) "instance"'],
  // The job's role is spotbatch-<id> and IAM names stop at 64: refused here, not in security.create.
  ['job id too long for the security resource names', { ...good, id: 'a'.repeat(55) }, 'id: must be at most 54 characters long'],
  ['job id with upper case', { ...good, id: 'Job-1' }, 'id: must be lower-case letters, digits or "-"'],
  ['policy statement with a bad Effect', { ...good, policyStatements: [{ Effect: 'Permit', Action: 's3:GetObject', Resource: '*' }] }, 'policyStatements[0].Effect: must be one of "Allow", "Deny"'],
  ['policy statement with a bad action', { ...good, policyStatements: [{ Effect: 'Allow', Action: ['s3:GetObject', 'GetObject'], Resource: '*' }] }, 'policyStatements[0].Action[1]: must be an IAM action'],
  ['policy statement without a resource', { ...good, policyStatements: [{ Effect: 'Allow', Action: '*' }] }, 'policyStatements[0].Resource: give exactly one of "Resource" or "NotResource"'],
  ['policy statement with a principal', { ...good, policyStatements: [{ Effect: 'Allow', Action: '*', Resource: '*', Principal: '*' }] }, 'policyStatements[0]: unknown field(s) "Principal"'],
  // What the agent could never carry is refused here, at submit, with the field path (not at step.run on a running instance).
  ['NUL in a task env value', { ...good, tasks: [{}, {}, { env: { FOO: 'a\0b' } }] }, 'tasks[2].env.FOO: must not contain a NUL character'],
  ['NUL in the job env', { ...good, env: { BAR: '\0' } }, 'env.BAR: must not contain a NUL character'],
  ['NUL in a task arg', { ...good, tasks: [{ args: ['ok', 'x\0y'] }] }, 'tasks[0].args[1]: must not contain a NUL character'],
  ['NUL in a command word', { ...good, command: ['echo', 'a\0'] }, 'command[1]: must not contain a NUL character'],
  ['a SPOTBATCH_ variable in the job env', { ...good, env: { SPOTBATCH_JOB_ID: 'other' } }, 'env.SPOTBATCH_JOB_ID: must not start with "SPOTBATCH_"'],
  // JSON.parse makes "__proto__" an own key; z.record used to drop it without a word.
  ['a "__proto__" variable in the job env', { ...good, env: JSON.parse('{"__proto__": "x", "B": "b"}') as unknown }, 'env.__proto__: the name "__proto__" cannot be carried'],
  ['a "__proto__" tag', { ...good, tags: JSON.parse('{"__proto__": "x"}') as unknown }, 'tags.__proto__: the name "__proto__" cannot be carried'],
  ['a statement reusing the Sid of the default statement', { ...good, policyStatements: [{ Sid: 'JobLogs', Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::genomes/*' }] }, 'policyStatements[0].Sid: "JobLogs" is spotbatch\'s own statement'],
  ['a SPOTBATCH_ variable in a task env', { ...good, tasks: [{ env: { SPOTBATCH_TASK_DIR: '/' } }] }, 'tasks[0].env.SPOTBATCH_TASK_DIR: must not start with "SPOTBATCH_"'],
  ['local script file sent raw', { ...good, command: undefined, steps: [{ script: 'run.sh' }] }, 'steps[0].script: a local file is read by the CLI'],
];

describe('bad job specs (end to end)', function () {
  this.timeout(120_000);
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });

  it(`refuses ${cases.length} kinds of bad spec, each naming its field, and creates nothing`, async () => {
    expect(cases.length).to.be.at.least(15);
    for (const [, spec] of cases) {
      await stack.fleet.clients.sqs.send(
        new SendMessageCommand({
          QueueUrl: stack.fleet.deps.queues.main.master,
          MessageBody: JSON.stringify(spec),
          MessageAttributes: { service: { DataType: 'String', StringValue: 'job.submit' } },
        }),
      );
    }
    const reasons: string[] = [];
    await eventually(
      'every bad spec dead-lettered',
      async () => {
        for (const m of await stack.fleet.drainDlq('master')) reasons.push(m.MessageAttributes?.deadLetterReason?.StringValue ?? '');
        return reasons.length >= cases.length;
      },
      60_000,
    );
    for (const [what, , expected] of cases) {
      expect(reasons.some((r) => r.includes(expected)), `${what}: no reason contains ${JSON.stringify(expected)}\n${reasons.join('\n')}`).to.equal(true);
    }
    const stats = (await stack.stats()) as { byAction?: Record<string, unknown> } & Record<string, unknown>;
    const text = JSON.stringify(stats);
    for (const action of ['CreateKeyPair', 'CreateSecurityGroup', 'CreateRole', 'CreateInstanceProfile', 'RequestSpotInstances']) {
      expect(text, `${action} was called`).not.to.contain(action);
    }
    // Nothing created: no job row for any of them.
    const rows = await stack.fleet.clients.ddb.send(new ScanCommand({ TableName: tableNames(stack.fleet.config.prefix).jobs, Select: 'COUNT' }));
    expect(rows.Count).to.equal(0);
    const dlqEmpty = await stack.fleet.queueDepth('master');
    expect(dlqEmpty.visible).to.equal(0);
  });
});
