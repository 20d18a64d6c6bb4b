import type { Logger } from '../../shared/logger.js';
import type { Clock } from '../../shared/clock.js';
import type { Config } from '../../shared/config.js';
import type { CloudClients, CoreClients } from '../../shared/aws.js';
import type { Catalog, MessageBus } from '../../shared/envelope.js';
import type { QueueKind, QueueUrls } from '../../shared/queues.js';
import type { Store } from '../../shared/store/index.js';
import type { FleetResources } from '../../shared/resources.js';

/** Everything a dispatcher shares between handlers; built once per process. */
export interface FleetDeps<C extends Catalog = Catalog> {
  config: Config;
  log: Logger;
  clock: Clock;
  clients: CoreClients;
  /** EC2 and IAM; absent where a fleet only does bookkeeping. */
  cloud?: CloudClients;
  queues: QueueUrls;
  store: Store;
  bus: MessageBus<C>;
  /**
   * What the fleet holds for all its handlers, made on first use (the spot
   * price cache, the SSH pool, checkpoint stores' S3 clients, secret boxes:
   * each module declares its own with shared/resources.ts); closed when the
   * last dispatcher on these deps stops.
   */
  resources: FleetResources;
}

/**
 * What a handler gets besides its body: the deps plus a logger scoped to this
 * message. Its `clients`, `cloud`, `store` and `bus` pass `signal` to every
 * AWS call they make.
 */
export interface HandlerContext<C extends Catalog = Catalog> extends FleetDeps<C> {
  service: string;
  messageId: string;
  queue: QueueKind;
  /** 1 on first delivery. */
  receiveCount: number;
  /**
   * Fired by the dispatcher's drain when its grace (shutdownTimeoutSeconds)
   * is over: AWS calls, SSH and waits end at once, and the message is left
   * for redelivery (never acknowledged), as after a crash.
   */
  signal: AbortSignal;
}
