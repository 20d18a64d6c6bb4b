import { expect } from 'chai';
import YAML from 'yaml';
import { ConfigSchema, ENV_SETTINGS } from '../../shared/config.js';
import { queueName } from '../../shared/queues.js';
import { read } from './cfn.js';

/** docker-compose.yml as compose reads it (anchors and merge keys resolved); `${VAR:-default}` left as written. */
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string; target?: string };
  command?: string[];
  environment?: Record<string, string>;
  secrets?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test?: string[]; disable?: boolean };
  ports?: string[];
}
const compose = YAML.parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service>; secrets?: Record<string, { environment?: string; file?: string }> };
const services = compose.services;
const spotbatch = Object.entries(services).filter(([, s]) => s.build?.dockerfile === 'deploy/Dockerfile' && s.build.target !== 'simulator');
const dispatchers = spotbatch.filter(([, s]) => s.command?.[0] === 'dispatcher');
/** The endpoints local mode exports (services/local/local.ts), plus S3 for the artifact and checkpoint buckets. */
const ENDPOINTS = ['AWS_ENDPOINT_URL_SQS', 'AWS_ENDPOINT_URL_DYNAMODB', 'AWS_ENDPOINT_URL_EC2', 'AWS_ENDPOINT_URL_IAM', 'AWS_ENDPOINT_URL_S3'];
/** What `${NAME:-default}` becomes when NAME is unset. */
const expand = (v: string) => v.replace(/\$\{(\w+):-([^}]*)\}/g, '$2');

describe('docker-compose.yml', () => {
  it('runs two dispatchers and the status page against ElasticMQ, DynamoDB Local, MinIO and the simulator, after the setup one-shot', () => {
    expect(dispatchers.map(([n]) => n)).to.have.length(2);
    expect(services['status-page']?.command?.[0]).to.equal('status-page');
    expect(services.sqs?.image).to.match(/^softwaremill\/elasticmq-native:/);
    expect(services.dynamodb?.image).to.match(/^amazon\/dynamodb-local:/);
    expect(services.s3?.image).to.match(/^minio\/minio:/);
    expect(services.simulator?.build).to.deep.include({ dockerfile: 'deploy/Dockerfile', target: 'simulator' });
    expect(services.setup?.command).to.deep.equal(['setup']);
    for (const [name, s] of [...dispatchers, ['status-page', services['status-page']!] as const]) {
      expect((s.depends_on as Record<string, { condition: string }>).setup, name).to.deep.equal({ condition: 'service_completed_successfully' });
    }
  });

  it('gives every spotbatch container the endpoints, region and prefix, each endpoint a service of this file', () => {
    for (const [name, s] of spotbatch) {
      const env = s.environment ?? {};
      for (const v of [...ENDPOINTS, 'AWS_REGION', 'SPOTBATCH_PREFIX']) expect(env, `${name}: ${v}`).to.have.property(v);
      for (const v of ENDPOINTS) expect(services, `${name}: ${v}=${env[v]}`).to.have.property(new URL(env[v]!).hostname);
      expect(ConfigSchema.shape.prefix.safeParse(expand(env.SPOTBATCH_PREFIX!)).success, name).to.equal(true);
      // Only variables the configuration reads (or the SDK's, or the status page's token).
      for (const v of Object.keys(env)) expect(ENV_SETTINGS.some((e) => e.env === v) || v.startsWith('AWS_') || v === 'SPOTBATCH_STATUS_TOKEN', `${name}: ${v}`).to.equal(true);
    }
  });

  it('gives the dispatchers the fleet key from a compose secret, never a value in the file, and a health check on /healthz', () => {
    for (const [name, s] of dispatchers) {
      const env = s.environment!;
      expect(env, name).to.not.have.property('SPOTBATCH_SECRET_KEY');
      const secret = s.secrets?.[0];
      expect(env.SPOTBATCH_SECRET_KEY_FILE, name).to.equal(`/run/secrets/${secret}`);
      expect(compose.secrets?.[secret!], name).to.deep.equal({ environment: 'SPOTBATCH_SECRET_KEY' });
      expect(env.SPOTBATCH_HEALTH_HOST).to.equal('0.0.0.0');
      expect(s.healthcheck?.test?.join(' ')).to.contain(`:${env.SPOTBATCH_HEALTH_PORT}/healthz`);
      expect(s.command).to.include(env.SPOTBATCH_HEALTH_PORT);
      expect(env.SPOTBATCH_PERMISSIONS_BOUNDARY).to.match(/^arn:aws:iam::\d{12}:policy\/spotbatch\//);
    }
    // Any other secret-looking value comes from the environment (${VAR} / ${VAR:?...}), or is an emulator's throwaway default.
    for (const [name, s] of Object.entries(services)) {
      for (const [k, v] of Object.entries(s.environment ?? {})) {
        if (/TOKEN|SECRET_KEY$|PASSWORD/.test(k) && !k.endsWith('_FILE')) expect(v, `${name}: ${k}`).to.match(/^\$\{\w+(:\?[^}]*|:-local\w*)\}$/);
      }
    }
  });

  it('has a health check on the status page, MinIO and the simulator, and the simulator sends EC2 events to the fleet\'s events queue', () => {
    for (const name of ['status-page', 's3', 'simulator']) expect(services[name]?.healthcheck?.test, name).to.be.an('array');
    const cmd = services.simulator!.command!;
    const queue = cmd[cmd.indexOf('--events-queue') + 1]!;
    expect(new URL(expand(queue)).hostname).to.equal('sqs');
    expect(expand(queue).endsWith(`/${queueName('spotbatch', 'events')}`)).to.equal(true);
  });

  it('publishes every port on 127.0.0.1 only (the emulators and MinIO\'s default credentials check no caller)', () => {
    const published = Object.entries(services).flatMap(([name, s]) => (s.ports ?? []).map((p) => [name, String(p)] as const));
    expect(published.map(([n]) => n)).to.include.members(['sqs', 'dynamodb', 's3', 'simulator', 'status-page']);
    for (const [name, p] of published) expect(p, name).to.match(/^127\.0\.0\.1:\d+:\d+$/);
  });
});
