/** ssh, exec, upload, download: reach a task's running instance. */
import { Command } from 'commander';
import { runCommand, runShell } from '../../remote/shell.js';
import { withTaskInstance } from '../../remote/session.js';
import { download, upload, type TransferResult } from '../../remote/transfer.js';
import { shellWords } from '../../../shared/shell.js';
import { formatBytes } from '../format.js';
import { connect } from './connect.js';

const KEY_NOTE = [
  '',
  "The job's private key is decrypted in this process from the job's row with the fleet's",
  'secret key (SPOTBATCH_SECRET_KEY, or SPOTBATCH_SECRET_KEY_FILE naming a file that holds it, as',
  '`spotbatch local` exports; the one the dispatchers have); it is never printed.',
  "The instance's host key must be the one its attempt pinned at launch: another key (an impostor",
  'at the address, a replaced instance) is refused before anything is sent, exit 1.',
  'The instance port is SPOTBATCH_SSH_PORT (22 on EC2). Relative remote paths are below the',
  "login home; the task's own files are in ~/.spotbatch/tasks/JOB/TASK/ATTEMPT.",
].join('\n');

const TASK_ARG = 'a task id (0002) or index (2)';

/** What exec says after a parse error: most are a command's options taken for exec's own. */
export const EXEC_HINT = '(put the command after --, as in: spotbatch exec JOB TASK -- ls -la; add --help for usage)';

export function sshCommand(): Command {
  return new Command('ssh')
    .description("an interactive shell on the instance of the task's current attempt")
    .argument('<job>', 'a job id')
    .argument('<task>', TASK_ARG)
    .option('--no-pty', 'no pseudo-terminal even when stdin is a terminal')
    .addHelpText(
      'after',
      [
        '',
        'With a terminal on stdin and stdout: a PTY (type from $TERM, size from this window, resized with it),',
        'this terminal in raw mode until the shell exits. Otherwise (a pipe, a file) the shell reads commands',
        'from stdin:  echo "uname -a; exit 3" | spotbatch ssh JOB TASK',
        '',
        "Exit codes: the remote shell's exit code; 1 when no connection could be made or it was lost,",
        '2 no such job or task, or a configuration problem.',
        KEY_NOTE,
      ].join('\n'),
    )
    .action(async (jobId: string, taskRef: string, opts: { pty: boolean }, cmd: Command) => {
      const c = connect(cmd);
      try {
        process.exitCode = await withTaskInstance(c.store, c.config, jobId, taskRef, async (client, where, inst) => {
          const tty = process.stdin.isTTY === true && process.stdout.isTTY === true;
          if (tty) process.stderr.write(`spotbatch: shell on ${where}, task ${inst.task.taskId} of ${jobId}, attempt ${inst.attempt.n}; exit or Ctrl-D ends it\n`);
          return runShell(client, where, undefined, { pty: opts.pty && tty });
        });
      } finally {
        c.close();
      }
    });
}

export function execCommand(): Command {
  return new Command('exec')
    .description("run a command on the instance of the task's current attempt, its output streamed; exits with its exit code")
    .argument('<job>', 'a job id')
    .argument('<task>', TASK_ARG)
    .argument('<command...>', 'after --: one argument is a shell command line (sh -c); several are the words of one command, each quoted')
    .option('--no-stdin', 'do not send stdin to the command (by default it is sent unless it is a terminal)')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        "  spotbatch exec JOB 0 -- 'cd ~/.spotbatch/tasks && ls -R | head'",
        '  spotbatch exec JOB 0 -- ls -la "a file"',
        '  tar c data | spotbatch exec JOB 0 -- tar x -C /tmp',
        '',
        "Exit codes: the remote command's exit code (128 + n when a signal n ended it); 1 when no",
        'connection could be made or it was lost, 2 no such job or task, or a configuration problem.',
        KEY_NOTE,
      ].join('\n'),
    )
    .action(async (jobId: string, taskRef: string, words: string[], opts: { stdin: boolean }, cmd: Command) => {
      const line = words.length === 1 ? words[0]! : shellWords(words);
      const c = connect(cmd);
      try {
        process.exitCode = await withTaskInstance(c.store, c.config, jobId, taskRef, (client, where) =>
          runCommand(client, where, line, undefined, { stdin: opts.stdin && process.stdin.isTTY !== true }),
        );
      } finally {
        c.close();
      }
    });
}

function transferCommand(name: 'upload' | 'download'): Command {
  const up = name === 'upload';
  return new Command(name)
    .description(up ? "copy a local file or folder to the task's instance (SFTP, recursive)" : "copy a file or folder of the task's instance here (SFTP, recursive)")
    .argument('<job>', 'a job id')
    .argument('<task>', TASK_ARG)
    .argument(up ? '<local>' : '<remote>', up ? 'the local file or folder' : 'the remote file or folder (relative: below the login home)')
    .argument(up ? '<remote>' : '<local>', up ? 'where it goes (relative: below the login home)' : 'where it goes here')
    .option('--json', 'print JSON: {"to", "files", "bytes"}')
    .addHelpText(
      'after',
      [
        '',
        'As scp -r: when the destination is an existing folder the copy goes inside it under its own name;',
        'otherwise it takes the destination name. Missing parent folders are made. File modes are kept.',
        '',
        'Exit codes: 0 copied, 1 the copy failed or no connection, 2 a path that does not exist, no such job or task.',
        KEY_NOTE,
      ].join('\n'),
    )
    .action(async (jobId: string, taskRef: string, from: string, to: string, opts: { json?: boolean }, cmd: Command) => {
      const c = connect(cmd);
      try {
        const result: TransferResult & { where: string } = await withTaskInstance(c.store, c.config, jobId, taskRef, async (client, where) => ({
          ...(up ? await upload(client, where, from, to) : await download(client, where, from, to)),
          where,
        }));
        if (opts.json) console.log(JSON.stringify({ to: result.to, files: result.files, bytes: result.bytes }));
        else console.log(`${up ? 'uploaded' : 'downloaded'} ${result.files} file(s), ${formatBytes(result.bytes)}, to ${up ? `${result.where}:` : ''}${result.to}`);
      } finally {
        c.close();
      }
    });
}

export const uploadCommand = (): Command => transferCommand('upload');
export const downloadCommand = (): Command => transferCommand('download');
