import type { Counter } from 'prom-client';

/** Options of `createAdmission`. */
export interface AdmissionOptions {
  /** Most operations (HTTP requests to /graphql or a REST route) running at once. */
  maxInFlight: number;
  /** Longest a request waits for a slot, in ms, before it is shed. */
  maxWaitMs: number;
  /** Most requests waiting at once; one more is shed at once. */
  maxQueued: number;
  /** `tailor_requests_shed_total{reason}`: `queue_full` or `queue_timeout`. */
  shed: Counter<'reason'>;
}

/** A slot to run in, released when the request is done; `undefined` when the request was shed. */
export type Admission = (() => void) | undefined;

/**
 * Bounds the operations in flight. Under overload a request waits at most `maxWaitMs` for a slot,
 * first come first served, and is then shed (the caller answers 503 with `Retry-After`) instead of
 * queueing without bound. A request that got a slot keeps it until it is answered: a campaign batch
 * in flight is never dropped half-way.
 */
export function createAdmission(options: AdmissionOptions): { admit(): Promise<Admission> } {
  let inFlight = 0;
  const waiting: { grant: (release: Admission) => void; timer: NodeJS.Timeout }[] = [];
  const release = () => {
    const next = waiting.shift();
    if (next) {
      clearTimeout(next.timer);
      next.grant(once(release)); // the slot passes straight to the next in line
    } else {
      inFlight--;
    }
  };
  return {
    admit() {
      if (inFlight < options.maxInFlight) {
        inFlight++;
        return Promise.resolve(once(release));
      }
      if (waiting.length >= options.maxQueued) {
        options.shed.inc({ reason: 'queue_full' });
        return Promise.resolve(undefined);
      }
      return new Promise<Admission>((resolve) => {
        const entry = {
          grant: resolve,
          timer: setTimeout(() => {
            waiting.splice(waiting.indexOf(entry), 1);
            options.shed.inc({ reason: 'queue_timeout' });
            resolve(undefined);
          }, options.maxWaitMs),
        };
        waiting.push(entry);
      });
    },
  };
}

/** `fn`, callable once: a second release of the same slot does nothing. */
function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
