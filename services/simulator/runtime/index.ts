import type { Logger } from '../../../shared/logger.js';
import type { InstanceRuntime, InstanceSpec, InterruptionNotice } from './types.js';

export type { InstanceRuntime, InstanceSpec, InterruptionNotice } from './types.js';

export interface InstanceRuntimeOptions {
  /** Folder under which each instance gets `<instanceId>/` (home, tmp). */
  sandboxRoot: string;
  /** SSH port on every instance address; default 2222; 0 = pick one free port and use it everywhere. */
  sshPort?: number;
  /** Metadata service port on every instance address; default 8009; 0 = pick one free port. */
  imdsPort?: number;
  logger?: Logger;
  /** OpenSSH/PEM private host key shared by every instance; generated (ed25519) when absent. */
  hostKey?: string;
}

/** Thin placeholder (replaced by the real runtime): records instances, does nothing on the network. */
export async function createInstanceRuntime(opts: InstanceRuntimeOptions): Promise<InstanceRuntime> {
  const live = new Map<string, InstanceSpec>();
  return {
    sshPort: opts.sshPort ?? 2222,
    imdsPort: opts.imdsPort ?? 8009,
    async start(spec: InstanceSpec) {
      live.set(spec.instanceId, spec);
    },
    notice(_instanceId: string, _notice: InterruptionNotice) {},
    rebalance(_instanceId: string, _noticeTime: Date) {},
    async stop(instanceId: string) {
      live.delete(instanceId);
    },
    async close() {
      live.clear();
    },
  };
}
