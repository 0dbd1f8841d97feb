import { ConfigError } from './config';
import { shutdownTracing } from './tracing';

/** A service listening on a port. */
export interface RunningService {
  url: string;
  port: number;
  /** Stops accepting connections, lets in-flight requests finish, then releases resources. */
  close(): Promise<void>;
}

/**
 * Runs a service's `main` until SIGINT or SIGTERM, then drains it and flushes its traces. A
 * configuration error is printed as one readable message and exits with status 2; any other start-up
 * failure exits with status 1.
 * Once the service is up, an error that slips past every handler is logged and the service keeps
 * serving: each request's own handler has already answered it (500 at worst).
 */
export function runService(name: string, main: () => Promise<RunningService>): void {
  main().then(
    (service) => {
      // A launcher that spawned this process with an IPC channel (npm start, the tests) learns here
      // that it is up, whatever the log level.
      process.send?.({ type: 'listening', url: service.url, port: service.port });
      process.on('uncaughtException', (error) => reportEscaped(name, 'uncaughtException', error));
      process.on('unhandledRejection', (reason) => reportEscaped(name, 'unhandledRejection', reason));
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`${name}: ${signal} received, draining…\n`);
        // Drained, then the spans still buffered are sent (at most a few seconds) before exiting. If
        // `close` stalls on a promise nothing will settle, the event loop empties and Node would exit
        // without a word: the spans are sent then too. (Apollo Server's own SIGTERM handler does that:
        // its `stop()` never settles a second, concurrent `stop()`.)
        process.once('beforeExit', () => void shutdownTracing().finally(() => process.exit(0)));
        service.close().then(
          () => shutdownTracing().finally(() => process.exit(0)),
          (error) => {
            process.stderr.write(`${name}: failed to stop cleanly: ${String(error)}\n`);
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    },
    (error) => {
      if (error instanceof ConfigError) {
        process.stderr.write(`${name}: ${error.message}\n`);
        process.exit(2);
      }
      process.stderr.write(`${name}: failed to start: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}

/**
 * One JSON log line for an error no handler caught: its type, code and stack frames, never its
 * message, which may quote a request's data (an email address, a name).
 */
function reportEscaped(service: string, event: string, error: unknown): void {
  const err = error instanceof Error ? error : undefined;
  const frames = err?.stack?.split('\n').filter((line) => /^\s+at /.test(line)).map((line) => line.trim()) ?? [];
  const line = {
    level: 'error',
    time: new Date().toISOString(),
    service,
    msg: `${event}: an error escaped every handler; still serving`,
    errorType: err?.name ?? typeof error,
    errorCode: (err as NodeJS.ErrnoException | undefined)?.code,
    frames,
  };
  process.stderr.write(`${JSON.stringify(line)}\n`);
}
