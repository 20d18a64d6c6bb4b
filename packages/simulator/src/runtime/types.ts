/**
 * The contract between the simulator's control plane (EC2/IAM API, market,
 * scheduler: services/simulator/*) and the instance runtime (SSH server,
 * instance metadata service, sandboxed processes: services/simulator/runtime/*).
 *
 * The control plane decides *when* things happen (launch, notice, kill) on its
 * simulated clock; the runtime makes them real on this machine.
 */

/** What the runtime needs to bring one instance to life. */
export interface InstanceSpec {
  instanceId: string;
  region: string;
  availabilityZone: string;
  instanceType: string;
  imageId: string;
  /** The instance's own loopback address (127.x.y.z, never 127.0.0.1): public and private IP alike. */
  ip: string;
  /** OpenSSH public key lines accepted for user `ec2-user` (the launch key pair). Empty: no key accepted. */
  authorizedKeys: string[];
  /** Login user; `ec2-user` unless the image says otherwise. */
  loginUser: string;
  /** IAM role reachable through the instance profile, for iam/security-credentials/ROLE. */
  iamRoleName?: string;
  /** Whether this is a spot instance (spot/* metadata paths exist only then). */
  spot: boolean;
  launchTime: Date;
  /**
   * The user data (decoded text, not base64). A `#cloud-config` with `ssh_keys`
   * sets the host keys the instance presents (cloud-init's SSH module);
   * without one the instance generates a host key of its own.
   */
  userData?: string;
  /** Security group check for an incoming SSH connection from `sourceIp` on tcp/`port`. */
  allowIngress?: (sourceIp: string, port: number) => boolean;
}

export interface InterruptionNotice {
  action: 'terminate' | 'stop' | 'hibernate';
  /** When the instance will be acted on (simulated time, shown as ISO 8601 UTC without millis). */
  time: Date;
}

export interface InstanceRuntime {
  /** The SSH port every instance listens on (same number on every instance address). */
  readonly sshPort: number;
  /** The metadata service port every instance listens on. */
  readonly imdsPort: number;
  /** Bind SSH and the metadata service on spec.ip, create the sandbox folder. */
  start(spec: InstanceSpec): Promise<void>;
  /** spot/instance-action and spot/termination-time start answering. */
  notice(instanceId: string, notice: InterruptionNotice): void;
  /** events/recommendations/rebalance starts answering. */
  rebalance(instanceId: string, noticeTime: Date): void;
  /** The host public key the instance presents (OpenSSH line), undefined when it is not started. */
  hostPublicKey(instanceId: string): string | undefined;
  /** From now on the instance presents a freshly generated host key (an impostor at its address); the new public key. */
  replaceHostKey(instanceId: string): string | undefined;
  /** Kill every process tree of the instance, close its SSH sessions, unbind, remove the sandbox. Idempotent. */
  stop(instanceId: string): Promise<void>;
  /** Stop every instance and close the shared resources. */
  close(): Promise<void>;
}
