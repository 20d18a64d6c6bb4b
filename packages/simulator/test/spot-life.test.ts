/**
 * The whole life of a spot instance through the SDK, SSH and the metadata
 * service: request, fulfilled, running, SSH exec with the key pair (a wrong
 * key refused), SFTP round trip, interrupt (instance-action on the metadata
 * service before termination, process killed after), request closed with
 * instance-terminated-no-capacity.
 */
import { expect } from 'chai';
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import {
  AuthorizeSecurityGroupIngressCommand,
  CancelSpotInstanceRequestsCommand,
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSpotInstanceRequestsCommand,
  RequestSpotInstancesCommand,
} from '@aws-sdk/client-ec2';
import ssh2 from 'ssh2';
import type { Client as SshClient, ConnectConfig } from 'ssh2';
import { errorOf, startHarness, waitFor } from './helpers.js';
import type { Harness } from './helpers.js';

function connect(config: ConnectConfig): Promise<SshClient> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.connect({ readyTimeout: 10_000, ...config });
  });
}

function exec(c: SshClient, command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    c.exec(command, (err, stream) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      let code: number | null = null;
      stream.on('data', (d: Buffer) => (stdout += d.toString()));
      stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      stream.on('exit', (c: number | null) => (code = c));
      stream.on('close', () => resolve({ code, stdout, stderr }));
    });
  });
}

function imds(ip: string, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: ip, port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('imds timeout')));
  });
}

describe('simulator: the life of a spot instance', function () {
  this.timeout(90_000);
  let h: Harness;

  before(async () => {
    // 20 simulated seconds per real second: the 2-minute notice lasts 6 real seconds
    h = await startHarness({ timeScale: 20, launchLatency: { kind: 'fixed', seconds: 20 } });
  });
  after(async () => {
    await h?.close();
  });

  it('requests, runs, serves SSH/SFTP/metadata, and is interrupted with notice', async () => {
    const { ec2 } = h;
    const key = await ec2.send(new CreateKeyPairCommand({ KeyName: 'life', KeyType: 'ed25519' }));
    const wrongKey = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    const sg = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'life-ssh', Description: 'ssh from loopback' }));
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({
        GroupId: sg.GroupId,
        IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '127.0.0.0/8' }] }],
      }),
    );
    const images = await ec2.send(
      new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'name', Values: ['al2023-ami-2023.*-x86_64'] }] }),
    );
    const imageId = images.Images?.[0]?.ImageId;
    expect(imageId).to.match(/^ami-/);

    const requested = await ec2.send(
      new RequestSpotInstancesCommand({
        InstanceCount: 1,
        SpotPrice: '1.00',
        LaunchSpecification: { ImageId: imageId, InstanceType: 'm5.large', KeyName: 'life', SecurityGroupIds: [sg.GroupId!] },
        TagSpecifications: [{ ResourceType: 'spot-instances-request', Tags: [{ Key: 'job', Value: 'life' }] }],
      }),
    );
    const sir = requested.SpotInstanceRequests?.[0];
    expect(sir?.SpotInstanceRequestId).to.match(/^sir-[0-9a-z]{8}$/);
    expect(sir?.State).to.equal('open');
    expect(sir?.Status?.Code).to.equal('pending-evaluation');
    expect(sir?.Tags).to.deep.equal([{ Key: 'job', Value: 'life' }]);

    const fulfilled = await waitFor('fulfilment', async () => {
      const d = await ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sir!.SpotInstanceRequestId!] }));
      const r = d.SpotInstanceRequests?.[0];
      return r?.State === 'active' && r.Status?.Code === 'fulfilled' ? r : undefined;
    });
    const instanceId = fulfilled.InstanceId!;
    expect(instanceId).to.match(/^i-[0-9a-f]{17}$/);

    const running = await waitFor('running', async () => {
      const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      const i = d.Reservations?.[0]?.Instances?.[0];
      return i?.State?.Name === 'running' ? i : undefined;
    });
    expect(running.InstanceLifecycle).to.equal('spot');
    expect(running.SpotInstanceRequestId).to.equal(sir!.SpotInstanceRequestId);
    const ip = running.PublicIpAddress!;
    expect(ip).to.match(/^127\.\d+\.\d+\.\d+$/).and.not.equal('127.0.0.1');
    expect(running.PrivateIpAddress).to.equal(ip);

    // a wrong key is refused
    const refused = await connect({ host: ip, port: h.sim.sshPort, username: 'ec2-user', privateKey: wrongKey.privateKey }).then(
      (c) => {
        c.end();
        return undefined;
      },
      (err: Error) => err,
    );
    expect(refused, 'login with a wrong key').to.be.instanceOf(Error);
    expect(String(refused)).to.match(/authentication/i);

    const ssh = await connect({ host: ip, port: h.sim.sshPort, username: 'ec2-user', privateKey: key.KeyMaterial! });
    try {
      const hello = await exec(ssh, 'echo hello; echo oops >&2; exit 3');
      expect(hello.stdout.trim()).to.equal('hello');
      expect(hello.stderr.trim()).to.equal('oops');
      expect(hello.code).to.equal(3);

      // SFTP round trip
      const sftp = await new Promise<ssh2.SFTPWrapper>((resolve, reject) => ssh.sftp((err, s) => (err ? reject(err) : resolve(s))));
      await new Promise<void>((resolve, reject) => sftp.writeFile('round-trip.txt', 'spot data', (err) => (err ? reject(err) : resolve())));
      const back = await new Promise<string>((resolve, reject) =>
        sftp.readFile('round-trip.txt', (err, data) => (err ? reject(err) : resolve(data.toString()))),
      );
      expect(back).to.equal('spot data');
      sftp.end();

      // a long-running process, to be killed by the interruption (and not before: its simulated end time)
      let sleeperEndedAt: number | undefined;
      const sleeper = new Promise<{ code: number | null; signal?: string }>((resolve, reject) => {
        ssh.exec('echo started; sleep 600; echo survived', (err, stream) => {
          if (err) return reject(err);
          let out = '';
          let code: number | null = null;
          let signal: string | undefined;
          stream.on('data', (d: Buffer) => (out += d.toString()));
          stream.on('exit', (c: number | null, s?: string) => {
            code = c;
            signal = s;
          });
          stream.on('close', () => {
            sleeperEndedAt = h.sim.clock.now();
            expect(out).to.not.contain('survived');
            resolve({ code, signal });
          });
        });
      }).catch((err: unknown) => ({ code: null, signal: String(err) }));

      const before = await imds(ip, h.sim.imdsPort, '/latest/meta-data/spot/instance-action');
      expect(before.status).to.equal(404);

      const interrupted = await h.admin<{ terminationTime: string }>('POST', `/_sim/instances/${instanceId}/interrupt`);
      expect(interrupted.status).to.equal(200);

      const action = await imds(ip, h.sim.imdsPort, '/latest/meta-data/spot/instance-action');
      expect(action.status).to.equal(200);
      const parsed = JSON.parse(action.body) as { action: string; time: string };
      expect(parsed.action).to.equal('terminate');
      expect(Date.parse(parsed.time)).to.be.greaterThan(Date.now() - 10_000);

      const marked = await ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sir!.SpotInstanceRequestId!] }));
      expect(marked.SpotInstanceRequests?.[0]?.Status?.Code).to.equal('marked-for-termination');
      const stillRunning = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      expect(stillRunning.Reservations?.[0]?.Instances?.[0]?.State?.Name).to.equal('running');
      expect(sleeperEndedAt, 'the process lives through the notice').to.equal(undefined);

      // The bound's timer is cleared once the race is over: left armed, it held the event loop 30 s after the suite.
      let bound: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        sleeper,
        new Promise<undefined>((resolve) => {
          bound = setTimeout(() => resolve(undefined), 30_000);
        }),
      ]).finally(() => clearTimeout(bound));
      expect(ended, 'the running process ends with the instance').to.not.equal(undefined);
      // killed at the termination time the notice gave (one simulated second of slack for the timer)
      expect(sleeperEndedAt).to.be.at.least(Date.parse(interrupted.body.terminationTime) - 1000);
    } finally {
      ssh.end();
    }

    const terminated = await waitFor('terminated', async () => {
      const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      const i = d.Reservations?.[0]?.Instances?.[0];
      return i?.State?.Name === 'terminated' ? i : undefined;
    });
    expect(terminated.StateReason?.Code).to.equal('Server.SpotInstanceTermination');
    const closed = await ec2.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sir!.SpotInstanceRequestId!] }));
    expect(closed.SpotInstanceRequests?.[0]?.State).to.equal('closed');
    expect(closed.SpotInstanceRequests?.[0]?.Status?.Code).to.equal('instance-terminated-no-capacity');

    // the address no longer answers SSH
    const gone = await errorOf(connect({ host: ip, port: h.sim.sshPort, username: 'ec2-user', privateKey: key.KeyMaterial!, readyTimeout: 3000 }));
    expect(gone).to.be.instanceOf(Error);

    // clean up through the API: nothing left in the inventory
    await ec2.send(new CancelSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [sir!.SpotInstanceRequestId!] }));
    await ec2.send(new DeleteSecurityGroupCommand({ GroupId: sg.GroupId }));
    await ec2.send(new DeleteKeyPairCommand({ KeyName: 'life' }));
    const inv = await h.admin<Record<string, unknown[]>>('GET', '/_sim/inventory');
    for (const [kind, list] of Object.entries(inv.body)) expect(list, kind).to.deep.equal([]);
  });
});
