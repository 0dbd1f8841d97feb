/**
 * The floor as a process of its own, for `npm run bench`:
 *
 *     node --require tests/support/loopbackOnly.cjs --import tsx bench/floorMain.ts --data-dir DIR [--port 0] [--host 127.0.0.1] [--link-base-url URL]
 *
 * It opens the stack's SQLite files in DIR read-only and answers `POST /graphql` (see `floor.ts`).
 * Every other setting is read from the environment by the subgraphs' own configuration loaders (signal
 * weights, in-stock threshold, caches, `TAILOR_LINK_KEYS`, `TAILOR_LINK_BASE_URL`…), so the stack's
 * environment gives the stack's settings; without `TAILOR_LINK_KEYS`, the key the stack keeps in
 * `DIR/link-keys` (as `npm start` makes it) seals the live links. Once listening it prints
 * `Floor listening on <url>` on stdout (and tells a launcher with an IPC channel, as the services do).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { ConfigError, loadConfig, settingTypes } from '../kit/config';
import { runService } from '../kit/runService';
import { LINK_KEYS_FILE } from '../scripts/startStack';
import { createFloor, loadFloorSettings, startFloorServer } from './floor';

/** The floor process's own settings; the rest come from the subgraphs' settings in the environment. */
const floorSettings = {
  dataDir: { env: 'TAILOR_FLOOR_DATA_DIR', flag: 'data-dir', schema: z.string({ message: 'is required: the stack\'s data folder' }).min(1), doc: 'The stack\'s data folder (crm.db, stock.db, behavior.db).' },
  port: { env: 'TAILOR_FLOOR_PORT', flag: 'port', schema: settingTypes.port(0), doc: 'Port to listen on (0 picks a free one).' },
  host: {
    env: 'TAILOR_FLOOR_HOST',
    flag: 'host',
    schema: z.enum(['127.0.0.1', '::1', 'localhost'], { message: 'must be a loopback address (127.0.0.1, ::1 or localhost)' }).default('127.0.0.1'),
    doc: 'Loopback interface to listen on.',
  },
  linkBaseUrl: { env: 'TAILOR_FLOOR_LINK_BASE_URL', flag: 'link-base-url', schema: z.url({ protocol: /^https?$/, message: 'must be an absolute http(s) URL' }).optional(), doc: 'Overrides TAILOR_LINK_BASE_URL: the gateway live links point at.' },
};

runService('floor', async () => {
  const own = loadConfig(floorSettings, { env: process.env, argv: process.argv.slice(2) });
  const missing = ['crm.db', 'stock.db', 'behavior.db'].filter((file) => !existsSync(join(own.dataDir, file)));
  if (missing.length > 0) throw new ConfigError([`--data-dir ${own.dataDir}: no ${missing.join(', ')} there; it must be the data folder of a stack that has started once`]);
  const env: Record<string, string | undefined> = { ...process.env };
  if (own.linkBaseUrl) env.TAILOR_LINK_BASE_URL = own.linkBaseUrl;
  const keysFile = join(own.dataDir, LINK_KEYS_FILE);
  if (!env.TAILOR_LINK_KEYS?.trim() && existsSync(keysFile)) env.TAILOR_LINK_KEYS = readFileSync(keysFile, 'utf8').trim();
  const floor = createFloor({ dataDir: own.dataDir, settings: loadFloorSettings(env) });
  let running;
  try {
    running = await startFloorServer(floor, { host: own.host, port: own.port });
  } catch (error) {
    floor.close();
    throw error;
  }
  process.stdout.write(`Floor listening on ${running.graphqlUrl}\n`);
  return running;
});
