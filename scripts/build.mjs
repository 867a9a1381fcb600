// Builds dist/: the entry point dist/cli/main.cjs, the program behind it as one CommonJS file
// dist/cli/program.cjs with its V8 code cache, and the native addon.
// Why a bundle and not tsc's file-per-module output: on the audit benchmark machine node spent
// ~170 ms resolving and compiling ~400 small modules (zod alone is hundreds) before doing any work.
// Why CommonJS and a code cache: src/cli/load-program.ts. Types are checked by `npm run typecheck`;
// esbuild only strips them.
import { execFileSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { build } from "esbuild";
import { buildNative } from "../native/build.mjs";
import { lazyBuiltins } from "./lazy-builtins.mjs";

const root = new URL("../", import.meta.url);
rmSync(new URL("dist/", root), { recursive: true, force: true });

const common = {
  absWorkingDir: root.pathname,
  // Every file lands in dist/cli/, the depth of src/cli/ and src/catalog/, so paths built from
  // import.meta.url (catalog/, package.json, the addon) hold in the bundle as in the sources.
  outdir: "dist/cli",
  // Both files are CommonJS (.cjs: package.json makes .js an ES module); why: the comment on the
  // entry point below, and src/cli/load-program.ts for the program.
  format: "cjs",
  outExtension: { ".js": ".cjs" },
  bundle: true,
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: "linked",
  logLevel: "warning",
};

// The entry point: the prefetch of an audit's reads and the loader of the program. Only that: the
// reads start before anything else loads. Under tsx the loader imports program.ts itself; here it
// loads program.cjs, so its import("./program.js") stays out of this file. CommonJS, not an ES
// module: node loads an ES module entry through its ES module loader, which itself loads ~40 of
// node's own modules (fs/promises, streams, readline) that a CommonJS entry never needs (~7 ms of
// CPU per run on the audit benchmark). import.meta.url becomes the file's URL, as in program.cjs.
await build({
  ...common,
  entryPoints: ["src/cli/main.ts"],
  define: { "import.meta.url": "__moatEntryUrl" },
  banner: { js: 'var __moatEntryUrl = require("node:url").pathToFileURL(__filename).href;' },
  plugins: [
    {
      name: "program-stays-out",
      setup(b) {
        b.onResolve({ filter: /^\.\/program\.js$/ }, (args) => ({ path: args.path, external: true }));
      },
    },
  ],
});

// The program. Dynamic imports of its own modules become lazily run parts of this one file, so
// commands still load only what they use (the YAML parser and the schema library only when the
// catalog cache is cold).
await build({
  ...common,
  entryPoints: ["src/cli/program.ts"],
  // import.meta.url has no CommonJS form: load-program.ts passes the file's URL in as __moatUrl.
  define: { "import.meta.url": "__moatUrl" },
  // Native addons (DuckDB, resvg) cannot be bundled; vega is large and only charts need it, so it
  // stays a plain dependency loaded from node_modules when a chart is drawn (import-external.ts).
  external: ["@duckdb/node-api", "@resvg/resvg-js", "vega", "vega-lite"],
  plugins: [lazyBuiltins],
});

// The native socket reader (native/moat.c) is optional: when it cannot be compiled, say so and
// carry on; moat then reads sockets with its JavaScript code (same results, slower on big hosts).
const nativeFailure = buildNative();
if (nativeFailure !== null) {
  console.warn(`build: native socket reader not built (moat falls back to JavaScript): ${nativeFailure}`);
}

// The code cache: an audit of this host's own sockets (read only; nothing is sent anywhere), after
// which V8's compiled code for what it ran is saved next to program.cjs. Run twice, saved the second
// time: the first fills the catalog cache of the new build (src/catalog/load.ts), so the YAML parser
// and the schema library, which a usual run does not load, stay out of the code cache (~880 KB with
// them). Without a code cache moat still runs, compiling from source.
const main = new URL("dist/cli/main.cjs", root).pathname;
try {
  for (const save of ["0", "1"]) {
    execFileSync(process.execPath, [main, "audit", "--json"], {
      env: { ...process.env, MOAT_WRITE_CODE_CACHE: save },
      stdio: ["ignore", "ignore", "pipe"],
    });
  }
} catch (error) {
  // --fail-on is not given, so only a failure to run ends up here
  console.warn(
    `build: no code cache made (moat runs, starting slower): ${String(error.stderr ?? error).trim()}`,
  );
}
if (!existsSync(new URL("dist/cli/program.cjs.cache", root)))
  console.warn("build: dist/cli/program.cjs.cache is missing");
