/**
 * What a fleet holds once for all its handlers (the spot price cache, the SSH
 * pool, checkpoint stores' S3 clients, secret boxes): made on first use, kept
 * on the fleet's dependencies (`FleetDeps.resources`), closed when the fleet
 * stops. A module declares its resource (`resource(name, create, close)`) and
 * asks the fleet for it; it holds no state of its own, so two fleets in one
 * process (tests) never share a cache or a connection.
 */

/** How to make one resource of a fleet, and how to close it. */
export interface Resource<T> {
  readonly name: string;
  create(): T;
  close?(value: T): void | Promise<void>;
}

export function resource<T>(name: string, create: () => T, close?: (value: T) => void | Promise<void>): Resource<T> {
  return { name, create, ...(close ? { close } : {}) };
}

interface Made<T> {
  value: T;
  close(): void | Promise<void>;
}

export class FleetResources {
  readonly #made = new Map<Resource<unknown>, Made<unknown>>();
  #users = 0;

  /** One more running user (a dispatcher started on these deps). */
  retain(): void {
    this.#users++;
  }

  /** One running user fewer: the last one closes everything. */
  async release(): Promise<void> {
    this.#users = Math.max(0, this.#users - 1);
    if (this.#users === 0) await this.close();
  }

  /** The fleet's one `r`, made now if it was not yet (again after close()). */
  get<T>(r: Resource<T>): T {
    const found = this.#made.get(r);
    // Entries are only ever set below, under their own key: the value is a T.
    if (found) return found.value as T;
    const value = r.create();
    this.#made.set(r, { value, close: () => r.close?.(value) });
    return value;
  }

  /** Close everything made (pooled connections, clients) and forget it; a later get() makes afresh. */
  async close(): Promise<void> {
    const made = [...this.#made.values()];
    this.#made.clear();
    await Promise.allSettled(made.map(async (m) => m.close()));
  }

  toJSON(): string {
    return '[FleetResources]';
  }
}
