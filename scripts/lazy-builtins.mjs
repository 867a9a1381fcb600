// An esbuild plugin for the program bundle: node's built-in modules that node itself does not load
// at start-up (child_process, dgram, net, crypto, ...) are required when first used, not when the
// bundle starts. A bundle runs every module's imports at start, so `moat audit` compiled
// child_process (commander needs it only for external subcommands), dgram and net for the scanner,
// fs/promises and more for nothing (bench/audit/README.md has the figures).
//
// Each such import becomes an object with one getter per export of the real module (names read
// from this node at build time), each requiring the module on first access. The bundle reads
// imports at the point of use (`(0, import_node_dgram.createSocket)(...)`), so nothing loads
// earlier than it would unbundled.
import { builtinModules, createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** Loaded by node before any user code runs: a stand-in would buy nothing. */
const ALREADY_LOADED = new Set(["fs", "path", "url", "events", "buffer", "process", "util", "module"]);

const NAMESPACE = "lazy-builtin";

/**
 * The stand-in's source for built-in module `name`: getters over the real module's exports, and
 * `default` for the module itself. null when the module is itself a function or class (assert,
 * stream): code calls or extends it, which a stand-in object cannot be.
 */
export function lazyModuleSource(name) {
  const real = require(`node:${name}`);
  if (typeof real === "function") return null;
  const getters = Object.keys(real)
    .filter((key) => key !== "default")
    .map(
      (key) => `  ${JSON.stringify(key)}: { enumerable: true, get: () => load()[${JSON.stringify(key)}] },`,
    );
  return [
    "let real;",
    `const load = () => (real ??= require(${JSON.stringify(`node:${name}`)}));`,
    "module.exports = Object.defineProperties({}, {",
    ...getters,
    "  default: { enumerable: false, get: load },",
    "});",
    "",
  ].join("\n");
}

const BUILTIN = new RegExp(`^(node:)?(${builtinModules.map((n) => n.replaceAll("/", "\\/")).join("|")})$`);

export const lazyBuiltins = {
  name: "lazy-builtins",
  setup(b) {
    const sources = new Map();
    b.onResolve({ filter: BUILTIN }, (args) => {
      const name = args.path.replace(/^node:/, "");
      // the stand-in's own require of the real module, and modules node has loaded anyway
      if (args.namespace === NAMESPACE || ALREADY_LOADED.has(name))
        return { path: args.path, external: true };
      if (!sources.has(name)) sources.set(name, lazyModuleSource(name));
      if (sources.get(name) === null) return { path: args.path, external: true };
      return { path: name, namespace: NAMESPACE };
    });
    b.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({
      contents: sources.get(args.path),
      loader: "js",
    }));
  },
};
