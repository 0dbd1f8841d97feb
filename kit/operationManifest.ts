import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The folder of the operations the email engine uses (data: `.graphql` files and their manifest). */
export const OPERATIONS_DIR = join(__dirname, '..', 'schema', 'operations');
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

/** Reads a manifest file. */
export function readManifest(file = MANIFEST_FILE): OperationManifest {
  return JSON.parse(readFileSync(file, 'utf8')) as OperationManifest;
}
