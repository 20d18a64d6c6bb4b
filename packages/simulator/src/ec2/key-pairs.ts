/** CreateKeyPair, DeleteKeyPair, DescribeKeyPairs. */
import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import type {
  CreateKeyPairCommandInput,
  CreateKeyPairCommandOutput,
  DeleteKeyPairCommandInput,
  DeleteKeyPairCommandOutput,
  DescribeKeyPairsCommandInput,
  DescribeKeyPairsCommandOutput,
  KeyPairInfo,
} from '@aws-sdk/client-ec2';
import { CreateKeyPair$, DeleteKeyPair$, DescribeKeyPairs$ } from '@aws-sdk/client-ec2';
import ssh2 from 'ssh2';
import { action } from '../context.js';
import { ids } from '../ids.js';
import { ApiError, invalidParameter, required } from '../protocol/errors.js';
import { applyFilters, tagFilterValues } from '../protocol/filters.js';
import { tagList } from '../state/records.js';
import type { KeyPairRecord } from '../state/records.js';
import { tagsFor } from './tags.js';

type Out<T> = Omit<T, '$metadata'>;

const NAME = /^[\x20-\x7e]{1,255}$/;

interface GeneratedKey {
  privateKey: string;
  publicKey: string;
  fingerprint: string;
}

/** A public key line (`type base64`) from a private key, when ssh2 can parse it. */
function publicLine(privateKey: string): string | undefined {
  const parsed = ssh2.utils.parseKey(privateKey);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!key || key instanceof Error) return undefined;
  return `${key.type} ${key.getPublicSSH().toString('base64')}`;
}

/**
 * Keys as AWS hands them out: rsa as a PKCS#1 PEM ("BEGIN RSA PRIVATE KEY",
 * fingerprint = SHA-1 of the PKCS#8 DER), ed25519 in OpenSSH format
 * (fingerprint = base64 SHA-256 of the public key). Each pair is checked to
 * parse back with ssh2 (its ed25519 generator yields a broken pair about once
 * in 256, mscdex/ssh2#1390).
 */
function generate(keyType: 'rsa' | 'ed25519'): GeneratedKey {
  for (let attempt = 0; attempt < 20; attempt++) {
    if (keyType === 'rsa') {
      const { privateKey } = generateKeyPairSync('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
      });
      const publicKey = publicLine(privateKey);
      if (!publicKey) continue;
      const der = createPrivateKey(privateKey).export({ type: 'pkcs8', format: 'der' });
      const fingerprint = (createHash('sha1').update(der).digest('hex').match(/../g) ?? []).join(':');
      return { privateKey: privateKey.trim(), publicKey, fingerprint };
    }
    const pair = ssh2.utils.generateKeyPairSync('ed25519');
    const publicKey = publicLine(pair.private);
    if (!publicKey || ssh2.utils.parseKey(pair.public) instanceof Error) continue;
    const blob = Buffer.from(publicKey.split(' ')[1] ?? '', 'base64');
    return { privateKey: pair.private.trim(), publicKey, fingerprint: createHash('sha256').update(blob).digest('base64') };
  }
  throw new Error(`could not generate a well-formed ${keyType} key pair`);
}

function info(k: KeyPairRecord, includePublicKey: boolean): KeyPairInfo {
  return {
    KeyPairId: k.keyPairId,
    KeyFingerprint: k.fingerprint,
    KeyName: k.keyName,
    KeyType: k.keyType,
    Tags: tagList(k.tags),
    CreateTime: k.createTime,
    ...(includePublicKey ? { PublicKey: k.publicKey } : {}),
  };
}

export const keyPairActions = {
  CreateKeyPair: action<CreateKeyPairCommandInput, Out<CreateKeyPairCommandOutput>>(CreateKeyPair$, (input, call) => {
    const name = required(input.KeyName, 'KeyName');
    if (!NAME.test(name)) throw invalidParameter('KeyName', 'must be 1 to 255 ASCII characters');
    const keyType = input.KeyType ?? 'rsa';
    if (keyType !== 'rsa' && keyType !== 'ed25519') throw invalidParameter('KeyType', `'${keyType}' is not rsa or ed25519`);
    if (input.KeyFormat !== undefined && input.KeyFormat !== 'pem') throw invalidParameter('KeyFormat', 'only pem is supported by the simulator');
    if (call.sim.world.keyPairByName(call.region, name)) {
      throw new ApiError('InvalidKeyPair.Duplicate', `The keypair '${name}' already exists.`);
    }
    const pair = generate(keyType);
    const rec: KeyPairRecord = {
      keyPairId: ids.keyPair(),
      keyName: name,
      keyType,
      fingerprint: pair.fingerprint,
      publicKey: pair.publicKey,
      region: call.region,
      createTime: call.sim.clock.date(),
      tags: tagsFor(input.TagSpecifications, 'key-pair'),
    };
    call.sim.world.keyPairs.set(rec.keyPairId, rec);
    return {
      KeyFingerprint: rec.fingerprint,
      KeyMaterial: pair.privateKey,
      KeyName: rec.keyName,
      KeyPairId: rec.keyPairId,
      Tags: tagList(rec.tags),
    };
  }),

  DeleteKeyPair: action<DeleteKeyPairCommandInput, Out<DeleteKeyPairCommandOutput>>(DeleteKeyPair$, (input, call) => {
    if (!input.KeyName && !input.KeyPairId) throw new ApiError('MissingParameter', 'The request must contain the parameter KeyName or KeyPairId');
    const w = call.sim.world;
    const rec = input.KeyPairId ? w.keyPairs.get(input.KeyPairId) : w.keyPairByName(call.region, input.KeyName!);
    if (input.KeyPairId && (!rec || rec.region !== call.region)) {
      throw new ApiError('InvalidKeyPair.NotFound', `The key pair '${input.KeyPairId}' does not exist`);
    }
    if (rec && rec.region === call.region) w.keyPairs.delete(rec.keyPairId);
    return { Return: true, ...(rec ? { KeyPairId: rec.keyPairId } : {}) };
  }),

  DescribeKeyPairs: action<DescribeKeyPairsCommandInput, Out<DescribeKeyPairsCommandOutput>>(DescribeKeyPairs$, (input, call) => {
    let items = [...call.sim.world.inRegion(call.sim.world.keyPairs, call.region)];
    for (const name of input.KeyNames ?? []) {
      if (!items.some((k) => k.keyName === name)) throw new ApiError('InvalidKeyPair.NotFound', `The key pair '${name}' does not exist`);
    }
    for (const id of input.KeyPairIds ?? []) {
      if (!items.some((k) => k.keyPairId === id)) throw new ApiError('InvalidKeyPair.NotFound', `The key pair '${id}' does not exist`);
    }
    if (input.KeyNames?.length) items = items.filter((k) => input.KeyNames!.includes(k.keyName));
    if (input.KeyPairIds?.length) items = items.filter((k) => input.KeyPairIds!.includes(k.keyPairId));
    items = applyFilters(items, input.Filters, (k, name) => {
      switch (name) {
        case 'key-name':
          return [k.keyName];
        case 'key-pair-id':
          return [k.keyPairId];
        case 'fingerprint':
          return [k.fingerprint];
        case 'key-type':
          return [k.keyType];
        default:
          return tagFilterValues(k.tags, name);
      }
    });
    return { KeyPairs: items.map((k) => info(k, input.IncludePublicKey === true)) };
  }),
};
