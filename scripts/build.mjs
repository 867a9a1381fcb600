// Builds dist/cli/main.js: the whole CLI and its dependencies in one ES module.
// Why a bundle and not tsc's file-per-module output: on the audit benchmark machine node spent
// ~170 ms resolving and compiling ~400 small modules (zod alone is hundreds) before doing any work;
// the bundle loads in a fraction of that (see bench/audit/README.md). Types are checked by
// `npm run typecheck`; esbuild only strips them.
import { rmSync } from "node:fs";
import { build } from "esbuild";
import { buildNative } from "../native/build.mjs";

const root = new URL("../", import.meta.url);
rmSync(new URL("dist/", root), { recursive: true, force: true });

await build({
  absWorkingDir: root.pathname,
  entryPoints: ["src/cli/main.ts"],
  // Every file lands in dist/cli/, the depth of src/cli/ and src/catalog/, so paths built from
  // import.meta.url (catalog/, package.json) hold in the bundle as in the sources.
  outdir: "dist/cli",
  entryNames: "[name]",
  chunkNames: "[name]-[hash]",
  bundle: true,
  // Code behind a dynamic import() (the YAML parser and the schema library, needed only when the
  // catalog cache is cold) goes to its own chunk, loaded only then.
  splitting: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: "linked",
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: "linked",
  // CommonJS dependencies (commander) call require() for Node's built-ins; ESM has no require.
  banner: {
    js: "import { createRequire as __moatRequire } from 'node:module'; const require = __moatRequire(import.meta.url);",
  },
  // Native addons (DuckDB, resvg) cannot be bundled; vega is large and only charts need it, so it
  // stays a plain dependency loaded from node_modules when a chart is drawn.
  external: ["@duckdb/node-api", "@resvg/resvg-js", "vega", "vega-lite"],
  logLevel: "warning",
});

// The native socket reader (native/moat.c) is optional: when it cannot be compiled, say so and
// carry on; moat then reads sockets with its JavaScript code (same results, slower on big hosts).
const nativeFailure = buildNative();
if (nativeFailure !== null) {
  console.warn(`build: native socket reader not built (moat falls back to JavaScript): ${nativeFailure}`);
}
