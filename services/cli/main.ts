#!/usr/bin/env node
/**
 * The `spotbatch` command: a thin layer over the library calls the tests use.
 * Exit codes: 0 ok, 1 failed, 2 usage error.
 */
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { EXIT_OK, EXIT_USAGE, debugRequested, exitCodeOf, exitOnFatal, report } from './errors.js';
import { dispatcherCommand } from './commands/dispatcher.js';
import { localCommand } from './commands/local.js';
import { setupCommand } from './commands/setup.js';
import { simCommand } from './commands/sim.js';
import { advisorCommand } from './commands/advisor.js';
import { planCommand } from './commands/plan.js';
import { cancelCommand, statusCommand, submitCommand } from './commands/jobs.js';
import { statusPageCommand } from './commands/status-page.js';
import { marketCommand } from './commands/market.js';
import { reportCommand } from './commands/report.js';
import { logsCommand, tasksCommand } from './commands/tasks.js';
import { EXEC_HINT, downloadCommand, execCommand, sshCommand, uploadCommand } from './commands/remote.js';
import { doctorCommand } from './commands/doctor.js';
import { cleanupCommand } from './commands/cleanup.js';
import { packageVersion } from './version.js';
import { quietOnBrokenPipe } from './pipes.js';
import { shortenSdkNodeNotice } from './warnings.js';

const entry = fileURLToPath(import.meta.url);

export function buildProgram(): Command {
  const program = new Command('spotbatch')
    .description('Run batch jobs on EC2 Spot Instances; interruptions are handled for you.')
    .option('--config <file>', 'configuration file (JSON or YAML); also SPOTBATCH_CONFIG')
    .option('--debug', 'print stack traces on errors')
    .version(packageVersion(), '-V, --version', 'print the version')
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  const commands = [submitCommand(), statusCommand(), tasksCommand(), logsCommand(), cancelCommand(), sshCommand(), execCommand(), uploadCommand(), downloadCommand(), setupCommand(), dispatcherCommand(), localCommand(entry), simCommand(), statusPageCommand(), marketCommand(), advisorCommand(), planCommand(), doctorCommand(), cleanupCommand(), reportCommand()];
  for (const cmd of commands) {
    program.addCommand(cmd.exitOverride().showHelpAfterError(cmd.name() === 'exec' ? EXEC_HINT : '(add --help for usage)'));
  }
  return program;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    // A command that ran to the end may still report failure (submit --wait, exec's remote exit code).
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version print and exit 0; parse errors were printed by commander
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    report(err, debugRequested(argv));
    return exitCodeOf(err);
  }
}

shortenSdkNodeNotice();
exitOnFatal(debugRequested(process.argv));
quietOnBrokenPipe();
main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  // main reports its own errors; this is for one thrown while reporting.
  (err: unknown) => {
    report(err, debugRequested(process.argv), { hint: false });
    process.exitCode = exitCodeOf(err);
  },
);
