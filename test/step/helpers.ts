import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInstanceRuntime, generateEd25519KeyPair, type LocalInstanceRuntime } from '../../services/simulator/runtime/index.js';
import type { SshTarget } from '../../services/step/ssh.js';

export const BOUND_MS = 15_000;

let nextHost = 1;
const subnet = (process.pid % 200) + 20;
/** A distinct 127.88.x.y per instance, different in each test process. */
export function nextIp(): string {
  return `127.88.${subnet}.${nextHost++}`;
}

export interface TestInstance {
  runtime: LocalInstanceRuntime;
  target: SshTarget;
  publicKey: string;
  sandboxRoot: string;
  close(): Promise<void>;
}

/** A runtime with one running instance reachable as ec2-user with a fresh key. */
export async function startInstance(): Promise<TestInstance> {
  const sandboxRoot = await mkdtemp(path.join(tmpdir(), 'spotbatch-step-'));
  const runtime = await createInstanceRuntime({ sandboxRoot, sshPort: 0, imdsPort: 0 });
  const pair = generateEd25519KeyPair();
  const ip = nextIp();
  await runtime.start({
    instanceId: `i-${Math.random().toString(16).slice(2, 14)}`,
    region: 'us-east-1',
    availabilityZone: 'us-east-1a',
    instanceType: 't3.micro',
    imageId: 'ami-12345678',
    ip,
    authorizedKeys: [pair.public],
    loginUser: 'ec2-user',
    spot: true,
    launchTime: new Date(),
  });
  return {
    runtime,
    publicKey: pair.public,
    sandboxRoot,
    target: { host: ip, port: runtime.sshPort, username: 'ec2-user', privateKey: pair.private, readyTimeoutMs: BOUND_MS },
    async close() {
      await runtime.close();
      await rm(sandboxRoot, { recursive: true, force: true });
    },
  };
}

/** Poll until probe gives a value (not undefined/false), at most `ms`. */
export async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = BOUND_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}
