import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Paths whose values never reach a log line. */
export const REDACT_PATHS = [
  'privateKey',
  '*.privateKey',
  'KeyMaterial',
  '*.KeyMaterial',
  'secretAccessKey',
  '*.secretAccessKey',
  'SecretAccessKey',
  '*.SecretAccessKey',
  'sessionToken',
  '*.sessionToken',
  'password',
  '*.password',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'credentials',
  '*.credentials',
  'secretKey',
  '*.secretKey',
  'lifecycle.secretKey',
  'previousSecretKeys',
  '*.previousSecretKeys',
  'lifecycle.previousSecretKeys',
];

export interface LoggerSettings {
  level?: string;
  /** 'pretty' for a terminal, 'json' otherwise; default: pretty when stdout is a TTY. */
  format?: 'pretty' | 'json';
  name?: string;
  /** Where JSON lines go (tests); default stdout. */
  destination?: NodeJS.WritableStream;
  /** Write to stderr instead of stdout (a command whose stdout carries its --json result). */
  stderr?: boolean;
}

export function createLogger(settings: LoggerSettings = {}): Logger {
  const format = settings.format ?? (process.stdout.isTTY ? 'pretty' : 'json');
  const options: LoggerOptions = {
    level: settings.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: settings.name ? { name: settings.name } : { pid: process.pid },
  };
  if (settings.destination) return pino(options, settings.destination as pino.DestinationStream);
  if (format === 'pretty') {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', ...(settings.stderr ? { destination: 2 } : {}) } },
    });
  }
  return settings.stderr ? pino(options, pino.destination(2)) : pino(options);
}

/** A logger that writes nothing (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
