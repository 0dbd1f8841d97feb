import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** The registry file: rover's supergraph config format. */
export const REGISTRY_FILE = join(__dirname, 'supergraph.yaml');
/** The composed supergraph the gateway serves. */
export const SUPERGRAPH_FILE = join(__dirname, 'supergraph.graphql');

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

/** The result of composing a registry: the supergraph SDL, or every error in plain words. */
export type Composition = { supergraphSdl: string } | { errors: string[] };

/** Composes the subgraphs into a supergraph with Apollo's composition (federation 2). */
export function compose(subgraphs: RegisteredSubgraph[]): Composition {
  const errors: string[] = [];
  const services = subgraphs.flatMap((s) => {
    try {
      return [{ name: s.name, url: s.url, typeDefs: parse(s.sdl) }];
    } catch (error) {
      errors.push(`[${s.name}] ${s.file}: SDL does not parse: ${(error as Error).message}`);
      return [];
    }
  });
  if (errors.length > 0) return { errors };
  const result = composeServices(services);
  if (result.errors) {
    return { errors: result.errors.map((e) => `${String(e.extensions?.code ?? 'COMPOSITION_ERROR')}: ${e.message}`) };
  }
  return { supergraphSdl: result.supergraphSdl };
}

function main(): void {
  const result = compose(readRegistry());
  if ('errors' in result) {
    process.stderr.write(`Composition failed with ${result.errors.length} error(s):\n${result.errors.map((e) => `  - ${e}`).join('\n')}\n`);
    process.exit(1);
  }
  writeFileSync(SUPERGRAPH_FILE, result.supergraphSdl);
  process.stdout.write(`Composed ${SUPERGRAPH_FILE}\n`);
}

if (require.main === module) main();
