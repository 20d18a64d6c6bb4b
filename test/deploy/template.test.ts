import { expect } from 'chai';
import { QUEUE_KINDS, dlqName, queueName } from '../../shared/queues.js';
import { tableDefinitions } from '../../shared/store/tables.js';
import { ConfigSchema, ENV_SETTINGS } from '../../shared/config.js';
import { catalog } from '../../services/catalog.js';
import { boundaryPolicyName, BOUNDARY_PATH } from '../../services/security/boundary.js';
import { parseTemplate, references, resourcesOf, type Json, type Resource, type Template } from './cfn.js';

/** The names the code gives things, with the template's prefix variable in place of the prefix. */
const PREFIX = '${Prefix}';
const PSEUDO = new Set(['AWS::AccountId', 'AWS::Partition', 'AWS::Region', 'AWS::StackName', 'AWS::URLSuffix', 'AWS::NoValue']);
const EC2_EVENTS = ['EC2 Spot Instance Interruption Warning', 'EC2 Instance Rebalance Recommendation', 'EC2 Instance State-change Notification'];

const sub = (v: unknown): string | undefined => (v && typeof v === 'object' && 'Fn::Sub' in v ? String(v['Fn::Sub']) : undefined);
const byName = (t: Template, type: string, prop: string, name: string): [string, Resource] | undefined => resourcesOf(t, type).find(([, r]) => sub(r.Properties[prop]) === name);
const defaults = ConfigSchema.parse({});

for (const file of ['deploy/cloudformation.yaml', 'deploy/cloudformation-region.yaml']) {
  describe(`${file} parses as CloudFormation`, () => {
    it('every Ref, GetAtt and Sub variable names a parameter, a resource or a pseudo parameter; every Condition is declared', () => {
      const t = parseTemplate(file);
      expect(t.Resources).to.be.an('object').that.is.not.empty;
      const known = new Set([...Object.keys(t.Parameters ?? {}), ...Object.keys(t.Resources), ...PSEUDO]);
      const unknown = [...references({ r: t.Resources, o: t.Outputs ?? {} })].filter((n) => !known.has(n));
      expect(unknown, 'names nothing declares').to.deep.equal([]);
      for (const [id, r] of Object.entries(t.Resources)) {
        expect(r.Type, id).to.match(/^AWS::\w+::\w+$/);
        if (r.Condition) expect(t.Conditions ?? {}, `${id}'s condition`).to.have.property(r.Condition);
      }
    });
  });
}

describe('deploy/cloudformation.yaml', () => {
  const t = parseTemplate('deploy/cloudformation.yaml');

  it('has the parameters the issue names: prefix, regions, dispatcher count, image, network', () => {
    for (const p of ['Prefix', 'Regions', 'DispatcherCount', 'Image', 'VpcId', 'SubnetIds']) expect(t.Parameters, p).to.have.property(p);
    expect(t.Parameters.Prefix!.Default).to.equal(defaults.prefix);
  });

  it('has every queue the code names, each with its dead-letter queue and a redrive policy with the configured maxReceiveCount', () => {
    expect(t.Parameters.MaxReceiveCount!.Default).to.equal(defaults.dispatcher.maxReceiveCount);
    expect(t.Parameters.VisibilityTimeoutSeconds!.Default).to.equal(defaults.dispatcher.visibilityTimeoutSeconds);
    const queues = resourcesOf(t, 'AWS::SQS::Queue');
    expect(queues).to.have.length(QUEUE_KINDS.length * 2);
    for (const kind of QUEUE_KINDS) {
      const main = byName(t, 'AWS::SQS::Queue', 'QueueName', queueName(PREFIX, kind));
      const dlq = byName(t, 'AWS::SQS::Queue', 'QueueName', dlqName(PREFIX, kind));
      expect(main, queueName(PREFIX, kind)).to.not.equal(undefined);
      expect(dlq, dlqName(PREFIX, kind)).to.not.equal(undefined);
      expect(main![1].Properties.RedrivePolicy).to.deep.equal({ deadLetterTargetArn: { 'Fn::GetAtt': [dlq![0], 'Arn'] }, maxReceiveCount: { Ref: 'MaxReceiveCount' } });
      expect(main![1].Properties.VisibilityTimeout).to.deep.equal({ Ref: 'VisibilityTimeoutSeconds' });
      expect(dlq![1].Properties.RedrivePolicy, 'a dead-letter queue has no dead-letter queue').to.equal(undefined);
    }
  });

  it('has every table the code creates, with the same keys, attributes and indexes', () => {
    const defs = tableDefinitions(PREFIX);
    expect(resourcesOf(t, 'AWS::DynamoDB::Table')).to.have.length(defs.length);
    for (const def of defs) {
      const found = byName(t, 'AWS::DynamoDB::Table', 'TableName', def.TableName!);
      expect(found, def.TableName).to.not.equal(undefined);
      const p = found![1].Properties;
      expect(p.BillingMode).to.equal(def.BillingMode);
      expect(p.KeySchema).to.deep.equal(def.KeySchema);
      const attrs = (a: Array<{ AttributeName?: string }>) => [...a].sort((x, y) => String(x.AttributeName).localeCompare(String(y.AttributeName)));
      expect(attrs(p.AttributeDefinitions)).to.deep.equal(attrs(def.AttributeDefinitions!));
      expect(p.GlobalSecondaryIndexes ?? []).to.deep.equal(def.GlobalSecondaryIndexes ?? []);
    }
  });

  it('keeps and protects every table: Retain on stack deletion and replacement, deletion protection, point-in-time recovery', () => {
    const tables = resourcesOf(t, 'AWS::DynamoDB::Table');
    expect(tables).to.have.length(tableDefinitions(PREFIX).length);
    for (const [id, r] of tables) {
      expect(r.DeletionPolicy, id).to.equal('Retain');
      expect(r.UpdateReplacePolicy, id).to.equal('Retain');
      expect(r.Properties.DeletionProtectionEnabled, id).to.equal(true);
      expect(r.Properties.PointInTimeRecoverySpecification, id).to.deep.equal({ PointInTimeRecoveryEnabled: true });
    }
  });

  it('has the artifact and checkpoint buckets, encrypted, closed to the public, checkpoints expiring; the dispatchers are configured with them', () => {
    for (const id of ['ArtifactBucket', 'CheckpointBucket']) {
      const p = t.Resources[id]!.Properties;
      expect(t.Resources[id]!.Type).to.equal('AWS::S3::Bucket');
      expect(p.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).to.be.oneOf(['AES256', 'aws:kms']);
      expect(p.PublicAccessBlockConfiguration).to.deep.equal({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    }
    const rules = t.Resources.CheckpointBucket!.Properties.LifecycleConfiguration.Rules as Array<Record<string, unknown>>;
    expect(rules.some((r) => r.Status === 'Enabled' && r.ExpirationInDays !== undefined)).to.equal(true);
    const env = containerOf(t, 'DispatcherTaskDefinition').Environment as Array<{ Name: string; Value: unknown }>;
    const value = (n: string) => env.find((e) => e.Name === n)?.Value;
    expect(sub(value('SPOTBATCH_ARTIFACTS'))).to.match(/^s3:\/\/\$\{ArtifactBucket\}\//);
    const stores = JSON.parse(sub(value('SPOTBATCH_CHECKPOINT_STORES'))!) as Record<string, { type: string; bucket: string }>;
    expect(stores[defaults.checkpoint.default]).to.include({ type: 's3', bucket: '${CheckpointBucket}' });
    expect(ConfigSchema.shape.checkpoint.parse({ stores: JSON.parse(sub(value('SPOTBATCH_CHECKPOINT_STORES'))!.replace('${CheckpointBucket}', 'fleet-checkpoints')) })).to.be.an('object');
  });

  it('makes the job-role boundary where the code looks for it and gives its ARN to the dispatchers', () => {
    const b = t.Resources.JobBoundary!;
    expect(b.Type).to.equal('AWS::IAM::ManagedPolicy');
    expect(sub(b.Properties.ManagedPolicyName)).to.equal(boundaryPolicyName(PREFIX));
    expect(b.Properties.Path).to.equal(BOUNDARY_PATH);
    const env = containerOf(t, 'DispatcherTaskDefinition').Environment as Array<{ Name: string; Value: unknown }>;
    expect(env.find((e) => e.Name === 'SPOTBATCH_PERMISSIONS_BOUNDARY')?.Value).to.deep.equal({ Ref: 'JobBoundary' });
  });

  it('sends the three EC2 events to the events queue, which lets only that rule send', () => {
    const [[id, rule]] = resourcesOf(t, 'AWS::Events::Rule') as [[string, Resource]];
    expect(rule.Properties.EventPattern).to.deep.equal({ source: ['aws.ec2'], 'detail-type': EC2_EVENTS });
    expect(rule.Properties.Targets).to.deep.equal([{ Id: 'events-queue', Arn: { 'Fn::GetAtt': ['EventsQueue', 'Arn'] } }]);
    expect(sub(t.Resources.EventsQueue!.Properties.QueueName)).to.equal(queueName(PREFIX, 'events'));
    const policy = t.Resources.EventsQueuePolicy!.Properties;
    expect(policy.Queues).to.deep.equal([{ Ref: 'EventsQueue' }]);
    const [st] = policy.PolicyDocument.Statement;
    expect(st).to.deep.include({ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'sqs:SendMessage' });
    expect(st.Condition).to.deep.equal({ ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [id, 'Arn'] } } });
  });

  it('the regional stack forwards the same events to the home bus with the home stack\'s role', () => {
    const r = parseTemplate('deploy/cloudformation-region.yaml');
    const [[, rule]] = resourcesOf(r, 'AWS::Events::Rule') as [[string, Resource]];
    expect(rule.Properties.EventPattern).to.deep.equal(t.Resources.Ec2EventsRule!.Properties.EventPattern);
    expect(rule.Properties.Targets).to.deep.equal([{ Id: 'home-bus', Arn: { Ref: 'HomeEventBusArn' }, RoleArn: { Ref: 'ForwarderRoleArn' } }]);
    expect(t.Outputs).to.have.keys(['MasterQueueUrl', 'EventBusArn', 'ForwarderRoleArn', 'StatusPageUrl', 'JobBoundaryArn', 'ArtifactStore']);
    const role = t.Resources.ForwardedEventsRole!.Properties;
    expect(role.Policies[0].PolicyDocument.Statement[0].Action).to.equal('events:PutEvents');
  });

  it('runs N dispatchers and one status page behind an internal load balancer, with secrets from Secrets Manager and logs kept for a while', () => {
    expect(t.Resources.DispatcherService!.Properties.DesiredCount).to.deep.equal({ Ref: 'DispatcherCount' });
    expect(t.Resources.StatusPageService!.Properties.DesiredCount).to.equal(1);
    expect(t.Resources.LoadBalancer!.Properties.Scheme).to.equal('internal');
    expect(t.Resources.StatusPageTargetGroup!.Properties.HealthCheckPath).to.equal('/healthz');
    const dispatcher = containerOf(t, 'DispatcherTaskDefinition');
    expect(dispatcher.Secrets).to.deep.equal([{ Name: 'SPOTBATCH_SECRET_KEY', ValueFrom: { Ref: 'FleetSecretKey' } }]);
    expect(containerOf(t, 'StatusPageTaskDefinition').Secrets).to.deep.equal([{ Name: 'SPOTBATCH_STATUS_TOKEN', ValueFrom: { Ref: 'StatusToken' } }]);
    expect(dispatcher.HealthCheck.Command.join(' ')).to.contain('/healthz');
    expect(dispatcher.Command).to.deep.equal(['dispatcher', '--health-port', '8081']);
    for (const [id, lg] of resourcesOf(t, 'AWS::Logs::LogGroup')) expect(lg.Properties.RetentionInDays, id).to.deep.equal({ Ref: 'LogRetentionDays' });
    expect(t.Resources.DispatcherTaskDefinition!.Properties.TaskRoleArn).to.deep.equal({ 'Fn::GetAtt': ['DispatcherTaskRole', 'Arn'] });
    expect(t.Resources.StatusPageTaskDefinition!.Properties.TaskRoleArn).to.deep.equal({ 'Fn::GetAtt': ['StatusPageTaskRole', 'Arn'] });
  });

  it('serves the status page over HTTPS with the given ACM certificate (HTTP only without one), to a /16 or narrower range', () => {
    expect(t.Conditions!.StatusPageHttps).to.deep.equal({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'StatusPageCertificateArn' }, ''] }] });
    // The template's values with the condition decided: !If [StatusPageHttps, a, b] is a or b, !Ref AWS::NoValue is absent.
    const decide = (v: unknown, https: boolean): unknown => {
      if (Array.isArray(v)) return v.map((x) => decide(x, https));
      if (!v || typeof v !== 'object') return v;
      const o = v as Record<string, unknown>;
      const cond = o['Fn::If'] as [string, unknown, unknown] | undefined;
      if (cond?.[0] === 'StatusPageHttps') return decide(https ? cond[1] : cond[2], https);
      return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, decide(x, https)]).filter(([, x]) => !(x && typeof x === 'object' && (x as { Ref?: string }).Ref === 'AWS::NoValue')));
    };
    const listener = t.Resources.StatusPageListener!.Properties;
    const ingress = t.Resources.LoadBalancerSecurityGroup!.Properties.SecurityGroupIngress;
    expect(decide(listener, true)).to.deep.include({ Protocol: 'HTTPS', Port: 443, Certificates: [{ CertificateArn: { Ref: 'StatusPageCertificateArn' } }], SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06' });
    expect(decide(ingress, true)).to.deep.equal([{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, CidrIp: { Ref: 'StatusPageAllowedCidr' } }]);
    expect(decide(listener, false)).to.deep.include({ Protocol: 'HTTP', Port: 80 });
    expect(decide(listener, false)).to.not.have.any.keys('Certificates', 'SslPolicy');
    expect(decide(ingress, false)).to.deep.equal([{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, CidrIp: { Ref: 'StatusPageAllowedCidr' } }]);
    expect(JSON.stringify(decide(t.Outputs!.StatusPageUrl!.Value, true))).to.contain('https://');
    const cert = t.Parameters.StatusPageCertificateArn!;
    expect(cert.Default).to.equal('');
    expect(new RegExp(cert.AllowedPattern!).test('arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789')).to.equal(true);
    expect(new RegExp(cert.AllowedPattern!).test('arn:aws:iam::123456789012:server-certificate/x')).to.equal(false);
    const cidr = t.Parameters.StatusPageAllowedCidr!;
    const prefixLength = Number(String(cidr.Default).split('/')[1]);
    expect(prefixLength).to.be.at.least(16);
    for (const wide of ['10.0.0.0/8', '0.0.0.0/0', '172.16.0.0/12']) expect(new RegExp(cidr.AllowedPattern!).test(wide), wide).to.equal(false);
    for (const narrow of ['10.0.0.0/16', '10.1.2.0/24', '10.1.2.3/32']) expect(new RegExp(cidr.AllowedPattern!).test(narrow), narrow).to.equal(true);
  });

  it('gives the containers only variables the configuration reads, and no secret in plain text', () => {
    const known = new Set(ENV_SETTINGS.map((s) => s.env));
    for (const td of ['DispatcherTaskDefinition', 'StatusPageTaskDefinition']) {
      for (const e of containerOf(t, td).Environment as Array<{ Name: string }>) {
        expect(known.has(e.Name) || e.Name.startsWith('AWS_'), `${td}: ${e.Name}`).to.equal(true);
        expect(e.Name, td).to.not.match(/SECRET|TOKEN/);
      }
    }
  });

  it('offers no EventBridge Scheduler market schedule (its unsigned messages to internal services are refused): the dispatchers\' timer sends the collections', () => {
    expect((t.Parameters.MarketSchedule as { AllowedValues?: unknown }).AllowedValues).to.deep.equal(['internal']);
    expect(resourcesOf(t, 'AWS::Scheduler::Schedule')).to.deep.equal([]);
    for (const service of Object.keys(catalog).filter((s) => s.startsWith('market.'))) expect((catalog[service as keyof typeof catalog] as { public?: boolean }).public ?? false, service).to.equal(false);
    const env = containerOf(t, 'DispatcherTaskDefinition').Environment as Array<{ Name: string; Value: unknown }>;
    expect(env.find((e) => e.Name === 'SPOTBATCH_MARKET_SCHEDULE')?.Value).to.equal('true');
  });
});

function containerOf(t: Template, taskDefinition: string): Record<string, Json> {
  return t.Resources[taskDefinition]!.Properties.ContainerDefinitions[0];
}
