/**
 * AWS client factory. Endpoints come from the SDK's own variables
 * (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS, ...), so one code path serves AWS
 * and the emulators; tests pass endpoints explicitly instead.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';

export interface ClientOptions {
  region: string;
  /** Explicit endpoints (tests); otherwise the SDK reads AWS_ENDPOINT_URL[_SERVICE]. */
  endpoints?: Partial<Record<'sqs' | 'dynamodb' | 'ec2' | 'iam', string>>;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  maxAttempts?: number;
}

export interface CoreClients {
  sqs: SQSClient;
  /** The raw client (table management). */
  dynamodb: DynamoDBClient;
  /** The document client over it (items). */
  ddb: DynamoDBDocumentClient;
}

export interface CloudClients {
  /** One EC2 client per region, made on first use. */
  ec2(region: string): EC2Client;
  iam: IAMClient;
}

function base(options: ClientOptions, service: keyof NonNullable<ClientOptions['endpoints']>) {
  const endpoint = options.endpoints?.[service];
  return {
    region: options.region,
    ...(endpoint ? { endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
  };
}

export function createCoreClients(options: ClientOptions): CoreClients {
  const sqs = new SQSClient(base(options, 'sqs'));
  const dynamodb = new DynamoDBClient(base(options, 'dynamodb'));
  const ddb = DynamoDBDocumentClient.from(dynamodb, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  return { sqs, dynamodb, ddb };
}

export function createCloudClients(options: ClientOptions): CloudClients {
  const ec2s = new Map<string, EC2Client>();
  return {
    ec2(region: string) {
      let c = ec2s.get(region);
      if (!c) {
        c = new EC2Client(base({ ...options, region }, 'ec2'));
        ec2s.set(region, c);
      }
      return c;
    },
    iam: new IAMClient(base({ ...options, region: 'us-east-1' }, 'iam')),
  };
}

export function destroyClients(clients: Partial<CoreClients>): void {
  clients.sqs?.destroy();
  clients.ddb?.destroy();
  clients.dynamodb?.destroy();
}
