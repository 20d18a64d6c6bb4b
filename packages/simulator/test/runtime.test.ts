import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ssh2, { type ClientChannel, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { createInstanceRuntime, generateEd25519KeyPair, type InstanceRuntime, type InstanceSpec } from '../src/runtime/index.js';
import { mountNamespaceWorks } from '../src/runtime/namespace.js';

const BOUND_MS = 10_000;

/** A distinct 127.77.x.y per instance, different in each test process. */
let nextHost = 1;
const subnet = (process.pid % 200) + 20;
function nextIp(): string {
  return `127.77.${subnet}.${nextHost++}`;
}

function keyPair(): { privateKey: string; publicKey: string } {
  const pair = generateEd25519KeyPair();
  return { privateKey: pair.private, publicKey: pair.public };
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, ms = BOUND_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // A killed process whose parent never reaps it lingers as a zombie: dead all the same.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

interface ExecResult {
  code: number | null;
  signal?: string;
  stdout: string;
  stderr: string;
}

function connect(config: ConnectConfig): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    client.once('ready', () => resolve(client));
    client.once('error', (err) => reject(err));
    client.once('close', () => reject(new Error('connection closed before authentication')));
    client.connect({ readyTimeout: BOUND_MS, ...config });
  });
}

function execStream(client: ssh2.Client, command: string, env?: Record<string, string>): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    client.exec(command, env ? { env } : {}, (err, stream) => (err ? reject(err) : resolve(stream)));
  });
}

function collect(stream: ClientChannel): Promise<ExecResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let code: number | null = null;
    let signal: string | undefined;
    stream.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    stream.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    stream.on('exit', (exitCode: number | null, exitSignal?: string) => {
      code = exitCode;
      signal = exitSignal;
    });
    stream.on('close', () => resolve({ code, signal, stdout, stderr }));
  });
}

async function exec(client: ssh2.Client, command: string, env?: Record<string, string>): Promise<ExecResult> {
  return collect(await execStream(client, command, env));
}

function sftpOf(client: ssh2.Client): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => client.sftp((err, sftp) => (err ? reject(err) : resolve(sftp))));
}

/** Promisify one SFTP call: `call(sftp, cb)`. */
function sftpCall<T = void>(run: (cb: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value as T))));
}

interface HttpResult {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

function http(ip: string, port: number, method: string, pathname: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({ host: ip, port, method, path: pathname, headers, timeout: BOUND_MS, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('timeout', () => req.destroy(new Error('http timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('simulator instance runtime', function () {
  this.timeout(30_000);

  let sandboxRoot: string;
  let runtime: InstanceRuntime;
  const clients: ssh2.Client[] = [];
  const key = keyPair();

  function spec(overrides: Partial<InstanceSpec> = {}): InstanceSpec {
    return {
      instanceId: `i-0${Math.random().toString(16).slice(2, 18).padEnd(16, '0')}`,
      region: 'eu-west-1',
      availabilityZone: 'eu-west-1b',
      instanceType: 'm7g.large',
      imageId: 'ami-0123456789abcdef0',
      ip: nextIp(),
      authorizedKeys: [key.publicKey],
      loginUser: 'ec2-user',
      spot: true,
      launchTime: new Date('2026-11-22T05:00:00Z'),
      ...overrides,
    };
  }

  async function started(overrides: Partial<InstanceSpec> = {}): Promise<InstanceSpec> {
    const s = spec(overrides);
    await runtime.start(s);
    return s;
  }

  async function login(s: InstanceSpec, config: Partial<ConnectConfig> = {}): Promise<ssh2.Client> {
    const client = await connect({ host: s.ip, port: runtime.sshPort, username: 'ec2-user', privateKey: key.privateKey, ...config });
    clients.push(client);
    return client;
  }

  beforeEach(async () => {
    sandboxRoot = await mkdtemp(path.join(tmpdir(), 'spotbatch-runtime-'));
    runtime = await createInstanceRuntime({ sandboxRoot, sshPort: 0, imdsPort: 0 });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.end();
    await runtime.close();
    await rm(sandboxRoot, { recursive: true, force: true });
  });

  it('picks one SSH and one metadata port for every instance when asked for port 0', () => {
    expect(runtime.sshPort).to.be.greaterThan(0);
    expect(runtime.imdsPort).to.be.greaterThan(0);
    expect(runtime.sshPort).to.not.equal(runtime.imdsPort);
  });

  describe('SSH', () => {
    it('runs a command with its exit code, stdout and stderr, in the sandbox home', async () => {
      const s = await started();
      const client = await login(s);
      const result = await exec(client, 'echo out; echo err >&2; exit 3');
      expect(result).to.include({ code: 3, stdout: 'out\n', stderr: 'err\n' });

      const env = await exec(client, 'pwd; echo "$HOME"; echo "$AWS_EC2_METADATA_SERVICE_ENDPOINT"; echo "$USER"; echo "$GREETING"', { GREETING: 'hello' });
      const home = path.join(await realSandboxRoot(), s.instanceId, 'home', 'ec2-user');
      expect(env.stdout.split('\n')).to.deep.equal([home, home, `http://${s.ip}:${runtime.imdsPort}/`, 'ec2-user', 'hello', '']);
      expect(env.code).to.equal(0);
    });

    it('accepts an RSA launch key (rsa-sha2 signatures)', async () => {
      const rsa = ssh2.utils.generateKeyPairSync('rsa', { bits: 2048 });
      const s = await started({ authorizedKeys: ['ssh-ed25519 AAAAnot-a-key', `${rsa.public.trim()} launch-key`] });
      const client = await login(s, { privateKey: rsa.private });
      expect((await exec(client, 'echo rsa')).stdout).to.equal('rsa\n');
    });

    it('refuses a key that is not the launch key', async () => {
      const s = await started();
      const other = keyPair();
      let error: unknown;
      await login(s, { privateKey: other.privateKey }).catch((err: unknown) => (error = err));
      expect(String(error)).to.match(/authentication methods failed/i);
    });

    it('refuses a user other than the login user', async () => {
      const s = await started();
      let error: unknown;
      await login(s, { username: 'root' }).catch((err: unknown) => (error = err));
      expect(String(error)).to.match(/authentication methods failed/i);
    });

    it('drops the connection when the security groups say no', async () => {
      const asked: Array<[string, number]> = [];
      const s = await started({
        allowIngress: (source, port) => {
          asked.push([source, port]);
          return false;
        },
      });
      let error: unknown;
      await login(s).catch((err: unknown) => (error = err));
      expect(error).to.be.instanceOf(Error);
      expect(asked).to.deep.equal([['127.0.0.1', 22]]);
    });

    it('forwards a signal sent over the channel to the command', async () => {
      const s = await started();
      const client = await login(s);
      const stream = await execStream(client, `trap 'echo trapped > "$HOME/signal.txt"; exit 7' TERM; echo ready; while :; do sleep 0.1; done`);
      const done = collect(stream);
      let seen = '';
      stream.on('data', (chunk: Buffer) => (seen += chunk.toString()));
      await until('the command to start', () => seen.includes('ready'));
      stream.signal('TERM');
      const result = await done;
      expect(result.code).to.equal(7);
      const file = path.join(await realSandboxRoot(), s.instanceId, 'home', 'ec2-user', 'signal.txt');
      expect(await readFile(file, 'utf8')).to.equal('trapped\n');
    });

    it('reports the signal that killed a command', async () => {
      const s = await started();
      const client = await login(s);
      const result = await exec(client, 'kill -KILL $$');
      expect(result.code).to.equal(null);
      expect(result.signal).to.equal('SIGKILL');
    });

    it('closes the pipes when the client closes the channel, so a writing command gets SIGPIPE', async () => {
      const s = await started();
      const client = await login(s);
      const stream = await execStream(client, 'echo $$; exec yes');
      const pid = await new Promise<number>((resolve) => stream.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().split('\n')[0]))));
      expect(pid).to.be.greaterThan(1);
      stream.close();
      await until('the writer to die', () => !alive(pid));
    });

    it('serves a pipe-backed interactive shell when a pty is requested', async () => {
      const s = await started();
      const client = await login(s);
      const stream = await new Promise<ClientChannel>((resolve, reject) =>
        client.shell({ term: 'xterm', cols: 80, rows: 24 }, (err, channel) => (err ? reject(err) : resolve(channel))),
      );
      let seen = '';
      stream.on('data', (chunk: Buffer) => (seen += chunk.toString()));
      const done = collect(stream);
      stream.write('echo shell-$((6*7)) "$TERM" "$COLUMNS"x"$LINES" "$(cat "$SPOTBATCH_TTY_SIZE")"\r');
      // The first answer before the resize, so it shows the size the pty was opened with.
      await until('the first answer', () => seen.includes('shell-42'));
      stream.setWindow(40, 120, 0, 0);
      // The window change goes before the next line on the same connection, so the shell reads the new size.
      stream.write('echo now "$(cat "$SPOTBATCH_TTY_SIZE")"\r');
      stream.write('exit 0\r');
      const result = await done;
      expect(result.stdout).to.include('shell-42 xterm 80x24 24 80\r\n');
      expect(result.stdout).to.include('now 40 120\r\n');
      expect(result.code).to.equal(0);
      const sandboxTmp = path.join(await realSandboxRoot(), s.instanceId, 'tmp');
      await until('the size file to go with the session', async () => ((await readdir(sandboxTmp)).some((f) => f.startsWith('.tty-size-')) ? undefined : true));
    });

    it('runs a shell without a pty as plain /bin/sh reading its commands', async () => {
      const s = await started();
      const client = await login(s);
      const stream = await new Promise<ClientChannel>((resolve, reject) =>
        client.shell(false, (err, channel) => (err ? reject(err) : resolve(channel))),
      );
      const done = collect(stream);
      stream.end('echo plain-$((2+3))\nexit 4\n');
      const result = await done;
      expect(result).to.include({ code: 4, stdout: 'plain-5\n', stderr: '' });
    });

    it('keeps instances apart: each address answers for its own instance only', async () => {
      const a = await started();
      const b = await started({ authorizedKeys: [keyPair().publicKey] });
      const client = await login(a);
      expect((await exec(client, 'echo "$SPOTBATCH_SANDBOX"')).stdout.trim()).to.equal(path.join(await realSandboxRoot(), a.instanceId));
      let error: unknown;
      await login(b).catch((err: unknown) => (error = err));
      expect(String(error)).to.match(/authentication methods failed/i);
      expect((await http(b.ip, runtime.imdsPort, 'GET', '/latest/meta-data/instance-id')).body).to.equal(b.instanceId);
      let duplicate: unknown;
      await runtime.start({ ...spec(), ip: a.ip }).catch((err: unknown) => (duplicate = err));
      expect(String(duplicate)).to.match(/already used/);
    });
  });

  describe('SFTP', () => {
    it('puts, lists, stats, renames, gets and removes files in the sandbox', async () => {
      const s = await started();
      const client = await login(s);
      const sftp = await sftpOf(client);
      const local = path.join(sandboxRoot, 'local-input.txt');
      await writeFile(local, 'payload 123\n');

      await sftpCall((cb) => sftp.mkdir('/home/ec2-user/work', cb));
      await sftpCall((cb) => sftp.fastPut(local, '/home/ec2-user/work/input.txt', cb));
      const names = await sftpCall<Array<{ filename: string }>>((cb) => sftp.readdir('work', cb));
      expect(names.map((entry) => entry.filename)).to.deep.equal(['input.txt']);
      const stats = await sftpCall<{ size: number; isFile(): boolean }>((cb) => sftp.stat('/home/ec2-user/work/input.txt', cb));
      expect(stats.size).to.equal(12);
      expect(stats.isFile()).to.equal(true);
      await sftpCall((cb) => sftp.chmod('work/input.txt', 0o600, cb));

      // The command sees the uploaded file under its home.
      const cat = await exec(client, 'cat work/input.txt && stat -c %a "$HOME/work/input.txt"');
      expect(cat.stdout).to.equal('payload 123\n600\n');

      await sftpCall((cb) => sftp.rename('work/input.txt', 'work/renamed.txt', cb));
      const back = path.join(sandboxRoot, 'local-output.txt');
      await sftpCall((cb) => sftp.fastGet('/home/ec2-user/work/renamed.txt', back, cb));
      expect(await readFile(back, 'utf8')).to.equal('payload 123\n');
      const home = await sftpCall<string>((cb) => sftp.realpath('.', cb));
      expect(home).to.equal('/home/ec2-user');

      await sftpCall((cb) => sftp.unlink('work/renamed.txt', cb));
      await sftpCall((cb) => sftp.rmdir('work', cb));
      const gone = await sftpCall<unknown>((cb) => sftp.stat('work', cb)).catch((err: { code?: number }) => err.code);
      expect(gone).to.equal(ssh2.utils.sftp.STATUS_CODE.NO_SUCH_FILE);
    });

    it('refuses paths that leave the sandbox, by .. or by symlink', async () => {
      const s = await started();
      const client = await login(s);
      const sftp = await sftpOf(client);
      const denied = ssh2.utils.sftp.STATUS_CODE.PERMISSION_DENIED;
      const codeOf = (run: (cb: (err: Error | null | undefined, value?: unknown) => void) => void): Promise<unknown> =>
        sftpCall<unknown>(run).then(
          () => 'ok',
          (err: { code?: number }) => err.code,
        );
      expect(await codeOf((cb) => sftp.stat('/../../../../etc/passwd', cb))).to.equal(denied);
      expect(await codeOf((cb) => sftp.stat('../../../../../../etc/passwd', cb))).to.equal(denied);
      expect(await codeOf((cb) => sftp.open('../../../../escape.txt', 'w', (err) => cb(err)))).to.equal(denied);
      await exec(client, 'ln -s /etc outside');
      expect(await codeOf((cb) => sftp.stat('outside/passwd', cb))).to.equal(denied);
      expect(await codeOf((cb) => sftp.readdir('outside', (err) => cb(err)))).to.equal(denied);
      // An absolute path the instance knows stays inside: /tmp is the sandbox's tmp.
      await sftpCall((cb) => sftp.writeFile('/tmp/inside.txt', 'x', cb));
      expect(existsSync(path.join(await realSandboxRoot(), s.instanceId, 'tmp', 'inside.txt'))).to.equal(true);
    });
  });

  describe('instance metadata service', () => {
    it('answers IMDSv2 with a token, IMDSv1 without, and 401 for a wrong token', async () => {
      const s = await started({ iamRoleName: 'spotbatch-job-role' });
      const port = runtime.imdsPort;
      const token = await http(s.ip, port, 'PUT', '/latest/api/token', { 'X-aws-ec2-metadata-token-ttl-seconds': '60' });
      expect(token.status).to.equal(200);
      const withToken = { 'X-aws-ec2-metadata-token': token.body };

      expect(await http(s.ip, port, 'GET', '/latest/meta-data/instance-id', withToken)).to.include({ status: 200, body: s.instanceId });
      expect(await http(s.ip, port, 'GET', '/latest/meta-data/instance-id')).to.include({ status: 200, body: s.instanceId });
      const wrong = await http(s.ip, port, 'GET', '/latest/meta-data/instance-id', { 'X-aws-ec2-metadata-token': 'AQAEAnot-a-token' });
      expect(wrong.status).to.equal(401);
      expect((await http(s.ip, port, 'PUT', '/latest/api/token')).status).to.equal(400);

      const get = async (p: string): Promise<string> => {
        const res = await http(s.ip, port, 'GET', p, withToken);
        expect(res.status, p).to.equal(200);
        return res.body;
      };
      expect(await get('/latest/meta-data/instance-type')).to.equal('m7g.large');
      expect(await get('/latest/meta-data/ami-id')).to.equal(s.imageId);
      expect(await get('/latest/meta-data/placement/availability-zone')).to.equal('eu-west-1b');
      expect(await get('/latest/meta-data/placement/region')).to.equal('eu-west-1');
      expect(await get('/latest/meta-data/public-ipv4')).to.equal(s.ip);
      expect(await get('/latest/meta-data/local-ipv4')).to.equal(s.ip);
      expect((await get('/latest/meta-data/')).split('\n')).to.include.members(['instance-id', 'placement/', 'iam/']);
      expect(await get('/latest/meta-data/iam/security-credentials/')).to.equal('spotbatch-job-role');
      const creds = JSON.parse(await get('/latest/meta-data/iam/security-credentials/spotbatch-job-role')) as Record<string, string>;
      expect(creds.Code).to.equal('Success');
      expect(creds.AccessKeyId).to.match(/^ASIA[A-Z2-7]{16}$/);
      expect(creds.SecretAccessKey).to.have.length(40);
      expect(creds.Token).to.be.a('string').and.not.empty;
      expect(Date.parse(creds.Expiration ?? '')).to.be.greaterThan(Date.now());
      const identity = JSON.parse(await get('/latest/dynamic/instance-identity/document')) as Record<string, unknown>;
      expect(identity).to.include({ instanceId: s.instanceId, region: 'eu-west-1', architecture: 'arm64', privateIp: s.ip });

      const unknown = await http(s.ip, port, 'GET', '/latest/meta-data/no-such-thing', withToken);
      expect(unknown.status).to.equal(404);
      expect(unknown.body).to.include('404 - Not Found');
    });

    it('shows spot/instance-action, spot/termination-time and the rebalance recommendation only once given', async () => {
      const s = await started();
      const port = runtime.imdsPort;
      for (const p of ['spot/instance-action', 'spot/termination-time', 'events/recommendations/rebalance']) {
        expect((await http(s.ip, port, 'GET', `/latest/meta-data/${p}`)).status, p).to.equal(404);
      }
      runtime.rebalance(s.instanceId, new Date('2026-11-22T05:10:00.123Z'));
      expect((await http(s.ip, port, 'GET', '/latest/meta-data/events/recommendations/rebalance')).body).to.equal(
        '{"noticeTime":"2026-11-22T05:10:00Z"}',
      );
      runtime.notice(s.instanceId, { action: 'terminate', time: new Date('2026-11-22T05:12:00Z') });
      const action = await http(s.ip, port, 'GET', '/latest/meta-data/spot/instance-action');
      expect(action).to.include({ status: 200, body: '{"action":"terminate","time":"2026-11-22T05:12:00Z"}' });
      expect((await http(s.ip, port, 'GET', '/latest/meta-data/spot/termination-time')).body).to.equal('2026-11-22T05:12:00Z');
    });

    it('is reachable from a command through AWS_EC2_METADATA_SERVICE_ENDPOINT', async function () {
      const s = await started();
      const client = await login(s);
      const script = `fetch(process.env.AWS_EC2_METADATA_SERVICE_ENDPOINT + 'latest/meta-data/instance-id').then(r => r.text()).then(t => process.stdout.write(t))`;
      const result = await exec(client, `"${process.execPath}" -e "${script.replaceAll('"', '\\"')}"`);
      expect(result.stdout).to.equal(s.instanceId);
    });
  });

  describe('stop', () => {
    it('kills every process of the instance, closes SSH and the listeners, removes the sandbox; idempotent', async () => {
      const s = await started();
      const client = await login(s);
      const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      const result = await exec(
        client,
        'sleep 600 >/dev/null 2>&1 & echo $!; setsid sh -c "sleep 600 & wait" >/dev/null 2>&1 & echo $!',
      );
      const pids = result.stdout.trim().split('\n').map(Number);
      expect(pids).to.have.length(2);
      for (const pid of pids) expect(alive(pid), `pid ${pid} before stop`).to.equal(true);

      await runtime.stop(s.instanceId);
      await until('the processes to die', () => pids.every((pid) => !alive(pid)));
      await until('the SSH connection to close', () => closed.then(() => true));
      // The setsid'd shell's own child (a grandchild in another session) is gone too.
      expect(existsSync(path.join(await realSandboxRoot(), s.instanceId))).to.equal(false);
      const refused = await http(s.ip, runtime.imdsPort, 'GET', '/latest/meta-data/instance-id').catch((err: NodeJS.ErrnoException) => err.code);
      expect(refused).to.equal('ECONNREFUSED');

      await runtime.stop(s.instanceId);
      await runtime.stop('i-never-started');
    });

    it('close() kills the processes of every instance', async () => {
      const pids: number[] = [];
      for (let i = 0; i < 2; i++) {
        const s = await started();
        const client = await login(s);
        pids.push(Number((await exec(client, 'sleep 600 >/dev/null 2>&1 & echo $!')).stdout.trim()));
      }
      for (const pid of pids) expect(alive(pid)).to.equal(true);
      await runtime.close();
      await until('the processes to die', () => pids.every((pid) => !alive(pid)));
    });

    it('lets a stopped instance address be started again', async () => {
      const s = await started();
      await runtime.stop(s.instanceId);
      await runtime.start({ ...s, instanceId: 'i-0abcdef0123456789' });
      const res = await http(s.ip, runtime.imdsPort, 'GET', '/latest/meta-data/instance-id');
      expect(res.body).to.equal('i-0abcdef0123456789');
    });
  });

  describe('mount namespace mode', () => {
    let nsRuntime: InstanceRuntime | undefined;

    before(async function () {
      if (!(await mountNamespaceWorks())) this.skip();
    });

    afterEach(async () => {
      await nsRuntime?.close();
      nsRuntime = undefined;
    });

    it('shows commands /home/ec2-user and /tmp as the sandbox, and stop() still kills them', async () => {
      const local = await createInstanceRuntime({ sandboxRoot, sshPort: 0, imdsPort: 0, mountNamespace: true });
      nsRuntime = local;
      expect(local.mountNamespace).to.equal(true);
      const s = spec();
      await local.start(s);
      const client = await connect({ host: s.ip, port: local.sshPort, username: 'ec2-user', privateKey: key.privateKey });
      clients.push(client);
      const sftp = await sftpOf(client);
      await sftpCall((cb) => sftp.writeFile('/home/ec2-user/hello.txt', 'from sftp\n', cb));

      const result = await exec(client, 'pwd; echo "$HOME"; cat /home/ec2-user/hello.txt; echo from-exec > /tmp/out.txt; ls /home');
      expect(result.stdout).to.equal('/home/ec2-user\n/home/ec2-user\nfrom sftp\nec2-user\n');
      expect(result.code).to.equal(0);
      const written = await sftpCall<Buffer>((cb) => sftp.readFile('/tmp/out.txt', cb));
      expect(written.toString()).to.equal('from-exec\n');

      const pid = Number((await exec(client, 'sleep 600 >/dev/null 2>&1 & echo $!')).stdout.trim());
      expect(alive(pid)).to.equal(true);
      await local.stop(s.instanceId);
      await until('the process to die', () => !alive(pid));
    });
  });

  async function realSandboxRoot(): Promise<string> {
    const { realpath } = await import('node:fs/promises');
    return realpath(sandboxRoot);
  }
});
