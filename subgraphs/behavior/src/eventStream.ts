import { GraphQLError } from 'graphql';
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  Events,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
  NatsError,
  connect,
  headers as natsHeaders,
} from 'nats';
import { Counter, Gauge, type Registry } from 'prom-client';
import { ConfigError } from '../../../kit/config';
import { ErrorCode, type ItemProblem } from '../../../kit/errors';
import type { Logger } from '../../../kit/logger';
import type { Ingestor } from '../../kit/ingest';
import type { EventInput } from './behaviorStore';

/** Headers of a dead letter; its body is the original message's, byte for byte. */
export const DEAD_LETTER_HEADERS = {
  reason: 'Tailor-Dead-Letter-Reason',
  subject: 'Tailor-Original-Subject',
  stream: 'Tailor-Original-Stream',
  sequence: 'Tailor-Original-Sequence',
} as const;

/** Outcomes counted by `tailor_stream_messages_total`. */
export type StreamOutcome = 'accepted' | 'duplicate' | 'dead_letter' | 'retried';

/** The instruments of the event stream, registered once per registry (a consumer may be restarted). */
export interface EventStreamMetrics {
  messages: Counter<'outcome'>;
  lag: Gauge<'stream' | 'consumer'>;
}

export function createEventStreamMetrics(registry: Registry): EventStreamMetrics {
  return {
    messages: new Counter({
      name: 'tailor_stream_messages_total',
      help: 'Messages of the event stream handled, by outcome (accepted, duplicate, dead_letter, retried).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'tailor_stream_consumer_lag',
      help: 'Messages of the stream the durable consumer has not acknowledged yet (pending delivery, or delivered and unacknowledged).',
      labelNames: ['stream', 'consumer'],
      registers: [registry],
    }),
  };
}

/** Options of `startEventStream`. */
export interface EventStreamOptions {
  /** `TAILOR_NATS_URL`: one server or several, comma-separated. */
  servers: string;
  stream: string;
  subject: string;
  consumer: string;
  deadLetterSubject: string;
  /** Most events applied in one transaction. */
  batchSize: number;
  /** `max_ack_pending` of a consumer this creates. */
  maxAckPending: number;
  /** The `events` ingestor of `POST /ingest/events`: the same validation, store call and metrics. */
  ingestor: Ingestor<EventInput>;
  metrics: EventStreamMetrics;
  logger: Logger;
  /** How often the lag gauge is read from the consumer's info; default 5 s. */
  lagRefreshMs?: number;
  /** How long a message the store failed to apply waits before it is delivered again; default 5 s. */
  retryDelayMs?: number;
}

/** A running consumer of the event stream. */
export interface EventStream {
  /** Reads the consumer's lag from the server and sets the gauge to it. */
  refreshLag(): Promise<number>;
  /** Stops pulling, lets the messages already delivered finish, then drains the connection (acks are flushed). */
  close(): Promise<void>;
}

/** A message that is not a valid event, and why. */
interface Poison {
  msg: JsMsg;
  reason: string;
}

/**
 * Connects to NATS, makes sure the stream holds the events subject (and the dead-letter subject,
 * unless another stream holds it) and that the durable pull consumer exists, then applies the
 * messages as they come. Each message is one JSON event, an item of `POST /ingest/events`, checked by
 * the same schema and applied by the same ingestor. The messages delivered together (at most
 * `batchSize`) are applied in one transaction and acknowledged only once it has committed; replayed
 * `eventId`s are duplicates and acknowledged too. A message that is not a valid event is published to
 * the dead-letter subject with its reason, then terminated, so it is never delivered again and never
 * holds up the ones behind it. When the store fails, the messages are nak'd with a delay and come back.
 * Rejects when the server cannot be reached or the stream or consumer cannot be made ready.
 */
export async function startEventStream(options: EventStreamOptions): Promise<EventStream> {
  const { stream, subject, consumer, deadLetterSubject, batchSize, ingestor, metrics, logger } = options;
  const retryDelayMs = options.retryDelayMs ?? 5_000;
  if (subjectCovers(subject, deadLetterSubject)) {
    throw new ConfigError([`TAILOR_NATS_DEAD_LETTER_SUBJECT=${deadLetterSubject}: must not match TAILOR_NATS_SUBJECT=${subject}, or dead letters would be read again as events`]);
  }
  const nc = await connect({ servers: options.servers.split(','), name: `tailor-behavior-${consumer}`, maxReconnectAttempts: -1 }).catch((error: unknown) => {
    throw new Error(`cannot reach NATS at TAILOR_NATS_URL (${describeError(error)}); unset TAILOR_NATS_URL to run without the event stream`);
  });
  try {
    const jsm = await nc.jetstreamManager();
    await ensureStream(jsm, options);
    await ensureConsumer(jsm, options);
    return await run(nc, jsm, nc.jetstream());
  } catch (error) {
    await nc.close();
    throw error;
  }

  async function run(nc: NatsConnection, jsm: JetStreamManager, js: JetStreamClient): Promise<EventStream> {
    const counts = {
      accepted: metrics.messages.labels('accepted'),
      duplicate: metrics.messages.labels('duplicate'),
      dead_letter: metrics.messages.labels('dead_letter'),
      retried: metrics.messages.labels('retried'),
    } satisfies Record<StreamOutcome, unknown>;
    const lag = metrics.lag.labels(stream, consumer);
    void logStatus(nc, logger);

    let closing = false;
    let messages: ConsumerMessages | undefined;
    const delivered: JsMsg[] = [];
    let working: Promise<void> | undefined;
    /** Ends the pause before a new pull early (the consumer is closing). */
    let wake: (() => void) | undefined;

    /** Called for each delivered message, synchronously: the ones of one read from the socket form a batch. */
    function onMessage(msg: JsMsg): void {
      delivered.push(msg);
      working ??= new Promise<void>((resolve) => setImmediate(resolve)).then(work);
    }

    async function work(): Promise<void> {
      try {
        while (delivered.length > 0) await handle(delivered.splice(0, batchSize));
      } finally {
        working = undefined;
      }
    }

    async function handle(batch: JsMsg[]): Promise<void> {
      const poison: Poison[] = [];
      let valid: { msg: JsMsg; event: unknown }[] = [];
      for (const msg of batch) {
        const parsed = parseEvent(msg, ingestor);
        if ('reason' in parsed) poison.push({ msg, reason: parsed.reason });
        else valid.push({ msg, event: parsed.event });
      }
      // The ingestor is the last word: what it refuses (a lone surrogate, say) becomes a dead letter too.
      while (valid.length > 0) {
        try {
          const result = await ingestor.ingest(valid.map((v) => v.event));
          for (const { msg } of valid) msg.ack();
          counts.accepted.inc(result.accepted);
          counts.duplicate.inc(result.duplicates);
          break;
        } catch (error) {
          const problems = refusedItems(error);
          if (problems) {
            const refused = new Set(problems.map((p) => p.index));
            for (const index of refused) poison.push({ msg: valid[index].msg, reason: reasonOf(problems.filter((p) => p.index === index)) });
            valid = valid.filter((_, index) => !refused.has(index));
            continue;
          }
          logger.error({ err: error, messages: valid.length, retryInMs: retryDelayMs }, 'the store failed to apply events from the stream; they will be delivered again');
          for (const { msg } of valid) msg.nak(retryDelayMs);
          counts.retried.inc(valid.length);
          break;
        }
      }
      await Promise.all(poison.map(deadLetter));
    }

    async function deadLetter({ msg, reason }: Poison): Promise<void> {
      const h = natsHeaders();
      h.set(DEAD_LETTER_HEADERS.reason, oneLine(reason));
      h.set(DEAD_LETTER_HEADERS.subject, msg.subject);
      h.set(DEAD_LETTER_HEADERS.stream, msg.info.stream);
      h.set(DEAD_LETTER_HEADERS.sequence, String(msg.seq));
      try {
        // The message id makes a dead letter sent twice (a crash before the term) stored once.
        await js.publish(deadLetterSubject, msg.data, { headers: h, msgID: `${msg.info.stream}:${msg.seq}` });
      } catch (error) {
        logger.error({ err: error, sequence: msg.seq, retryInMs: retryDelayMs }, 'a dead letter could not be published; the message will be delivered again');
        msg.nak(retryDelayMs);
        counts.retried.inc();
        return;
      }
      msg.term();
      counts.dead_letter.inc();
      // The reason, never the payload: it may carry a user id.
      logger.warn({ sequence: msg.seq, subject: msg.subject, deadLetterSubject }, 'a message of the event stream is not a valid event; sent to the dead-letter subject');
    }

    async function refreshLag(): Promise<number> {
      const info = await jsm.consumers.info(stream, consumer);
      const value = info.num_pending + info.num_ack_pending;
      lag.set(value);
      return value;
    }

    // The lag at start-up, read before anything is pulled: what piled up while the service was down.
    await refreshLag();
    /** Pulls until closed; if the pull ends for another reason it is started again after a pause. */
    const pulling = (async () => {
      while (!closing) {
        try {
          const pull = await js.consumers.get(stream, consumer);
          if (closing) break;
          messages = await pull.consume({ max_messages: batchSize, callback: onMessage });
          void logConsumerStatus(messages, logger);
          const ended = await messages.closed();
          if (closing) break;
          throw ended ?? new Error('the pull ended');
        } catch (error) {
          if (closing) break;
          logger.error({ err: error, stream, consumer, retryInMs: retryDelayMs }, 'reading the event stream failed; trying again');
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, retryDelayMs).unref();
          });
        }
      }
    })();

    const lagTimer = setInterval(() => {
      refreshLag().catch((error) => logger.debug({ err: error }, 'the consumer lag could not be read'));
    }, options.lagRefreshMs ?? 5_000);
    lagTimer.unref();
    logger.info({ stream, subject, consumer, deadLetterSubject }, 'consuming browsing events from NATS JetStream');

    let closed: Promise<void> | undefined;
    return {
      refreshLag,
      close() {
        closed ??= (async () => {
          closing = true;
          clearInterval(lagTimer);
          messages?.stop();
          wake?.();
          await pulling;
          await working;
          await nc.drain();
        })();
        return closed;
      },
    };
  }
}

/**
 * The event a message holds, as sent (the ingestor validates it again as it applies it), or why it
 * holds none.
 */
function parseEvent(msg: JsMsg, ingestor: Ingestor<EventInput>): { event: unknown } | { reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(msg.data).toString('utf8'));
  } catch {
    return { reason: 'the message is not valid JSON' };
  }
  if (Array.isArray(value)) return { reason: 'a message holds one event, a JSON object, not an array' };
  const parsed = ingestor.itemSchema.safeParse(value);
  if (parsed.success) return { event: value };
  return { reason: reasonOf(parsed.error.issues.map((i) => ({ index: 0, field: i.path.join('.') || undefined, reason: i.message }))) };
}

function reasonOf(problems: ItemProblem[]): string {
  return problems.map((p) => (p.field ? `${p.field}: ${p.reason}` : p.reason)).join('; ');
}

/** The items an ingestor refused, by index, when `error` is its refusal of invalid items. */
function refusedItems(error: unknown): ItemProblem[] | undefined {
  if (!(error instanceof GraphQLError) || error.extensions.code !== ErrorCode.BAD_USER_INPUT) return undefined;
  const items = error.extensions.items;
  return Array.isArray(items) && items.length > 0 ? (items as ItemProblem[]) : undefined;
}

/** A header value: one line, bounded. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').slice(0, 1_000);
}

function isNotFound(error: unknown): boolean {
  return error instanceof NatsError && (error.code === '404' || error.api_error?.code === 404);
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * True when the subject pattern `pattern` matches every subject `subject` matches (`*` one token,
 * `>` the rest, at least one token): the events subject must not cover the dead-letter subject, and
 * a stream holding `tailor.>` already holds `tailor.events`.
 */
export function subjectCovers(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] === '*') {
      if (s[i] === '>') return false;
      continue;
    }
    if (p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

/**
 * Creates the stream if missing, holding the events subject and the dead-letter subject (unless
 * another stream holds that); adds either subject to an existing stream that lacks it. Changes
 * nothing else of an existing stream (its limits and retention are the operator's).
 */
async function ensureStream(jsm: JetStreamManager, options: EventStreamOptions): Promise<void> {
  const { stream, subject, deadLetterSubject, logger } = options;
  const info = await jsm.streams.info(stream).catch((error: unknown) => {
    if (isNotFound(error)) return undefined;
    throw error;
  });
  const holders = await jsm.streams.find(deadLetterSubject).catch(() => undefined);
  const subjects = info?.config.subjects ?? [];
  const missing = [subject, deadLetterSubject].filter((s) => !subjects.some((held) => subjectCovers(held, s)) && (s !== deadLetterSubject || holders === undefined));
  if (!info) {
    await jsm.streams.add({ name: stream, subjects: missing });
    logger.info({ stream, subjects: missing }, 'created the JetStream stream of browsing events');
  } else if (missing.length > 0) {
    await jsm.streams.update(stream, { subjects: [...subjects, ...missing] });
    logger.info({ stream, added: missing }, 'added subjects to the JetStream stream of browsing events');
  }
}

/**
 * Creates the durable pull consumer if missing (explicit acks, from the stream's first message,
 * filtered on the events subject); refuses one that exists with other settings than these.
 */
async function ensureConsumer(jsm: JetStreamManager, options: EventStreamOptions): Promise<void> {
  const { stream, subject, consumer, logger } = options;
  const info = await jsm.consumers.info(stream, consumer).catch((error: unknown) => {
    if (isNotFound(error)) return undefined;
    throw error;
  });
  if (!info) {
    await jsm.consumers.add(stream, {
      durable_name: consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: subject,
      max_ack_pending: options.maxAckPending,
    });
    logger.info({ stream, consumer, subject }, 'created the durable JetStream consumer of browsing events');
    return;
  }
  const { ack_policy, filter_subject, deliver_subject } = info.config;
  if (ack_policy !== AckPolicy.Explicit || deliver_subject || filter_subject !== subject) {
    throw new Error(
      `the JetStream consumer ${consumer} of stream ${stream} exists, but not as a pull consumer with explicit acks filtered on ${subject}; delete it or set TAILOR_NATS_CONSUMER to another name`,
    );
  }
}

/** Logs the connection's disconnects and reconnects (the client reconnects by itself, for ever). */
async function logStatus(nc: NatsConnection, logger: Logger): Promise<void> {
  for await (const status of nc.status()) {
    if (status.type === Events.Disconnect) logger.warn({ server: status.data }, 'disconnected from NATS; reconnecting');
    else if (status.type === Events.Reconnect) logger.info({ server: status.data }, 'reconnected to NATS');
    else if (status.type === Events.Error) logger.error({ err: status.data }, 'NATS reported an error');
  }
}

/** Logs what the pull reports about its consumer (missed heartbeats, consumer or stream not found). */
async function logConsumerStatus(messages: ConsumerMessages, logger: Logger): Promise<void> {
  for await (const status of await messages.status()) {
    if (status.type === 'heartbeats_missed' || status.type === 'consumer_not_found' || status.type === 'stream_not_found' || status.type === 'consumer_deleted') {
      logger.warn({ event: status.type, data: status.data }, 'the pull of the event stream reports a problem');
    }
  }
}
