import type { Command } from 'commander';
import { loadConfig, type Config } from '../../../shared/config.js';
import { createLogger, type Logger } from '../../../shared/logger.js';
import { UsageError } from '../errors.js';

export interface GlobalOptions {
  config?: string;
  debug?: boolean;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

export function configFor(cmd: Command, overrides?: Record<string, unknown>): Config {
  const g = globals(cmd);
  return loadConfig({ ...(g.config ? { file: g.config } : {}), ...(overrides ? { overrides } : {}) });
}

/** The command's logger; `stderr` when stdout carries a --json result. */
export function loggerFor(config: Config, name?: string, { stderr = false }: { stderr?: boolean } = {}): Logger {
  return createLogger({ level: config.log.level, ...(config.log.format ? { format: config.log.format } : {}), ...(name ? { name } : {}), stderr });
}

export function parsePort(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65_535) throw new UsageError(`${flag}: must be a port number from 0 to 65535, got ${JSON.stringify(value)}`);
  return n;
}

export function parseCount(value: string, flag: string, min = 1, max = 64): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new UsageError(`${flag}: must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  return n;
}
