import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { RateLimiterCluster, RateLimiterClusterMaster } from 'rate-limiter-flexible';
import type { Logger } from '../../kit/logger';
import type { RunningService } from '../../kit/runService';
import type { KeptAnswersBus } from './keptAnswersBus';
import type { QuotasOptions } from './quotas';

// `TAILOR_GATEWAY_WORKERS=N`: N gateway processes on one host, on one port (node:cluster hands each
// connection to the next worker). The primary serves no request: it starts the workers one after the
// other (the first makes the development key, the others find it), starts again any that dies, and is
// the meeting point of what the workers must share without Redis: the client quotas, the "drop your
// kept REST answers" message, and /metrics summed over every worker.

const FORGET = 'tailor:rest-answers:forget';
const METRICS_REQ = 'tailor:metrics:req';
const METRICS_RES = 'tailor:metrics:res';

/** Set by the primary in the environment of each worker it forks. */
const WORKER_MARK = 'TAILOR_GATEWAY_WORKER_OF';

/**
 * True in a worker of `TAILOR_GATEWAY_WORKERS`: forked by Tailor's own primary, which answers its quota,
 * metrics and kept-answers messages (not a worker of another cluster manager, which would not).
 */
export const inGatewayWorker = (): boolean => cluster.isWorker && process.env[WORKER_MARK] === String(process.ppid);

/** In a worker without Redis: quotas counted once for every worker, in the primary (over IPC). */
export function clusterLimiter(): NonNullable<QuotasOptions['limiter']> {
  return (opts) => new RateLimiterCluster({ ...opts, timeoutMs: 1_000 });
}

/** In a worker without Redis: a mutation on one worker drops the kept REST answers of every worker. */
export function clusterKeptAnswersBus(forget: () => void): KeptAnswersBus {
  const onMessage = (message: { type?: string }) => {
    if (message?.type === FORGET) forget();
  };
  process.on('message', onMessage);
  return {
    announce: () => void process.send?.({ type: FORGET }),
    async close() {
      process.off('message', onMessage);
    },
  };
}

/** In a worker: lets the primary collect this worker's registry, and gives the sum over every worker. */
export function clusterMetrics(registry: Registry): { text(): Promise<string>; contentType: string } {
  AggregatorRegistry.setRegistries([registry]);
  // Constructed for its side effect in a worker: it answers the primary's collection requests.
  new AggregatorRegistry();
  let next = 0;
  const waiting = new Map<number, (text: string) => void>();
  process.on('message', (message: { type?: string; id?: number; text?: string }) => {
    if (message?.type !== METRICS_RES || message.id === undefined) return;
    waiting.get(message.id)?.(message.text ?? '');
    waiting.delete(message.id);
  });
  return {
    contentType: registry.contentType,
    text: () =>
      new Promise<string>((resolve, reject) => {
        const id = next++;
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error('the primary did not answer with the workers\' metrics in time'));
        }, 5_000);
        waiting.set(id, (text) => {
          clearTimeout(timer);
          resolve(text);
        });
        process.send?.({ type: METRICS_REQ, id });
      }),
  };
}

/** How long the primary waits before starting a dead worker again: doubling from 100 ms up to 5 s. */
const RESTART_BACKOFF_MS = { first: 100, max: 5_000 };

/**
 * In the primary: starts `count` workers (each runs this same script), one after the other, and
 * resolves once all listen, with their shared URL. A worker that exits is started again; `close`
 * sends every worker SIGTERM (each drains) and waits for them to exit.
 */
export async function startGatewayWorkers(count: number, logger: Logger): Promise<RunningService> {
  const aggregator = new AggregatorRegistry();
  // Holds every worker's quota counts (RateLimiterCluster asks it over IPC).
  new RateLimiterClusterMaster();
  let stopping = false;
  let backoff = RESTART_BACKOFF_MS.first;
  let address: { url: string; port: number } | undefined;

  cluster.on('message', (worker: Worker, message: { type?: string; id?: number }) => {
    if (message?.type === FORGET) {
      for (const other of Object.values(cluster.workers ?? {})) if (other && other !== worker && other.isConnected()) other.send({ type: FORGET });
    } else if (message?.type === METRICS_REQ) {
      aggregator.clusterMetrics().then(
        (text) => worker.isConnected() && worker.send({ type: METRICS_RES, id: message.id, text }),
        (error: Error) => {
          logger.warn({ err: { message: error.message } }, 'the workers\' metrics could not be collected');
          if (worker.isConnected()) worker.send({ type: METRICS_RES, id: message.id, text: '' });
        },
      );
    }
  });

  /** Forks one worker; resolves once it listens (rejects if it exits first). */
  const fork = () =>
    new Promise<{ url: string; port: number }>((resolve, reject) => {
      const worker = cluster.fork({ [WORKER_MARK]: String(process.pid) });
      const onMessage = (message: { type?: string; url?: string; port?: number }) => {
        if (message?.type !== 'listening' || !message.url || message.port === undefined) return;
        worker.off('exit', onEarlyExit);
        backoff = RESTART_BACKOFF_MS.first;
        resolve({ url: message.url, port: message.port });
      };
      const onEarlyExit = (code: number | null, signal: string | null) => reject(new Error(`a gateway worker exited during start-up (code ${code}, signal ${signal})`));
      worker.on('message', onMessage);
      worker.once('exit', onEarlyExit);
      worker.once('exit', (code, signal) => {
        if (stopping || !address) return;
        logger.error({ pid: worker.process.pid, code, signal, restartInMs: backoff }, 'a gateway worker exited; starting another');
        const delay = backoff;
        backoff = Math.min(backoff * 2, RESTART_BACKOFF_MS.max);
        setTimeout(() => {
          if (!stopping) fork().catch((error: Error) => logger.error({ err: { message: error.message } }, 'a gateway worker could not be started again'));
        }, delay).unref();
      });
    });

  try {
    for (let i = 0; i < count; i++) address = await fork();
  } catch (error) {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    throw error;
  }
  logger.info({ workers: count, url: address!.url }, 'gateway workers listening');
  return {
    ...address!,
    async close() {
      stopping = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      await Promise.all(
        workers.map(
          (worker) =>
            new Promise<void>((resolve) => {
              if (worker.isDead()) return resolve();
              worker.once('exit', () => resolve());
              worker.process.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
