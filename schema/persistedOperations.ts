import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kind, parse } from 'graphql';
import { LRUCache } from 'lru-cache';

/** The folder of the operations the email engine uses. */
export const OPERATIONS_DIR = join(__dirname, 'operations');
/** The manifest `npm run operations` builds from them. */
export const MANIFEST_FILE = join(OPERATIONS_DIR, 'manifest.json');

/** One persisted operation: its sha256 (of the file's text exactly as committed), name and text. */
export interface PersistedOperation {
  id: string;
  name: string;
  type: 'query' | 'mutation' | 'subscription';
  body: string;
}

/** A persisted query manifest, in Apollo's format. */
export interface OperationManifest {
  format: 'apollo-persisted-query-manifest';
  version: 1;
  operations: PersistedOperation[];
}

/** The sha256, hex, of a document's text. */
export const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** Builds the manifest from every `.graphql` file of `dir`, one named operation per file. */
export function buildManifest(dir = OPERATIONS_DIR): OperationManifest {
  const operations = readdirSync(dir)
    .filter((f) => f.endsWith('.graphql'))
    .sort()
    .map((file) => {
      const body = readFileSync(join(dir, file), 'utf8');
      const definitions = parse(body).definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
      if (definitions.length !== 1 || definitions[0].kind !== Kind.OPERATION_DEFINITION || !definitions[0].name) {
        throw new Error(`${file} must hold exactly one named operation`);
      }
      return { id: sha256Hex(body), name: definitions[0].name.value, type: definitions[0].operation, body };
    });
  const names = new Set<string>();
  for (const op of operations) {
    if (names.has(op.name)) throw new Error(`Two persisted operations are named ${op.name}`);
    names.add(op.name);
  }
  return { format: 'apollo-persisted-query-manifest', version: 1, operations };
}

/** Reads a manifest file. */
export function readManifest(file = MANIFEST_FILE): OperationManifest {
  return JSON.parse(readFileSync(file, 'utf8')) as OperationManifest;
}

/**
 * The gateway's APQ store: every operation of the manifest is known from the start, so a request that
 * carries only its hash is answered on the first try, over POST or GET. Other hashes registered by
 * clients through the usual APQ round trip are kept in a bounded LRU.
 */
export function createPersistedQueryCache(manifest: OperationManifest, maxAdHocBytes = 8 * 1024 * 1024) {
  const shipped = new Map(manifest.operations.map((op) => [op.id, op.body]));
  const adHoc = new LRUCache<string, string>({ maxSize: maxAdHocBytes, sizeCalculation: (value) => value.length || 1 });
  // Apollo Server prefixes APQ keys with `apq:`.
  const hashOf = (key: string) => (key.startsWith('apq:') ? key.slice(4) : key);
  return {
    async get(key: string): Promise<string | undefined> {
      return shipped.get(hashOf(key)) ?? adHoc.get(key);
    },
    async set(key: string, value: string, options?: { ttl?: number | null }): Promise<void> {
      if (!shipped.has(hashOf(key))) adHoc.set(key, value, options?.ttl ? { ttl: options.ttl * 1000 } : undefined);
    },
    async delete(key: string): Promise<boolean | void> {
      if (!shipped.has(hashOf(key))) adHoc.delete(key);
    },
  };
}

function main(): void {
  const check = process.argv.includes('--check');
  const manifest = buildManifest();
  const text = `${JSON.stringify(manifest, null, 2)}\n`;
  if (check) {
    const current = readFileSync(MANIFEST_FILE, 'utf8');
    if (current !== text) {
      process.stderr.write(`${MANIFEST_FILE} is out of date: run npm run operations and commit it.\n`);
      process.exit(1);
    }
    process.stdout.write('The operation manifest is up to date.\n');
    return;
  }
  writeFileSync(MANIFEST_FILE, text);
  process.stdout.write(`Wrote ${manifest.operations.length} operations to ${MANIFEST_FILE}\n`);
  for (const op of manifest.operations) process.stdout.write(`  ${op.id}  ${op.name}\n`);
}

if (require.main === module) main();
