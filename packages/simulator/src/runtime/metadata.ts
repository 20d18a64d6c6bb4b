import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { InstanceSpec, InterruptionNotice } from './types.js';

/** What the metadata service knows about one instance. */
export interface MetadataSource {
  spec: InstanceSpec;
  notice?: InterruptionNotice;
  rebalanceAt?: Date;
}

/** A leaf is its answer (computed on demand); a folder lists its entries. */
type MetadataNode = string | (() => string) | MetadataFolder;
interface MetadataFolder {
  [name: string]: MetadataNode;
}

/** The account the simulator pretends to be in (instance profile ARN, identity document). */
export const SIMULATED_ACCOUNT_ID = '123456789012';

const CREDENTIAL_SECRET = randomBytes(32);
const HOUR_MS = 3_600_000;

/** ISO 8601 UTC without milliseconds, as the metadata service writes times. */
export function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function architectureOf(instanceType: string): 'arm64' | 'x86_64' {
  const family = instanceType.split('.')[0] ?? '';
  return family === 'a1' || /^[a-z]+\d+[a-z]*g[a-z]*$/.test(family) ? 'arm64' : 'x86_64';
}

function dashed(ip: string): string {
  return ip.replaceAll('.', '-');
}

function hex(seed: string, length: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, length);
}

function macOf(ip: string): string {
  const [a = '0', b = '0', c = '0', d = '0'] = ip.split('.');
  return ['0e', ...[a, b, c, d].map((n) => Number(n).toString(16).padStart(2, '0')), '01'].join(':');
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Fake but well-formed temporary credentials, stable within an hour for an instance and role. */
function credentials(spec: InstanceSpec, role: string): string {
  const windowStart = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  const material = (label: string, bytes: number): Buffer => {
    const out: Buffer[] = [];
    for (let i = 0; out.length * 32 < bytes; i++) {
      out.push(createHmac('sha256', CREDENTIAL_SECRET).update(`${label}|${spec.instanceId}|${role}|${windowStart}|${i}`).digest());
    }
    return Buffer.concat(out).subarray(0, bytes);
  };
  const keyId = 'ASIA' + [...material('id', 16)].map((byte) => BASE32[byte % 32]).join('');
  const secret = material('secret', 30).toString('base64');
  const token = 'IQoJb3JpZ2luX2VjE' + material('token', 420).toString('base64');
  return JSON.stringify(
    {
      Code: 'Success',
      LastUpdated: isoSeconds(new Date(windowStart)),
      Type: 'AWS-HMAC',
      AccessKeyId: keyId,
      SecretAccessKey: secret,
      Token: token,
      Expiration: isoSeconds(new Date(windowStart + 6 * HOUR_MS)),
    },
    null,
    2,
  );
}

function identityDocument(spec: InstanceSpec): string {
  return JSON.stringify(
    {
      accountId: SIMULATED_ACCOUNT_ID,
      architecture: architectureOf(spec.instanceType),
      availabilityZone: spec.availabilityZone,
      billingProducts: null,
      devpayProductCodes: null,
      marketplaceProductCodes: null,
      imageId: spec.imageId,
      instanceId: spec.instanceId,
      instanceType: spec.instanceType,
      kernelId: null,
      pendingTime: isoSeconds(spec.launchTime),
      privateIp: spec.ip,
      ramdiskId: null,
      region: spec.region,
      version: '2017-09-30',
    },
    null,
    2,
  );
}

/** The metadata tree of one instance as it stands now (built per request: nothing kept per instance). */
export function metadataTree(source: MetadataSource): MetadataFolder {
  const { spec, notice, rebalanceAt } = source;
  const internalDomain = spec.region === 'us-east-1' ? 'ec2.internal' : `${spec.region}.compute.internal`;
  const publicDomain = spec.region === 'us-east-1' ? 'compute-1.amazonaws.com' : `${spec.region}.compute.amazonaws.com`;
  const localHostname = `ip-${dashed(spec.ip)}.${internalDomain}`;

  const events: MetadataFolder = { maintenance: { history: '[]', scheduled: '[]' } };
  if (rebalanceAt) events.recommendations = { rebalance: JSON.stringify({ noticeTime: isoSeconds(rebalanceAt) }) };

  const metaData: MetadataFolder = {
    'ami-id': spec.imageId,
    'ami-launch-index': '0',
    'ami-manifest-path': '(unknown)',
    'block-device-mapping': { ami: '/dev/xvda', root: '/dev/xvda' },
    events,
    hostname: localHostname,
    'instance-action': 'none',
    'instance-id': spec.instanceId,
    'instance-life-cycle': spec.spot ? 'spot' : 'on-demand',
    'instance-type': spec.instanceType,
    'local-hostname': localHostname,
    'local-ipv4': spec.ip,
    mac: macOf(spec.ip),
    placement: { 'availability-zone': spec.availabilityZone, region: spec.region },
    'public-hostname': `ec2-${dashed(spec.ip)}.${publicDomain}`,
    'public-ipv4': spec.ip,
    'reservation-id': `r-${hex(spec.instanceId, 17)}`,
    services: { domain: 'amazonaws.com', partition: 'aws' },
  };
  const role = spec.iamRoleName;
  if (role) {
    metaData.iam = {
      info: () =>
        JSON.stringify(
          {
            Code: 'Success',
            LastUpdated: isoSeconds(new Date(Math.floor(Date.now() / HOUR_MS) * HOUR_MS)),
            InstanceProfileArn: `arn:aws:iam::${SIMULATED_ACCOUNT_ID}:instance-profile/${role}`,
            InstanceProfileId: `AIPA${hex(role, 17).toUpperCase()}`,
          },
          null,
          2,
        ),
      'security-credentials': { [role]: () => credentials(spec, role) },
    };
  }
  if (spec.spot && notice) {
    metaData.spot = {
      'instance-action': JSON.stringify({ action: notice.action, time: isoSeconds(notice.time) }),
      'termination-time': isoSeconds(notice.time),
    };
  }
  const version: MetadataFolder = {
    dynamic: { 'instance-identity': { document: () => identityDocument(spec) } },
    'meta-data': metaData,
  };
  return { latest: version };
}

const VERSION_NAME = /^(latest|1\.0|\d{4}-\d{2}-\d{2})$/;

/** The answer for a request path, or undefined for a 404. Folders answer their listing. */
export function resolveMetadata(tree: MetadataFolder, pathname: string): string | undefined {
  const parts = pathname.split('/').filter((part) => part !== '');
  if (parts.length === 0) return 'latest';
  const [version, ...rest] = parts;
  if (version === undefined || !VERSION_NAME.test(version)) return undefined;
  let node: MetadataNode | undefined = tree.latest;
  for (const part of rest) {
    if (node === undefined || typeof node !== 'object' || !Object.hasOwn(node, part)) return undefined;
    node = node[part];
  }
  if (node === undefined) return undefined;
  if (typeof node === 'string') return node;
  if (typeof node === 'function') return node();
  return Object.entries(node)
    .map(([name, child]) => (typeof child === 'object' ? `${name}/` : name))
    .join('\n');
}
