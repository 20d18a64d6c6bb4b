import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deriveActions, programActions, PROGRAMS, type Program } from '../../scripts/iam-actions.js';
import { IMPLICIT, POLICY_FILES, buildPolicy, policyActions, policyText, withTemplatePolicies, type PolicyDocument } from '../../scripts/iam-policy.js';
import { parseTemplate, read } from './cfn.js';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { createCoreClients, destroyClients } from '../../shared/aws.js';

const programs = Object.keys(PROGRAMS) as Program[];
const policyOf = (program: Program) => JSON.parse(read(POLICY_FILES[program])) as PolicyDocument;
const allowed = (doc: PolicyDocument) => new Set(doc.Statement.flatMap((s) => s.Action));

describe('the AWS actions derived from the code (scripts/iam-actions.ts)', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'iam-derive-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('follows static imports to the SDK commands and paginators a file uses; not type-only, unused or dynamic imports', () => {
    writeFileSync(
      path.join(dir, 'entry.ts'),
      [
        "import { DescribeVpcsCommand, TerminateInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';",
        "import type { CreateQueueCommand } from '@aws-sdk/client-sqs';",
        "import { paginateListRoles } from '@aws-sdk/client-iam';",
        "import { QueryCommand } from '@aws-sdk/lib-dynamodb';",
        "export { helper } from './helper.js';",
        "export const f = (c: EC2Client, q: CreateQueueCommand) => [c.send(new DescribeVpcsCommand({})), paginateListRoles, QueryCommand, q];",
        "export const g = () => import('./lazy.js');",
      ].join('\n'),
    );
    writeFileSync(path.join(dir, 'helper.ts'), "import { SendMessageBatchCommand, DeleteObjectsCommand } from '@aws-sdk/client-sqs';\nexport const helper = () => new SendMessageBatchCommand({} as never);\n");
    writeFileSync(path.join(dir, 'lazy.ts'), "import { RunInstancesCommand } from '@aws-sdk/client-ec2';\nexport const x = new RunInstancesCommand({} as never);\n");
    const found = deriveActions(path.join(dir, 'entry.ts'));
    // TerminateInstances is imported but never used; DeleteObjects is not an SQS command anyone uses; lazy.ts is reached only by import().
    expect([...found.actions.keys()].sort()).to.deep.equal(['dynamodb:Query', 'ec2:DescribeVpcs', 'iam:ListRoles', 'sqs:SendMessage']);
    expect(found.files.map((f) => path.basename(f)).sort()).to.deep.equal(['entry.ts', 'helper.ts']);
  });

  it('finds what the dispatcher sends, through sqs-consumer and lib-storage too; the status page only reads its tables, and spot price history (the cost ledger)', () => {
    const dispatcher = programActions('dispatcher');
    for (const a of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:SendMessage', 'dynamodb:Query', 'ec2:RequestSpotInstances', 'ec2:TerminateInstances', 'iam:CreateRole', 's3:PutObject', 's3:AbortMultipartUpload']) {
      expect(dispatcher, a).to.include(a);
    }
    // Creating or changing queues and tables is setup's (shared/setup.ts), never the deployed programs': SetQueueAttributes could rewrite a queue's Policy.
    const setupOnly = ['sqs:CreateQueue', 'sqs:SetQueueAttributes', 'dynamodb:CreateTable', 'dynamodb:UpdateTable', 'dynamodb:DeleteTable'];
    for (const program of programs) {
      expect(policyActions(program).filter((a) => setupOnly.includes(a)), program).to.deep.equal([]);
      expect(deriveActions(PROGRAMS[program]).files, program).to.not.include('shared/setup.ts');
    }
    const statusPage = programActions('status-page');
    expect(statusPage.filter((a) => !a.startsWith('dynamodb:'))).to.deep.equal(['ec2:DescribeSpotPriceHistory']);
    expect(statusPage).to.include('dynamodb:Query');
    // Network-facing: no write action on any table (its DynamoDB client refuses them, READ_ONLY_TABLES).
    const writes = /^dynamodb:(Put|Update|Delete|BatchWrite|TransactWrite|Create|Restore|Import|PartiQL(Insert|Update|Delete))/;
    expect(policyActions('status-page').filter((a) => writes.test(a))).to.deep.equal([]);
    expect(allowed(policyOf('status-page'))).to.not.include('dynamodb:PutItem');
    expect(read(PROGRAMS['status-page'])).to.match(/createCoreClients\(\{[^}]*readOnlyTables: true/);
  });

  it("a read-only client (the status page's) refuses every DynamoDB write before sending, and lets the reads through", async () => {
    // Nothing listens on port 9: a refused write never gets as far as the connection, a read does.
    const clients = createCoreClients({ region: 'us-east-1', endpoints: { dynamodb: 'http://127.0.0.1:9' }, credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, maxAttempts: 1, readOnlyTables: true });
    const error = (p: Promise<unknown>) => p.then(() => 'sent', (e: Error) => e.message);
    try {
      expect(await error(clients.ddb.send(new PutCommand({ TableName: 't', Item: { k: 1 } })))).to.match(/only reads: PutItem refused/);
      expect(await error(clients.ddb.send(new UpdateCommand({ TableName: 't', Key: { k: 1 } })))).to.match(/only reads: UpdateItem refused/);
      expect(await error(clients.ddb.send(new DeleteCommand({ TableName: 't', Key: { k: 1 } })))).to.match(/only reads: DeleteItem refused/);
      expect(await error(clients.dynamodb.send(new CreateTableCommand({ TableName: 't', KeySchema: [], AttributeDefinitions: [] })))).to.match(/only reads: CreateTable refused/);
      expect(await error(clients.ddb.send(new GetCommand({ TableName: 't', Key: { k: 1 } })))).to.not.match(/only reads/);
    } finally {
      destroyClients(clients);
    }
  });
});

for (const program of programs) {
  describe(`${POLICY_FILES[program]} and the code agree`, () => {
    it('is what npm run docs:gen makes from the code now (not stale)', () => {
      expect(read(POLICY_FILES[program])).to.equal(policyText(program));
    });

    it('allows every action the code sends', () => {
      const granted = allowed(policyOf(program));
      const missing = programActions(program).filter((a) => !granted.has(a));
      expect(missing, 'derived but not allowed (npm run docs:gen)').to.deep.equal([]);
    });

    it('allows nothing the code does not send, except the implicit calls IMPLICIT names for actions the code sends', () => {
      const derived = new Set(programActions(program));
      const implicit = new Set(IMPLICIT.filter((i) => derived.has(i.when)).map((i) => i.add));
      const extra = [...allowed(policyOf(program))].filter((a) => !derived.has(a) && !implicit.has(a));
      expect(extra, 'allowed but never sent').to.deep.equal([]);
    });

    it('grants no wildcard action, and Resource "*" only where AWS has no resource-level permission or a condition narrows it', () => {
      for (const s of policyOf(program).Statement) {
        for (const a of s.Action) expect(a, s.Sid).to.match(/^[a-z0-9-]+:[A-Za-z0-9]+$/);
        if (s.Resource === '*') {
          const readOnly = s.Action.every((a) => /^ec2:(Describe|Get)/.test(a) || a === 'iam:ListPolicies');
          expect(readOnly || s.Condition !== undefined, s.Sid).to.equal(true);
        }
      }
    });
  });
}

describe('the dispatcher policy narrows what it can change', () => {
  const doc = policyOf('dispatcher');
  const statementsWith = (action: string) => doc.Statement.filter((s) => s.Action.includes(action));

  const fleetRole = /:(role|instance-profile)\/spotbatch\/\$\{Prefix\}\/jobs\/\*$/;
  const fleetProfileArn = 'arn:${AWS::Partition}:iam::${AWS::AccountId}:instance-profile/spotbatch/${Prefix}/jobs/*';

  it("creates a role only with the fleet's permissions boundary and tag, under the fleet's path, and passes only those to EC2", () => {
    for (const s of statementsWith('iam:CreateRole')) expect(s.Condition).to.deep.equal({ StringEquals: { 'iam:PermissionsBoundary': '${JobBoundary}', 'aws:RequestTag/spotbatch:fleet': '${Prefix}' } });
    for (const s of statementsWith('iam:PutRolePolicy')) expect(s.Condition).to.have.nested.property('StringEquals.iam:PermissionsBoundary');
    for (const s of statementsWith('iam:PutRolePermissionsBoundary')) expect(s.Condition!.StringEquals).to.include({ 'aws:ResourceTag/spotbatch:fleet': '${Prefix}' });
    const [pass] = statementsWith('iam:PassRole');
    expect(pass!.Resource).to.match(/:role\/spotbatch\/\$\{Prefix\}\/jobs\/\*$/);
    expect(pass!.Condition).to.deep.equal({ StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
    for (const s of doc.Statement.filter((x) => x.Action.some((a) => a.startsWith('iam:') && /Role|InstanceProfile/.test(a)) && !x.Action.includes('iam:CreateServiceLinkedRole'))) {
      for (const r of [s.Resource].flat()) expect(r, s.Sid).to.match(fleetRole);
    }
  });

  it('may tag what it creates in IAM (tags on create need the Tag action), only with the fleet tag', () => {
    for (const a of ['iam:TagRole', 'iam:TagInstanceProfile', 'iam:TagPolicy']) expect(statementsWith(a), a).to.not.be.empty;
    for (const a of ['iam:TagRole', 'iam:TagInstanceProfile', 'iam:CreateInstanceProfile']) {
      for (const s of statementsWith(a)) expect(s.Condition!.StringEquals, `${a} in ${s.Sid}`).to.include({ 'aws:RequestTag/spotbatch:fleet': '${Prefix}' });
    }
  });

  it('terminates, cancels and deletes only what carries this fleet\'s tag (or runs with its job profile), and creates only what it tags so', () => {
    for (const a of ['ec2:TerminateInstances', 'ec2:CancelSpotInstanceRequests', 'ec2:DeleteKeyPair', 'ec2:DeleteSecurityGroup', 'ec2:DeregisterImage', 'ec2:DeleteSnapshot']) {
      const ss = statementsWith(a);
      expect(ss, a).to.not.be.empty;
      for (const s of ss) {
        const byTag = s.Condition?.StringEquals?.['ec2:ResourceTag/spotbatch:fleet'] === '${Prefix}';
        const byProfile = a === 'ec2:TerminateInstances' && s.Condition?.ArnLike?.['ec2:InstanceProfile'] === fleetProfileArn;
        expect(byTag || byProfile, `${a} in ${s.Sid}`).to.equal(true);
      }
    }
    for (const a of ['iam:DeleteRole', 'iam:DeleteInstanceProfile', 'iam:RemoveRoleFromInstanceProfile', 'iam:DeleteRolePolicy', 'iam:AddRoleToInstanceProfile']) {
      const ss = statementsWith(a);
      expect(ss, a).to.not.be.empty;
      for (const s of ss) expect(s.Condition?.StringEquals?.['aws:ResourceTag/spotbatch:fleet'], `${a} in ${s.Sid}`).to.equal('${Prefix}');
    }
    for (const s of statementsWith('ec2:CreateKeyPair')) {
      expect(s.Condition).to.deep.equal({ StringEquals: { 'aws:RequestTag/spotbatch:fleet': '${Prefix}' }, StringLike: { 'aws:RequestTag/spotbatch:job': '?*' } });
    }
    const tagOnCreate = doc.Statement.find((s) => s.Sid === 'Ec2TagOnCreate')!;
    expect(tagOnCreate.Condition!.StringEquals!['ec2:CreateAction']).to.include('RequestSpotInstances');
    expect(tagOnCreate.Condition!.StringEquals!['aws:RequestTag/spotbatch:fleet']).to.equal('${Prefix}');
    // Tags on an existing resource: only on an instance running with one of the fleet's job profiles, and with the fleet's tag.
    for (const s of statementsWith('ec2:CreateTags').filter((x) => x !== tagOnCreate)) {
      expect(s.Resource, s.Sid).to.match(/:instance\/\*$/);
      expect(s.Condition!.ArnLike!['ec2:InstanceProfile'], s.Sid).to.equal(fleetProfileArn);
      expect(s.Condition!.StringEquals!['aws:RequestTag/spotbatch:fleet'], s.Sid).to.equal('${Prefix}');
    }
    // No statement names the market probe's tag: the programs never probe.
    expect(JSON.stringify(doc)).to.not.contain('spotbatch:probe');
  });

  it('launches only with a security group of this fleet (subnets: any, documented)', () => {
    for (const a of ['ec2:RunInstances', 'ec2:RequestSpotInstances']) {
      const ss = statementsWith(a).filter((s) => [s.Resource].flat().some((r) => r.includes(':security-group/')));
      expect(ss, a).to.have.length(1);
      expect(ss[0]!.Condition).to.deep.equal({ StringEquals: { 'ec2:ResourceTag/spotbatch:fleet': '${Prefix}' } });
    }
  });

  it('reaches only the fleet\'s queues, tables and buckets', () => {
    for (const s of doc.Statement) {
      const service = s.Action[0]!.split(':')[0];
      const resources = [s.Resource].flat();
      if (service === 'sqs') for (const r of resources) expect(r).to.match(/:\$\{Prefix\}-[a-z]+(-dlq)?$/);
      if (service === 'dynamodb') for (const r of resources) expect(r).to.match(/:table\/\$\{Prefix\}-[a-z]+(\/index\/\*)?$/);
      if (service === 's3') for (const r of resources) expect(r).to.match(/^arn:\$\{AWS::Partition\}:s3:::\$\{(Artifact|Checkpoint)Bucket\}(\/\*)?$/);
    }
  });

  it('refuses to place an action it has no resource rule for', () => {
    expect(() => buildPolicy(['sts:GetCallerIdentity'])).to.throw(/no resource rule for sts:GetCallerIdentity/);
  });
});

describe('deploy/cloudformation.yaml carries the generated policies', () => {
  it('is what npm run docs:gen makes (the policies and the job-role boundary between their markers)', () => {
    const text = read('deploy/cloudformation.yaml');
    expect(text).to.equal(withTemplatePolicies(text));
  });

  it('gives each task role its program\'s policy, with the ${...} variables as Fn::Sub', () => {
    const t = parseTemplate('deploy/cloudformation.yaml');
    const roles: Record<Program, string> = { dispatcher: 'DispatcherTaskRole', 'status-page': 'StatusPageTaskRole' };
    for (const program of programs) {
      const doc = t.Resources[roles[program]]!.Properties.Policies[0].PolicyDocument as PolicyDocument;
      expect(new Set(doc.Statement.flatMap((s) => s.Action))).to.deep.equal(new Set(policyActions(program)));
      // Every string with a ${...} is an Fn::Sub (CloudFormation would take it literally otherwise).
      const bare = JSON.stringify(doc).replace(/\{"Fn::Sub":"[^"]*"\}/g, '');
      expect(bare).to.not.contain('${');
    }
  });
});
