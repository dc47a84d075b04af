// Builds dist/cli.js: the type-checked sources bundled into one file, so that `weft start`
// loads one module instead of about a thousand (half the start-up time). Native packages stay
// outside the bundle and load from node_modules.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/cli.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  external: ['better-sqlite3', 'sodium-native', '@node-rs/argon2', 'pg-native', 'sharp'],
  // Bundled CommonJS packages call require(); give the ES module one.
  banner: { js: "import { createRequire as weftCreateRequire } from 'node:module'; const require = weftCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
