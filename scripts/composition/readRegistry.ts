import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** The registry file: rover's supergraph config format, the one list of the graph's subgraphs. */
export const REGISTRY_FILE = join(__dirname, '..', '..', 'schema', 'supergraph.yaml');
/** The composed supergraph the gateway serves. */
export const SUPERGRAPH_FILE = join(__dirname, '..', '..', 'schema', 'supergraph.graphql');
/** The repository root, against which file locations are printed. */
export const REPO_ROOT = join(__dirname, '..', '..');

const registrySchema = z.object({
  federation_version: z.string().optional(),
  subgraphs: z.record(
    z.string().regex(/^[a-z][a-z0-9_-]*$/, 'subgraph names are lower-case letters, digits, - and _'),
    z.object({
      routing_url: z.url({ message: 'routing_url must be an absolute URL' }),
      schema: z.object({ file: z.string().min(1) }),
    }),
  ),
});

/** One subgraph of the registry, with its SDL read. */
export interface RegisteredSubgraph {
  name: string;
  url: string;
  file: string;
  sdl: string;
}

/** Reads the registry and every schema file it names. */
export function readRegistry(file = REGISTRY_FILE): RegisteredSubgraph[] {
  const parsed = registrySchema.safeParse(parseYaml(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    throw new Error(`${file} is not a valid registry:\n${parsed.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  }
  return Object.entries(parsed.data.subgraphs).map(([name, entry]) => {
    const schemaFile = resolve(dirname(file), entry.schema.file);
    return { name, url: entry.routing_url, file: schemaFile, sdl: readFileSync(schemaFile, 'utf8') };
  });
}

/** `file` relative to the repository when it is inside it, as given otherwise. */
export function displayPath(file: string): string {
  const rel = relative(REPO_ROOT, file);
  return rel.startsWith('..') ? file : rel;
}
