/**
 * AWS's eventual consistency, as the simulator plays it:
 * - EC2: for `notFoundSeconds` after a create, a call that names the new
 *   instance, spot request or security group by id answers its NotFound code
 *   (and does nothing: a TerminateInstances NotFound leaves the instance
 *   running). "Eventual consistency in the Amazon EC2 API".
 * - IAM: for `iamPropagationSeconds` after an instance profile is created or
 *   gets its role, EC2 launch calls naming it answer InvalidParameterValue
 *   "Invalid IAM Instance Profile ..." (IAM "Troubleshooting IAM roles").
 * Windows are real seconds (they stand for AWS's control plane, which does not
 * run faster with the market's time scale); creation times are always kept,
 * so a window set later applies to resources made before.
 */
export class Consistency {
  private readonly created = new Map<string, number>();
  private readonly profileChanged = new Map<string, number>();

  constructor(private readonly settings: () => { notFoundSeconds?: number; iamPropagationSeconds?: number }) {}

  /** An EC2 resource (i-, sir-, sg- ...) was just created. */
  createdNow(id: string): void {
    this.created.set(id, Date.now());
    if (this.created.size > 10_000) this.prune(this.created);
  }

  /** Whether a call naming `id` should not see it yet. */
  hidden(id: string): boolean {
    return within(this.created.get(id), this.settings().notFoundSeconds);
  }

  /** An instance profile was created, or got or lost its role. */
  profileChangedNow(name: string): void {
    this.profileChanged.set(name, Date.now());
    if (this.profileChanged.size > 10_000) this.prune(this.profileChanged);
  }

  /** Whether EC2 cannot use the profile yet. */
  profilePropagating(name: string): boolean {
    return within(this.profileChanged.get(name), this.settings().iamPropagationSeconds);
  }

  clear(): void {
    this.created.clear();
    this.profileChanged.clear();
  }

  /** Forget entries older than any window the settings allow (10 minutes). */
  private prune(m: Map<string, number>): void {
    const old = Date.now() - 600_000;
    for (const [k, t] of m) if (t < old) m.delete(k);
  }
}

/** Whether a change at `at` (epoch ms) is less than `seconds` ago; no window when seconds is 0 or unset. */
function within(at: number | undefined, seconds: number | undefined): boolean {
  const window = (seconds ?? 0) * 1000;
  return window > 0 && at !== undefined && Date.now() - at < window;
}
