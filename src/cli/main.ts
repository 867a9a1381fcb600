/**
 * The entry point. First what an audit reads (prefetch.ts), then the program loads and runs: the
 * reads go on, on other threads, while it loads.
 */
import { loadProgram, writeCodeCache } from "./load-program.js";
import { prefetchFor } from "./prefetch.js";

prefetchFor(process.argv.slice(2));
loadProgram()
  .then(({ run }) => run(process.argv))
  .then(writeCodeCache);
