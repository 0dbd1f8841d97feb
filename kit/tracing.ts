import type { IncomingHttpHeaders } from 'node:http';
import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  context,
  isSpanContextValid,
  propagation,
  trace,
} from '@opentelemetry/api';
// Types only: the SDK packages are loaded by `setupTracing`, when it turns tracing on. With tracing
// off a process loads `@opentelemetry/api` alone (about a quarter of a second less at start-up).
import type { BasicTracerProvider, ReadableSpan, Span as SdkSpan, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace-base';

/**
 * The attribute naming the Tailor process a span was recorded in (`gateway`, `crm`, …). The resource's
 * `service.name` says the same per process; this one also tells services apart when several share one
 * process and one tracer provider (the in-process test stack).
 */
export const SERVICE_ATTRIBUTE = 'tailor.service';

/** Tailor's own tracer (`@apollo/gateway` has its own, `apollo/gateway-js`). A no-op until `setupTracing`. */
export function tracer(): Tracer {
  return trace.getTracer('tailor');
}

/** Options of `setupTracing`. */
export interface TracingOptions {
  /** The resource's `service.name`, e.g. `gateway` or `crm`. */
  service: string;
  /**
   * An OTLP/HTTP collector, e.g. `http://127.0.0.1:4318`: spans are POSTed (in batches) to
   * `<endpoint>/v1/traces`, or to the URL itself if it already ends in `/v1/traces`.
   */
  endpoint?: string;
  /** Another exporter (tests: an `InMemorySpanExporter`); each span is handed to it as it ends. */
  exporter?: SpanExporter;
  /** Share of new traces recorded, 0..1 (default 1); a request that arrives with a trace context follows its sampled flag. */
  sampleRatio?: number;
}

/** Flushes what is buffered and unregisters the tracer provider. Safe to call more than once. */
export type StopTracing = () => Promise<void>;

let installed: { provider: BasicTracerProvider; stop: StopTracing } | undefined;

/**
 * Registers a tracer provider, a W3C trace-context propagator and an async-local context manager,
 * exporting to `endpoint` and/or `exporter`. With neither, nothing is registered: every span call
 * of `@opentelemetry/api` stays a no-op and nothing leaves the process. Only the first call of a
 * process installs anything; later ones (another service in the same process) get a no-op stop.
 */
export function setupTracing(options: TracingOptions): StopTracing {
  if (installed || (!options.endpoint && !options.exporter)) return async () => {};
  const { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler } = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks') as typeof import('@opentelemetry/context-async-hooks');
  const { W3CTraceContextPropagator } = require('@opentelemetry/core') as typeof import('@opentelemetry/core');
  const { resourceFromAttributes } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const { ATTR_SERVICE_NAME } = require('@opentelemetry/semantic-conventions') as typeof import('@opentelemetry/semantic-conventions');
  const processors: SpanProcessor[] = [new ServiceAttributeProcessor(options.service)];
  if (options.endpoint) {
    const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
    processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(options.endpoint) })));
  }
  if (options.exporter) processors.push(new SimpleSpanProcessor(options.exporter));
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.service }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(options.sampleRatio ?? 1) }),
    spanProcessors: processors,
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  let stopping: Promise<void> | undefined;
  const stop: StopTracing = () => {
    stopping ??= (async () => {
      try {
        await provider.shutdown();
      } finally {
        trace.disable();
        propagation.disable();
        context.disable();
        if (installed?.provider === provider) installed = undefined;
      }
    })();
    return stopping;
  };
  installed = { provider, stop };
  return stop;
}

/**
 * Flushes and unregisters the provider `setupTracing` installed, if any, giving up after `timeoutMs`
 * (an unreachable collector must not hold up a shutdown).
 */
export async function shutdownTracing(timeoutMs = 5_000): Promise<void> {
  if (!installed) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([installed.stop().catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** True once `setupTracing` has registered a provider: the cue to create spans that cost something to build. */
export function tracingEnabled(): boolean {
  return installed !== undefined;
}

function tracesUrl(endpoint: string): string {
  return /\/v1\/traces\/?$/.test(endpoint) ? endpoint : `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}

/**
 * Gives every span a `tailor.service`: its own if set when it starts, else its in-process parent's,
 * else the provider's service.
 */
class ServiceAttributeProcessor implements SpanProcessor {
  constructor(private readonly fallback: string) {}

  onStart(span: SdkSpan, parentContext: Context): void {
    if (span.attributes[SERVICE_ATTRIBUTE] !== undefined) return;
    const parent = trace.getSpan(parentContext);
    const inherited = parent && !parent.spanContext().isRemote ? (parent as Partial<ReadableSpan>).attributes?.[SERVICE_ATTRIBUTE] : undefined;
    span.setAttribute(SERVICE_ATTRIBUTE, inherited ?? this.fallback);
  }

  onEnd(): void {}

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {}
}

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

/**
 * The trace context an incoming request carries (`traceparent`), on top of the root context: a
 * request without one starts a new trace, never one of whatever happens to be active.
 */
export function extractTraceContext(headers: IncomingHttpHeaders): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}

/**
 * Starts the server span of one incoming HTTP request, child of the trace context its headers carry.
 * Returns the span and the context to run the request's handler in.
 */
export function startServerSpan(name: string, headers: IncomingHttpHeaders, attributes: Attributes): { span: Span; context: Context } {
  const parent = extractTraceContext(headers);
  const span = tracer().startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/**
 * Marks a span failed: the error's type and stack frames, never its message, which may quote a
 * request's data (an email address, a name).
 */
export function recordSpanError(span: Span, error: unknown): void {
  const type = error instanceof Error ? error.name : typeof error;
  const frames = error instanceof Error ? (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line)) : [];
  span.recordException({ name: type, message: type, stack: frames.join('\n') || undefined });
  span.setStatus({ code: SpanStatusCode.ERROR, message: type });
}

/**
 * Runs `fn` in a new active span (when tracing is on; otherwise just runs it), ending it when `fn`
 * returns or throws. For synchronous work, such as one SQLite statement.
 */
export function withSpanSync<T>(name: string, attributes: Attributes, fn: () => T, kind: SpanKind = SpanKind.INTERNAL): T {
  if (!installed) return fn();
  return tracer().startActiveSpan(name, { kind, attributes }, (span) => {
    try {
      return fn();
    } catch (error) {
      recordSpanError(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Runs `fn` in a new active span (when tracing is on), ending it when its promise settles. */
export async function withSpan<T>(name: string, attributes: Attributes, fn: (span: Span | undefined) => Promise<T>, kind: SpanKind = SpanKind.INTERNAL): Promise<T> {
  if (!installed) return fn(undefined);
  return tracer().startActiveSpan(name, { kind, attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      recordSpanError(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * `trace_id`, `span_id` and `trace_flags` of the active span, for a log line; `{}` outside a span.
 * A new object each call: pino's mixin merges the line's own fields into it.
 */
export function activeTraceFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const ctx = span.spanContext();
  if (!isSpanContextValid(ctx)) return {};
  return { trace_id: ctx.traceId, span_id: ctx.spanId, trace_flags: ctx.traceFlags.toString(16).padStart(2, '0') };
}
