import type { IncomingMessage, ServerResponse } from 'node:http';
import type { z } from 'zod';
import { GraphQLError } from 'graphql';
import { isWellFormed } from '../../kit/isWellFormed';
import { ErrorCode, type ItemProblem, batchTooLargeError, invalidBatchError } from '../../kit/errors';
import { isJsonType } from '../../kit/http/handleGraphQLRequest';
import { BodyTooLargeError, readBodyBytes } from '../../kit/http/readBody';
import { sendError, sendJson } from '../../kit/http/sendJson';
import type { IngestAuth } from './ingestAuth';
import { StoreConflictError } from './storeBackend';
import type { SubgraphMetrics } from './subgraphMetrics';

/** The outcome of an applied batch, as the `IngestResult` type gives it. */
export interface IngestResult {
  accepted: number;
  duplicates: number;
  stale: number;
}

/** An item that passed its schema, with its place in the batch. */
export interface IndexedItem<Item> {
  index: number;
  item: Item;
}

/** One kind of batch a subgraph takes in, over HTTP and as a mutation alike. */
export interface Ingestor<Item> {
  /** Names the batch, and its route: `POST /ingest/<kind>`. */
  readonly kind: string;
  /** Validates and applies a batch atomically, or throws a `GraphQLError` naming every bad item. */
  ingest(items: unknown): Promise<IngestResult>;
  /**
   * Serves `POST /ingest/<kind>`: checks the signature or ingest key over the raw body first (401
   * `UNAUTHENTICATED` without one, when the subgraph requires one), and applies a signed batch once
   * per `webhook-id`.
   */
  handleHttp(req: IncomingMessage, res: ServerResponse): Promise<void>;
  readonly itemSchema: z.ZodType<Item>;
}

/** Options of `createIngestor`. */
export interface IngestorOptions<Item> {
  kind: string;
  /** Validates one item; its messages become the item's `reason`. */
  itemSchema: z.ZodType<Item>;
  /**
   * Checks what the schema cannot see (unknown ids, conflicts with stored data). It gets every item
   * that passed the schema, so a refusal names all bad items at once, not only the first kind found.
   */
  check?: (items: IndexedItem<Item>[]) => ItemProblem[] | Promise<ItemProblem[]>;
  /** Applies a batch that passed every check, atomically. */
  apply: (items: Item[]) => Promise<IngestResult>;
  /**
   * Applies several batches that passed every check in one transaction, with each one's result as
   * `apply`ing them in order would give it. With it, batches that are ready together (while another
   * group commits, or arriving in the same turn of the event loop) are applied as a group of at most
   * `GROUP_MAX_ITEMS` items: one commit for all, each batch still all or nothing. Not with `check`,
   * which would see the store as it was before the group, not after the batches before its own.
   */
  applyGroup?: (batches: Item[][]) => Promise<IngestResult[]>;
  maxItems: number;
  maxBodyBytes: number;
  metrics: SubgraphMetrics;
  /** Who may send batches over HTTP: the subgraph base's `ingestAuth`. */
  auth: IngestAuth;
}

/**
 * Most items of one group of batches (`IngestorOptions.applyGroup`): ten batches of 500. A larger group
 * would hold the store's write lock longer for little more gain (the commit, not the rows, is what a
 * group saves); a batch larger than this is applied alone.
 */
export const GROUP_MAX_ITEMS = 5_000;

/** A batch waiting for its group to be applied. */
interface Waiting<Item> {
  items: Item[];
  resolve: (result: IngestResult) => void;
  reject: (error: unknown) => void;
}

/** Refused batch, carrying the HTTP status and GraphQL error that say why. */
class BatchRefused extends Error {
  constructor(
    readonly status: number,
    readonly error: GraphQLError,
  ) {
    super(error.message);
  }
}

/**
 * Creates the ingestion path of one kind of batch. The HTTP route and the GraphQL mutation share it,
 * so both refuse the same batches with the same reasons.
 */
export function createIngestor<Item>(options: IngestorOptions<Item>): Ingestor<Item> {
  const { kind, itemSchema, check, apply, applyGroup, maxItems, maxBodyBytes, metrics, auth } = options;
  if (applyGroup && check) throw new Error(`The ${kind} ingestor cannot both check batches against the store and apply them in groups`);

  // Batches of this kind are checked and applied one at a time in this process (with `applyGroup`,
  // group by group: see `flushGroups`): no other batch of the process comes in between a check and
  // its apply. Between replicas, the store's constraints
  // (unique keys, conditional upserts) keep the same guarantees.
  let tail: Promise<unknown> = Promise.resolve();
  function oneAtATime<T>(fn: () => Promise<T>): Promise<T> {
    const next = tail.then(fn, fn);
    tail = next.catch(() => undefined);
    return next;
  }

  /** Applies one batch; `recheck` refuses it, or lets it through, after a conflict with another replica. */
  async function applyAlone(items: Item[], recheck: () => Promise<void>): Promise<IngestResult> {
    try {
      return await apply(items);
    } catch (error) {
      if (!(error instanceof StoreConflictError)) throw error;
      // Another replica committed a conflicting row after the check: checked again, the batch is
      // refused naming it (or, if the conflict has gone, applied).
      await recheck();
      return apply(items);
    }
  }

  // Batches waiting for a group (with `applyGroup`), in arrival order, and whether a flush is under way.
  let waiting: Waiting<Item>[] = [];
  let flushing = false;
  function inGroup(items: Item[]): Promise<IngestResult> {
    return new Promise((resolve, reject) => {
      waiting.push({ items, resolve, reject });
      if (flushing) return;
      flushing = true;
      // After the current turn of the event loop, so that every batch made ready in it joins the group.
      setImmediate(() => void flushGroups());
    });
  }
  async function flushGroups(): Promise<void> {
    while (waiting.length > 0) {
      let size = waiting[0].items.length;
      let count = 1;
      while (count < waiting.length && size + waiting[count].items.length <= GROUP_MAX_ITEMS) size += waiting[count++].items.length;
      const group = waiting.slice(0, count);
      waiting = waiting.slice(count);
      await applyGroupOf(group);
    }
    flushing = false;
  }
  async function applyGroupOf(group: Waiting<Item>[]): Promise<void> {
    if (group.length > 1) {
      let results: IngestResult[] | undefined;
      try {
        results = await applyGroup!(group.map((g) => g.items));
      } catch {
        // Whatever failed the group (a conflict, a store error), each batch is applied alone, so that
        // it fails, or succeeds, on its own.
      }
      if (results) {
        group.forEach((g, i) => g.resolve(results[i]));
        return;
      }
    }
    for (const g of group) {
      try {
        g.resolve(await applyAlone(g.items, async () => undefined));
      } catch (error) {
        g.reject(error);
      }
    }
  }

  async function run(input: unknown): Promise<IngestResult> {
    if (!Array.isArray(input)) {
      throw new BatchRefused(400, new GraphQLError(`The ${kind} batch must be a JSON array of items, or an object with a "${kind}" array.`, { extensions: { code: ErrorCode.BAD_USER_INPUT } }));
    }
    if (input.length > maxItems) throw new BatchRefused(413, batchTooLargeError(kind, input.length, maxItems));
    const problems: ItemProblem[] = [];
    const valid: IndexedItem<Item>[] = [];
    input.forEach((raw, index) => {
      const malformed = malformedStringField(raw);
      if (malformed !== undefined) {
        problems.push({ index, field: malformed || undefined, reason: 'must be well-formed Unicode text (it holds a lone UTF-16 surrogate)' });
        return;
      }
      const parsed = itemSchema.safeParse(raw);
      if (parsed.success) valid.push({ index, item: parsed.data });
      else for (const issue of parsed.error.issues) problems.push({ index, field: issue.path.join('.') || undefined, reason: issue.message });
    });
    const refuseIfAny = (found: ItemProblem[]) => {
      if (found.length > 0) {
        metrics.ingestItems.labels(kind, 'refused').inc(input.length);
        throw new BatchRefused(400, invalidBatchError(kind, found.sort((a, b) => a.index - b.index)));
      }
    };
    const checked = async () => refuseIfAny([...problems, ...((await check?.(valid)) ?? [])]);
    const items = valid.map((v) => v.item);
    let result: IngestResult;
    if (applyGroup) {
      refuseIfAny(problems);
      result = await inGroup(items);
    } else {
      result = await oneAtATime(async () => {
        await checked();
        return applyAlone(items, checked);
      });
    }
    metrics.ingestItems.labels(kind, 'accepted').inc(result.accepted);
    metrics.ingestItems.labels(kind, 'duplicate').inc(result.duplicates);
    metrics.ingestItems.labels(kind, 'stale').inc(result.stale);
    return result;
  }

  return {
    kind,
    itemSchema,
    async ingest(items) {
      try {
        return await run(items);
      } catch (error) {
        if (error instanceof BatchRefused) throw error.error;
        throw error;
      }
    },
    async handleHttp(req, res) {
      // No Content-Type is read as JSON (webhook senders often omit it); any other type is refused.
      if (req.headers['content-type'] !== undefined && !isJsonType(req.headers['content-type'])) {
        req.resume();
        return sendError(res, 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, `Send the ${kind} batch as JSON, with Content-Type: application/json.`);
      }
      let bytes: Buffer;
      try {
        bytes = await readBodyBytes(req, maxBodyBytes);
      } catch (error) {
        if (error instanceof BodyTooLargeError) {
          return sendError(res, 413, ErrorCode.BATCH_TOO_LARGE, `${error.message} Split the ${kind} batch into smaller ones.`, { limitBytes: maxBodyBytes });
        }
        return sendError(res, 400, ErrorCode.BAD_USER_INPUT, 'The request body is not valid JSON.');
      }
      // The exact bytes received are checked before anything of them is parsed.
      const credential = auth.authenticate(req.headers, bytes);
      if (!credential.ok) return sendError(res, 401, ErrorCode.UNAUTHENTICATED, credential.message);
      let body: unknown;
      try {
        body = JSON.parse(bytes.toString('utf8'));
      } catch {
        return sendError(res, 400, ErrorCode.BAD_USER_INPUT, 'The request body is not valid JSON.');
      }
      const items = Array.isArray(body) ? body : (body as Record<string, unknown> | null)?.[kind];
      try {
        if (!credential.webhook) return sendJson(res, 200, await run(items), { 'cache-control': 'no-store' });
        const once = await auth.once(credential.webhook, () => run(items));
        if (once) return sendJson(res, 200, once.value, { 'cache-control': 'no-store' });
        // A replayed webhook-id: its batch was applied when first sent; nothing is applied again.
        const size = Array.isArray(items) ? items.length : 0;
        metrics.ingestItems.labels(kind, 'duplicate').inc(size);
        sendJson(res, 200, { accepted: 0, duplicates: size, stale: 0 } satisfies IngestResult, { 'cache-control': 'no-store' });
      } catch (error) {
        if (!(error instanceof BatchRefused)) throw error;
        sendError(res, error.status, error.error.extensions.code as ErrorCode, error.message, withoutCode(error.error.extensions));
      }
    },
  };
}

/**
 * The path (`a.b.0`, `''` for the item itself) of the first string in `value` that is not well-formed
 * Unicode, or `undefined` when there is none. Checked for every kind of batch, so that no store ever
 * sees two strings that its UTF-8 encoding would make one (an `eventId` replayed as a duplicate).
 */
function malformedStringField(value: unknown): string | undefined {
  // Iterative, not recursive, and each entry points at its parent instead of copying its path: a
  // hostile body may nest arrays thousands of levels deep.
  interface Entry {
    value: unknown;
    key?: string;
    parent?: Entry;
  }
  const pathOf = (entry: Entry, last?: string): string => {
    const keys = last === undefined ? [] : [last];
    for (let e: Entry | undefined = entry; e?.key !== undefined; e = e.parent) keys.unshift(e.key);
    return keys.join('.');
  };
  const pending: Entry[] = [{ value }];
  while (pending.length > 0) {
    const entry = pending.pop()!;
    const current = entry.value;
    if (typeof current === 'string') {
      if (!isWellFormed(current)) return pathOf(entry);
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    const keys = Object.keys(current);
    for (let k = keys.length - 1; k >= 0; k--) {
      if (!isWellFormed(keys[k])) return pathOf(entry, keys[k]);
      pending.push({ value: (current as Record<string, unknown>)[keys[k]], key: keys[k], parent: entry });
    }
  }
  return undefined;
}

function withoutCode(extensions: Record<string, unknown>): Record<string, unknown> {
  const { code: _code, ...rest } = extensions;
  return rest;
}
