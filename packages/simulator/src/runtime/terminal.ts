import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { ServerChannel } from 'ssh2';

/**
 * A minimal line discipline for sessions that asked for a pty. No real
 * pseudo-terminal can be opened without native modules, so the program runs
 * on pipes and this class plays the terminal's part: output newlines become
 * CR LF, stderr joins stdout (as on a tty), typed characters are echoed,
 * Enter (CR) becomes a newline, backspace erases, Ctrl-C sends SIGINT to the
 * process group and Ctrl-D ends the input. Programs see no tty (isatty is
 * false), so full-screen programs and job control do not work.
 */
export class PipeTerminal {
  private line = '';

  constructor(
    private readonly channel: ServerChannel,
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly interrupt: (signal: NodeJS.Signals) => void,
  ) {}

  attach(): void {
    const toTerminal = (chunk: Buffer): void => {
      if (this.channel.writable) this.channel.write(chunk.toString('utf8').replace(/\r?\n/g, '\r\n'));
    };
    this.child.stdout.on('data', toTerminal);
    this.child.stderr.on('data', toTerminal);
    this.channel.on('data', (chunk: Buffer) => this.input(chunk.toString('utf8')));
    this.channel.on('end', () => this.endInput());
  }

  private input(text: string): void {
    for (const ch of text) {
      switch (ch) {
        case '\x03':
          this.line = '';
          this.echo('^C\r\n');
          this.interrupt('SIGINT');
          break;
        case '\x04':
          if (this.line === '') this.endInput();
          else this.flush('');
          break;
        case '\x7f':
        case '\b':
          if (this.line.length > 0) {
            this.line = [...this.line].slice(0, -1).join('');
            this.echo('\b \b');
          }
          break;
        case '\r':
        case '\n':
          this.echo('\r\n');
          this.flush('\n');
          break;
        default:
          this.line += ch;
          this.echo(ch);
      }
    }
  }

  private flush(end: string): void {
    const text = this.line + end;
    this.line = '';
    if (this.child.stdin.writable) this.child.stdin.write(text);
  }

  private endInput(): void {
    if (this.line !== '') this.flush('');
    if (this.child.stdin.writable) this.child.stdin.end();
  }

  private echo(text: string): void {
    if (this.channel.writable) this.channel.write(text);
  }
}
