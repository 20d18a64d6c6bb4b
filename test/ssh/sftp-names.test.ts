/**
 * SFTP names checked in both directions: a server's listing with a name that
 * would leave the download folder is refused and nothing lands outside it; a
 * symbolic link does not carry a copy out of its folder either way.
 */
import { expect } from 'chai';
import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PermanentError } from '../../shared/errors.js';
import { download } from '../../services/remote/transfer.js';
import { checkEntryName } from '../../services/ssh/sftp.js';
import { connectSsh, openSshClient, type SshSession } from '../../services/ssh/ssh.js';
import { rejection, startForger, startInstance, type FakeSsh, type TestInstance } from '../step/helpers.js';

describe('step/sftp: names and links', function () {
  let forger: FakeSsh;
  let inst: TestInstance;
  let session: SshSession;
  let work: string;

  const HOSTILE = ['../x', 'a/../../x', '/tmp/abs-x', 'nul\0x', 'sub/x'];

  before(async function () {
    const tree: Record<string, { dir: string[] } | { file: string }> = {
      '/home/ec2-user/ok': { dir: ['fine.txt'] },
      '/home/ec2-user/ok/fine.txt': { file: 'fine\n' },
    };
    HOSTILE.forEach((name, i) => (tree[`/home/ec2-user/out${i}`] = { dir: ['aaa-first.txt', name] }));
    tree['/home/ec2-user/nested'] = { dir: ['inner'] };
    tree['/home/ec2-user/nested/inner'] = { dir: ['../../x'] };
    // A listing that never ends: deep/d/d/d/... (what a symbolic link loop looks like to a client).
    for (let i = 0, p = '/home/ec2-user/deep'; i < 100; i++, p += '/d') tree[p] = { dir: ['d'] };
    forger = await startForger(tree);
    inst = await startInstance();
    session = await connectSsh(inst.target);
    work = await mkdtemp(path.join(tmpdir(), 'spotbatch-sftp-names-'));
  });
  after(async function () {
    session?.close();
    await inst?.close();
    await forger?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  const target = () => ({ ...inst.target, host: forger.host, port: forger.port, hostPublicKey: forger.hostPublicKey });

  it('checkEntryName: one path component only', function () {
    for (const bad of ['', '.', '..', '../x', 'a/b', '/abs', 'nul\0', 'x/']) {
      expect(() => checkEntryName(bad, '/d'), JSON.stringify(bad)).to.throw(PermanentError, JSON.stringify(bad));
    }
    for (const good of ['a', '.hidden', '..dots', 'a b', 'ünï', 'back\\slash', '-n']) expect(checkEntryName(good, '/d')).to.equal(good);
  });

  it('a download keeps no setuid/setgid/sticky bit and no group/other write of the server\'s modes', async function () {
    const made = await session.exec('mkdir -p "$HOME/modes" && cd "$HOME/modes" && : > suid && chmod 4777 suid && : > open && chmod 666 open && : > plain && chmod 640 plain && echo ok');
    expect(made.stdout.trim(), made.stderr).to.equal('ok');
    const local = path.join(work, 'modes');
    await session.getLocal('modes', local);
    const modeOf = async (name: string): Promise<number> => (await stat(path.join(local, name))).mode & 0o7777;
    expect((await modeOf('suid')).toString(8)).to.equal('755');
    expect((await modeOf('open')).toString(8)).to.equal('644');
    expect((await modeOf('plain')).toString(8)).to.equal('640');
  });

  it('step getLocal: a hostile name from the server is refused, naming it; nothing is written outside the folder', async function () {
    const hostile = await connectSsh(target());
    try {
      // The server itself is fine with a normal tree.
      await hostile.getLocal('ok', path.join(work, 'ok'));
      expect(await readdir(path.join(work, 'ok'))).to.deep.equal(['fine.txt']);
      for (const [i, name] of HOSTILE.entries()) {
        const dest = path.join(work, 'step', `d${i}`, 'into');
        const err = await rejection(hostile.getLocal(`out${i}`, dest));
        expect(err, name).to.be.instanceOf(PermanentError);
        expect((err as Error).message).to.include(JSON.stringify(name));
        // Nothing of the listing was copied, and nothing landed beside or above the folder.
        expect(existsSync(path.join(dest, 'aaa-first.txt'))).to.equal(false);
        expect(await readdir(path.join(work, 'step', `d${i}`))).to.deep.equal(['into']);
      }
      const deep = path.join(work, 'step', 'nested', 'into');
      expect(await rejection(hostile.getLocal('nested', deep))).to.be.instanceOf(PermanentError);
      expect(await readdir(path.join(work, 'step', 'nested'))).to.deep.equal(['into']);
      expect(existsSync('/tmp/abs-x')).to.equal(false);
    } finally {
      hostile.close();
    }
  });

  it('CLI download: the same names refused, nothing outside the folder', async function () {
    const client = await openSshClient(target());
    try {
      for (const [i, name] of HOSTILE.entries()) {
        const dest = path.join(work, 'cli', `d${i}`);
        await mkdir(dest, { recursive: true });
        const err = await rejection(download(client, 'forger', `out${i}`, dest));
        expect(err, name).to.be.instanceOf(PermanentError);
        expect((err as Error).message).to.include(JSON.stringify(name));
        // Into an existing folder: the copy is dest/out<i>, which holds nothing.
        expect(await readdir(dest)).to.deep.equal([`out${i}`]);
        expect(await readdir(path.join(dest, `out${i}`))).to.deep.equal([]);
      }
      expect(await readdir(path.join(work, 'cli'))).to.have.members(HOSTILE.map((_, i) => `d${i}`));
    } finally {
      client.end();
    }
  });

  it('download does not write through a local symbolic link below the folder', async function () {
    const outside = path.join(work, 'outside');
    await mkdir(outside, { recursive: true });
    await session.putFile('linked/victim.txt', 'from the instance\n');
    const dest = path.join(work, 'linkdest');
    await mkdir(dest, { recursive: true });
    await symlink(path.join(outside, 'victim.txt'), path.join(dest, 'victim.txt'));
    const err = await rejection(session.getLocal('linked', dest));
    expect(err).to.be.instanceOf(PermanentError);
    expect((err as Error).message).to.match(/symbolic link/);
    expect(existsSync(path.join(outside, 'victim.txt'))).to.equal(false);
  });

  it('upload refuses a symbolic link out of the folder (a link inside it is followed)', async function () {
    const secret = path.join(work, 'secret.txt');
    await writeFile(secret, 'dispatcher secret\n');
    const src = path.join(work, 'src');
    await mkdir(src, { recursive: true });
    await writeFile(path.join(src, 'a.txt'), 'a\n');
    await symlink('a.txt', path.join(src, 'also-a.txt'));
    await session.putLocal(src, 'up/inside');
    expect((await session.readFile('up/inside/also-a.txt'))?.toString()).to.equal('a\n');
    await symlink(secret, path.join(src, 'leak.txt'));
    const err = await rejection(session.putLocal(src, 'up/leaky'));
    expect(err).to.be.instanceOf(PermanentError);
    expect((err as Error).message).to.match(/leak\.txt is a symbolic link out of the folder/);
    expect(await session.readFile('up/leaky/leak.txt')).to.equal(undefined);
  });

  it('a tree deeper than any real one (a server looping its listing) is refused, not followed for ever', async function () {
    const hostile = await connectSsh(target());
    try {
      const err = await rejection(hostile.getLocal('deep', path.join(work, 'deep')));
      expect(err, String(err)).to.be.instanceOf(PermanentError);
      expect((err as Error).message).to.match(/folders deep/);
    } finally {
      hostile.close();
    }
  });
});
