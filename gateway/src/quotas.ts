import { Counter, Gauge, type Registry } from 'prom-client';
import type Redis from 'ioredis';
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

/** A client's limits: operation units per minute, and per UTC day. */
export interface QuotaPolicy {
  ratePerMinute: number;
  dailyQuota: number;
}

/** The answer to one `take`. */
export interface QuotaDecision {
  allowed: boolean;
  /** IETF RateLimit headers to add to the answer (allowed or not): `ratelimit-policy` and `ratelimit`. */
  headers: Record<string, string>;
  /** When refused: whole seconds until the units would fit (at least 1). */
  retryAfterSeconds?: number;
  /** When refused: which limit: 'minute' or 'day'. */
  window?: 'minute' | 'day';
  /** When refused because `units` alone exceeds the limit, so waiting cannot help. */
  exceedsLimit?: boolean;
  /**
   * The quota store could not be reached, so nothing was counted and there are no RateLimit headers:
   * the decision is the `storeFailure` mode's (`open`: allowed, `closed`: refused).
   */
  storeUnavailable?: boolean;
}

/**
 * What a take does when the quota store (Redis) fails: `throw` rejects with the store's error,
 * `open` lets the request pass uncounted, `closed` refuses it until the store answers again.
 */
export type QuotaStoreFailure = 'throw' | 'open' | 'closed';

/** Per-client rate limits and daily quotas. */
export interface Quotas {
  /** Takes `units` from the client's minute and day budgets, or neither (when either would be exceeded). */
  take(client: string, policy: QuotaPolicy, units: number): Promise<QuotaDecision>;
}

/** Options of `createQuotas`. */
export interface QuotasOptions {
  /** Where `tailor_quota_exhausted_total` and `tailor_quota_remaining` are registered. */
  registry: Registry;
  /** Builds a limiter; RateLimiterMemory by default. A RateLimiterRedis factory moves the counts to Redis with no other change. */
  limiter?: (opts: { keyPrefix: string; points: number; duration: number }) => RateLimiterAbstract;
  /** Epoch ms, for the UTC day (tests); `Date.now` by default. */
  now?: () => number;
  /** What a take does when a limiter fails with a store error; `throw` by default. `open` and `closed` count it in `tailor_quota_store_errors_total`. */
  storeFailure?: QuotaStoreFailure;
  /** With `storeFailure: 'closed'`: the `retryAfterSeconds` of a refusal for want of the store (at least 1; 1 by default). */
  storeRetryAfterSeconds?: number;
  /** Told of each store error that `open` or `closed` turned into a decision, e.g. to log it. */
  onStoreError?: (error: Error) => void;
}

/**
 * A `limiter` factory that counts in Redis, under `prefix` (e.g. `tailor:`): every gateway replica
 * given the same Redis and prefix shares each client's minute and day. A command while Redis is not
 * connected fails at once (`rejectIfRedisNotReady`), as a store error.
 */
export function redisLimiter(client: Redis, prefix: string): NonNullable<QuotasOptions['limiter']> {
  return (opts) => new RateLimiterRedis({ ...opts, keyPrefix: `${prefix}${opts.keyPrefix}`, storeClient: client, rejectIfRedisNotReady: true });
}

type Window = 'minute' | 'day';

const WINDOW_SECONDS: Record<Window, number> = { minute: 60, day: 86_400 };
const DAY_MS = 86_400_000;

/** One client's count in one window: the limiter that holds it and the key it is held under. */
interface Slot {
  window: Window;
  limiter: RateLimiterAbstract;
  key: string;
  points: number;
}

/** What the headers and the gauge show of one window. */
interface WindowState {
  remaining: number;
  resetSeconds: number;
}

/**
 * Limits each client to `ratePerMinute` operation units per minute and `dailyQuota` per UTC day,
 * counted by rate-limiter-flexible, and describes both budgets in IETF RateLimit headers
 * (draft-ietf-httpapi-ratelimit-headers). A take is all or nothing: a refused request costs the
 * client nothing in either window, so a large refused operation never locks out smaller ones.
 */
export function createQuotas(options: QuotasOptions): Quotas {
  const build = options.limiter ?? ((opts) => new RateLimiterMemory(opts));
  const now = options.now ?? Date.now;
  const exhausted = new Counter({
    name: 'tailor_quota_exhausted_total',
    help: "Requests refused because the client's rate limit or daily quota was used up, by client and window (minute, day).",
    labelNames: ['client', 'window'],
    registers: [options.registry],
  });
  const remainingGauge = new Gauge({
    name: 'tailor_quota_remaining',
    help: 'Operation units the client has left in the current window, by client and window (minute, day).',
    labelNames: ['client', 'window'],
    registers: [options.registry],
  });
  const storeFailure = options.storeFailure ?? 'throw';
  const storeErrors = new Counter({
    name: 'tailor_quota_store_errors_total',
    help: 'Quota takes whose store (Redis) failed, by what the gateway did then (mode: open let the request pass uncounted, closed refused it with 503).',
    labelNames: ['mode'],
    registers: [options.registry],
  });
  const storeRetryAfterSeconds = Math.max(1, Math.ceil(options.storeRetryAfterSeconds ?? 1));

  // One limiter per (window, points): as many as there are distinct policies, never one per client.
  const limiters = new Map<string, RateLimiterAbstract>();
  const slot = (window: Window, points: number, key: string): Slot => {
    const keyPrefix = `tailor_quota:${window}:${points}`;
    let limiter = limiters.get(keyPrefix);
    if (!limiter) {
      limiter = build({ keyPrefix, points, duration: WINDOW_SECONDS[window] });
      limiters.set(keyPrefix, limiter);
    }
    return { window, limiter, key, points };
  };

  const take = async (client: string, policy: QuotaPolicy, units: number): Promise<QuotaDecision> => {
    const at = now();
    const toMidnight = secondsToUtcMidnight(at);
    const minute = slot('minute', policy.ratePerMinute, client);
    const day = slot('day', policy.dailyQuota, `${client}:${new Date(at).toISOString().slice(0, 10)}`);

    const decide = (
      minuteRes: RateLimiterRes | null,
      dayRes: RateLimiterRes | null,
      refusal?: { window: Window; retryAfterSeconds: number; exceedsLimit?: boolean },
    ): QuotaDecision => {
      const states: Record<Window, WindowState> = {
        minute: stateOf(minute, minuteRes, resetSecondsOf(minuteRes)),
        day: stateOf(day, dayRes, toMidnight),
      };
      for (const window of ['minute', 'day'] as const) {
        remainingGauge.set({ client, window }, states[window].remaining);
      }
      const headers = {
        'ratelimit-policy': `"minute";q=${policy.ratePerMinute};w=${WINDOW_SECONDS.minute}, "day";q=${policy.dailyQuota};w=${WINDOW_SECONDS.day}`,
        ratelimit: `"minute";r=${states.minute.remaining};t=${states.minute.resetSeconds}, "day";r=${states.day.remaining};t=${states.day.resetSeconds}`,
      };
      if (!refusal) return { allowed: true, headers };
      exhausted.inc({ client, window: refusal.window });
      return {
        allowed: false,
        headers,
        window: refusal.window,
        retryAfterSeconds: Math.max(1, refusal.retryAfterSeconds),
        ...(refusal.exceedsLimit ? { exceedsLimit: true } : {}),
      };
    };

    const oversized = units > policy.dailyQuota ? day : units > policy.ratePerMinute ? minute : undefined;
    if (oversized) {
      const [minuteRes, dayRes] = await Promise.all([peek(minute), peek(day)]);
      const retryAfterSeconds = oversized === day ? toMidnight : resetSecondsOf(minuteRes);
      return decide(minuteRes, dayRes, { window: oversized.window, retryAfterSeconds, exceedsLimit: true });
    }

    // The day first, then the minute: a request the minute refuses hands its day units back.
    const dayTaken = await consume(day, units);
    if (!dayTaken.allowed) {
      const [minuteRes, dayRes] = await Promise.all([peek(minute), giveBack(day, units)]);
      return decide(minuteRes, dayRes, { window: 'day', retryAfterSeconds: toMidnight });
    }
    let minuteTaken: Awaited<ReturnType<typeof consume>>;
    try {
      minuteTaken = await consume(minute, units);
    } catch (error) {
      await giveBack(day, units).catch(() => undefined); // the store error is the one to report
      throw error;
    }
    if (!minuteTaken.allowed) {
      const retryAfterSeconds = resetSecondsOf(minuteTaken.res);
      const [minuteRes, dayRes] = await Promise.all([giveBack(minute, units), giveBack(day, units)]);
      return decide(minuteRes, dayRes, { window: 'minute', retryAfterSeconds });
    }
    return decide(minuteTaken.res, dayTaken.res);
  };

  return {
    async take(client, policy, units) {
      checkTake(policy, units);
      if (storeFailure === 'throw') return take(client, policy, units);
      try {
        return await take(client, policy, units);
      } catch (error) {
        storeErrors.inc({ mode: storeFailure });
        options.onStoreError?.(error instanceof Error ? error : new Error(String(error)));
        return storeFailure === 'open'
          ? { allowed: true, headers: {}, storeUnavailable: true }
          : { allowed: false, headers: {}, storeUnavailable: true, retryAfterSeconds: storeRetryAfterSeconds };
      }
    },
  };
}

/** Consumes `units`; a refusal resolves, while anything else the limiter rejects with (a store error) is thrown. */
async function consume(slot: Slot, units: number): Promise<{ allowed: boolean; res: RateLimiterRes }> {
  try {
    return { allowed: true, res: await slot.limiter.consume(slot.key, units) };
  } catch (rejection) {
    if (rejection instanceof RateLimiterRes) return { allowed: false, res: rejection };
    throw rejection instanceof Error ? rejection : new Error(`Quota store failed: ${String(rejection)}`);
  }
}

/** A window's count without taking from it; `null` when nothing is counted in it. */
async function peek(slot: Slot): Promise<RateLimiterRes | null> {
  const res = await slot.limiter.get(slot.key);
  return res && res.msBeforeNext > 0 ? res : null; // an ended window not yet swept counts nothing
}

/**
 * Returns `units` to a window. rate-limiter-flexible counts refused points too, so both a refused
 * window and a day whose minute refused get them back. If the window ended in between, the reward
 * opened a new one below zero, which would grant extra units: that key is dropped instead.
 */
async function giveBack(slot: Slot, units: number): Promise<RateLimiterRes | null> {
  const res = await slot.limiter.reward(slot.key, units);
  if (res.consumedPoints >= 0) return res;
  await slot.limiter.delete(slot.key);
  return null;
}

/** Units left and seconds to reset of one window; `null` means nothing counted in it yet. */
function stateOf(slot: Slot, res: RateLimiterRes | null, resetSeconds: number): WindowState {
  const remaining = res ? slot.points - res.consumedPoints : slot.points;
  return { remaining: Math.min(slot.points, Math.max(0, remaining)), resetSeconds };
}

/** Whole seconds (rounded up, at least 0) until a minute window resets; a window not opened yet would last a full minute. */
function resetSecondsOf(res: RateLimiterRes | null): number {
  if (!res || res.msBeforeNext < 0) return WINDOW_SECONDS.minute;
  return Math.ceil(res.msBeforeNext / 1000);
}

/** Whole seconds (rounded up) from `epochMs` to the next UTC midnight, when daily quotas reset. */
function secondsToUtcMidnight(epochMs: number): number {
  const nextMidnight = (Math.floor(epochMs / DAY_MS) + 1) * DAY_MS;
  return Math.ceil((nextMidnight - epochMs) / 1000);
}

/** Refuses units or limits that are not whole numbers of at least 0: negative units would add to a budget. */
function checkTake(policy: QuotaPolicy, units: number): void {
  const bad = Object.entries({ units, ratePerMinute: policy.ratePerMinute, dailyQuota: policy.dailyQuota })
    .filter(([, value]) => !Number.isSafeInteger(value) || value < 0)
    .map(([name, value]) => `${name} (${value})`);
  if (bad.length > 0) {
    throw new RangeError(`Quota take needs whole numbers of at least 0; fix ${bad.join(', ')}.`);
  }
}
