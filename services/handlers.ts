/** The production registry: service name -> handler, for `spotbatch dispatcher`. */
import { catalog } from './catalog.js';
import { Registry, type HandlerMap } from './dispatcher/registry.js';
import { jobCancel, jobCheck, jobComplete, jobFail } from './job/lifecycle.js';
import { jobStart, jobSubmit } from './job/submit.js';
import { securityCreate, securityTeardown } from './security/handlers.js';
import { spotCheck, spotRequest } from './spot/handlers.js';
import { stepCheck, stepComplete, stepRun } from './step/handlers.js';
import { ec2Event } from './ec2/handler.js';
import { terminationDetected } from './termination/handlers.js';
import { terminationEnded } from './termination/ended.js';
import { requestResubmit } from './request/handlers.js';
import { checkpointSave } from './checkpoint/lifecycle.js';
import { rebalanceCheck, rebalanceDetected } from './rebalance/handlers.js';
import { marketCollectIf, marketCollectOnDemand, marketCollectPrice, marketCollectSps, marketSummary } from './market/handlers.js';

export const handlers: HandlerMap<typeof catalog> = {
  'job.submit': jobSubmit,
  'job.start': jobStart,
  'security.create': securityCreate,
  'spot.request': spotRequest,
  'spot.check': spotCheck,
  'step.run': stepRun,
  'step.check': stepCheck,
  'step.complete': stepComplete,
  'job.check': jobCheck,
  'job.complete': jobComplete,
  'security.teardown': securityTeardown,
  'job.cancel': jobCancel,
  'job.fail': jobFail,
  'ec2.event': ec2Event,
  'termination.detected': terminationDetected,
  'checkpoint.save': checkpointSave,
  'termination.ended': terminationEnded,
  'rebalance.detected': rebalanceDetected,
  'rebalance.check': rebalanceCheck,
  'request.resubmit': requestResubmit,
  'market.collect.price': marketCollectPrice,
  'market.collect.sps': marketCollectSps,
  'market.collect.if': marketCollectIf,
  'market.collect.ondemand': marketCollectOnDemand,
  'market.summary': marketSummary,
};

export function fleetRegistry(): Registry {
  return Registry.of(catalog, handlers);
}
