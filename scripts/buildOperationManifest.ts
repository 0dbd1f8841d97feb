import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kind, parse } from 'graphql';
import { MANIFEST_FILE, OPERATIONS_DIR, type OperationManifest, sha256Hex } from '../kit/operationManifest';

/** Builds the manifest from every `.graphql` file of `dir`, one named operation per file. */
export function buildOperationManifest(dir = OPERATIONS_DIR): OperationManifest {
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

/** `npm run operations [-- --check]`: writes the manifest, or checks that it is up to date. */
function main(): void {
  const check = process.argv.includes('--check');
  const manifest = buildOperationManifest();
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
