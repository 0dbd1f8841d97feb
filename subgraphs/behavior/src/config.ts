import { z } from 'zod';
import { type ConfigOf, type ConfigSource, loadConfig, settingTypes } from '../../../kit/config';
import { subgraphSettings } from '../../kit/subgraphSettings';
import type { SignalSettings } from './signals';

/** A NATS subject token: no dots, spaces or wildcards. */
const TOKEN = '[^\\s.*>]+';
/** A subject a stream holds: tokens, `*` for any one token, `>` last for any rest. */
const SUBJECT_PATTERN = new RegExp(`^(?:(?:${TOKEN}|\\*)(?:\\.(?:${TOKEN}|\\*))*(?:\\.>)?|>)$`);
const natsName = (fallback: string) =>
  z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, { message: 'must be 1..64 letters, digits, - or _' }).default(fallback);

/** Every setting of the behavior subgraph. */
export const behaviorSettings = {
  ...subgraphSettings(4003),
  signalWindowDays: { env: 'TAILOR_SIGNAL_WINDOW_DAYS', schema: settingTypes.positiveInt(30, 365), doc: 'Events older than this are not used for recommendations.' },
  halfLifeDays: { env: 'TAILOR_HALF_LIFE_DAYS', schema: settingTypes.positiveNumber(3), doc: 'An event weighs half as much after this many days.' },
  viewWeight: { env: 'TAILOR_VIEW_WEIGHT', schema: settingTypes.positiveNumber(1), doc: 'Weight of a VIEW event.' },
  clickWeight: { env: 'TAILOR_CLICK_WEIGHT', schema: settingTypes.positiveNumber(2), doc: 'Weight of a CLICK event (a product clicked in an email).' },
  cartWeight: { env: 'TAILOR_CART_WEIGHT', schema: settingTypes.positiveNumber(3), doc: 'Weight of an ADD_TO_CART event.' },
  sessionMinutes: { env: 'TAILOR_SESSION_MINUTES', schema: settingTypes.positiveInt(30, 24 * 60), doc: 'Two views this close together are a co-view (SIMILAR).' },
  actedMax: {
    env: 'TAILOR_ACTED_MAX',
    schema: settingTypes.positiveInt(50, 500),
    doc: 'Products the user acted on kept as candidates, strongest first (at least the recommendations cap).',
  },
  similarMax: {
    env: 'TAILOR_SIMILAR_MAX',
    schema: settingTypes.positiveInt(20, 500),
    doc: 'Co-viewed (SIMILAR) candidates kept per user; TRENDING fills any place beyond them.',
  },
  natsUrl: {
    env: 'TAILOR_NATS_URL',
    schema: z
      .string()
      .regex(/^(?:nats|tls):\/\/[^\s,]+(?:,(?:nats|tls):\/\/[^\s,]+)*$/, { message: 'must be nats://host:port (several comma-separated)' })
      .optional(),
    doc: 'NATS server(s) to consume browsing events from, e.g. `nats://127.0.0.1:4222` (several comma-separated). Set: behavior ensures the stream and durable consumer below and applies each message as `POST /ingest/events` applies an event; a server unreachable at start-up stops the service. Unset: no consumer.',
  },
  natsStream: { env: 'TAILOR_NATS_STREAM', schema: natsName('TAILOR_EVENTS'), doc: 'JetStream stream of the browsing events; created if missing.' },
  natsSubject: {
    env: 'TAILOR_NATS_SUBJECT',
    schema: z.string().regex(SUBJECT_PATTERN, { message: 'must be a NATS subject, e.g. tailor.events or tailor.events.>' }).default('tailor.events'),
    doc: 'Subject the events are published on (wildcards allowed); the stream is made to hold it, and the consumer reads only it.',
  },
  natsConsumer: { env: 'TAILOR_NATS_CONSUMER', schema: natsName('behavior'), doc: 'Durable consumer of the stream; created if missing. Acknowledged events are never read again.' },
  natsDeadLetterSubject: {
    env: 'TAILOR_NATS_DEAD_LETTER_SUBJECT',
    schema: z.string().regex(new RegExp(`^${TOKEN}(?:\\.${TOKEN})*$`), { message: 'must be a NATS subject without wildcards' }).default('tailor.events.dead'),
    doc: 'Where a message that is not a valid event goes, with its reason in headers; the stream is made to hold it unless another stream does. Must not match `TAILOR_NATS_SUBJECT`.',
  },
  natsBatchSize: {
    env: 'TAILOR_NATS_BATCH_SIZE',
    schema: settingTypes.positiveInt(100, 5_000),
    doc: 'Most events applied in one transaction; at most `TAILOR_INGEST_MAX_ITEMS`.',
  },
  natsMaxAckPending: {
    env: 'TAILOR_NATS_MAX_ACK_PENDING',
    schema: settingTypes.positiveInt(1_000),
    doc: 'Most messages delivered and not yet acknowledged, set on the consumer when it is created.',
  },
};

export type BehaviorConfig = ConfigOf<typeof behaviorSettings>;

const DAY_MS = 86_400_000;

/** How the behavior subgraph configured by `config` turns events into candidates. */
export function signalSettingsOf(config: BehaviorConfig): SignalSettings {
  return {
    windowMs: config.signalWindowDays * DAY_MS,
    halfLifeMs: config.halfLifeDays * DAY_MS,
    viewWeight: config.viewWeight,
    clickWeight: config.clickWeight,
    cartWeight: config.cartWeight,
    maxActed: config.actedMax,
    maxSimilar: config.similarMax,
    seeds: 5,
  };
}

/** Reads and validates the behavior subgraph's configuration; throws a `ConfigError` naming every bad setting. */
export const loadBehaviorConfig = (source: ConfigSource): BehaviorConfig => loadConfig(behaviorSettings, source);
