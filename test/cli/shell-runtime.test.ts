/** The product's interactive shell (services/remote runShell) against an instance of the simulator package's runtime. */
import { expect } from 'chai';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { ReadStream } from 'node:tty';
import ssh2 from 'ssh2';
import { createInstanceRuntime, generateEd25519KeyPair, type LocalInstanceRuntime } from '@spotbatch/simulator';
import { runShell } from '../../services/remote/shell.js';

const BOUND_MS = 10_000;

async function until<T>(what: string, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + BOUND_MS;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('runShell on a simulated instance', function () {
  this.timeout(30_000);
  let sandboxRoot: string;
  let runtime: LocalInstanceRuntime;
  let client: ssh2.Client | undefined;

  beforeEach(async () => {
    sandboxRoot = await mkdtemp(path.join(tmpdir(), 'spotbatch-shell-'));
    runtime = await createInstanceRuntime({ sandboxRoot, sshPort: 0, imdsPort: 0 });
  });

  afterEach(async () => {
    client?.end();
    await runtime.close();
    await rm(sandboxRoot, { recursive: true, force: true });
  });

  it("a person's shell with a terminal: a PTY of its size, raw mode while it lasts, every resize sent", async () => {
    const pair = generateEd25519KeyPair();
    const ip = `127.78.${(process.pid % 200) + 20}.1`;
    const instanceId = 'i-0shell0000000001';
    await runtime.start({
      instanceId,
      region: 'eu-west-1',
      availabilityZone: 'eu-west-1b',
      instanceType: 'm7g.large',
      imageId: 'ami-0123456789abcdef0',
      ip,
      authorizedKeys: [pair.public],
      loginUser: 'ec2-user',
      spot: true,
      launchTime: new Date('2026-11-22T05:00:00Z'),
    });
    client = await new Promise<ssh2.Client>((resolve, reject) => {
      const c = new ssh2.Client();
      c.once('ready', () => resolve(c));
      c.once('error', reject);
      c.connect({ host: ip, port: runtime.sshPort, username: 'ec2-user', privateKey: pair.private, readyTimeout: BOUND_MS });
    });
    let output = '';
    const stdout = Object.assign(new PassThrough(), { isTTY: true, columns: 100, rows: 30 });
    stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const modes: boolean[] = [];
    const stdin = Object.assign(new PassThrough(), {
      isTTY: true,
      setRawMode(mode: boolean) {
        modes.push(mode);
        return this as unknown as ReadStream;
      },
    });
    const exit = runShell(client, instanceId, { stdin, stdout, stderr: new PassThrough() }, { term: 'vt100' });
    stdin.write('echo size "$TERM" "$(cat "$SPOTBATCH_TTY_SIZE")"\r');
    await until('the first answer', () => (output.includes('size vt100 30 100\r\n') ? true : undefined));
    expect(modes).to.deep.equal([true]);
    stdout.columns = 132;
    stdout.rows = 40;
    stdout.emit('resize');
    stdin.write('echo resized "$(cat "$SPOTBATCH_TTY_SIZE")"; exit 5\r');
    expect(await exit).to.equal(5);
    expect(output).to.include('resized 40 132\r\n');
    expect(modes).to.deep.equal([true, false]);
    expect(stdout.listenerCount('resize')).to.equal(0);
  });
});
