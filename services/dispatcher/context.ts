import type { Logger } from '../../shared/logger.js';
import type { Clock } from '../../shared/clock.js';
import type { Config } from '../../shared/config.js';
import type { CloudClients, CoreClients } from '../../shared/aws.js';
import type { Catalog, MessageBus } from '../../shared/envelope.js';
import type { QueueKind, QueueUrls } from '../../shared/queues.js';
import type { Store } from '../../shared/store/index.js';

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
}

/** What a handler gets besides its body: the deps plus a logger scoped to this message. */
export interface HandlerContext<C extends Catalog = Catalog> extends FleetDeps<C> {
  service: string;
  messageId: string;
  queue: QueueKind;
  /** 1 on first delivery. */
  receiveCount: number;
}
