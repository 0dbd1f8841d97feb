import { context, propagation } from '@opentelemetry/api';

/**
 * Writes the W3C trace context (`traceparent`, `tracestate`) of the active span into the headers of an
 * outgoing request, so that the service it calls continues the same trace. Without a registered
 * propagator (tracing not set up) it writes nothing.
 */
export function injectTraceHeaders(headers: Record<string, string | number>): void {
  propagation.inject(context.active(), headers, {
    set: (carrier, key, value) => {
      carrier[key] = value;
    },
  });
}
