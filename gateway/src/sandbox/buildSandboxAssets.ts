import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { SANDBOX_DIST } from './createSandbox';

/** The files of the sandbox bundle, by name. */
export type SandboxAssets = Record<'sandbox.js' | 'sandbox.css', string>;

/**
 * Bundles GraphiQL, React and the sandbox entry (mountSandbox.ts) into one minified script and one
 * stylesheet, in memory. Deterministic for a given lockfile, so tests can compare it with dist/.
 */
export async function buildSandboxAssets(): Promise<SandboxAssets> {
  const common = {
    bundle: true,
    minify: true,
    write: false,
    logLevel: 'silent',
    legalComments: 'eof',
    absWorkingDir: join(__dirname, '..', '..', '..'),
  } as const;
  const [script, style] = await Promise.all([
    build({
      ...common,
      entryPoints: [join(__dirname, 'mountSandbox.ts')],
      outfile: 'sandbox.js',
      format: 'iife',
      platform: 'browser',
      target: ['es2020'],
      define: { 'process.env.NODE_ENV': '"production"' },
    }),
    build({ ...common, entryPoints: [require.resolve('graphiql/style.css')], outfile: 'sandbox.css', loader: { '.woff2': 'dataurl', '.png': 'dataurl' } }),
  ]);
  return { 'sandbox.js': script.outputFiles[0].text, 'sandbox.css': style.outputFiles[0].text };
}

/** Writes the bundle to dist/ (`npm run build:sandbox`). */
async function main(): Promise<void> {
  const assets = await buildSandboxAssets();
  mkdirSync(SANDBOX_DIST, { recursive: true });
  for (const [name, text] of Object.entries(assets)) {
    writeFileSync(join(SANDBOX_DIST, name), text);
    console.log(`${join('gateway/src/sandbox/dist', name)}: ${(Buffer.byteLength(text) / 1024).toFixed(0)} KiB`);
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
