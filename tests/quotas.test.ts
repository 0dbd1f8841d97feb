import { type Counter, type Gauge, Registry } from 'prom-client';
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { type QuotaDecision, type QuotaPolicy, createQuotas } from '../gateway/src/quotas';
import { counterTotal } from '../kit/metrics';

// A client's operation units are limited per minute and per UTC day; every answer carries IETF
// RateLimit headers, and a refused request costs the client nothing.

/** 20:15:30.400 UTC: 13 469.6 s, so 13 470 whole seconds, before midnight. */
const EVENING = Date.parse('2026-11-28T20:15:30.400Z');
const TO_MIDNIGHT = 13_470;
const DAY_MS = 86_400_000;

type LimiterOptions = { keyPrefix: string; points: number; duration: number };

/** What a quota asked of its limiters: each build, and each consume, reward and delete. */
function recordingLimiters(misbehave: (opts: LimiterOptions) => Partial<Record<'consume' | 'reward', () => Promise<RateLimiterRes>>> = () => ({})) {
  const built: LimiterOptions[] = [];
  const calls: string[] = [];
  const limiter = (opts: LimiterOptions): RateLimiterAbstract => {
    built.push(opts);
    const fake = misbehave(opts);
    class Recording extends RateLimiterMemory {
      override consume(key: string | number, points?: number, options?: Record<string, unknown>) {
        calls.push(`consume ${opts.keyPrefix} ${key} ${points}`);
        return fake.consume ? fake.consume() : super.consume(key, points, options);
      }
      override reward(key: string | number, points?: number, options?: Record<string, unknown>) {
        calls.push(`reward ${opts.keyPrefix} ${key} ${points}`);
        return fake.reward ? fake.reward() : super.reward(key, points, options);
      }
      override delete(key: string | number) {
        calls.push(`delete ${opts.keyPrefix} ${key}`);
        return super.delete(key);
      }
    }
    return new Recording(opts);
  };
  return { built, calls, limiter };
}

/** The `ratelimit` header, read strictly: `"minute";r=<n>;t=<n>, "day";r=<n>;t=<n>`. */
function rateLimitOf(decision: QuotaDecision) {
  const match = /^"minute";r=(\d+);t=(\d+), "day";r=(\d+);t=(\d+)$/.exec(decision.headers.ratelimit ?? '');
  if (!match) throw new Error(`ratelimit header has the wrong shape: ${decision.headers.ratelimit}`);
  const [minuteR, minuteT, dayR, dayT] = match.slice(1).map(Number);
  return { minute: { r: minuteR, t: minuteT }, day: { r: dayR, t: dayT } };
}

function setup(options: { now?: () => number; limiter?: ReturnType<typeof recordingLimiters>['limiter'] } = {}) {
  const registry = new Registry();
  const quotas = createQuotas({ registry, now: options.now ?? (() => EVENING), limiter: options.limiter });
  const exhausted = (client: string, window: string) =>
    counterTotal(registry.getSingleMetric('tailor_quota_exhausted_total') as Counter<string>, { client, window });
  const remaining = async (client: string, window: string) => {
    const { values } = await (registry.getSingleMetric('tailor_quota_remaining') as Gauge<string>).get();
    return values.find((v) => v.labels.client === client && v.labels.window === window)?.value;
  };
  return { registry, quotas, exhausted, remaining };
}

const perMinute = (ratePerMinute: number, dailyQuota = 1000): QuotaPolicy => ({ ratePerMinute, dailyQuota });

describe('createQuotas', () => {
  it('allows five units a minute, counting down in the ratelimit header, and refuses the sixth', async () => {
    const { quotas, exhausted, remaining, registry } = setup();
    const left: number[] = [];
    for (let i = 0; i < 5; i++) {
      const decision = await quotas.take('acme', perMinute(5), 1);
      expect(decision).toEqual({ allowed: true, headers: expect.any(Object) });
      left.push(rateLimitOf(decision).minute.r);
    }
    expect(left).toEqual([4, 3, 2, 1, 0]);
    expect(await remaining('acme', 'minute')).toBe(0);
    expect(await exhausted('acme', 'minute')).toBe(0);

    const sixth = await quotas.take('acme', perMinute(5), 1);
    expect(sixth).toMatchObject({ allowed: false, window: 'minute' });
    expect(sixth.exceedsLimit).toBeUndefined();
    expect(sixth.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(sixth.retryAfterSeconds).toBeLessThanOrEqual(60);
    expect(sixth.headers['ratelimit-policy']).toBe('"minute";q=5;w=60, "day";q=1000;w=86400');
    expect(sixth.headers.ratelimit).toMatch(new RegExp(`^"minute";r=0;t=([1-9]|[1-5][0-9]|60), "day";r=995;t=${TO_MIDNIGHT}$`));
    expect(Object.keys(sixth.headers).sort()).toEqual(['ratelimit', 'ratelimit-policy']);
    expect(await exhausted('acme', 'minute')).toBe(1);
    expect(await exhausted('acme', 'day')).toBe(0);
    expect(await remaining('acme', 'minute')).toBe(0);
    expect(await registry.getSingleMetricAsString('tailor_quota_remaining')).toContain(
      'tailor_quota_remaining{client="acme",window="day"} 995',
    );
  });

  it('counts units, and a refused take costs nothing in either window', async () => {
    const { calls, limiter } = recordingLimiters();
    const { quotas } = setup({ limiter });
    expect((await quotas.take('acme', perMinute(5), 3)).allowed).toBe(true);

    const refused = await quotas.take('acme', perMinute(5), 3);
    expect(refused).toMatchObject({ allowed: false, window: 'minute' });
    expect(rateLimitOf(refused).day.r).toBe(997); // the first 3 only
    expect(rateLimitOf(refused).minute.r).toBe(2);
    expect(calls.slice(2)).toEqual([
      'consume tailor_quota:day:1000 acme:2026-11-28 3',
      'consume tailor_quota:minute:5 acme 3',
      'reward tailor_quota:minute:5 acme 3',
      'reward tailor_quota:day:1000 acme:2026-11-28 3',
    ]);

    // The refused 3 left room for 2 more.
    const fits = await quotas.take('acme', perMinute(5), 2);
    expect(fits.allowed).toBe(true);
    expect(rateLimitOf(fits)).toMatchObject({ minute: { r: 0 }, day: { r: 995 } });
  });

  it('refuses the unit past the daily quota until the next UTC day, with Retry-After to midnight', async () => {
    let now = EVENING;
    const { quotas, exhausted, remaining } = setup({ now: () => now });
    const policy: QuotaPolicy = { ratePerMinute: 100, dailyQuota: 4 };
    for (let i = 0; i < 3; i++) expect((await quotas.take('acme', policy, 1)).allowed).toBe(true);

    // Two units with one left: refused by the day, and the minute keeps what it had.
    const tooMany = await quotas.take('acme', policy, 2);
    expect(tooMany).toMatchObject({ allowed: false, window: 'day', retryAfterSeconds: TO_MIDNIGHT });
    expect(tooMany.exceedsLimit).toBeUndefined();
    expect(rateLimitOf(tooMany)).toEqual({ minute: { r: 97, t: expect.any(Number) }, day: { r: 1, t: TO_MIDNIGHT } });

    expect((await quotas.take('acme', policy, 1)).allowed).toBe(true);
    const fifth = await quotas.take('acme', policy, 1);
    expect(fifth).toMatchObject({ allowed: false, window: 'day', retryAfterSeconds: TO_MIDNIGHT });
    expect(fifth.headers['ratelimit-policy']).toBe('"minute";q=100;w=60, "day";q=4;w=86400');
    expect(rateLimitOf(fifth).day).toEqual({ r: 0, t: TO_MIDNIGHT });
    expect(await exhausted('acme', 'day')).toBe(2);
    expect(await remaining('acme', 'day')).toBe(0);

    now = Date.parse('2026-11-29T00:00:00.000Z');
    const nextDay = await quotas.take('acme', policy, 1);
    expect(nextDay.allowed).toBe(true);
    expect(rateLimitOf(nextDay).day).toEqual({ r: 3, t: 86_400 });

    now = Date.parse('2026-11-29T23:59:59.001Z');
    expect(rateLimitOf(await quotas.take('acme', policy, 1)).day).toEqual({ r: 2, t: 1 });
  });

  it('refuses units larger than a limit as exceedsLimit, without consuming anything', async () => {
    const { calls, limiter } = recordingLimiters();
    const { quotas, exhausted } = setup({ limiter });

    const overMinute = await quotas.take('acme', perMinute(5, 50), 6);
    expect(overMinute).toEqual({
      allowed: false,
      window: 'minute',
      exceedsLimit: true,
      retryAfterSeconds: 60,
      headers: {
        'ratelimit-policy': '"minute";q=5;w=60, "day";q=50;w=86400',
        ratelimit: `"minute";r=5;t=60, "day";r=50;t=${TO_MIDNIGHT}`,
      },
    });
    const overDay = await quotas.take('acme', perMinute(100, 50), 51);
    expect(overDay).toMatchObject({ allowed: false, window: 'day', exceedsLimit: true, retryAfterSeconds: TO_MIDNIGHT });
    const overBoth = await quotas.take('acme', perMinute(5, 50), 51);
    expect(overBoth).toMatchObject({ allowed: false, window: 'day', exceedsLimit: true, retryAfterSeconds: TO_MIDNIGHT });
    expect(calls).toEqual([]);
    expect(await exhausted('acme', 'minute')).toBe(1);
    expect(await exhausted('acme', 'day')).toBe(2);

    // The whole budget is still there.
    const all = await quotas.take('acme', perMinute(5, 50), 5);
    expect(all.allowed).toBe(true);
    expect(rateLimitOf(all)).toMatchObject({ minute: { r: 0 }, day: { r: 45 } });
    const overAgain = await quotas.take('acme', perMinute(5, 50), 6);
    expect(overAgain).toMatchObject({ allowed: false, window: 'minute', exceedsLimit: true });
    expect(overAgain.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(overAgain.retryAfterSeconds).toBeLessThanOrEqual(60);
  });

  it('keeps two clients independent', async () => {
    const { quotas, exhausted } = setup();
    for (let i = 0; i < 5; i++) await quotas.take('acme', perMinute(5), 1);
    expect((await quotas.take('acme', perMinute(5), 1)).allowed).toBe(false);

    const other = await quotas.take('globex', perMinute(5), 1);
    expect(other.allowed).toBe(true);
    expect(rateLimitOf(other)).toMatchObject({ minute: { r: 4 }, day: { r: 999 } });
    expect(await exhausted('acme', 'minute')).toBe(1);
    expect(await exhausted('globex', 'minute')).toBe(0);
  });

  it('builds one limiter per window and limit, shared by clients, and a new one when a policy changes', async () => {
    const { built, limiter } = recordingLimiters();
    const { quotas } = setup({ limiter });
    await quotas.take('acme', perMinute(5), 1);
    await quotas.take('globex', perMinute(5), 1);
    await quotas.take('acme', perMinute(5), 1);
    expect(built).toEqual([
      { keyPrefix: 'tailor_quota:minute:5', points: 5, duration: 60 },
      { keyPrefix: 'tailor_quota:day:1000', points: 1000, duration: 86_400 },
    ]);

    const raised = await quotas.take('acme', perMinute(10), 1);
    expect(built.slice(2)).toEqual([{ keyPrefix: 'tailor_quota:minute:10', points: 10, duration: 60 }]);
    expect(rateLimitOf(raised)).toMatchObject({ minute: { r: 9 }, day: { r: 997 } });
  });

  it('rejects with the store error when a limiter fails, instead of refusing', async () => {
    const down = new Error('quota store unreachable');
    const { limiter } = recordingLimiters(() => ({ consume: () => Promise.reject(down) }));
    const { quotas, exhausted } = setup({ limiter });
    await expect(quotas.take('acme', perMinute(5), 1)).rejects.toBe(down);
    expect(await exhausted('acme', 'day')).toBe(0);

    const odd = recordingLimiters(() => ({ consume: () => Promise.reject('ECONNRESET') }));
    await expect(setup({ limiter: odd.limiter }).quotas.take('acme', perMinute(5), 1)).rejects.toThrow(
      new Error('Quota store failed: ECONNRESET'),
    );
  });

  it('hands the day its units back when the minute fails with a store error', async () => {
    const down = new Error('quota store unreachable');
    const { calls, limiter } = recordingLimiters((opts) =>
      opts.keyPrefix.includes(':minute:') ? { consume: () => Promise.reject(down) } : {},
    );
    const { quotas } = setup({ limiter });
    await expect(quotas.take('acme', perMinute(5), 2)).rejects.toBe(down);
    expect(calls).toEqual([
      'consume tailor_quota:day:1000 acme:2026-11-28 2',
      'consume tailor_quota:minute:5 acme 2',
      'reward tailor_quota:day:1000 acme:2026-11-28 2',
    ]);
  });

  it('drops the key when a window ended between a refusal and its reward, rather than going below zero', async () => {
    const { calls, limiter } = recordingLimiters((opts) =>
      opts.keyPrefix.includes(':minute:')
        ? {
            consume: () => Promise.reject(new RateLimiterRes(0, 5, 8)),
            reward: () => Promise.resolve(new RateLimiterRes(8, 60_000, -3, true)),
          }
        : {},
    );
    const { quotas } = setup({ limiter });
    const refused = await quotas.take('acme', perMinute(5), 3);
    expect(refused).toMatchObject({ allowed: false, window: 'minute', retryAfterSeconds: 1 });
    expect(rateLimitOf(refused).minute).toEqual({ r: 5, t: 60 });
    expect(calls).toContain('delete tailor_quota:minute:5 acme');
  });

  it('refuses negative or fractional units and limits, naming them', async () => {
    const { quotas } = setup();
    await expect(quotas.take('acme', perMinute(5), -1)).rejects.toThrow(
      new RangeError('Quota take needs whole numbers of at least 0; fix units (-1).'),
    );
    await expect(quotas.take('acme', { ratePerMinute: 1.5, dailyQuota: Number.NaN }, 1)).rejects.toThrow(
      'fix ratePerMinute (1.5), dailyQuota (NaN).',
    );
  });

  it('resets the day at UTC midnight, however close to it the take comes', async () => {
    let now = Date.parse('2026-11-28T23:59:59.500Z');
    const { quotas } = setup({ now: () => now });
    const policy: QuotaPolicy = { ratePerMinute: 100, dailyQuota: 1 };
    expect(rateLimitOf(await quotas.take('acme', policy, 1)).day).toEqual({ r: 0, t: 1 });
    expect((await quotas.take('acme', policy, 1)).retryAfterSeconds).toBe(1);
    now += DAY_MS / 2;
    expect((await quotas.take('acme', policy, 1)).allowed).toBe(true);
  });
});
