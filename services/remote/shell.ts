/**
 * A person's terminal on a task's instance: an interactive shell (with a PTY
 * when the local side is a terminal) and commands whose output is streamed as
 * it comes. Both resolve to the remote exit code.
 */
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { ReadStream, WriteStream } from 'node:tty';
import type ssh2 from 'ssh2';
import type { ClientChannel, PseudoTtyOptions } from 'ssh2';
import { TransientError } from '../../shared/errors.js';

/** Where a session reads and writes: the process's own streams, or any others (tests). */
export interface Terminal {
  stdin: Readable & Partial<Pick<ReadStream, 'isTTY' | 'setRawMode'>>;
  stdout: Writable & Partial<Pick<WriteStream, 'isTTY' | 'columns' | 'rows'>>;
  stderr: Writable;
}

export function processTerminal(): Terminal {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
}

/** The exit code of a remote command: its status, 128 + n for a signal, as a shell reports it. */
export function exitCodeFrom(code: number | null | undefined, signal: string | undefined): number | undefined {
  if (typeof code === 'number') return code;
  if (signal) {
    const n = (constants.signals as Record<string, number | undefined>)[`SIG${signal.replace(/^SIG/, '')}`];
    return n === undefined ? 255 : 128 + n;
  }
  return undefined;
}

/** Resolve with the channel's exit code once it closes; reject when it closes without one (connection lost). */
function exitOf(channel: ClientChannel, client: ssh2.Client, where: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let code: number | undefined;
    let lost: Error | undefined;
    channel.on('exit', (status: number | null, signal?: string) => {
      code = exitCodeFrom(status, signal);
    });
    channel.on('error', () => undefined);
    client.on('error', (err: Error) => {
      lost = err;
    });
    channel.once('close', () => {
      if (code !== undefined) resolve(code);
      else reject(new TransientError(`the session on ${where} ended without an exit status${lost ? ` (${lost.message})` : ''}: the connection was lost or the instance went away`));
    });
  });
}

function open<T>(start: (cb: (err: Error | undefined, channel: T) => void) => void, what: string): Promise<T> {
  return new Promise((resolve, reject) =>
    start((err, channel) => (err ? reject(new TransientError(`cannot start ${what}: ${err.message}`)) : resolve(channel))),
  );
}

/** Stop reading stdin so the process can exit (a pipe or a TTY keeps the event loop alive). */
function releaseStdin(term: Terminal, channel: ClientChannel): void {
  term.stdin.unpipe(channel);
  term.stdin.pause();
  if (term.stdin !== process.stdin || !term.stdin.isTTY) term.stdin.destroy();
}

export interface ShellOptions {
  /** Ask for a PTY (the default when stdin and stdout are terminals). */
  pty?: boolean;
  /** The terminal type for the PTY; default $TERM or xterm-256color. */
  term?: string;
}

/**
 * An interactive login shell. With a PTY: the terminal type from $TERM, the
 * window size from stdout's columns and rows (sent again on every resize),
 * stdin in raw mode while the session lasts and restored after. Without one,
 * stdin is piped to the shell, which reads commands until it ends.
 */
export async function runShell(client: ssh2.Client, where: string, term: Terminal = processTerminal(), opts: ShellOptions = {}): Promise<number> {
  const pty = opts.pty ?? (term.stdin.isTTY === true && term.stdout.isTTY === true);
  const size = (): { rows: number; cols: number } => ({ rows: term.stdout.rows || 24, cols: term.stdout.columns || 80 });
  const window: PseudoTtyOptions | false = pty ? { term: opts.term ?? (process.env.TERM || 'xterm-256color'), ...size(), width: 0, height: 0 } : false;
  const channel = await open<ClientChannel>((cb) => client.shell(window, cb), `a shell on ${where}`);
  const done = exitOf(channel, client, where);
  const resize = (): void => {
    const { rows, cols } = size();
    channel.setWindow(rows, cols, 0, 0);
  };
  const raw = pty && term.stdin.isTTY === true && typeof term.stdin.setRawMode === 'function';
  if (pty) {
    term.stdout.on('resize', resize);
    process.on('SIGWINCH', resize);
  }
  if (raw) term.stdin.setRawMode!(true);
  channel.pipe(term.stdout, { end: false });
  channel.stderr.pipe(term.stderr, { end: false });
  term.stdin.pipe(channel);
  try {
    return await done;
  } finally {
    if (pty) {
      term.stdout.off('resize', resize);
      process.off('SIGWINCH', resize);
    }
    if (raw) term.stdin.setRawMode!(false);
    releaseStdin(term, channel);
  }
}

export interface ExecOptions {
  /** Send stdin to the command (default: when stdin is not a terminal); otherwise the command's input ends at once. */
  stdin?: boolean;
}

/** Run one command line (`sh -c`), its stdout and stderr streamed to ours as they come. */
export async function runCommand(client: ssh2.Client, where: string, command: string, term: Terminal = processTerminal(), opts: ExecOptions = {}): Promise<number> {
  const channel = await open<ClientChannel>((cb) => client.exec(command, cb), `a command on ${where}`);
  const done = exitOf(channel, client, where);
  channel.pipe(term.stdout, { end: false });
  channel.stderr.pipe(term.stderr, { end: false });
  if (opts.stdin ?? term.stdin.isTTY !== true) term.stdin.pipe(channel);
  else channel.end();
  try {
    return await done;
  } finally {
    releaseStdin(term, channel);
  }
}
