/** The status server over the test emulators, and a small HTTP client for it. */
import type { Emulators } from '../../services/local/emulators.js';
import { startStatusServer, type StatusServer, type StatusServerOptions } from '../../services/status/server.js';
import { destroyClients } from '../../shared/aws.js';
import { clientsFor } from '../helpers/fleet.js';

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json<T = unknown>(): T;
}

export interface TestStatus {
  server: StatusServer;
  url: string;
  /** DynamoDB Query calls made by the server, and the items they returned, since the last reset. */
  reads: { queries: number; items: number; scans: number };
  resetReads(): void;
  get(path: string, init?: RequestInit): Promise<Reply>;
  close(): Promise<void>;
}

type Counted = { middlewareStack: { add: (mw: unknown, opts: { step: string; name: string }) => void } };

export async function startTestStatus(emu: Emulators, prefix: string, options: Partial<StatusServerOptions> = {}): Promise<TestStatus> {
  const clients = clientsFor(emu);
  const reads = { queries: 0, items: 0, scans: 0 };
  (clients.ddb as unknown as Counted).middlewareStack.add(
    (next: (a: unknown) => Promise<{ output: { Items?: unknown[] } }>, context: { commandName?: string }) => async (args: unknown) => {
      const out = await next(args);
      if (context.commandName === 'QueryCommand') {
        reads.queries++;
        reads.items += out.output.Items?.length ?? 0;
      }
      if (context.commandName === 'ScanCommand') reads.scans++;
      return out;
    },
    { step: 'initialize', name: 'statusTestReads' },
  );
  const server = await startStatusServer({ ddb: clients.ddb, prefix, port: 0, pollMs: 500, ...options });
  return {
    server,
    url: server.url,
    reads,
    resetReads() {
      reads.queries = 0;
      reads.items = 0;
      reads.scans = 0;
    },
    async get(path, init) {
      const res = await fetch(`${server.url}${path}`, { redirect: 'manual', ...init });
      const text = await res.text();
      return { status: res.status, headers: res.headers, text, json: <T>() => JSON.parse(text) as T };
    },
    async close() {
      await server.close();
      destroyClients(clients);
    },
  };
}

/** Paths of every key named like a private key or secret anywhere in a JSON value. */
export function secretKeys(value: unknown, at = '$'): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => secretKeys(v, `${at}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.entries(value).flatMap(([k, v]) => [...(/private|secret|keyPairs|^security$/i.test(k) ? [`${at}.${k}`] : []), ...secretKeys(v, `${at}.${k}`)]);
  }
  return [];
}
