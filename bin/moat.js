#!/usr/bin/env node
// The installed entry point: runs the compiled CLI. `npm run build` makes dist/.
import { existsSync } from "node:fs";

const main = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(main)) {
  process.stderr.write("moat: dist/ is missing. Build it first: npm run build\n");
  process.exit(3);
}
await import(main.href);
