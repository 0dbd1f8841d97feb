import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { Logger } from '../../kit/logger';
import { closeRedis, openRedis } from '../../kit/redis';

/**
 * Tells every gateway replica sharing a Redis to drop its kept REST answers when one of them has run
 * a mutation (a consent changed, a recipient erased), over the channel `<prefix>rest-answers:forget`.
 * A replica skips its own messages; after a lost subscription it drops its kept answers, since a
 * message may have been missed meanwhile. Without Redis a mutation drops only its own replica's.
 */
export interface KeptAnswersBus {
  /** Asks the other replicas to drop theirs (a failure is logged: they expire within their TTL anyway). */
  announce(): void;
  /** Closes the subscription (the publishing client is its owner's to close). */
  close(): Promise<void>;
}

/** Publishes with `publisher` (the gateway's Redis client) and subscribes on a connection of its own. */
export function openKeptAnswersBus(options: { url: string; publisher: Redis; prefix: string; logger: Logger; forget: () => void }): KeptAnswersBus {
  const channel = `${options.prefix}rest-answers:forget`;
  const origin = randomUUID();
  const subscriber = openRedis(options.url, options.logger, { role: 'rest-answers-subscription' });
  subscriber.client.on('message', (from: string, message: string) => {
    if (from === channel && message !== origin) options.forget();
  });
  let connections = 0;
  subscriber.client.on('ready', () => {
    if (connections++ > 0) options.forget();
    subscriber.client.subscribe(channel).catch((error: Error) => options.logger.warn({ err: { message: error.message } }, 'kept REST answers: the forget channel could not be subscribed'));
  });
  return {
    announce() {
      options.publisher.publish(channel, origin).catch((error: Error) => options.logger.warn({ err: { message: error.message } }, 'kept REST answers: other replicas were not told to drop theirs'));
    },
    async close() {
      await closeRedis(subscriber.client);
    },
  };
}
