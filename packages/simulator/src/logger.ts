/**
 * What the simulator logs through: the shape of a pino logger (the product hands in its own), or nothing.
 * The simulator depends on no logging library.
 */
/** pino's call shape: an object of fields (or a message), a message, printf-style arguments. */
export type LogFn = (objOrMsg: unknown, msg?: string, ...args: unknown[]) => void;

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

/** A logger that writes nothing (the default). */
export function silentLogger(): Logger {
  const none: LogFn = () => undefined;
  const logger: Logger = { debug: none, info: none, warn: none, error: none, child: () => logger };
  return logger;
}
