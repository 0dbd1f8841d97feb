import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Latency buckets, in seconds, of every Tailor histogram: 1 ms to 2.5 s. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** A registry whose every sample carries `service`, with Node's default process metrics. */
export function createServiceRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}

/** `tailor_http_request_duration_seconds{route,status}`, which every Tailor process serves. */
export function createHttpDurationHistogram(registry: Registry): Histogram<'route' | 'status'> {
  return new Histogram({
    name: 'tailor_http_request_duration_seconds',
    help: 'HTTP request duration, by route and status code.',
    labelNames: ['route', 'status'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
}

/** Sums a counter over all its label sets, or over those matching `labels`. */
export async function counterTotal(counter: Counter<string>, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await counter.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}
