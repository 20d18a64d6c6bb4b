/**
 * The embedded emulators: local-aws-sqs (SQS) and dynalite (DynamoDB), in
 * this process, on 127.0.0.1. Used by `spotbatch local` and by the tests.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync } from 'node:fs';
import dynalite from 'dynalite';
import { createRequestHandler } from 'local-aws-sqs';

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

/** Listen, or reject with the listen error (EADDRINUSE ...) instead of leaving it to an 'error' event. */
function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
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
  });
  await listen(ddb, options.dynamodbPort ?? 0, host);
  // local-aws-sqs's own createSqsServer never settles when it cannot listen: serve its handler ourselves.
  const { service, requestHandler } = createRequestHandler({ port: options.sqsPort ?? 0, hostname: host, emulateQueueCreationLifecycle: false });
  const sqs = createServer((req, res) => void requestHandler(req, res));
  try {
    await listen(sqs, options.sqsPort ?? 0, host);
    service.PORT = (sqs.address() as AddressInfo).port; // the queue URLs it hands out
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
