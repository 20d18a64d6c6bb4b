/**
 * Run the `spotbatch` CLI as a subprocess, as a user would: from source
 * through tsx (the default), or the built binary (`built: true`,
 * dist/services/cli/main.js, rebuilt by ensureBuilt() when older than the sources).
 */
import { expect } from 'chai';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Emulators } from '../../services/local/emulators.js';
import { destroyClients } from '../../shared/aws.js';
import { setup } from '../../shared/setup.js';
import { clientsFor, testConfig, testEmulators, uniquePrefix } from './fleet.js';
import type { Stack } from './stack.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_ENTRY = path.join(ROOT, 'services/cli/main.ts');
export const BUILT_ENTRY = path.join(ROOT, 'dist/services/cli/main.js');

export interface CliOptions {
  /** Run dist/services/cli/main.js (call ensureBuilt() first) instead of the sources. */
  built?: boolean;
  /** Flags for node itself, before the entry script (`--import` a module into the CLI's process). */
  nodeArgs?: string[];
}

export function cliArgs(args: string[], opts: CliOptions = {}): [string, string[]] {
  const node = opts.nodeArgs ?? [];
  // From source, workspace packages resolve to their TypeScript too (the @spotbatch/source export condition).
  return opts.built
    ? [process.execPath, [...node, BUILT_ENTRY, ...args]]
    : [process.execPath, [...node, '--conditions=@spotbatch/source', '--import', 'tsx', CLI_ENTRY, ...args]];
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, opts: CliOptions = {}): ChildProcessWithoutNullStreams {
  const [cmd, argv] = cliArgs(args, opts);
  return spawn(cmd, argv, {
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', SPOTBATCH_LOG_FORMAT: 'json', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** The environment of a client shell for the tables and queues of `prefix` on these emulators. */
export function emulatorEnv(emu: Emulators, prefix: string): NodeJS.ProcessEnv {
  return {
    AWS_ENDPOINT_URL_SQS: emu.endpoints.sqs,
    AWS_ENDPOINT_URL_DYNAMODB: emu.endpoints.dynamodb,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    SPOTBATCH_PREFIX: prefix,
  };
}

/** Fresh emulators with a new prefix's queues and tables set up, and the environment a CLI process needs for them. */
export async function emulatorsWithSetup(): Promise<{ emu: Emulators; env: NodeJS.ProcessEnv }> {
  const emu = await testEmulators();
  const prefix = uniquePrefix();
  const clients = clientsFor(emu);
  try {
    await setup(clients, testConfig(prefix));
  } finally {
    destroyClients(clients);
  }
  return { emu, env: emulatorEnv(emu, prefix) };
}

/** The environment a user's shell would have to talk to the stack's fleet (and, with its secret key, to its instances). */
export function cliEnv(stack: Stack): NodeJS.ProcessEnv {
  return {
    ...emulatorEnv(stack.emu, stack.fleet.config.prefix),
    SPOTBATCH_SECRET_KEY: stack.fleet.config.lifecycle.secretKey ?? '',
    SPOTBATCH_SSH_PORT: String(stack.sim.sshPort),
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions extends CliOptions {
  /** Written to the command's stdin, then closed (default: closed at once). */
  stdin?: string | Buffer;
}

/** A usage or configuration error: exit 2, a message with `text`, no stack trace. */
export function expectUsageError(r: CliResult, text: string): void {
  expect(r.code, r.stderr).to.equal(2);
  expect(r.stderr).to.contain(text);
  expect(r.stderr).not.to.match(/\n\s+at /);
}

/** Run to completion (bounded by `timeoutMs`, then killed). */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000, opts: RunOptions = {}): Promise<CliResult> {
  const child = startCli(args, env, opts);
  child.stdin.on('error', () => undefined); // a command that never reads its input
  child.stdin.end(opts.stdin ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running command (local, sim, status-page) once it printed what `ready` matches. */
export interface Served {
  child: ChildProcessWithoutNullStreams;
  match: RegExpExecArray;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | null>;
}

/**
 * Start a server command and wait until its stdout matches `ready`; rejects
 * (with what it printed) when it exits first or takes longer than `timeoutMs`.
 * The caller kills it (`stop()`, or `child.kill('SIGKILL')` in a finally).
 */
export function serveCli(args: string[], env: NodeJS.ProcessEnv, ready: RegExp, opts: CliOptions = {}, timeoutMs = 60_000): Promise<Served> {
  const child = startCli(args, env, opts);
  let stdout = '';
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(`no ${ready} within ${timeoutMs} ms`), timeoutMs);
    const fail = (why: string) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`spotbatch ${args.join(' ')}: ${why}\nstdout: ${stdout}\nstderr: ${stderr}`));
    };
    child.stdout.on('data', (d) => {
      stdout += d;
      const match = ready.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      resolve({ child, match, exited, stdout: () => stdout, stderr: () => stderr, stop: () => (child.kill('SIGTERM'), exited) });
    });
    child.stderr.on('data', (d) => (stderr += d));
    void exited.then((code) => fail(`exited (${code}) before it was ready`));
  });
}

/** A port on 127.0.0.1 that something else listens on, for the "port in use" cases. */
export async function occupiedPort(): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { port: address.port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (/\.(ts|sh)$/.test(entry.name)) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

let building: Promise<void> | undefined;

/**
 * Make dist/ current: when dist/services/cli/main.js is missing or older than
 * any source under shared/, services/ or types/, compile (as `npm run build`
 * does), the simulator package's dist/ first in the same way. Type errors are `npm run typecheck`'s business: tsc still writes the
 * JavaScript, which is what the binary runs; only a missing output fails.
 */
export function ensureBuilt(): Promise<void> {
  building ??= (async () => {
    // The simulator package first: the product's dist/services/local imports its dist/.
    await compileIfStale('packages/simulator/tsconfig.build.json', ['packages/simulator/src'], path.join(ROOT, 'packages/simulator/dist/index.js'));
    await compileIfStale('tsconfig.build.json', ['shared', 'services', 'types'], BUILT_ENTRY);
    cpSync(path.join(ROOT, 'services/agent/agent.sh'), path.join(ROOT, 'dist/services/agent/agent.sh'));
  })();
  return building;
}

async function compileIfStale(project: string, sourceDirs: string[], output: string): Promise<void> {
  const sources = Math.max(...sourceDirs.map((d) => newestSource(path.join(ROOT, d))));
  if (existsSync(output) && statSync(output).mtimeMs >= sources) return;
  const tsc = path.join(ROOT, 'node_modules/typescript/bin/tsc');
  const out = await new Promise<{ code: number | null; text: string }>((resolve) => {
    const child = spawn(process.execPath, [tsc, '-p', project], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    child.on('close', (code) => resolve({ code, text }));
  });
  if (!existsSync(output) || statSync(output).mtimeMs < sources) throw new Error(`build of ${project} failed (exit ${out.code}):\n${out.text}`);
  if (out.code !== 0) console.warn(`ensureBuilt: tsc -p ${project} reported errors (the JavaScript was written anyway):\n${out.text.split('\n').slice(0, 5).join('\n')}`);
}
