#!/usr/bin/env node
/**
 * The `spotbatch` command: a thin layer over the library calls the tests use.
 * Exit codes: 0 ok, 1 failed, 2 usage error.
 */
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { EXIT_USAGE, exitCodeOf, report } from './errors.js';
import { dispatcherCommand } from './commands/dispatcher.js';
import { localCommand } from './commands/local.js';
import { setupCommand } from './commands/setup.js';
import { simCommand } from './commands/sim.js';
import { cancelCommand, statusCommand, submitCommand } from './commands/jobs.js';

const entry = fileURLToPath(import.meta.url);

export function buildProgram(): Command {
  const program = new Command('spotbatch')
    .description('Run batch jobs on EC2 Spot Instances; interruptions are handled for you.')
    .option('--config <file>', 'configuration file (JSON or YAML); also SPOTBATCH_CONFIG')
    .option('--debug', 'print stack traces on errors')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  for (const cmd of [submitCommand(), statusCommand(), cancelCommand(), setupCommand(), dispatcherCommand(), localCommand(entry), simCommand()]) {
    program.addCommand(cmd.exitOverride().showHelpAfterError('(add --help for usage)'));
  }
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version print and exit 0; parse errors were printed by commander
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    report(err, argv.includes('--debug'));
    return exitCodeOf(err);
  }
}

main(process.argv).then((code) => {
  process.exitCode = code;
});
