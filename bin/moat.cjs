#!/usr/bin/env node
// The installed entry point: runs the compiled CLI. `npm run build` makes dist/. CommonJS, like
// dist/cli/main.cjs: an ES module here would start node's ES module loader for nothing.
const { existsSync } = require("node:fs");
const { join } = require("node:path");

const main = join(__dirname, "../dist/cli/main.cjs");
if (!existsSync(main)) {
  process.stderr.write("moat: dist/ is missing. Build it first: npm run build\n");
  process.exit(3);
}
require(main);
