/**
 * The job's key pair in one region. AWS hands the private key out once, at
 * creation: a key pair found in the cloud is kept only when the caller holds
 * its private key (same key pair id, decryptable); otherwise it is deleted and
 * made again. The private key is encrypted as soon as it arrives and never
 * logged.
 */
import { CreateKeyPairCommand, DeleteKeyPairCommand, DescribeKeyPairsCommand } from '@aws-sdk/client-ec2';
import type { EC2Client, KeyPairInfo } from '@aws-sdk/client-ec2';
import { PermanentError, TransientError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { isEncryptedSecret } from '../../shared/secrets.js';
import type { SecretBox } from '../../shared/secrets.js';
import { privateKeyContext } from '../model/secrets.js';
import { awsCode, call, callOr, translateAwsError } from '../../shared/aws-errors.js';
import { FLEET_TAG, JOB_TAG, ownedBy, ownerOf } from './names.js';
import type { CreatedKeyPair, RegionSecurity } from '../model/security-types.js';

export interface KeyPairRequest {
  region: string;
  fleet: string;
  jobId: string;
  keyName: string;
  tags: { Key: string; Value: string }[];
  keyType: 'ed25519' | 'rsa';
  stored?: Partial<RegionSecurity>;
  onKeyPair?: (created: CreatedKeyPair) => Promise<void>;
}

async function findByName(ec2: EC2Client, keyName: string): Promise<KeyPairInfo | undefined> {
  const out = await call('DescribeKeyPairs', () => ec2.send(new DescribeKeyPairsCommand({ Filters: [{ Name: 'key-name', Values: [keyName] }] })));
  return out.KeyPairs?.find((k) => k.KeyName === keyName);
}

/** Whether what the caller stored is the private key of `found`. */
function held(secrets: SecretBox, found: KeyPairInfo, req: KeyPairRequest): boolean {
  const stored = req.stored;
  if (!stored || stored.keyPairId !== found.KeyPairId || !isEncryptedSecret(stored.privateKey)) return false;
  try {
    secrets.decrypt(stored.privateKey, privateKeyContext(req.jobId, req.region));
    return true;
  } catch {
    return false;
  }
}

export async function ensureKeyPair(ec2: EC2Client, secrets: SecretBox, req: KeyPairRequest, log?: Logger): Promise<CreatedKeyPair> {
  const { region, keyName } = req;
  const found = await findByName(ec2, keyName);
  if (found) {
    if (!ownedBy(found.Tags, req.fleet, req.jobId)) {
      throw new PermanentError(`security: key pair ${keyName} in ${region} exists and is not fleet ${req.fleet}'s job ${req.jobId}'s (its tags: ${ownerOf(found.Tags)})`);
    }
    if (held(secrets, found, req) && req.stored?.privateKey) {
      log?.debug({ region, keyName, keyPairId: found.KeyPairId }, 'key pair already exists');
      return { region, keyName, keyPairId: found.KeyPairId!, privateKey: req.stored.privateKey };
    }
    log?.info({ region, keyName, keyPairId: found.KeyPairId }, 'key pair exists without a stored private key: making it again');
    await callOr('DeleteKeyPair', () => ec2.send(new DeleteKeyPairCommand({ KeyPairId: found.KeyPairId })), ['InvalidKeyPair.NotFound']);
  }
  let created;
  try {
    created = await ec2.send(
      new CreateKeyPairCommand({
        KeyName: keyName,
        KeyType: req.keyType,
        KeyFormat: 'pem',
        TagSpecifications: [{ ResourceType: 'key-pair', Tags: req.tags }],
      }),
    );
  } catch (err) {
    if (awsCode(err) === 'InvalidKeyPair.Duplicate') {
      throw new TransientError(`CreateKeyPair: ${keyName} in ${region} appeared meanwhile (another run); try again`);
    }
    throw translateAwsError('CreateKeyPair', err);
  }
  if (!created.KeyMaterial || !created.KeyPairId) throw new TransientError(`CreateKeyPair: answer for ${keyName} in ${region} lacks the key`);
  const result: CreatedKeyPair = { region, keyName, keyPairId: created.KeyPairId, privateKey: secrets.encrypt(created.KeyMaterial, privateKeyContext(req.jobId, region)) };
  created.KeyMaterial = undefined;
  log?.info({ region, keyName, keyPairId: result.keyPairId }, 'key pair created');
  if (req.onKeyPair) await req.onKeyPair(result);
  return result;
}

/** Delete every key pair of the region tagged with the fleet and the job (none is fine). */
export async function deleteKeyPairs(ec2: EC2Client, region: string, owner: { fleet: string; jobId: string }, log?: Logger): Promise<string[]> {
  const Filters = [
    { Name: `tag:${FLEET_TAG}`, Values: [owner.fleet] },
    { Name: `tag:${JOB_TAG}`, Values: [owner.jobId] },
  ];
  const out = await call('DescribeKeyPairs', () => ec2.send(new DescribeKeyPairsCommand({ Filters })));
  const deleted: string[] = [];
  for (const k of out.KeyPairs ?? []) {
    if (!k.KeyPairId || !ownedBy(k.Tags, owner.fleet, owner.jobId)) continue;
    await callOr('DeleteKeyPair', () => ec2.send(new DeleteKeyPairCommand({ KeyPairId: k.KeyPairId })), ['InvalidKeyPair.NotFound']);
    log?.info({ region, keyName: k.KeyName, keyPairId: k.KeyPairId }, 'key pair deleted');
    deleted.push(`key-pair:${region}:${k.KeyName ?? k.KeyPairId}`);
  }
  return deleted;
}
