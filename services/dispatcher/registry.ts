/**
 * service name -> handler. A handler is a plain async function `(body, ctx)`:
 * returning acknowledges the message, throwing a retryable error lets SQS
 * redeliver it, throwing a permanent error sends it to the dead-letter queue.
 */
import type { z } from 'zod';
import type { Catalog, ServiceDef } from '../../shared/envelope.js';
import type { HandlerContext } from './context.js';

export type Handler<B = unknown, C extends Catalog = Catalog> = (body: B, ctx: HandlerContext<C>) => Promise<void>;

export type HandlerMap<C extends Catalog> = {
  [K in keyof C]?: Handler<z.infer<C[K]['schema']>, C>;
};

export interface RegistryEntry {
  service: string;
  def: ServiceDef;
  handler: Handler<unknown, Catalog>;
}

export class Registry {
  private readonly entries = new Map<string, RegistryEntry>();

  constructor(
    readonly catalog: Catalog,
    handlers: Record<string, Handler<never, never> | undefined>,
  ) {
    for (const [service, handler] of Object.entries(handlers)) {
      if (!handler) continue;
      const def = catalog[service];
      if (!def) throw new Error(`handler for ${service}, which the catalog does not define`);
      this.entries.set(service, { service, def, handler: handler as unknown as Handler<unknown, Catalog> });
    }
  }

  static of<C extends Catalog>(catalog: C, handlers: HandlerMap<C>): Registry {
    return new Registry(catalog, handlers);
  }

  get(service: string): RegistryEntry | undefined {
    return this.entries.get(service);
  }

  services(): string[] {
    return [...this.entries.keys()].sort();
  }
}
