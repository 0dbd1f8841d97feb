import type { ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/** Serves a registry's metrics in Prometheus text format. */
export async function sendMetrics(res: ServerResponse, registry: Registry): Promise<void> {
  const text = await registry.metrics();
  res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
  res.end(text);
}
