import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** One REST route: a GET path that runs one persisted operation and answers flat JSON. */
export interface RestRoute {
  /** Path pattern; `:name` segments are variables of the operation. */
  path: string;
  /** Name of a persisted operation of the manifest. */
  operation: string;
  /** The field of `data` that is the answer; `null` there is a 404. */
  root: string;
  /** Object fields merged into the object that holds them. */
  hoist?: string[];
}

const routeSchema = z.strictObject({
  path: z.string().regex(/^\/[\w\-./:]*$/, 'path must start with / and hold only letters, digits, -, _, ., / and :name segments'),
  operation: z.string().min(1, 'operation names a persisted operation'),
  root: z.string().min(1, 'root names a field of data'),
  hoist: z.array(z.string().min(1)).optional(),
});
const tableSchema = z.strictObject({ routes: z.array(routeSchema) });

/**
 * Reads the REST route table (a YAML file, `routes:` a list of routes); throws an error naming the file
 * and every bad entry.
 */
export function readRestRoutes(file: string): RestRoute[] {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`The REST route table ${file} cannot be read: ${(error as Error).message}`);
  }
  const parsed = tableSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  - ${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new Error(`The REST route table ${file} is not valid:\n${problems.join('\n')}`);
  }
  return parsed.data.routes;
}
