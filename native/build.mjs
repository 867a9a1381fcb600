// Compiles native/moat.c into dist/native/moat.node (see src/host/native.ts). Plain C against Node's
// own N-API headers: no node-gyp, no downloads, ~1 s. Optional: without a compiler or headers moat
// uses its JavaScript readers, which give the same results, only slower on large hosts.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
export const SOURCE = join(ROOT, "native/moat.c");
/** Every C file of the one addon: moat.c (audit's socket readers) and udp.c (scan's UDP socket). */
export const SOURCES = [SOURCE, join(ROOT, "native/udp.c")];
export const ADDON = join(ROOT, "dist/native/moat.node");

/** Directories that may hold node_api.h: next to this node, npm's nodedir, Debian's nodejs-dev. */
function headerDirs() {
  const dirs = [join(dirname(process.execPath), "../include/node")];
  if (process.env.npm_config_nodedir) dirs.push(join(process.env.npm_config_nodedir, "include/node"));
  dirs.push("/usr/include/node", "/usr/local/include/node");
  return dirs.filter((d) => existsSync(join(d, "node_api.h")));
}

/** Builds the addon; returns null on success, else why it could not be built. */
export function buildNative(out = ADDON) {
  const [include] = headerDirs();
  if (include === undefined)
    return "Node's headers (node_api.h) not found; install nodejs-dev or set nodedir";
  const cc = process.env.CC ?? "cc";
  mkdirSync(dirname(out), { recursive: true });
  try {
    execFileSync(
      cc,
      ["-O2", "-std=c11", "-Wall", "-Wextra", "-fPIC", "-shared", "-fvisibility=hidden"].concat([
        "-I",
        include,
        ...SOURCES,
        "-o",
        out,
        "-lpthread",
      ]),
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    return null;
  } catch (err) {
    const why = err.code === "ENOENT" ? `${cc} not found` : String(err.stderr ?? err.message).trim();
    return `${cc} failed: ${why.slice(0, 2000)}`;
  }
}
