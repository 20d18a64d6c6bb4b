/**
 * What the CLI needs of local mode before it loads it: the defaults its flags show. No import here
 * pulls in the simulator or the emulators (development dependencies), so a production install's CLI can
 * build its commands from it.
 */
import type { FaultSettings } from '@spotbatch/simulator';

export type { FaultSettings };

/**
 * What AWS does when it hurts, on by default at small values so the fleet meets it
 * locally: AWS's EC2 request limits, a 2 s NotFound window after creates, 3 s of
 * IAM instance profile propagation (docs/simulator.md).
 */
export const LOCAL_SIM_FAULTS: FaultSettings = { requestLimits: 1, notFoundSeconds: 2, iamPropagationSeconds: 3 };

/** The emulators take any credentials; these name themselves as local in every request. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
