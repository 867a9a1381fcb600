/**
 * Loads the program: program.ts and everything it imports. Built, that is one CommonJS file,
 * dist/cli/program.cjs, compiled through the V8 code cache that `npm run build` made for it
 * (program.cjs.cache): V8 deserializes the functions an audit runs instead of parsing and compiling
 * them, and no ES module has to be resolved and linked (bench/audit/README.md has the figures).
 * Under tsx (the tests), the TypeScript modules are imported as they are.
 *
 * A cache V8 refuses (another node version, other V8 flags) only costs that time: the code compiles
 * from source as usual. The cache sits next to the code it was made from and only the build writes
 * it, so it is as trustworthy as the code itself.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { Script } from "node:vm";
import { SMALL_YOUNG_GENERATION } from "../young-generation.js";

type Program = typeof import("./program.js");

const BUNDLE_URL = new URL("./program.cjs", import.meta.url);
const BUNDLE = fileURLToPath(BUNDLE_URL);
export const CODE_CACHE = `${BUNDLE}.cache`;

/**
 * program.cjs runs inside a function of CommonJS's five parameters, then import.meta.url and an
 * import() (see import-external.ts). "(0, function" rather than "(function": V8 compiles a function
 * right after "(" at once, whole, expecting it to be called; this way only what runs is compiled,
 * and only that goes into the cache.
 */
const WRAPPER_HEAD =
  "(0, function (exports, require, module, __filename, __dirname, __moatUrl, __moatImport) {";
const WRAPPER_TAIL = "\n})";

/**
 * Most runs last a fraction of a second, and two defaults of V8's cost such a run more than they
 * save. A code cache is only taken under the flags it was made with, so these are set before the
 * program is compiled, by the build as by every run.
 * - `--interrupt-budget`: V8 optimizes a function after ~70 KB of its bytecode ran; optimizing
 *   spends a second core compiling code that is done before the result arrives. 15 times the
 *   budget keeps that for code that runs long (an observe ingest); a 10,000-socket audit took
 *   ~45 ms less CPU.
 * - SMALL_YOUNG_GENERATION: the young generation stays at its first 1 MB instead of doubling up
 *   to 2 x 16 MB while the program loads. Every fresh 4 KiB page is a page fault (~1.5 us each on
 *   the benchmark machine) and is freed again at exit; a collection of a young generation whose
 *   objects mostly die is cheaper. A 10,000-socket audit made ~3,200 fewer page faults and took
 *   ~15 ms less (bench/audit/README.md). A scan lets it grow again (letYoungGenerationGrow).
 */
export const V8_FLAGS = ["--interrupt-budget=1000000", SMALL_YOUNG_GENERATION] as const;

let loaded: Script | undefined;

/** program.cjs at `bundle` compiled with the cache at `cache` when there is one V8 takes. */
export function compileProgram(bundle: string, cache: string): Script {
  for (const flag of V8_FLAGS) setFlagsFromString(flag);
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cache);
  } catch {
    // a build that could not make one: compile from source
  }
  // esbuild writes ASCII only (non-ASCII characters as escapes), so latin1 reads it exactly, and
  // faster than UTF-8 decoding.
  const source = readFileSync(bundle, "latin1");
  return new Script(WRAPPER_HEAD + source + WRAPPER_TAIL, { filename: bundle, cachedData });
}

export async function loadProgram(): Promise<Program> {
  if (!existsSync(BUNDLE)) return import("./program.js");
  loaded = compileProgram(BUNDLE, CODE_CACHE);
  const module = { exports: {} as Program };
  const importer = (specifier: string) => import(specifier);
  loaded
    .runInThisContext()
    .call(
      module.exports,
      module.exports,
      createRequire(BUNDLE),
      module,
      BUNDLE,
      dirname(BUNDLE),
      BUNDLE_URL.href,
      importer,
    );
  return module.exports;
}

/**
 * The build's last step (scripts/build.mjs): after a command ran, save what V8 compiled for it.
 * Functions the command ran are in the cache; others compile on first use, as without one.
 */
export function writeCodeCache(): void {
  if (process.env.MOAT_WRITE_CODE_CACHE !== "1" || loaded === undefined) return;
  writeFileSync(CODE_CACHE, loaded.createCachedData());
}
