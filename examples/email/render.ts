import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, type ConfigSource, type Settings, loadConfig, settingTypes } from '../../kit/config';
import { type ProgressOutput } from './createProgressBar';
import { CAMPAIGN_NAME, CAMPAIGN_NAME_RULE, CampaignInputError, DEFAULT_GATEWAY_URL, MAX_BATCH_SIZE, formatSummary, renderCampaign } from './renderCampaign';

const required = (what: string) => z.string({ message: `required: ${what}` }).trim().min(1, `required: ${what}`);

/** Settings of `npm run render`: flags (or `TAILOR_RENDER_*` variables), validated with the kit's `loadConfig`. */
export const renderSettings = {
  template: { env: 'TAILOR_RENDER_TEMPLATE', flag: 'template', schema: required('--template <file.liquid>'), doc: 'Liquid template of the email.' },
  users: { env: 'TAILOR_RENDER_USERS', flag: 'users', schema: required('--users <file of ids, one per line>'), doc: 'File of recipient ids, one per line.' },
  out: { env: 'TAILOR_RENDER_OUT', flag: 'out', schema: required('--out <folder>'), doc: 'Folder that receives one <id>.html per recipient.' },
  gateway: { env: 'TAILOR_RENDER_GATEWAY', flag: 'gateway', schema: settingTypes.url(DEFAULT_GATEWAY_URL), doc: "The gateway's GraphQL endpoint." },
  batchSize: { env: 'TAILOR_RENDER_BATCH_SIZE', flag: 'batch-size', schema: settingTypes.positiveInt(MAX_BATCH_SIZE, MAX_BATCH_SIZE), doc: 'Recipient ids per request (1–500).' },
  concurrency: { env: 'TAILOR_RENDER_CONCURRENCY', flag: 'concurrency', schema: settingTypes.positiveInt(4, 64), doc: 'Requests in flight at once.' },
  limit: { env: 'TAILOR_RENDER_LIMIT', flag: 'limit', schema: settingTypes.positiveInt(4, 50), doc: 'Recommendations asked for per recipient.' },
  campaign: {
    env: 'TAILOR_RENDER_CAMPAIGN',
    flag: 'campaign',
    schema: z.string().regex(CAMPAIGN_NAME, CAMPAIGN_NAME_RULE).optional(),
    doc: 'The campaign or send, kept in every live link and image (`$campaign` of CampaignBatch).',
  },
  liveImages: {
    env: 'TAILOR_RENDER_LIVE_IMAGES',
    flag: 'live-images',
    schema: settingTypes.boolean(false),
    doc: 'Set the template variable `live_images`: each slot shows its live image (`liveImageUrl`).',
  },
  keyFile: {
    env: 'TAILOR_RENDER_KEY_FILE',
    flag: 'key-file',
    schema: settingTypes.string('data/dev-key'),
    doc: 'File holding the client key sent to the gateway (scopes recipients:read and pii:read); default the development key of npm start.',
  },
} satisfies Settings;

/** What `--help` prints. */
export const USAGE = `Usage: npm run render -- --template <file.liquid> --users <ids file> --out <folder> [options]

Renders one email per recipient through the gateway's persisted CampaignBatch operation.

  --template <file>     Liquid template; it gets one \`user\` (an element of CampaignBatch's users) per email
  --users <file>        recipient ids, one per line; blank lines and # comments are ignored
  --out <folder>        receives <id>.html per rendered recipient (created if missing)
  --gateway <url>       GraphQL endpoint (default ${DEFAULT_GATEWAY_URL})
  --batch-size <n>      ids per request, 1–${MAX_BATCH_SIZE} (default ${MAX_BATCH_SIZE})
  --concurrency <n>     requests in flight, 1–64 (default 4)
  --limit <n>           recommendations per recipient, 1–50 (default 4)
  --campaign <name>     the campaign or send, kept in every live link and image: 1-64 letters, digits,
                        _ . : - starting with a letter or digit (default none)
  --live-images         set the template's live_images: each slot shows its live image, a card of the
                        product its link leads to when the email is opened (default off)
  --key-file <file>     the client key sent as Authorization: Bearer (default data/dev-key, made by npm start);
                        it needs scopes recipients:read and pii:read

Exit codes: 0 every recipient was rendered or rightly skipped (unknown id, no email consent);
3 some recipients failed (see the summary); 2 a bad flag or an unreadable input; 1 an unexpected error.
`;

/** Where the CLI writes. */
export interface CliStreams {
  stdout: ProgressOutput;
  stderr: { write(text: string): unknown };
}

/**
 * Runs the render CLI and resolves to its exit code: 0 when nothing failed, 3 when some recipients
 * failed, 2 for a bad flag or input file, 1 for an unexpected error.
 */
export async function runRenderCli(source: ConfigSource, streams: CliStreams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  if (source.argv.includes('--help') || source.argv.includes('-h')) {
    streams.stdout.write(USAGE);
    return 0;
  }
  let config;
  try {
    config = loadConfig(renderSettings, { env: source.env, argv: withSwitches(source.argv) });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    streams.stderr.write(`${error.message}\n\nRun with --help for usage.\n`);
    return 2;
  }
  let credential: string;
  try {
    credential = readFileSync(config.keyFile, 'utf8').trim();
  } catch (error) {
    streams.stderr.write(`Cannot read the client key file ${config.keyFile} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}): pass --key-file <file> with a key of scopes recipients:read and pii:read (npm run keys -- create …), or start Tailor with npm start, which makes data/dev-key.\n`);
    return 2;
  }
  try {
    const summary = await renderCampaign({
      credential,
      template: config.template,
      users: config.users,
      outDir: config.out,
      gatewayUrl: config.gateway,
      batchSize: config.batchSize,
      concurrency: config.concurrency,
      limit: config.limit,
      ...(config.campaign !== undefined ? { campaign: config.campaign } : {}),
      liveImages: config.liveImages,
      output: streams.stdout,
    });
    streams.stdout.write(formatSummary(summary));
    if (summary.total > 0 && summary.failed.length === summary.total && summary.failed.every((f) => f.reason.startsWith('cannot reach'))) {
      streams.stderr.write(`No recipient could be fetched: is the gateway running at ${config.gateway}? (npm start)\n`);
    }
    return summary.failed.length > 0 ? 3 : 0;
  } catch (error) {
    if (error instanceof CampaignInputError) {
      streams.stderr.write(`${error.message}\n`);
      return 2;
    }
    streams.stderr.write(`render failed: ${(error as Error).message}\n`);
    return 1;
  }
}

/** Flags that may be given alone, meaning true: `--live-images` as `--live-images=true`. */
const SWITCHES = new Set(['--live-images']);
const BOOLEAN_WORDS = new Set(['true', 'false', '1', '0', 'on', 'off', 'yes', 'no']);

/** `argv` with each switch given alone (last, or followed by another flag or a non-boolean) spelled out as `=true`. */
function withSwitches(argv: string[]): string[] {
  return argv.map((arg, i) => (SWITCHES.has(arg) && !BOOLEAN_WORDS.has(argv[i + 1] ?? '') ? `${arg}=true` : arg));
}

if (require.main === module) {
  void runRenderCli({ env: process.env, argv: process.argv.slice(2) }).then((code) => {
    process.exitCode = code;
  });
}
