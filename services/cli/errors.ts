/** Exit codes and how errors reach the terminal: a line that says what to fix, a stack only with --debug. */
import { ConfigError, PermanentError, SpotbatchError, ValidationError, type ErrorOptions } from '../../shared/errors.js';
import { NotFoundError } from '../remote/target.js';
import { MissingPathError } from '../remote/transfer.js';
import { NotFound } from '../views/index.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Bad input from the command line: exit 2. */
export class UsageError extends PermanentError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'UsageError';
  }
}

/**
 * A server command could not listen where it was told (a port in use, a host
 * name that does not resolve, an address not on this machine): a matter of
 * its options, so exit 2, and the message names the address and the option.
 */
export class BindError extends UsageError {
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options);
    this.name = 'BindError';
  }
}

/** Where a server command listens: its --host value and each port option it binds, by flag (`--port`: 8080). */
export interface Binding {
  host: string;
  hostFlag?: string;
  ports: Record<string, number>;
}

const LISTEN_CODES: Record<string, string> = {
  EADDRINUSE: 'the port is in use by another program',
  EACCES: 'not allowed (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not one of this machine\'s',
};

/**
 * The listen failure in `err`, said in terms of the command's options; undefined when
 * `err` is no listen failure (so an SDK's ENOTFOUND stays the fleet's endpoint problem).
 */
export function bindFailure(err: unknown, binding: Binding): BindError | undefined {
  const e = (err ?? {}) as { code?: unknown; syscall?: unknown; hostname?: unknown; address?: unknown; port?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  const hostFlag = binding.hostFlag ?? '--host';
  const shown = (host: string) => (host.includes(':') ? `[${host}]` : host);
  if ((code === 'ENOTFOUND' || code === 'EAI_AGAIN') && e.syscall === 'getaddrinfo' && e.hostname === binding.host) {
    return new BindError(`cannot listen on ${binding.host} (${hostFlag}): no such host name; give ${hostFlag} an address of this machine, such as 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)`, { cause: err });
  }
  const why = LISTEN_CODES[code];
  if (!why || (e.syscall !== 'listen' && e.syscall !== 'bind')) return undefined;
  const address = typeof e.address === 'string' ? e.address : binding.host;
  const port = typeof e.port === 'number' ? e.port : undefined;
  const flag = Object.entries(binding.ports).find(([, p]) => p !== 0 && p === port)?.[0];
  const where = `${shown(address)}${port !== undefined ? `:${port}` : ''}`;
  const fix =
    code === 'EADDRNOTAVAIL'
      ? `give ${hostFlag} an address of this machine, such as 127.0.0.1 or 0.0.0.0`
      : `pick another ${flag ?? 'port'} (0 picks a free one)${code === 'EADDRINUSE' ? ' or stop what is using it' : ''}`;
  const option = code === 'EADDRNOTAVAIL' ? hostFlag : flag;
  return new BindError(`cannot listen on ${where}${option ? ` (${option})` : ''}: ${why}; ${fix}`, { cause: err });
}

/** Run a server's start-up; a listen failure becomes a BindError that names the option to change. */
export async function listening<T>(binding: Binding, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    throw bindFailure(err, binding) ?? err;
  }
}

export function exitCodeOf(err: unknown): number {
  return err instanceof UsageError || err instanceof ConfigError || err instanceof ValidationError || err instanceof NotFoundError || err instanceof NotFound || err instanceof MissingPathError
    ? EXIT_USAGE
    : EXIT_FAILED;
}

const ENDPOINT_HINT = 'check AWS_ENDPOINT_URL_SQS and AWS_ENDPOINT_URL_DYNAMODB (`spotbatch local` prints them), or start the fleet with `spotbatch local`';

/**
 * What an error from the AWS SDK or the network means for a person at a terminal, when it is a common one.
 * An error that wraps another (`cause`, as "queue ... not found" wraps the SDK's failure) is explained by
 * the first in the chain that is a network or credentials failure: that is the real cause, whatever the
 * command was doing, so every command says the same.
 */
export function explain(err: unknown): string | undefined {
  // Our own errors already say what happened (an SSH ECONNREFUSED is not the fleet's endpoint).
  if (err instanceof SpotbatchError || err instanceof UsageError) return undefined;
  const chain: unknown[] = [];
  for (let e: unknown = err; e !== undefined && e !== null && chain.length < 8 && !chain.includes(e); e = (e as { cause?: unknown }).cause) {
    if (e instanceof SpotbatchError || e instanceof UsageError) break;
    chain.push(e);
  }
  const found = chain.map(diagnose);
  const root = found.find((d) => d !== undefined && d.kind !== 'missing');
  if (root) return root.text;
  if (!found.some((d) => d?.kind === 'missing')) return undefined;
  // Something the fleet should have is not there: the outermost message says what it was.
  const said = messageOf(chain[0]) || nameOf(chain[0]);
  return `${said}: are SPOTBATCH_PREFIX and the endpoints those of the fleet?${/spotbatch setup/.test(said) ? '' : ' `spotbatch setup` creates the queues and tables'}`;
}

const messageOf = (e: unknown): string => {
  const m = (e as { message?: unknown } | null)?.message;
  return typeof m === 'string' ? m : '';
};
const nameOf = (e: unknown): string => {
  const n = (e as { name?: unknown } | null)?.name;
  return typeof n === 'string' ? n : '';
};

/** One error of a chain: a network failure, no credentials, or a queue or table that is not there. */
function diagnose(err: unknown): { kind: 'unreachable' | 'credentials' | 'missing'; text: string } | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  const code = typeof c === 'string' ? c : '';
  const name = nameOf(err);
  const message = messageOf(err);
  if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ECONNRESET', 'ETIMEDOUT'].includes(code) || /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH/.test(message)) {
    return { kind: 'unreachable', text: `cannot reach the fleet's queues or tables (${message || code}): ${ENDPOINT_HINT}` };
  }
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) {
    return { kind: 'credentials', text: 'no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (any values do for `spotbatch local`) or AWS_PROFILE' };
  }
  if (name === 'ResourceNotFoundException' || name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue' || /NonExistentQueue|does not exist/i.test(message)) {
    return { kind: 'missing', text: message || name };
  }
  return undefined;
}

/** Whether --debug was given to spotbatch itself: only the arguments before a `--` count (after it they are a remote command's). */
export function debugRequested(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--debug');
}

/**
 * The last resort for an error no command caught (an 'error' event nobody
 * listens to, a promise nobody awaits): one line (the stack with --debug), exit 1.
 */
export function exitOnFatal(debug: boolean): void {
  const fatal = (err: unknown): void => {
    report(err, debug, { hint: false });
    process.exit(EXIT_FAILED);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
}

/** The error on stderr: what to fix in one line, then (`hint`, the default) how to see more; the stack and cause with `debug`. */
export function report(err: unknown, debug: boolean, { hint = true }: { hint?: boolean } = {}): void {
  if (debug && err instanceof Error) {
    console.error(err.stack ?? String(err));
    if (err.cause) console.error('caused by:', err.cause);
    return;
  }
  const message = explain(err) ?? (err instanceof Error ? err.message : String(err));
  console.error(`spotbatch: ${message}`);
  if (err instanceof ValidationError && err.issues.length > 1) {
    for (const issue of err.issues) console.error(`  - ${issue.path || '(root)'}: ${issue.rule}`);
  }
  if (!debug && hint) console.error('(run with --debug for details)');
}
