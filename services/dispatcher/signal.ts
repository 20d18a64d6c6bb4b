/**
 * The fleet's deps as one dispatcher's handlers see them: the same clients,
 * store and bus, whose every AWS call passes the dispatcher's drain signal
 * (HandlerContext.signal). The dispatcher's own calls (deletes, hand-backs,
 * the reconciler) use the deps as they are, so they still run after a drain.
 */
import { withAbortSignal } from '../../shared/abort.js';
import type { CloudClients, CoreClients } from '../../shared/aws.js';
import { MessageBus, type Catalog } from '../../shared/envelope.js';
import { messageSigner } from '../../shared/message-auth.js';
import { Store } from '../../shared/store/index.js';
import type { FleetDeps } from './context.js';

function signalledCloud(cloud: CloudClients, signal: AbortSignal): CloudClients {
  const ec2 = new Map<string, ReturnType<CloudClients['ec2']>>();
  const iam = withAbortSignal(cloud.iam, signal);
  return {
    ec2(region) {
      let client = ec2.get(region);
      if (!client) {
        client = withAbortSignal(cloud.ec2(region), signal);
        ec2.set(region, client);
      }
      return client;
    },
    iam,
  };
}

function signalledClients(clients: CoreClients, signal: AbortSignal): CoreClients {
  return { sqs: withAbortSignal(clients.sqs, signal), dynamodb: withAbortSignal(clients.dynamodb, signal), ddb: withAbortSignal(clients.ddb, signal) };
}

export function signalledDeps<C extends Catalog>(deps: FleetDeps<C>, signal: AbortSignal): FleetDeps<C> {
  const clients = signalledClients(deps.clients, signal);
  return {
    ...deps,
    clients,
    ...(deps.cloud ? { cloud: signalledCloud(deps.cloud, signal) } : {}),
    store: new Store(clients.ddb, deps.config.prefix, deps.clock),
    bus: new MessageBus(clients.sqs, deps.queues, deps.bus.catalog, messageSigner(deps.config)),
  };
}
