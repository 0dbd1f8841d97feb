import { isUtf8 } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { z } from 'zod';
import type { Logger } from '../../kit/logger';
import type { StoreBackend } from './storeBackend';

/**
 * The widest `webhook-timestamp` tolerance: `standardwebhooks` refuses any timestamp more than five
 * minutes from its clock whatever Tailor allows, so a wider setting would not take effect.
 */
export const MAX_INGEST_TOLERANCE_SECONDS = 300;

/** The fewest bytes a webhook secret holds (the Standard Webhooks spec asks for 24 to 64). */
const MIN_SECRET_BYTES = 24;

/** Schemas of the ingest credential settings. */
export const ingestSettingTypes = {
  /** `whsec_<base64>,…`: the secrets a batch may be signed with (several while one is rotated out). */
  webhookSecrets: () =>
    z
      .string()
      .default('')
      .transform((raw, ctx) => {
        const secrets = raw.split(',').map((s) => s.trim()).filter(Boolean);
        for (const [i, secret] of secrets.entries()) {
          const problem = secretProblem(secret);
          if (problem) ctx.addIssue({ code: 'custom', message: `secret ${i + 1} ${problem}` });
        }
        return secrets;
      }),
  /** `<sha256 hex>,…`: the sha256 of each accepted ingest key, never the key itself. */
  keyHashes: () =>
    z
      .string()
      .default('')
      .transform((raw, ctx) => {
        const hashes = raw.split(',').map((s) => s.trim()).filter(Boolean);
        for (const [i, hash] of hashes.entries()) {
          if (!/^[0-9a-fA-F]{64}$/.test(hash)) {
            ctx.addIssue({ code: 'custom', message: `entry ${i + 1} is not a sha256 hex digest (64 hex digits): set the hash of the key, printf %s "$KEY" | sha256sum, not the key` });
          }
        }
        return hashes.map((h) => h.toLowerCase());
      }),
  tolerance: () =>
    z.coerce
      .number({ message: 'must be a number' })
      .int('must be a whole number')
      .min(1, 'must be at least 1')
      .max(MAX_INGEST_TOLERANCE_SECONDS, `must be at most ${MAX_INGEST_TOLERANCE_SECONDS} (standardwebhooks refuses older timestamps whatever is set)`)
      .default(MAX_INGEST_TOLERANCE_SECONDS),
};

function secretProblem(secret: string): string | undefined {
  if (!secret.startsWith('whsec_')) return 'must start with whsec_ (whsec_ then the secret in base64)';
  let bytes: number;
  try {
    bytes = Buffer.from(secret.slice('whsec_'.length), 'base64').length;
    new Webhook(secret);
  } catch (error) {
    return `is not whsec_ then base64 (${(error as Error).message})`;
  }
  if (bytes < MIN_SECRET_BYTES) return `holds ${bytes} bytes; use at least ${MIN_SECRET_BYTES} (whsec_$(openssl rand -base64 32))`;
  return undefined;
}

/** The settings `createIngestAuth` reads. */
export interface IngestAuthConfig {
  /** `TAILOR_INGEST_WEBHOOK_SECRET`, split. */
  ingestWebhookSecrets: string[];
  /** `TAILOR_INGEST_KEYS`: sha256 hex digests of the accepted keys. */
  ingestKeys: string[];
  ingestToleranceSeconds: number;
}

/** A verified Standard Webhooks message: its id and `webhook-timestamp` (seconds). */
export interface WebhookMessage {
  id: string;
  timestamp: number;
}

/** What `authenticate` found: let in (with the signed message, when it was signed), or refused and why. */
export type IngestCredential = { ok: true; webhook?: WebhookMessage } | { ok: false; message: string };

/** Who may write through `POST /ingest/*`, and which signed batches were already applied. */
export interface IngestAuth {
  /** False when neither a webhook secret nor an ingest key is configured: every batch is let in. */
  readonly required: boolean;
  /** Checks a request's signature (over `body`, its exact bytes) or ingest key, before anything is parsed. */
  authenticate(headers: IncomingHttpHeaders, body: Buffer): IngestCredential;
  /**
   * Runs `apply` unless `message`'s id was recorded before, and records the id once `apply` has
   * committed: a batch refused by `apply` (it throws) leaves its id unrecorded. `undefined`: a replay,
   * nothing was run. Two deliveries of one id at the same moment, or a crash between the commit and
   * the record, can run `apply` twice; every batch is idempotent (event ids, stock observation times,
   * profile contents), so the second counts its items as duplicates.
   */
  once<T>(message: WebhookMessage, apply: () => Promise<T>): Promise<{ value: T } | undefined>;
}


/**
 * Builds the ingest gate of one subgraph. With webhook secrets configured, it keeps the `webhook-id`s
 * it applied in the subgraph's database (the kit's migration creates the table), so a replay is caught
 * after a restart, and by every replica. With nothing
 * configured it lets every batch in and logs a warning saying so.
 *
 * Timestamps are read from the system clock (`Date.now()`), as `standardwebhooks` reads them.
 */
export function createIngestAuth(backend: StoreBackend, config: IngestAuthConfig, logger: Logger): IngestAuth {
  const webhooks = config.ingestWebhookSecrets.map((secret) => new Webhook(secret));
  const keyHashes = config.ingestKeys.map((hex) => Buffer.from(hex, 'hex'));
  const tolerance = config.ingestToleranceSeconds;
  const required = webhooks.length > 0 || keyHashes.length > 0;
  if (!required) {
    logger.warn('POST /ingest/* accepts unsigned batches from anyone: set TAILOR_INGEST_WEBHOOK_SECRET or TAILOR_INGEST_KEYS to require a signature or an ingest key');
  } else {
    logger.info({ webhookSecrets: webhooks.length, ingestKeys: keyHashes.length, toleranceSeconds: tolerance }, 'POST /ingest/* requires a signed batch or an ingest key');
  }
  const ids = webhooks.length > 0 ? webhookIdStore(backend) : undefined;

  const ways = [webhooks.length > 0 ? 'sign it (webhook-id, webhook-timestamp, webhook-signature)' : '', keyHashes.length > 0 ? 'send Authorization: Bearer <ingest key>' : '']
    .filter(Boolean)
    .join(' or ');

  function verifySignature(headers: IncomingHttpHeaders, body: Buffer): IngestCredential {
    const id = header(headers, 'webhook-id');
    const timestampText = header(headers, 'webhook-timestamp');
    const signature = header(headers, 'webhook-signature');
    if (!id || !timestampText || !signature) {
      return { ok: false, message: 'The batch is not signed: it needs all of webhook-id, webhook-timestamp and webhook-signature.' };
    }
    if (!/^\d{1,15}$/.test(timestampText)) return { ok: false, message: 'webhook-timestamp must be whole seconds since the Unix epoch.' };
    const timestamp = Number(timestampText);
    const outside = { ok: false as const, message: `webhook-timestamp is outside the tolerance of ${tolerance} seconds from this server's clock: sign each batch when it is sent, and check the sender's clock.` };
    if (Math.abs(Math.floor(Date.now() / 1000) - timestamp) > tolerance) return outside;
    // The library signs and checks text: only a well-formed UTF-8 body decodes to text that stands
    // for its exact bytes (any other would decode to U+FFFD, which other bytes decode to as well).
    if (!isUtf8(body)) return { ok: false, message: 'The body is not well-formed UTF-8, so no signature can cover its exact bytes.' };
    for (const webhook of webhooks) {
      try {
        webhook.verify(body, { 'webhook-id': id, 'webhook-timestamp': timestampText, 'webhook-signature': signature }, { jsonParse: false });
        return { ok: true, webhook: { id, timestamp } };
      } catch (error) {
        if (!(error instanceof WebhookVerificationError)) throw error;
        // Its own clock read a second later than ours, at the very edge of the window.
        if (/timestamp too (old|new)/.test(error.message)) return outside;
      }
    }
    return { ok: false, message: 'The webhook-signature matches no configured secret for this webhook-id, webhook-timestamp and body.' };
  }

  function keyMatches(key: string): boolean {
    const presented = createHash('sha256').update(key, 'utf8').digest();
    let match = false;
    // Every hash is compared, each in constant time, whichever one matches.
    for (const hash of keyHashes) if (timingSafeEqual(presented, hash)) match = true;
    return match;
  }

  return {
    required,
    authenticate(headers, body) {
      if (!required) return { ok: true };
      const authorization = header(headers, 'authorization');
      const signed = ['webhook-id', 'webhook-timestamp', 'webhook-signature'].some((name) => headers[name] !== undefined);
      let refusal: IngestCredential | undefined;
      if (webhooks.length > 0 && signed) {
        const verified = verifySignature(headers, body);
        if (verified.ok) return verified;
        refusal = verified;
      }
      if (keyHashes.length > 0 && authorization !== undefined) {
        const key = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization)?.[1];
        if (key !== undefined && keyMatches(key)) return { ok: true };
        refusal ??= { ok: false, message: key === undefined ? 'The Authorization header must be Bearer <ingest key>.' : 'The ingest key is not one of TAILOR_INGEST_KEYS.' };
      }
      return refusal ?? { ok: false, message: `This subgraph takes only authenticated batches: ${ways}.` };
    },
    async once(message, apply) {
      if (!ids) return { value: await apply() };
      // An id older than the tolerance can go: a replay of it is refused by its timestamp.
      await ids.forget(Math.floor(Date.now() / 1000) - tolerance);
      if (await ids.seen(message.id)) return undefined;
      const value = await apply();
      await ids.record(message.id, message.timestamp);
      return { value };
    },
  };
}

/** The `webhook-id`s applied within the tolerance, in the subgraph's database (table `ingest_webhook_ids`). */
function webhookIdStore(backend: StoreBackend): { seen(id: string): Promise<boolean>; record(id: string, timestamp: number): Promise<void>; forget(before: number): Promise<void> } {
  if (backend.kind === 'postgres') {
    const { db } = backend;
    return {
      seen: async (id) => (await db.rows('ingest_webhook_id_seen', 'SELECT 1 FROM ingest_webhook_ids WHERE id = $1', [id])).length > 0,
      record: async (id, timestamp) => void (await db.run('ingest_webhook_id_record', 'INSERT INTO ingest_webhook_ids (id, timestamp) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING', [id, timestamp])),
      forget: async (before) => void (await db.run('ingest_webhook_id_forget', 'DELETE FROM ingest_webhook_ids WHERE timestamp < $1', [before])),
    };
  }
  const { db } = backend;
  const seen = db.statement('ingest_webhook_id_seen', 'SELECT 1 AS found FROM ingest_webhook_ids WHERE id = ?');
  const insert = db.statement('ingest_webhook_id_record', 'INSERT INTO ingest_webhook_ids (id, timestamp) VALUES (?, ?) ON CONFLICT (id) DO NOTHING');
  const remove = db.statement('ingest_webhook_id_forget', 'DELETE FROM ingest_webhook_ids WHERE timestamp < ?');
  return {
    seen: async (id) => seen.get(id) !== undefined,
    record: async (id, timestamp) => void insert.run(id, timestamp),
    forget: async (before) => void remove.run(before),
  };
}

/** One header's value (Node joins a repeated custom header with `, `, and keeps the first `Authorization`). */
function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}
