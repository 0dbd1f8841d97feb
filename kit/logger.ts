import pino, { type DestinationStream, type Logger } from 'pino';
import { activeTraceFields } from './tracing';

export type { Logger };

/**
 * A structured JSON logger for one service; every line carries the service name, and a line written
 * while a span is active also its `trace_id` and `span_id`. `destination` defaults to stdout.
 */
export function createLogger(service: string, level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    mixin: activeTraceFields,
  };
  return destination ? pino(options, destination) : pino(options);
}
