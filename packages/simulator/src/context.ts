/** What every action handler and the lifecycle engine share. */
import type { StaticOperationSchema } from '@smithy/types';
import type { Logger } from './logger.js';
import type { SimClock } from './clock.js';
import type { EventSink } from './events.js';
import type { Consistency } from './consistency.js';
import type { Faults } from './faults.js';
import type { LatencyDistribution } from './latency.js';
import type { Catalog } from './market/catalog.js';
import type { Market } from './market/market.js';
import type { InstanceRuntime } from './runtime/types.js';
import type { World } from './state/world.js';
import type { Lifecycle } from './lifecycle.js';
import type { RequestLimiter } from './throttle.js';
import type { InterruptionLog } from './market/interruptions.js';
import type { PlacementBudget } from './market/sps-budget.js';

export interface SimContext {
  seed: number;
  world: World;
  market: Market;
  catalog: Catalog;
  clock: SimClock;
  faults: Faults;
  /** Eventual consistency: NotFound windows after creates, instance profile propagation. */
  consistency: Consistency;
  /** EC2 request rate limits (token buckets). */
  limiter: RequestLimiter;
  events: EventSink;
  runtime: InstanceRuntime;
  lifecycle: Lifecycle;
  launchLatency: LatencyDistribution;
  /** Interruptions per pool (market, forced, admin): placement scores fall where they happen. */
  interruptions: InterruptionLog;
  /** GetSpotPlacementScores: new query configurations per account in a rolling 24 simulated hours. */
  spsBudget: PlacementBudget;
  logger: Logger;
}

export interface CallContext {
  sim: SimContext;
  region: string;
  /** Who calls: the access key id of the SigV4 credential ('anonymous' without one). Each key is an account. */
  account: string;
  requestId: string;
}

export interface ActionDef {
  op: StaticOperationSchema;
  run(input: never, call: CallContext): Promise<object> | object;
}

/**
 * An action: the SDK's operation schema and a handler typed with the SDK's
 * own input/output types. The codec builds the input from that schema.
 */
export function action<I, O extends object>(op: StaticOperationSchema, run: (input: I, call: CallContext) => Promise<O> | O): ActionDef {
  return { op, run };
}
