/**
 * The embedded emulators: local-aws-sqs (SQS) and dynalite (DynamoDB), in
 * this process, on 127.0.0.1. Used by `spotbatch local` and by the tests.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync } from 'node:fs';
import dynalite from 'dynalite';
import { createSqsServer } from 'local-aws-sqs';

export interface EmulatorOptions {
  host?: string;
  /** 0 picks a free port. */
  sqsPort?: number;
  dynamodbPort?: number;
  /** Folder for dynalite's data; omitted: in memory. */
  dynamodbPath?: string;
}

export interface Emulators {
  endpoints: { sqs: string; dynamodb: string };
  stop(): Promise<void>;
}

function closeServer(server: { close(cb: (err?: Error) => void): unknown }): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  const host = options.host ?? '127.0.0.1';
  if (options.dynamodbPath) mkdirSync(options.dynamodbPath, { recursive: true });
  const ddb = dynalite({
    ...(options.dynamodbPath ? { path: options.dynamodbPath } : {}),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  }) as Server;
  await new Promise<void>((resolve, reject) => {
    ddb.once('error', reject);
    ddb.listen(options.dynamodbPort ?? 0, host, () => resolve());
  });
  let sqs: Server;
  try {
    sqs = (await createSqsServer({
      port: options.sqsPort ?? 0,
      hostname: host,
      emulateQueueCreationLifecycle: false,
    })) as unknown as Server;
  } catch (err) {
    await closeServer(ddb);
    throw err;
  }
  const url = (s: Server) => `http://${host}:${(s.address() as AddressInfo).port}`;
  return {
    endpoints: { sqs: url(sqs), dynamodb: url(ddb) },
    async stop() {
      (sqs as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
      (ddb as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
      await Promise.all([closeServer(sqs), closeServer(ddb)]);
    },
  };
}
