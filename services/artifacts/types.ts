import { PermanentError } from '../../shared/errors.js';

/**
 * The fleet's artifact store: content addressed by sha256. The CLI writes
 * (files a spec names, large specs); dispatchers read (job.submit checks,
 * step.run copies to the instance). Every write is atomic and checked
 * against its digest; every read is checked against the digest it asked for.
 */
export interface ArtifactStore {
  /** Where it is, for messages ("local:/dir", "s3://bucket/prefix"); never a secret. */
  readonly where: string;
  /** Store bytes; returns their digest ("sha256:..."). Storing what is already there is a no-op. */
  put(content: Buffer | string): Promise<string>;
  /** Store a local file, streamed; returns its digest and size. */
  putFile(file: string): Promise<{ digest: string; size: number }>;
  has(digest: string): Promise<boolean>;
  /** The content, checked; ArtifactMissingError when absent, PermanentError when over maxBytes or corrupt. */
  get(digest: string, maxBytes?: number): Promise<Buffer>;
  /** Copy to a local file (written beside it, checked, then renamed into place), streamed. */
  download(digest: string, file: string, mode?: number): Promise<void>;
}

export class ArtifactMissingError extends PermanentError {
  constructor(digest: string, where: string) {
    super(`artifact ${digest} is not in the fleet's artifact store (${where})`);
    this.name = 'ArtifactMissingError';
  }
}
