/** One AWS Query protocol call: service and region from SigV4, action, codec, faults, errors. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ActionDef, SimContext } from '../context.js';
import { EC2_XMLNS, ec2Actions } from '../ec2/index.js';
import { IAM_XMLNS, iamActions } from '../iam/index.js';
import { ids } from '../ids.js';
import type { Stats } from '../stats.js';
import { FormParams, decodeInput, encodeError, encodeOutput } from './codec.js';
import type { Flavor } from './codec.js';
import { ApiError } from './errors.js';
import { scopeOf } from './sigv4.js';
import { categoryOf } from '../throttle.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function send(res: ServerResponse, status: number, body: string, requestId: string): void {
  res.writeHead(status, {
    'content-type': 'text/xml;charset=UTF-8',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': requestId,
  });
  res.end(body);
}

export async function handleQuery(sim: SimContext, stats: Stats, req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
  const requestId = ids.request();
  const url = new URL(req.url ?? '/', 'http://localhost');
  const pairs: [string, string][] = [...url.searchParams];
  const contentType = String(req.headers['content-type'] ?? '');
  if (body && (contentType === '' || contentType.includes('x-www-form-urlencoded'))) pairs.push(...new URLSearchParams(body));
  const params = new FormParams(pairs);
  const actionName = params.get('Action');
  const scope = scopeOf(req.headers.authorization, url.searchParams.get('X-Amz-Credential'));
  let flavor: Flavor = scope?.service === 'iam' ? 'query' : 'ec2';
  if (!scope && actionName && actionName in iamActions && !(actionName in ec2Actions)) flavor = 'query';
  const region = flavor === 'query' ? 'us-east-1' : (scope?.region ?? 'us-east-1');
  const statsRegion = flavor === 'query' ? 'global' : region;
  const fail = (err: ApiError): void => {
    stats.record(actionName ?? '(none)', statsRegion, err.code);
    sim.logger.debug({ action: actionName, region: statsRegion, requestId, code: err.code, status: err.status }, 'api call failed');
    send(res, err.status, encodeError(flavor, err.code, err.message, requestId), requestId);
  };
  try {
    if (scope && scope.service !== 'ec2' && scope.service !== 'iam') {
      throw new ApiError('InvalidAction', `The service '${scope.service}' is not offered by this endpoint (ec2 and iam are).`);
    }
    if (!actionName) throw new ApiError('MissingAction', 'The request must contain the parameter Action');
    const table = flavor === 'ec2' ? ec2Actions : iamActions;
    const def: ActionDef | undefined = Object.hasOwn(table, actionName) ? table[actionName] : undefined;
    // An action not served (or made so by faults.unsupportedActions) answers what AWS answers an unknown one.
    if (!def || sim.faults.unsupported(actionName)) throw new ApiError('InvalidAction', `The action ${actionName} is not valid for this web service.`);
    if (flavor === 'ec2' && !sim.catalog.hasRegion(region)) {
      throw new ApiError('AuthFailure', `The region '${region}' is not known to the simulator.`, 401);
    }
    if (flavor === 'ec2' && sim.faults.regionDisabled(region)) {
      // an opt-in region the account has not enabled
      throw new ApiError('AuthFailure', 'AWS was not able to validate the provided access credentials', 401);
    }
    const latency = sim.faults.latencyMs();
    if (latency > 0) await sleep(latency);
    if (sim.faults.throttled(actionName)) {
      throw flavor === 'ec2' ? new ApiError('RequestLimitExceeded', 'Request limit exceeded.', 503) : new ApiError('Throttling', 'Rate exceeded', 400);
    }
    // Standing EC2 request limits (token buckets per region and action), as AWS applies them.
    if (flavor === 'ec2' && !sim.limiter.take(sim.faults.requestLimits(), region, actionName, categoryOf(actionName, pairs.map(([k]) => k)))) {
      throw new ApiError('RequestLimitExceeded', 'Request limit exceeded.', 503);
    }
    const input = decodeInput(def.op, params, flavor);
    if (input.DryRun === true) {
      throw new ApiError('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
    }
    const output = await def.run(input as never, { sim, region, account: scope?.accessKeyId ?? 'anonymous', requestId });
    stats.record(actionName, statsRegion);
    sim.logger.debug({ action: actionName, region: statsRegion, requestId }, 'api call');
    send(res, 200, encodeOutput(def.op, output as Record<string, unknown>, flavor, requestId, flavor === 'ec2' ? EC2_XMLNS : IAM_XMLNS), requestId);
  } catch (err) {
    if (err instanceof ApiError) return fail(err);
    sim.logger.error({ err: String(err), stack: err instanceof Error ? err.stack : undefined, action: actionName }, 'simulator internal error');
    fail(new ApiError(flavor === 'ec2' ? 'InternalError' : 'ServiceFailure', 'An internal error has occurred.', 500));
  }
}
