/**
 * `npm run bench -- sim [--seconds 5] [--concurrency 8] [--instances 1000] [--notices 5] [--notice-scale 10]`
 *
 * The spot market simulator: API calls served per second (SDK client and raw
 * HTTP, DescribeInstances and DescribeSpotPriceHistory, on 127.0.0.1), memory
 * per running instance (heap and RSS delta for N instances, no SSH session
 * open), and notice-to-kill accuracy (a process started over SSH dies when
 * the notice said, measured against the simulated clock).
 */
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { DescribeImagesCommand, DescribeInstancesCommand, DescribeSpotPriceHistoryCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateKeyPairCommand, CreateSecurityGroupCommand, AuthorizeSecurityGroupIngressCommand } from '@aws-sdk/client-ec2';
import ssh2 from 'ssh2';
import { startSimulator } from '@spotbatch/simulator';

const credentials = { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' };

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : NaN;
  return Number.isFinite(v) ? v : fallback;
}

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function memory(): { heap: number; rss: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

async function loop(seconds: number, concurrency: number, call: () => Promise<unknown>): Promise<number> {
  const end = Date.now() + seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        await call();
        n++;
      }
    }),
  );
  return n / seconds;
}

function rawCall(endpoint: string, agent: http.Agent, body: string): Promise<void> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: '/',
        agent,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: 'AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0',
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function throughput(seconds: number, concurrency: number): Promise<Record<string, number>> {
  const sim = await startSimulator({ port: 0, sshPort: 0, timeScale: 60, launchLatency: { kind: 'fixed', seconds: 1 } });
  const ec2 = new EC2Client({ endpoint: sim.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  try {
    const image = (await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images![0]!.ImageId;
    await ec2.send(new RunInstancesCommand({ ImageId: image, InstanceType: 't3.micro', MinCount: 20, MaxCount: 20 }));
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    const out: Record<string, number> = {};
    out['DescribeInstances (20 instances), SDK'] = await loop(seconds, concurrency, () => ec2.send(new DescribeInstancesCommand({})));
    out['DescribeSpotPriceHistory (1 type, current), SDK'] = await loop(seconds, concurrency, () =>
      ec2.send(new DescribeSpotPriceHistoryCommand({ InstanceTypes: ['m5.large'], ProductDescriptions: ['Linux/UNIX'] })),
    );
    out['DescribeInstances (20 instances), raw HTTP'] = await loop(seconds, concurrency, () => rawCall(sim.endpoint, agent, 'Action=DescribeInstances&Version=2016-11-15'));
    out['DescribeSpotPriceHistory (1 type, current), raw HTTP'] = await loop(seconds, concurrency, () =>
      rawCall(sim.endpoint, agent, 'Action=DescribeSpotPriceHistory&Version=2016-11-15&InstanceType.1=m5.large&ProductDescription.1=Linux%2FUNIX'),
    );
    agent.destroy();
    return out;
  } finally {
    ec2.destroy();
    await sim.stop();
  }
}

async function waitRunning(endpoint: string, count: number): Promise<void> {
  for (;;) {
    const res = await fetch(`${endpoint}/_sim/inventory`);
    const inv = (await res.json()) as { instances: { state: string }[] };
    if (inv.instances.filter((i) => i.state === 'running').length >= count) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function memoryPerInstance(count: number): Promise<{ heapPer: number; rssPer: number; startMs: number }> {
  const sim = await startSimulator({ port: 0, sshPort: 0, timeScale: 1000, launchLatency: { kind: 'fixed', seconds: 1 } });
  const ec2 = new EC2Client({ endpoint: sim.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  try {
    const image = (await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images![0]!.ImageId;
    // warm-up: every code path of launching and running loaded and compiled before the baseline
    const warm = 50;
    await ec2.send(
      new RunInstancesCommand({ ImageId: image, InstanceType: 'm5.large', MinCount: warm, MaxCount: warm, InstanceMarketOptions: { MarketType: 'spot' } }),
    );
    await waitRunning(sim.endpoint, warm);
    const before = memory();
    const t0 = Date.now();
    let left = count;
    while (left > 0) {
      const n = Math.min(left, 500);
      await ec2.send(
        new RunInstancesCommand({ ImageId: image, InstanceType: 'm5.large', MinCount: n, MaxCount: n, InstanceMarketOptions: { MarketType: 'spot' } }),
      );
      left -= n;
    }
    await waitRunning(sim.endpoint, warm + count);
    const startMs = Date.now() - t0;
    const after = memory();
    return { heapPer: (after.heap - before.heap) / count, rssPer: (after.rss - before.rss) / count, startMs };
  } finally {
    ec2.destroy();
    await sim.stop();
  }
}

function connect(host: string, port: number, privateKey: string): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.once('ready', () => resolve(c));
    c.once('error', reject);
    c.connect({ host, port, username: 'ec2-user', privateKey, readyTimeout: 10_000 });
  });
}

async function noticeAccuracy(notices: number, scale: number): Promise<{ errorsMs: number[]; scale: number }> {
  const sim = await startSimulator({ port: 0, sshPort: 0, timeScale: scale, launchLatency: { kind: 'fixed', seconds: 1 } });
  const ec2 = new EC2Client({ endpoint: sim.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
  try {
    const image = (await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'] }))).Images![0]!.ImageId;
    const key = await ec2.send(new CreateKeyPairCommand({ KeyName: 'bench', KeyType: 'ed25519' }));
    const sg = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'bench', Description: 'bench' }));
    await ec2.send(
      new AuthorizeSecurityGroupIngressCommand({ GroupId: sg.GroupId, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 22, ToPort: 22, IpRanges: [{ CidrIp: '127.0.0.0/8' }] }] }),
    );
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: image,
        InstanceType: 'm5.large',
        MinCount: notices,
        MaxCount: notices,
        KeyName: 'bench',
        SecurityGroupIds: [sg.GroupId!],
        InstanceMarketOptions: { MarketType: 'spot' },
      }),
    );
    const ids = run.Instances!.map((i) => i.InstanceId!);
    let ips: string[] = [];
    for (;;) {
      const d = await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
      const all = d.Reservations!.flatMap((r) => r.Instances!);
      if (all.every((i) => i.State?.Name === 'running')) {
        ips = ids.map((id) => all.find((i) => i.InstanceId === id)!.PublicIpAddress!);
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const errorsMs = await Promise.all(
      ids.map(async (id, n) => {
        const client = await connect(ips[n]!, sim.sshPort, key.KeyMaterial!);
        const died = new Promise<number>((resolve, reject) => {
          client.exec('sleep 3600', (err, stream) => {
            if (err) return reject(err);
            stream.on('close', () => resolve(Date.now()));
            stream.resume();
          });
        });
        await new Promise((r) => setTimeout(r, 200));
        // map real time to simulated time around the interrupt call
        const r0 = Date.now();
        const res = await fetch(`${sim.endpoint}/_sim/instances/${id}/interrupt`, { method: 'POST' });
        const r1 = Date.now();
        const body = (await res.json()) as { noticeTime: string; terminationTime: string };
        const realAtNotice = (r0 + r1) / 2;
        const promisedReal = realAtNotice + (Date.parse(body.terminationTime) - Date.parse(body.noticeTime)) / scale;
        const diedAt = await died;
        client.end();
        return diedAt - promisedReal;
      }),
    );
    return { errorsMs, scale };
  } finally {
    ec2.destroy();
    await sim.stop();
  }
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

export default async function (args: string[]): Promise<void> {
  const seconds = arg(args, 'seconds', 5);
  const concurrency = arg(args, 'concurrency', 8);
  const instances = arg(args, 'instances', 1000);
  const notices = arg(args, 'notices', 5);
  const scale = arg(args, 'notice-scale', 10);

  const mem = await memoryPerInstance(instances);
  console.log(`## Memory per running spot instance (${instances} instances, no SSH session)`);
  console.log(`  heap ${(mem.heapPer / 1024).toFixed(1)} KB, RSS ${(mem.rssPer / 1024).toFixed(1)} KB per instance (target <= 2048 KB); all running after ${mem.startMs} ms`);

  console.log(`## API calls per second (${seconds} s each, ${concurrency} in flight, client in the same process)`);
  for (const [name, rate] of Object.entries(await throughput(seconds, concurrency))) console.log(`  ${name}: ${rate.toFixed(0)} calls/s`);

  const acc = await noticeAccuracy(notices, scale);
  const abs = acc.errorsMs.map(Math.abs);
  console.log(`## Notice-to-kill accuracy (${notices} instances, time scale ${acc.scale}: the 2-minute notice lasts ${(120 / acc.scale).toFixed(1)} s)`);
  console.log(
    `  process death minus promised time, real ms: mean ${(acc.errorsMs.reduce((a, b) => a + b, 0) / acc.errorsMs.length).toFixed(1)}, p50 |${pct(abs, 50).toFixed(1)}|, max |${Math.max(...abs).toFixed(1)}| (= ${((Math.max(...abs) * acc.scale) / 1000).toFixed(2)} simulated s)`,
  );
}
