/** The source of "now" for everything time-dependent, so tests can hold time still. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The wall clock. `Date.now` is read at each call, so jest's fake timers control it too. */
export const systemClock: Clock = { now: () => Date.now() };
