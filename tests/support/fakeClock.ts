import type { Clock } from '../../kit/clock';

/** A clock that only moves when a test moves it. */
export interface FakeClock extends Clock {
  advance(ms: number): void;
  set(ms: number): void;
}

/** Creates a fake clock at `start` (default 2026-11-28T12:00:00Z). */
export function createFakeClock(start = Date.parse('2026-11-28T12:00:00Z')): FakeClock {
  let now = start;
  return {
    now: () => now,
    advance: (ms) => {
      now += ms;
    },
    set: (ms) => {
      now = ms;
    },
  };
}
