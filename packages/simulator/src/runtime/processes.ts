import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { constants } from 'node:os';

/**
 * The local processes that stand for an instance's programs.
 *
 * Every command runs detached (its own process group, pgid = its pid) with the
 * marker variable SPOTBATCH_INSTANCE_ID in its environment. Killing an
 * instance SIGKILLs its live process groups, then (on Linux) scans /proc for
 * every process that still carries the marker — which catches programs that
 * left the group (`setsid`, `nohup ... &` in a new session) — and kills those
 * and their groups, in a few rounds so that a fork in flight is caught too.
 */

export const INSTANCE_MARKER = 'SPOTBATCH_INSTANCE_ID';

export interface SpawnRequest {
  instanceId: string;
  /** argv[0] and arguments, e.g. ['/bin/sh', '-c', command]. */
  argv: [string, ...string[]];
  cwd: string;
  env: Record<string, string>;
}

interface Tracked {
  /** Process groups whose leader may still be running. */
  liveGroups: Set<number>;
  /** Set once a command has run: the /proc scan is only worth it then. */
  spawned: boolean;
}

const MAX_KILL_ROUNDS = 5;

export class ProcessTable {
  private readonly byInstance = new Map<string, Tracked>();
  /** If the simulator exits without close(), still take its running commands down with it (best effort, synchronous). */
  private readonly onExit = (): void => {
    for (const tracked of this.byInstance.values()) for (const pgid of tracked.liveGroups) killQuietly(-pgid, 'SIGKILL');
  };
  private exitHooked = false;

  /** Forget the exit hook (after the runtime closed). */
  dispose(): void {
    if (this.exitHooked) process.off('exit', this.onExit);
    this.exitHooked = false;
  }

  spawn(req: SpawnRequest): ChildProcessWithoutNullStreams {
    const tracked = this.trackedFor(req.instanceId);
    if (!this.exitHooked) {
      process.on('exit', this.onExit);
      this.exitHooked = true;
    }
    const [file, ...args] = req.argv;
    const child = spawn(file, args, {
      cwd: req.cwd,
      env: { ...req.env, [INSTANCE_MARKER]: req.instanceId },
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    tracked.spawned = true;
    const pid = child.pid;
    if (pid !== undefined) {
      tracked.liveGroups.add(pid);
      child.once('exit', () => tracked.liveGroups.delete(pid));
    }
    return child;
  }

  /** Send a signal to the process group of a command started by spawn(). */
  signalGroup(child: ChildProcessWithoutNullStreams, signal: NodeJS.Signals): boolean {
    // Only while the leader runs: then the pgid is surely still ours.
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return false;
    return killQuietly(-child.pid, signal) || killQuietly(child.pid, signal);
  }

  /** Kill every process of these instances. Resolves when none is left that we can see (bounded). */
  async killInstances(instanceIds: Iterable<string>): Promise<void> {
    const ids = new Set<string>();
    for (const id of instanceIds) {
      const tracked = this.byInstance.get(id);
      if (!tracked) continue;
      this.byInstance.delete(id);
      for (const pgid of tracked.liveGroups) killQuietly(-pgid, 'SIGKILL');
      if (tracked.spawned) ids.add(id);
    }
    if (ids.size === 0 || process.platform !== 'linux') return;
    for (let round = 0; round < MAX_KILL_ROUNDS; round++) {
      const found = await findMarkedProcesses(ids);
      if (found.length === 0) return;
      for (const { pid, pgid } of found) {
        killQuietly(pid, 'SIGKILL');
        // Only a group whose member we just saw carrying the marker.
        if (pgid > 1) killQuietly(-pgid, 'SIGKILL');
      }
      await new Promise((resolve) => setTimeout(resolve, 10 * (round + 1)));
    }
  }

  private trackedFor(instanceId: string): Tracked {
    let tracked = this.byInstance.get(instanceId);
    if (!tracked) {
      tracked = { liveGroups: new Set(), spawned: false };
      this.byInstance.set(instanceId, tracked);
    }
    return tracked;
  }
}

export function signalFromName(name: string): NodeJS.Signals | undefined {
  const upper = name.toUpperCase();
  const full = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  return Object.hasOwn(constants.signals, full) ? (full as NodeJS.Signals) : undefined;
}

function killQuietly(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

interface ProcInfo {
  pid: number;
  pgid: number;
}

/** Live (non-zombie) processes whose environment carries the marker of one of the instances. */
async function findMarkedProcesses(instanceIds: Set<string>): Promise<ProcInfo[]> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  const needles = [...instanceIds].map((id) => Buffer.from(`\0${INSTANCE_MARKER}=${id}\0`));
  const found: ProcInfo[] = [];
  await Promise.all(
    entries
      .filter((name) => /^\d+$/.test(name) && Number(name) !== process.pid)
      .map(async (name) => {
        try {
          const environ = Buffer.concat([Buffer.alloc(1), await readFile(`/proc/${name}/environ`)]);
          if (!needles.some((needle) => environ.includes(needle))) return;
          const stat = await readFile(`/proc/${name}/stat`, 'utf8');
          // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses, so split after the last ')'.
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          if (fields[0] === 'Z') return;
          found.push({ pid: Number(name), pgid: Number(fields[2]) });
        } catch {
          // gone, or not ours to read
        }
      }),
  );
  return found;
}
