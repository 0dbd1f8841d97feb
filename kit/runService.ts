import { ConfigError } from './config';

/** A service listening on a port. */
export interface RunningService {
  url: string;
  port: number;
  /** Stops accepting connections, lets in-flight requests finish, then releases resources. */
  close(): Promise<void>;
}

/**
 * Runs a service's `main` until SIGINT or SIGTERM, then drains it. A configuration error is printed
 * as one readable message and exits with status 2; any other start-up failure exits with status 1.
 */
export function runService(name: string, main: () => Promise<RunningService>): void {
  main().then(
    (service) => {
      // A launcher that spawned this process with an IPC channel (npm start, the tests) learns here
      // that it is up, whatever the log level.
      process.send?.({ type: 'listening', url: service.url, port: service.port });
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`${name}: ${signal} received, draining…\n`);
        service.close().then(
          () => process.exit(0),
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
