/**
 * Local mode's entry: what `spotbatch local` and `spotbatch sim` run, loaded by the CLI with a dynamic
 * import (services/cli/local-mode.ts). Everything here may use the development dependencies: the
 * simulator package (@spotbatch/simulator) and the embedded emulators (local-aws-sqs, dynalite).
 */
export { startLocal } from './local.js';
export { parseLatency, startSimulator } from '@spotbatch/simulator';
