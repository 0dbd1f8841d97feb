import pino, { type Logger } from 'pino';

export type { Logger };

/** A structured JSON logger for one service; every line carries the service name. */
export function createLogger(service: string, level: string): Logger {
  return pino({
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
