import { expect } from 'chai';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PermanentError, TransientError } from '../../shared/errors.js';
import { createInstanceRuntime, generateEd25519KeyPair } from '@spotbatch/simulator';
import { HostKeyMismatchError } from '../../services/ssh/errors.js';
import { shellQuote, shellWords } from '../../shared/shell.js';
import { connectSsh, type SshSession } from '../../services/ssh/ssh.js';
import { alive, nextIp, rejection, startForger, startInstance, until, type TestInstance } from '../step/helpers.js';

const NASTY = ['plain', '', ' lead and trail ', "it's", '"double"', '$HOME', '$(id)', '`id`', 'a;b|c&d', 'line1\nline2', 'trailing\n\n', 'ünïcödé ✓ 日本', '-n', '*', '\\', "'", "''", 'tab\there', '~', '!x'];

describe('step/ssh', function () {
  let inst: TestInstance;
  let session: SshSession;
  let local: string;

  before(async function () {
    inst = await startInstance();
    session = await connectSsh(inst.target);
    local = await mkdtemp(path.join(tmpdir(), 'spotbatch-ssh-local-'));
  });
  after(async function () {
    session?.close();
    await inst?.close();
    if (local) await rm(local, { recursive: true, force: true });
  });

  it('runs commands: exit code, stdout and stderr apart, stdin', async function () {
    expect(await session.exec('echo out; echo err >&2; exit 3')).to.deep.equal({ code: 3, stdout: 'out\n', stderr: 'err\n' });
    expect(await session.exec('true')).to.deep.equal({ code: 0, stdout: '', stderr: '' });
    expect((await session.exec('cat', { stdin: 'fed ✓\n' })).stdout).to.equal('fed ✓\n');
    // stdin is closed even when none is given: a reader does not hang.
    expect((await session.exec('cat; echo end')).stdout).to.equal('end\n');
  });

  it('reports a command killed by a signal', async function () {
    const result = await session.exec('kill -KILL $$');
    expect(result.code).to.equal(null);
    expect(result.signal).to.equal('SIGKILL');
  });

  it('gives up on a command past timeoutMs with a TransientError', async function () {
    const err = await rejection(session.exec('sleep 30', { timeoutMs: 300 }));
    expect(err).to.be.instanceOf(TransientError);
    expect((await session.exec('echo still usable')).stdout).to.equal('still usable\n');
  });

  it('kills the remote command past timeoutMs: it and its children are gone, not only the call', async function () {
    // Neither the shell nor its child writes to the channel: closing it alone (as sshd) kills nothing.
    const command = 'echo $$ > "$HOME/exec-shell.pid"; sleep 300 & echo $! > "$HOME/exec-child.pid"; wait';
    const err = await rejection(session.exec(command, { timeoutMs: 4000 }));
    expect(err).to.be.instanceOf(TransientError);
    expect((err as Error).message).to.match(/timed out after 4000 ms/);
    const pids = await Promise.all(['exec-shell.pid', 'exec-child.pid'].map(async (f) => Number((await session.readFile(f))?.toString().trim())));
    for (const pid of pids) expect(pid).to.be.greaterThan(1);
    await until('the timed-out command and its child to be gone', () => pids.every((pid) => !alive(pid)));
    // The pid line the wrapper uses to find the command never shows in a result.
    expect(await session.exec('echo err >&2', { timeoutMs: 10_000 })).to.deep.equal({ code: 0, stdout: '', stderr: 'err\n' });
  });

  it('quotes any word for sh exactly (shellQuote)', async function () {
    const result = await session.exec(`printf '%s\\0' ${shellWords(NASTY)}`);
    expect(result.stdout.split('\0').slice(0, -1)).to.deep.equal(NASTY);
    expect(shellQuote("it's")).to.equal(`'it'\\''s'`);
    expect(() => shellQuote('nul\0')).to.throw(RangeError);
  });

  it('refuses a wrong key with a PermanentError that does not include the key', async function () {
    const other = generateEd25519KeyPair();
    const err = await rejection(connectSsh({ ...inst.target, privateKey: other.private }));
    expect(err).to.be.instanceOf(PermanentError);
    expect((err as Error).message).to.match(/authentication failed/);
    expect((err as Error).message).to.not.include(other.private.split('\n')[1]!);
    const user = await rejection(connectSsh({ ...inst.target, username: 'root' }));
    expect(user).to.be.instanceOf(PermanentError);
  });

  it('refuses an unparsable key with a PermanentError that does not include it', async function () {
    const err = await rejection(connectSsh({ ...inst.target, privateKey: 'not-a-key-SECRETSECRET' }));
    expect(err).to.be.instanceOf(PermanentError);
    expect((err as Error).message).to.not.include('SECRETSECRET');
  });

  it('checks the pinned host key: the one of the user data passes, any other is a HostKeyMismatchError', async function () {
    // The helper's instance got its host key through cloud-init ssh_keys in its user data.
    expect(inst.runtime.hostPublicKey(inst.instanceId)).to.equal(inst.target.hostPublicKey);
    const pinned = await connectSsh(inst.target);
    expect((await pinned.exec('echo pinned')).stdout).to.equal('pinned\n');
    pinned.close();
    const other = generateEd25519KeyPair();
    const wrong = await rejection(connectSsh({ ...inst.target, hostPublicKey: other.public }));
    expect(wrong).to.be.instanceOf(HostKeyMismatchError);
    expect(wrong).to.be.instanceOf(PermanentError);
    expect((wrong as Error).message).to.match(/host key mismatch/);
    expect((wrong as Error).message).to.not.match(/PRIVATE KEY/);
  });

  it('refuses to connect without a pinned host key (empty, garbage, a private key)', async function () {
    const secret = generateEd25519KeyPair().private;
    for (const hostPublicKey of ['', 'not a key', secret, undefined as unknown as string]) {
      const err = await rejection(connectSsh({ ...inst.target, hostPublicKey }));
      expect(err, String(hostPublicKey)).to.be.instanceOf(PermanentError);
      expect((err as Error).message).to.match(/no pinned host key/);
      expect((err as Error).message).to.not.include(secret.split('\n')[1]!);
    }
  });

  it('a changed host key is refused before authentication (nothing reaches the impostor)', async function () {
    const second = await startInstance();
    try {
      const changed = second.runtime.replaceHostKey(second.instanceId);
      expect(changed).to.be.a('string').and.not.equal(second.target.hostPublicKey);
      const err = await rejection(connectSsh(second.target));
      expect(err).to.be.instanceOf(HostKeyMismatchError);
      expect((err as Error).message).to.match(/host key mismatch/);
      // No command ran: the impostor's sandbox got nothing.
      const pinnedNow = await connectSsh({ ...second.target, hostPublicKey: changed! });
      expect((await pinnedNow.exec('ls -A "$HOME" | wc -l')).stdout.trim()).to.equal('0');
      pinnedNow.close();
    } finally {
      await second.close();
    }
  });

  it('a second ssh2 server on the address with another key sees no authentication attempt', async function () {
    const forger = await startForger();
    try {
      const err = await rejection(connectSsh({ ...inst.target, host: forger.host, port: forger.port }));
      expect(err).to.be.instanceOf(HostKeyMismatchError);
      expect(forger.authAttempts).to.equal(0);
    } finally {
      await forger.close();
    }
  });

  it('without user data ssh_keys, each instance generates a host key of its own', async function () {
    const sandboxRoot = await mkdtemp(path.join(tmpdir(), 'spotbatch-hostkeys-'));
    const runtime = await createInstanceRuntime({ sandboxRoot, sshPort: 0, imdsPort: 0 });
    try {
      const base = { region: 'us-east-1', availabilityZone: 'us-east-1a', instanceType: 't3.micro', imageId: 'ami-12345678', authorizedKeys: [], loginUser: 'ec2-user', spot: true, launchTime: new Date() };
      await runtime.start({ ...base, instanceId: 'i-0000000000000a1', ip: nextIp(), userData: '#!/bin/sh\necho not a cloud-config\n' });
      await runtime.start({ ...base, instanceId: 'i-0000000000000a2', ip: nextIp() });
      const a = runtime.hostPublicKey('i-0000000000000a1');
      const b = runtime.hostPublicKey('i-0000000000000a2');
      expect(a).to.match(/^ssh-ed25519 /);
      expect(b).to.match(/^ssh-ed25519 /);
      expect(a).to.not.equal(b);
    } finally {
      await runtime.close();
      await rm(sandboxRoot, { recursive: true, force: true });
    }
  });

  it('answers TransientError when nobody listens (instance still booting)', async function () {
    const err = await rejection(connectSsh({ ...inst.target, host: nextIp() }));
    expect(err).to.be.instanceOf(TransientError);
    expect((err as Error).message).to.match(/ECONNREFUSED/);
  });

  it('writes files with parents and mode, relative to the login home; reads them back', async function () {
    await session.putFile('.spotbatch/t/a/b.txt', 'hello\n', 0o640);
    await session.putFile('.spotbatch/t/a/b.txt', 'hello again\n', 0o600);
    expect((await session.exec('cat "$HOME/.spotbatch/t/a/b.txt"; stat -c %a "$HOME/.spotbatch/t/a/b.txt"')).stdout).to.equal('hello again\n600\n');
    expect((await session.readFile('.spotbatch/t/a/b.txt'))?.toString()).to.equal('hello again\n');
    expect(await session.readFile('.spotbatch/t/missing')).to.equal(undefined);
    await session.mkdirp('.spotbatch/t/x/y/z');
    await session.mkdirp('.spotbatch/t/x/y/z');
    expect((await session.exec('test -d "$HOME/.spotbatch/t/x/y/z" && echo yes')).stdout).to.equal('yes\n');
    // Absolute /home/ec2-user paths are the same place over SFTP.
    expect((await session.readFile('/home/ec2-user/.spotbatch/t/a/b.txt'))?.toString()).to.equal('hello again\n');
  });

  it('copies a folder tree up and back down (putLocal / getLocal), modes kept', async function () {
    const src = path.join(local, 'src');
    await mkdir(path.join(src, 'deep', 'er'), { recursive: true });
    await mkdir(path.join(src, 'empty'));
    await writeFile(path.join(src, 'top.txt'), 'top\n');
    await writeFile(path.join(src, 'run.sh'), '#!/bin/sh\necho ran\n', { mode: 0o755 });
    await writeFile(path.join(src, 'deep', 'er', 'bin.dat'), Buffer.from([0, 1, 2, 255, 254]));
    const big = Buffer.alloc(300_000, 'x');
    await writeFile(path.join(src, 'deep', 'big.txt'), big);

    await session.putLocal(src, 'work/inputs');
    expect((await session.exec('cd "$HOME/work/inputs" && ./run.sh && find . | sort')).stdout).to.equal(
      'ran\n.\n./deep\n./deep/big.txt\n./deep/er\n./deep/er/bin.dat\n./empty\n./run.sh\n./top.txt\n',
    );
    await session.putLocal(path.join(src, 'top.txt'), 'work/single/copy.txt');
    expect((await session.readFile('work/single/copy.txt'))?.toString()).to.equal('top\n');

    const back = path.join(local, 'back');
    await session.getLocal('work/inputs', back);
    expect(await readFile(path.join(back, 'top.txt'), 'utf8')).to.equal('top\n');
    expect([...(await readFile(path.join(back, 'deep', 'er', 'bin.dat')))]).to.deep.equal([0, 1, 2, 255, 254]);
    expect((await readFile(path.join(back, 'deep', 'big.txt'))).equals(big)).to.equal(true);
    expect((await stat(path.join(back, 'run.sh'))).mode & 0o777).to.equal(0o755);
    expect((await stat(path.join(back, 'empty'))).isDirectory()).to.equal(true);
    await session.getLocal('work/single/copy.txt', path.join(local, 'one', 'copy.txt'));
    expect(await readFile(path.join(local, 'one', 'copy.txt'), 'utf8')).to.equal('top\n');
  });

  it('classifies a missing path as PermanentError', async function () {
    expect(await rejection(session.getLocal('no/such/thing', path.join(local, 'x')))).to.be.instanceOf(PermanentError);
    expect(await rejection(session.putLocal(path.join(local, 'no-such'), 'x'))).to.be.instanceOf(PermanentError);
  });

  it('fails calls after close() with a TransientError', async function () {
    const s = await connectSsh(inst.target);
    s.close();
    expect(await rejection(s.exec('true'))).to.be.instanceOf(TransientError);
    expect(await rejection(s.readFile('x'))).to.be.instanceOf(TransientError);
  });
});
