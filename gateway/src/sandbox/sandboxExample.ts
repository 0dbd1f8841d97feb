import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { OperationManifest, PersistedOperation } from '../../../kit/operationManifest';

/** What the sandbox and the landing page open with: a persisted operation and its variables. */
export interface SandboxExample {
  operation: PersistedOperation;
  variables: Record<string, unknown>;
}

const exampleSchema = z.strictObject({
  operation: z.string().min(1, 'operation names a persisted operation'),
  variables: z.record(z.string(), z.unknown()).default({}),
});

/**
 * Reads the example file (YAML: `operation`, the name of a persisted operation of `manifest`, and its
 * `variables`), with `variables` replacing the file's when given. Throws an error that names the file
 * and what is wrong, e.g. an operation the manifest does not hold.
 */
export function readSandboxExample(file: string, manifest: OperationManifest, variables?: Record<string, unknown>): SandboxExample {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`The sandbox example ${file} cannot be read: ${(error as Error).message}`);
  }
  const parsed = exampleSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`The sandbox example ${file} is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  const operation = manifest.operations.find((op) => op.name === parsed.data.operation);
  if (!operation) {
    const known = manifest.operations.map((op) => op.name).join(', ') || 'none';
    throw new Error(`The sandbox example ${file} names operation ${parsed.data.operation}, which the manifest does not hold (it holds: ${known}).`);
  }
  return { operation, variables: variables ?? parsed.data.variables };
}
