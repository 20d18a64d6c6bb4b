/** What the per-job security resources are, as the job row stores them (the job row is read with these schemas). */
import { z } from 'zod';
import { EncryptedSecretSchema } from '../../shared/secrets.js';
import type { PolicyGuard } from './policy-guard.js';

export const RegionSecuritySchema = z.object({
  region: z.string(),
  keyName: z.string(),
  keyPairId: z.string(),
  securityGroupId: z.string(),
  /** encrypted private key */
  privateKey: EncryptedSecretSchema,
  /** When the region's key pair and group were ready (epoch ms, real time): made lazily, the first time a task is placed there. */
  createdAt: z.number().optional(),
});
export type RegionSecurity = z.infer<typeof RegionSecuritySchema>;

export const JobSecuritySchema = z.object({
  jobId: z.string(),
  roleName: z.string(),
  instanceProfileName: z.string(),
  instanceProfileArn: z.string(),
  regions: z.record(z.string(), RegionSecuritySchema),
  /** When these were ready (epoch ms, real time): spot.request reads an "Invalid IAM Instance Profile" answer as IAM propagation for a while after. */
  createdAt: z.number().optional(),
});
export type JobSecurity = z.infer<typeof JobSecuritySchema>;

/** A key pair just made, handed to `onKeyPair` so the caller can store it before anything else can fail. */
export const CreatedKeyPairSchema = z.object({
  region: z.string(),
  keyName: z.string(),
  keyPairId: z.string(),
  privateKey: EncryptedSecretSchema,
});
export type CreatedKeyPair = z.infer<typeof CreatedKeyPairSchema>;

export interface CreateSecurityInput {
  /** The fleet (config.prefix): in every name, on every resource as the tag spotbatch:fleet. */
  fleet: string;
  jobId: string;
  regions: string[];
  /** No region now (regions empty): the regions are secured one by one later (createRegionSecurity). */
  regionsLater?: boolean;
  /** Who may reach tcp/22; used exactly as given (0.0.0.0/0 only if the caller passes it). */
  ingressCidr: string;
  /** User tags, added to every resource beside `spotbatch:fleet` and `spotbatch:job`. */
  tags: Record<string, string>;
  /** Extra IAM statements the spec may add to the role's inline policy. */
  policyStatements?: unknown[];
  /** The fleet's guard on those statements (model/policy-guard.ts); default: the strict one. */
  guard?: PolicyGuard;
  /** ARN of the role's permissions boundary (security.permissionsBoundary): without one, no role is made (PermanentError). */
  permissionsBoundary?: string;
  keyType?: 'ed25519' | 'rsa';
  /**
   * What was stored from an earlier (partial) run. A key pair is kept only
   * when its stored private key and key pair id match the one in the cloud;
   * a key pair whose private key we do not hold is deleted and made again.
   */
  existing?: Partial<Omit<JobSecurity, 'regions'>> & { regions?: Record<string, Partial<RegionSecurity>> };
  /** Called after each new key pair, before the other resources: store it (conditional write) so a crash loses nothing. */
  onKeyPair?: (created: CreatedKeyPair) => Promise<void>;
  /** Bounded wait for the instance profile to show its role (default 10 tries, 1 s apart), then TransientError. */
  profileWait?: { attempts: number; delayMs: number };
}

export interface TeardownInput {
  /** The fleet (config.prefix): only resources carrying its tag and the job's are deleted. */
  fleet: string;
  jobId: string;
  regions: string[];
}
