/** Plumbing for the security tests: a simulator on port 0, the fleet's cloud clients on it, the job's share of the inventory. */
import { DescribeImagesCommand, RunInstancesCommand, type RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import { createCloudClients } from '../../shared/aws.js';
import type { CloudClients } from '../../shared/aws.js';
import { generateSecretKey, SecretBox } from '../../shared/secrets.js';
import { ensureDefaultBoundary } from '../../services/security/boundary.js';
import { JOB_TAG } from '../../services/security/resources.js';
import { credentials, startHarness } from '@spotbatch/simulator/testing';
import type { Harness } from '@spotbatch/simulator/testing';

export interface Tagged {
  region: string;
  tags: Record<string, string>;
  [field: string]: unknown;
}

export interface Inventory {
  instances: Tagged[];
  securityGroups: Tagged[];
  keyPairs: Tagged[];
  roles: Tagged[];
  instanceProfiles: Tagged[];
}

export interface SecurityHarness {
  h: Harness;
  cloud: CloudClients;
  secrets: SecretBox;
  /** ARN of the fleet's permissions boundary (the default one, made in the simulator). */
  boundary: string;
  /** The job's resources in the inventory, by kind. */
  ofJob(jobId: string): Promise<Inventory>;
  /** API calls served so far. */
  calls(): Promise<number>;
  close(): Promise<void>;
}

let counter = 0;
/** A job id no other test uses. */
export const newJobId = (): string => `job-${process.pid}-${++counter}`;

export async function startSecurityHarness(): Promise<SecurityHarness> {
  const h = await startHarness({ launchLatency: { kind: 'fixed', seconds: 1 } });
  const cloud = createCloudClients({ region: 'us-east-1', endpoints: { ec2: h.sim.endpoint, iam: h.sim.endpoint }, credentials, maxAttempts: 1 });
  const { arn: boundary } = await ensureDefaultBoundary(cloud.iam, 'spotbatch');
  const made = new Set<string>();
  const ec2 = cloud.ec2.bind(cloud);
  cloud.ec2 = (region: string) => {
    made.add(region);
    return ec2(region);
  };
  return {
    h,
    cloud,
    secrets: SecretBox.fromBase64(generateSecretKey()),
    boundary,
    async ofJob(jobId) {
      const inv = (await h.admin<Inventory>('GET', '/_sim/inventory')).body;
      const mine = (list: Tagged[]) => list.filter((x) => x.tags[JOB_TAG] === jobId);
      return {
        instances: mine(inv.instances),
        securityGroups: mine(inv.securityGroups),
        keyPairs: mine(inv.keyPairs),
        roles: mine(inv.roles),
        instanceProfiles: mine(inv.instanceProfiles),
      };
    },
    async calls() {
      return (await h.admin<{ total: number }>('GET', '/_sim/stats')).body.total;
    },
    async close() {
      for (const r of made) cloud.ec2(r).destroy();
      cloud.iam.destroy();
      await h.close();
    },
  };
}

/** One t3.micro of the first x86_64 image in `region` (its security group, key, profile, tags in `extra`); its instance id. */
export async function runInstance(cloud: CloudClients, region: string, extra: Partial<RunInstancesCommandInput>): Promise<string> {
  const ec2 = cloud.ec2(region);
  const images = await ec2.send(new DescribeImagesCommand({ Owners: ['amazon'], Filters: [{ Name: 'architecture', Values: ['x86_64'] }] }));
  const run = await ec2.send(new RunInstancesCommand({ ImageId: images.Images![0]!.ImageId!, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, ...extra }));
  return run.Instances![0]!.InstanceId!;
}
