import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { Liquid, type Template } from 'liquidjs';
import { MANIFEST_FILE, readManifest } from '../../kit/operationManifest';
import { type GraphQLError, createGatewayClient, describeError, recipientIndex } from './createGatewayClient';
import { type ProgressOutput, createProgressBar } from './createProgressBar';
import { runPool } from './runPool';

/** The persisted operation every batch is fetched with (schema/operations/campaign-batch.graphql). */
export const CAMPAIGN_OPERATION = 'CampaignBatch';
/** Most ids the gateway's `users(ids:)` accepts in one request. */
export const MAX_BATCH_SIZE = 500;
/** The gateway the renderer talks to unless told otherwise. */
export const DEFAULT_GATEWAY_URL = 'http://127.0.0.1:4000/graphql';
/**
 * A campaign name, as `Recommendation.clickUrl(campaign:)` accepts it: 1-64 letters, digits, `_ . : -`,
 * starting with a letter or digit. Checked here so that a bad one stops the run before any request.
 */
export const CAMPAIGN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
/** What a bad campaign name is told. */
export const CAMPAIGN_NAME_RULE = 'must be 1-64 letters, digits, _ . : - (starting with a letter or digit)';

/** Options of `renderCampaign`. */
export interface RenderCampaignOptions {
  /** The Liquid template file; it gets one `user` (an element of CampaignBatch's `users`) per render, and `live_images`. */
  template: string;
  /** A file of recipient ids (one per line; blank lines and `#` comments ignored), or the ids themselves. */
  users: string | readonly string[];
  /** Folder that receives one `<id>.html` per rendered recipient; created if missing. */
  outDir: string;
  /** The gateway's GraphQL endpoint. Default `http://127.0.0.1:4000/graphql`. */
  gatewayUrl?: string;
  /** The client key sent with every request (scopes `recipients:read` and `pii:read`). */
  credential?: string;
  /** Ids per request, 1–500. Default 500. */
  batchSize?: number;
  /** Requests in flight at once. Default 4. */
  concurrency?: number;
  /** `limit` of `recommendations` in the query. Default 4. */
  limit?: number;
  /** The `$campaign` of CampaignBatch, kept in every live link and image of the emails (`CAMPAIGN_NAME`). Default none. */
  campaign?: string;
  /** Sets the template's `live_images` to true: the emails show live images (`liveImageUrl`). Default false. */
  liveImages?: boolean;
  /** Retries of a batch whose request failed (network error, 408/429/5xx, SUBGRAPH_UNAVAILABLE). Default 3. */
  retries?: number;
  /** First retry delay in ms; it doubles on each retry (a 503's `Retry-After` wins, up to 10 s). Default 250. */
  retryDelayMs?: number;
  /** A request that takes longer than this is abandoned (and retried). Default 30,000 ms. */
  requestTimeoutMs?: number;
  /** The persisted operation manifest holding CampaignBatch's hash. Default schema/operations/manifest.json. */
  manifestFile?: string;
  /** Progress output; default `process.stdout`. `null` prints nothing. */
  output?: ProgressOutput | null;
  /** Monotonic milliseconds, for rates and ETAs. Default `performance.now`. */
  now?: () => number;
}

/** A recipient who got no email because of an error. */
export interface FailedRecipient {
  id: string;
  reason: string;
}

/** What a campaign run did. */
export interface CampaignSummary {
  /** Distinct recipient ids in the input. */
  total: number;
  /** Repeated ids that were ignored (each recipient is rendered once). */
  duplicates: number;
  /** Emails written. */
  rendered: number;
  /** Ids the gateway does not know (`null` user, no error): skipped. */
  unknown: string[];
  /** Recipients without `consent.email`: skipped, no email is written for them. */
  noConsent: string[];
  /** Recipients rendered with some fields at their declared fallbacks (a subgraph was down): counted in `rendered` too. */
  degraded: string[];
  /** Recipients that failed: a GraphQL error on them, a batch that kept failing, a render or write error. */
  failed: FailedRecipient[];
  /** Batches the ids were split into. */
  batches: number;
  /** HTTP requests sent to the gateway, retries included. */
  requests: number;
  /** Why requests were retried, with how many times each reason occurred. */
  retryReasons: Record<string, number>;
  /** Wall time of the run, in ms. */
  elapsedMs: number;
  /** Recipients processed (rendered, skipped or failed) per second. */
  recipientsPerSecond: number;
  /** Absolute path of the output folder. */
  outDir: string;
}

/** A problem with the campaign's inputs (campaign name, template, ids file, output folder, manifest): nothing was sent. */
export class CampaignInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CampaignInputError';
  }
}

/** One recipient as CampaignBatch returns it. */
interface CampaignUser {
  id: string;
  firstName?: string | null;
  consent?: { email?: boolean | null } | null;
  [field: string]: unknown;
}

/**
 * Renders one email per recipient: fetches recipients in batches through the gateway with the
 * persisted CampaignBatch operation (by hash only), with bounded concurrency and retries, renders the
 * Liquid template for each consenting, known recipient and writes `<outDir>/<id>.html`. Unknown ids,
 * recipients without email consent and failures are counted, never fatal. Throws `CampaignInputError`
 * (before sending anything) when the campaign name, template, ids, output folder or manifest are unusable.
 */
export async function renderCampaign(options: RenderCampaignOptions): Promise<CampaignSummary> {
  const now = options.now ?? (() => performance.now());
  const started = now();
  const batchSize = checkedInt('batchSize', options.batchSize ?? MAX_BATCH_SIZE, 1, MAX_BATCH_SIZE);
  const concurrency = checkedInt('concurrency', options.concurrency ?? 4, 1, 1000);
  const limit = checkedInt('limit', options.limit ?? 4, 1, 1000);
  const retries = checkedInt('retries', options.retries ?? 3, 0, 100);
  const retryDelayMs = options.retryDelayMs ?? 250;
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const gatewayUrl = options.gatewayUrl ?? DEFAULT_GATEWAY_URL;
  const output = options.output === undefined ? process.stdout : options.output;
  if (options.campaign !== undefined && !CAMPAIGN_NAME.test(options.campaign)) {
    throw new CampaignInputError(`The campaign name ${JSON.stringify(options.campaign)} ${CAMPAIGN_NAME_RULE}.`);
  }
  const liveImages = options.liveImages === true;

  const { engine, template } = await loadTemplate(options.template);
  const listed = typeof options.users === 'string' ? parseIdList(await readInput(options.users, 'recipient ids file')) : [...options.users];
  const ids = [...new Set(listed)];
  if (ids.length === 0) {
    throw new CampaignInputError(typeof options.users === 'string' ? `The recipient ids file ${options.users} holds no ids (one per line; blank lines and # comments are ignored).` : 'No recipient ids were given.');
  }
  const hash = campaignOperationHash(options.manifestFile ?? MANIFEST_FILE);
  const outDir = resolve(options.outDir);
  try {
    await mkdir(outDir, { recursive: true });
  } catch (error) {
    throw new CampaignInputError(`Cannot create the output folder ${options.outDir}: ${(error as Error).message}`);
  }

  const summary: CampaignSummary = {
    total: ids.length,
    duplicates: listed.length - ids.length,
    rendered: 0,
    unknown: [],
    noConsent: [],
    degraded: [],
    failed: [],
    batches: Math.ceil(ids.length / batchSize),
    requests: 0,
    retryReasons: {},
    elapsedMs: 0,
    recipientsPerSecond: 0,
    outDir,
  };
  const batches = Array.from({ length: summary.batches }, (_, i) => ids.slice(i * batchSize, (i + 1) * batchSize));
  const progress = createProgressBar(output, summary.total, summary.batches, now);

  const client = createGatewayClient<CampaignUser>({
    url: gatewayUrl,
    operationName: CAMPAIGN_OPERATION,
    operationHash: hash,
    limit,
    ...(options.campaign !== undefined ? { variables: { campaign: options.campaign } } : {}),
    retries,
    retryDelayMs,
    requestTimeoutMs,
    credential: options.credential,
  });

  /** Renders and writes one recipient's email. */
  const renderOne = async (user: CampaignUser): Promise<void> => {
    const html = await engine.render(template, liveImages ? { user, live_images: true } : { user });
    await writeFile(join(outDir, htmlFileName(user.id)), html);
  };

  const runBatch = async (batch: string[]): Promise<void> => {
    const answer = await client.fetchBatch(batch);
    if (!answer.users) {
      for (const id of batch) summary.failed.push({ id, reason: answer.failure ?? 'no answer' });
      return;
    }
    const errorsByIndex = new Map<number, GraphQLError[]>();
    for (const error of answer.errors) {
      const index = recipientIndex(error);
      if (index !== undefined) errorsByIndex.set(index, [...(errorsByIndex.get(index) ?? []), error]);
    }
    await Promise.all(
      batch.map(async (id, i) => {
        const user = answer.users![i];
        // An error at a field the gateway answered with its declared fallback (extensions.fallback) leaves the
        // recipient usable, e.g. trending products instead of personal ones; any other error of theirs fails them.
        const own = errorsByIndex.get(i)?.filter((e) => e.extensions?.fallback !== true);
        if (own?.length) return void summary.failed.push({ id, reason: own.map(describeError).join('; ') });
        if (user === null || user === undefined) {
          // Null without an error of its own is an unknown id, unless a general error could explain it.
          if (answer.failure) summary.failed.push({ id, reason: answer.failure });
          else summary.unknown.push(id);
          return;
        }
        if (user.id !== id) return void summary.failed.push({ id, reason: `the gateway answered user ${JSON.stringify(user.id)} in its place` });
        if (user.consent?.email !== true) return void summary.noConsent.push(id);
        try {
          await renderOne(user);
          summary.rendered++;
          if (errorsByIndex.has(i)) summary.degraded.push(id);
        } catch (error) {
          summary.failed.push({ id, reason: `render or write failed: ${(error as Error).message}` });
        }
      }),
    );
  };

  let done = 0;
  await runPool(batches, concurrency, async (batch) => {
    try {
      await runBatch(batch);
    } catch (error) {
      // runBatch accounts for every recipient itself; this is a last resort that keeps the campaign going.
      for (const id of batch) summary.failed.push({ id, reason: `unexpected error: ${(error as Error).message}` });
    }
    done += batch.length;
    progress.update(done);
  });
  progress.finish(done);
  summary.requests = client.stats.requests;
  summary.retryReasons = client.stats.retryReasons;

  // Batches finish in any order; report ids in the order of the input.
  const position = new Map(ids.map((id, i) => [id, i]));
  const byPosition = (a: string, b: string) => position.get(a)! - position.get(b)!;
  summary.unknown.sort(byPosition);
  summary.noConsent.sort(byPosition);
  summary.degraded.sort(byPosition);
  summary.failed.sort((a, b) => byPosition(a.id, b.id));

  summary.elapsedMs = now() - started;
  summary.recipientsPerSecond = summary.elapsedMs > 0 ? (summary.total * 1000) / summary.elapsedMs : 0;
  return summary;
}

/** The recipient ids of an ids file's text: one per line, trimmed; blank lines and `#` comments ignored. */
export function parseIdList(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/**
 * The file name of a recipient's email: `<id>.html` when the id is a safe file name (letters, digits,
 * `.`, `_`, `-`, not starting with a dot), otherwise a sanitized id plus a hash of the real one, so two
 * ids never share a file and no id can escape the output folder.
 */
export function htmlFileName(id: string): string {
  if (/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(id)) return `${id}.html`;
  const readable = id.replace(/[^A-Za-z0-9_-]+/g, '_').slice(0, 64).replace(/^_+|_+$/g, '') || 'id';
  return `${readable}-${createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 12)}.html`;
}

/** The summary as the CLI prints it. */
export function formatSummary(summary: CampaignSummary): string {
  const seconds = summary.elapsedMs / 1000;
  const rate = summary.recipientsPerSecond.toFixed(1);
  const sample = (ids: string[]) => (ids.length === 0 ? '' : `  (${ids.slice(0, 5).join(', ')}${ids.length > 5 ? `, … ${ids.length - 5} more` : ''})`);
  const lines = [
    `Campaign done: ${summary.total} recipient${summary.total === 1 ? '' : 's'} in ${summary.batches} batch${summary.batches === 1 ? '' : 'es'} (${summary.requests} request${summary.requests === 1 ? '' : 's'}), ${seconds.toFixed(2)} s.`,
    `  rendered               ${summary.rendered}  → ${relative(process.cwd(), summary.outDir) || '.'}`,
    `  unknown ids skipped    ${summary.unknown.length}${sample(summary.unknown)}`,
    `  no-consent skipped     ${summary.noConsent.length}${sample(summary.noConsent)}`,
    ...(summary.degraded.length > 0 ? [`  with fallbacks         ${summary.degraded.length}${sample(summary.degraded)} (rendered; a service was down)`] : []),
    `  failed                 ${summary.failed.length}`,
  ];
  if (summary.duplicates > 0) lines.push(`  duplicate ids ignored  ${summary.duplicates}`);
  const retried = Object.entries(summary.retryReasons);
  if (retried.length > 0) {
    lines.push(`  retried requests       ${summary.requests - summary.batches}`);
    for (const [reason, count] of retried.slice(0, 5)) lines.push(`    ${count} × ${reason}`);
  }
  lines.push(`  recipients per second  ${rate}`, `  elapsed                ${seconds.toFixed(2)} s`);
  if (summary.failed.length > 0) {
    lines.push('Failures:');
    for (const { id, reason } of summary.failed.slice(0, 10)) lines.push(`  ${id}: ${reason}`);
    if (summary.failed.length > 10) lines.push(`  … and ${summary.failed.length - 10} more`);
  }
  return `${lines.join('\n')}\n`;
}

/** Reads and parses the template once; rendering then reuses it for every recipient. */
async function loadTemplate(file: string): Promise<{ engine: Liquid; template: Template[] }> {
  const text = await readInput(file, 'template');
  // Every output is HTML-escaped; `safe_url` keeps only absolute http(s) URLs in links and images.
  const engine = new Liquid({ root: [dirname(resolve(file))], extname: '.liquid', outputEscape: 'escape', strictFilters: true });
  engine.registerFilter('safe_url', (value: unknown) => {
    const url = String(value ?? '');
    return /^https?:\/\//i.test(url) ? url : '#';
  });
  try {
    return { engine, template: engine.parse(text, resolve(file)) };
  } catch (error) {
    throw new CampaignInputError(`The template ${file} is not valid Liquid: ${(error as Error).message}`);
  }
}

async function readInput(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (error as Error).message;
    throw new CampaignInputError(`Cannot read the ${what} ${file}: ${why}.`);
  }
}

function campaignOperationHash(manifestFile: string): string {
  let id: string | undefined;
  try {
    id = readManifest(manifestFile).operations.find((op) => op.name === CAMPAIGN_OPERATION)?.id;
  } catch (error) {
    throw new CampaignInputError(`Cannot read the operation manifest ${manifestFile}: ${(error as Error).message}`);
  }
  if (!id) throw new CampaignInputError(`The operation manifest ${manifestFile} has no ${CAMPAIGN_OPERATION} operation (run npm run operations).`);
  return id;
}

function checkedInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new CampaignInputError(`${name} must be a whole number from ${min} to ${max}, not ${value}.`);
  return value;
}
