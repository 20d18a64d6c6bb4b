/** What the per-job security resources are, as the job row stores them. */
import type { EncryptedSecret } from '../../shared/secrets.js';
import type { PolicyGuard } from './policy-guard.js';

export interface RegionSecurity {
  region: string;
  keyName: string;
  keyPairId: string;
  securityGroupId: string;
  /** encrypted private key */
  privateKey: EncryptedSecret;
}

export interface JobSecurity {
  jobId: string;
  roleName: string;
  instanceProfileName: string;
  instanceProfileArn: string;
  regions: Record<string, RegionSecurity>;
  /** When these were ready (epoch ms, real time): spot.request reads an "Invalid IAM Instance Profile" answer as IAM propagation for a while after. */
  createdAt?: number;
}

/** A key pair just made, handed to `onKeyPair` so the caller can store it before anything else can fail. */
export interface CreatedKeyPair {
  region: string;
  keyName: string;
  keyPairId: string;
  privateKey: EncryptedSecret;
}

export interface CreateSecurityInput {
  jobId: string;
  regions: string[];
  /** Who may reach tcp/22; used exactly as given (0.0.0.0/0 only if the caller passes it). */
  ingressCidr: string;
  /** User tags, added to every resource beside `spotbatch:job`. */
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
  jobId: string;
  regions: string[];
}
