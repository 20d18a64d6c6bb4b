/**
 * Test plumbing for whoever tests against the simulator (its own tests and the product's): a simulator on
 * port 0, SDK clients pointed at it, bounded polling, the admin API. `@spotbatch/simulator/testing`.
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { startSimulator } from './index.js';
import type { Simulator, SimulatorOptions } from './index.js';

export const credentials = { accessKeyId: 'AKIDSIMULATOR', secretAccessKey: 'simulator-secret' };

export interface Harness {
  sim: Simulator;
  ec2: EC2Client;
  iam: IAMClient;
  ec2In(region: string): EC2Client;
  admin<T = unknown>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

export async function startHarness(opts: SimulatorOptions = {}): Promise<Harness> {
  const sim = await startSimulator({ port: 0, sshPort: 0, timeScale: 60, seed: 7, ...opts });
  const clients: { destroy(): void }[] = [];
  const ec2In = (region: string, maxAttempts = 1): EC2Client => {
    const c = new EC2Client({ endpoint: sim.endpoint, region, credentials, maxAttempts });
    clients.push(c);
    return c;
  };
  const iam = new IAMClient({ endpoint: sim.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  clients.push(iam);
  return {
    sim,
    ec2: ec2In('us-east-1'),
    iam,
    ec2In,
    async admin<T>(method: 'GET' | 'POST', path: string, body?: unknown) {
      const res = await fetch(`${sim.endpoint}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as T };
    },
    async close() {
      for (const c of clients) c.destroy();
      await sim.stop();
    },
  };
}

/** Poll `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}
