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
import { awsCode } from './aws-errors.js';
import { fullJitter, retrying } from './backoff.js';

export interface ClientOptions {
  region: string;
  /** Explicit endpoints (tests); otherwise the SDK reads AWS_ENDPOINT_URL[_SERVICE]. */
  endpoints?: Partial<Record<'sqs' | 'dynamodb' | 'ec2' | 'iam', string>>;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  maxAttempts?: number;
  /**
   * The DynamoDB clients refuse, before sending, every operation but the reads
   * (DYNAMODB_READS): the status page's, whose IAM policy grants only those
   * (scripts/iam-actions.ts READ_ONLY_TABLES).
   */
  readOnlyTables?: boolean;
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

/**
 * Every client retries inside a call with the SDK's `standard` retry mode:
 * throttling (RequestLimitExceeded, Throttling), 5xx and network errors, up
 * to 3 tries (maxAttempts; AWS_MAX_ATTEMPTS), exponential backoff with full
 * jitter (base 100 ms, cap 20 s) and a client-wide retry quota, so a throttled
 * fleet slows down instead of multiplying its calls. The fleet does not retry
 * those again inside the handler: past the SDK's tries, the handler's error
 * is transient and the message comes back after the dispatcher's backoff
 * (shared/backoff.ts). What the SDK does not retry (a NotFound right after a
 * create, below) the fleet retries with the same backoff module.
 */
function base(options: ClientOptions, service: keyof NonNullable<ClientOptions['endpoints']>) {
  const endpoint = options.endpoints?.[service];
  return {
    region: options.region,
    retryMode: 'standard',
    ...(endpoint ? { endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
  };
}

/**
 * EC2 answers that, right after a create, mean "not visible yet" rather than
 * "gone" ("Eventual consistency in the Amazon EC2 API"): a describe, tag or
 * terminate by id of what was just made. A TerminateInstances NotFound does
 * not prove the instance is gone.
 */
export const EVENTUAL_NOT_FOUND: ReadonlySet<string> = new Set([
  'InvalidInstanceID.NotFound',
  'InvalidSpotInstanceRequestID.NotFound',
  'InvalidGroup.NotFound',
  'InvalidKeyPair.NotFound',
]);

/** How long after a create the fleet reads a NotFound for it as "not yet" (then as "gone"). */
export const EVENTUAL_CONSISTENCY_WINDOW_MS = 5 * 60_000;

/** Whether an error is a NotFound that eventual consistency may explain. */
export function isEventualNotFound(err: unknown): boolean {
  const code = awsCode(err);
  return code !== undefined && EVENTUAL_NOT_FOUND.has(code);
}

/** In-call retries of a NotFound right after a create: 5 tries, 0.5 s doubling to 4 s, full jitter (about 7 s at most in all). */
export const NOT_FOUND_RETRY = fullJitter({ base: 500, cap: 4000, min: 100 });

/**
 * Run an AWS call on something just created; while it answers an eventual
 * NotFound, wait (shared/backoff.ts) and try again, a bounded number of times,
 * then let the NotFound through for the caller to judge.
 */
export function untilVisible<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  return retrying(fn, { policy: NOT_FOUND_RETRY, attempts, retryable: isEventualNotFound });
}

/** The DynamoDB operations that only read (each is its IAM action, dynamodb:<operation>). */
export const DYNAMODB_READS: readonly string[] = ['BatchGetItem', 'DescribeTable', 'GetItem', 'Query', 'Scan', 'TransactGetItems'];

/** Makes `client` (and every document client over it: they share its middleware stack) refuse any operation but DYNAMODB_READS, before it is sent. */
export function readOnlyTables(client: DynamoDBClient): void {
  client.middlewareStack.add(
    (next, context) => (args) => {
      const operation = String(context.commandName ?? '').replace(/Command$/, '');
      if (!DYNAMODB_READS.includes(operation)) throw new Error(`this DynamoDB client only reads: ${operation || 'an operation'} refused`);
      return next(args);
    },
    { step: 'initialize', name: 'spotbatchReadOnlyTables' },
  );
}

export function createCoreClients(options: ClientOptions): CoreClients {
  const sqs = new SQSClient(base(options, 'sqs'));
  const dynamodb = new DynamoDBClient(base(options, 'dynamodb'));
  if (options.readOnlyTables) readOnlyTables(dynamodb);
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
