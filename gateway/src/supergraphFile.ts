import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createHash } from 'node:crypto';
import type { SupergraphSdlHook } from '@apollo/gateway';
import type { Logger } from '../../kit/logger';

/** What the gateway serves now, and the last supergraph file it refused. */
export interface SupergraphStatus {
  /** sha256 of the supergraph being served. */
  hash: string;
  loadedAt: string;
  lastRefusal?: { hash: string; at: string; reason: string };
}

/** The supergraph of a file, kept current while the gateway runs. */
export interface SupergraphFile {
  /** The `supergraphSdl` hook for `ApolloGateway`. */
  hook: SupergraphSdlHook;
  /** The supergraph as read at start-up. */
  initialSdl: string;
  status(): SupergraphStatus;
}

/** The sha256, hex, of a supergraph's text. */
export const supergraphHash = (sdl: string): string => createHash('sha256').update(sdl).digest('hex');

/**
 * Serves the supergraph in `file` and, with `watch` on, swaps to a new one whenever the file changes,
 * without a restart. Apollo Gateway swaps atomically: operations already running finish on the schema
 * they started with. A file that does not load (unreadable, not a supergraph, not composable) is
 * refused: the last good schema stays in service and the reason is logged and shown on `/ready`.
 */
export function createSupergraphFile(
  file: string,
  options: { watch: boolean; logger: Logger; /** Turns the file's supergraph into the one the gateway executes. */ prepare?: (sdl: string) => string },
): SupergraphFile {
  const prepare = options.prepare ?? ((sdl: string) => sdl);
  const { logger } = options;
  const initial = readFileSync(file, 'utf8');
  let status: SupergraphStatus = { hash: supergraphHash(initial), loadedAt: new Date().toISOString() };

  const hook: SupergraphSdlHook = async ({ update }) => {
    let watcher: FSWatcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    const reload = () => {
      let sdl: string;
      try {
        sdl = readFileSync(file, 'utf8');
      } catch (error) {
        return refuse('(unreadable)', `cannot read ${file}: ${(error as Error).message}`);
      }
      const hash = supergraphHash(sdl);
      if (hash === status.hash) return;
      try {
        update(prepare(sdl));
        status = { hash, loadedAt: new Date().toISOString(), lastRefusal: status.lastRefusal };
        logger.info({ supergraph: file, hash }, 'supergraph reloaded');
      } catch (error) {
        refuse(hash, (error as Error).message);
      }
    };
    const refuse = (hash: string, reason: string) => {
      status = { ...status, lastRefusal: { hash, at: new Date().toISOString(), reason } };
      logger.warn({ supergraph: file, hash, reason, serving: status.hash }, 'supergraph file refused; still serving the last good one');
    };
    if (options.watch) {
      // The folder is watched, not the file: editors and `npm run compose` may replace the file.
      watcher = watch(dirname(file), (_event, name) => {
        if (name !== basename(file)) return;
        clearTimeout(timer);
        timer = setTimeout(reload, 50);
      });
    }
    return {
      supergraphSdl: prepare(initial),
      cleanup: async () => {
        clearTimeout(timer);
        watcher?.close();
      },
    };
  };
  return { hook, initialSdl: initial, status: () => status };
}
