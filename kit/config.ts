import { z } from 'zod';

/** One setting: where it is read from, how it is validated, and what it means. */
export interface Setting<T extends z.ZodType = z.ZodType> {
  /** Environment variable, e.g. `TAILOR_PORT`. */
  env: string;
  /** Command-line flag without dashes, e.g. `port` for `--port 4001`. Flags win over the environment. */
  flag?: string;
  /** Validates and converts the raw string; carries the default. */
  schema: T;
  /** One line for the configuration table. */
  doc: string;
  /** The value when unset with `TAILOR_PROFILE=production`, instead of the schema's default. */
  productionDefault?: unknown;
  /** With `TAILOR_PROFILE=production`, the process refuses to start while this is unset (unless the setting `or` names is set). */
  requiredInProduction?: { why: string; or?: string };
}

export type Settings = Record<string, Setting>;
export type ConfigOf<S extends Settings> = { [K in keyof S]: z.output<S[K]['schema']> };

/** Start-up configuration is invalid; the message names every bad setting. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** What a process is configured from. */
export interface ConfigSource {
  env: Record<string, string | undefined>;
  argv: string[];
}

/**
 * Reads and validates every setting at once. Unknown flags and bad values are all collected and
 * reported in one `ConfigError`, so an operator fixes them in one go.
 */
export function loadConfig<S extends Settings>(settings: S, source: ConfigSource): ConfigOf<S> {
  const problems: string[] = [];
  const flags = parseFlags(source.argv, problems);
  const known = new Set(Object.values(settings).flatMap((s) => (s.flag ? [s.flag] : [])));
  for (const name of flags.keys()) {
    if (!known.has(name)) problems.push(`--${name}: unknown flag (known: ${[...known].map((f) => `--${f}`).join(', ') || 'none'})`);
  }
  const out: Record<string, unknown> = {};
  const rawOf = (setting: Setting) => (setting.flag ? flags.get(setting.flag) : undefined) ?? emptyToUndefined(source.env[setting.env]);
  const production = rawOf(PROFILE_SETTING) === 'production';
  for (const [key, setting] of Object.entries(settings)) {
    const fromFlag = setting.flag ? flags.get(setting.flag) : undefined;
    const raw = rawOf(setting);
    const label = fromFlag !== undefined ? `--${setting.flag}` : setting.env;
    if (raw === undefined && production && setting.productionDefault !== undefined) {
      out[key] = setting.productionDefault;
      continue;
    }
    const parsed = setting.schema.safeParse(raw);
    if (parsed.success) out[key] = parsed.data;
    else problems.push(`${label}=${JSON.stringify(raw ?? '')}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (production) {
    for (const setting of Object.values(settings)) {
      const required = setting.requiredInProduction;
      if (!required || rawOf(setting) !== undefined) continue;
      const alternative = required.or ? (settings as Settings)[required.or] : undefined;
      if (alternative && rawOf(alternative) !== undefined) continue;
      const either = alternative ? ` (or ${alternative.env})` : '';
      problems.push(`${setting.env}${either}: required with TAILOR_PROFILE=production: ${required.why}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as ConfigOf<S>;
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

function parseFlags(argv: string[], problems: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      problems.push(`${JSON.stringify(arg)}: unexpected argument (settings are given as --name value)`);
      continue;
    }
    const eq = arg.indexOf('=');
    if (eq > 0) {
      flags.set(arg.slice(2, eq), arg.slice(eq + 1));
    } else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) {
      flags.set(arg.slice(2), argv[++i]);
    } else {
      problems.push(`${arg}: missing value`);
    }
  }
  return flags;
}

/** Schemas for the kinds of values settings take. */
export const settingTypes = {
  port: (fallback: number) =>
    z.coerce.number({ message: 'must be a port number' }).int('must be a whole number').min(0, 'must be 0..65535').max(65535, 'must be 0..65535').default(fallback),
  positiveInt: (fallback: number, max = Number.MAX_SAFE_INTEGER) =>
    z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').max(max, `must be at most ${max}`).default(fallback),
  nonNegativeInt: (fallback: number) =>
    z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(0, 'must be 0 or more').default(fallback),
  positiveNumber: (fallback: number) =>
    z.coerce.number({ message: 'must be a number' }).positive('must be greater than 0').default(fallback),
  boolean: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0', 'on', 'off', 'yes', 'no'], { message: 'must be true or false' })
      .transform((v) => ['true', '1', 'on', 'yes'].includes(v))
      .default(fallback),
  string: (fallback: string) => z.string().min(1).default(fallback),
  url: (fallback: string) => z.url({ protocol: /^https?$/, message: 'must be an absolute http(s) URL' }).default(fallback),
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'must be one of fatal, error, warn, info, debug, trace, silent' }).default('info'),
  host: () => z.string().min(1).default('127.0.0.1'),
  /** `name=http://host:port/graphql,…`, by subgraph name; empty by default. */
  /** `name=url,…`, or `name=url1|url2` for a subgraph's replicas: each a list of absolute http(s) URLs. */
  subgraphUrls: () =>
    namedValues('name=http://host:port/graphql (replicas: name=http://a/graphql|http://b/graphql)', (value) => {
      const urls = value.split('|').map((u) => u.trim());
      return urls.every((u) => /^https?:\/\/[^\s|]+$/.test(u)) ? urls : undefined;
    }),
  /** `name=port,…`, by service name (0 picks a free port); empty by default. */
  portMap: () =>
    namedValues('name=port (a port is 0..65535)', (value) => (/^\d{1,5}$/.test(value) && Number(value) <= 65535 ? Number(value) : undefined)),
  /** A JSON object, e.g. `{"id":"c-1"}`; unset by default. */
  jsonObject: () =>
    z
      .string()
      .optional()
      .transform((raw, ctx) => {
        if (raw === undefined) return undefined;
        let value: unknown;
        try {
          value = JSON.parse(raw);
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be a JSON object, e.g. {"id":"u-1"}' });
          return z.NEVER;
        }
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          ctx.addIssue({ code: 'custom', message: 'must be a JSON object, e.g. {"id":"u-1"}' });
          return z.NEVER;
        }
        return value as Record<string, unknown>;
      }),
};

/** A comma-separated list of `name=value` pairs, each value checked by `parse` (`undefined`: refused, named after `shape`). */
function namedValues<T>(shape: string, parse: (value: string) => T | undefined) {
  return z
    .string()
    .default('')
    .transform((raw, ctx) => {
      const values: Record<string, T> = {};
      for (const pair of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
        const match = pair.match(/^([A-Za-z][\w-]*)=(.*)$/);
        const value = match ? parse(match[2]) : undefined;
        if (!match || value === undefined) ctx.addIssue({ code: 'custom', message: `"${pair}" is not ${shape}` });
        else values[match[1]] = value;
      }
      return values;
    });
}

/** `TAILOR_PROFILE`: `development` keeps the open defaults of a local stack; `production` closes them and needs the secrets. */
const PROFILE_SETTING = {
  env: 'TAILOR_PROFILE',
  schema: z.enum(['development', 'production'], { message: 'must be development or production' }).default('development'),
  doc: '`production` turns off introspection, the sandbox, ad-hoc queries and "Did you mean" hints and `serviceName` in client errors unless each is set, and refuses to start without the secrets it needs (named at start-up). `development` (the default) keeps them on.',
} satisfies Setting;

/** Settings every service shares: where it listens and how it logs. */
export const commonSettings = {
  profile: PROFILE_SETTING,
  host: { env: 'TAILOR_HOST', flag: 'host', schema: settingTypes.host(), doc: 'Interface to listen on.' },
  logLevel: { env: 'TAILOR_LOG_LEVEL', flag: 'log-level', schema: settingTypes.logLevel(), doc: 'pino log level.' },
  otlpEndpoint: {
    env: 'TAILOR_OTLP_ENDPOINT',
    schema: z.url({ protocol: /^https?$/, message: 'must be an absolute http(s) URL of an OTLP/HTTP collector, e.g. http://127.0.0.1:4318' }).optional(),
    doc: 'OpenTelemetry collector (OTLP over HTTP) to send traces to, e.g. `http://127.0.0.1:4318` (spans go to `/v1/traces`). Unset: no tracing, nothing sent.',
  },
  traceSampleRatio: {
    env: 'TAILOR_TRACE_SAMPLE_RATIO',
    schema: z.coerce.number({ message: 'must be a number from 0 to 1' }).min(0, 'must be from 0 to 1').max(1, 'must be from 0 to 1').default(1),
    doc: 'Share of new traces recorded when tracing is on (0..1); a request that arrives with a `traceparent` follows its sampled flag.',
  },
} satisfies Settings;
