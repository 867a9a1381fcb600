/**
 * The native socket reader for tests: the built one (dist/native/moat.node), compiled first when
 * missing. A machine that cannot compile it fails here loudly: CI has a compiler, and a silent skip
 * would leave native/moat.c untested.
 */
import { existsSync } from "node:fs";
import { ADDON, buildNative } from "../../native/build.mjs";
import { loadAddon, type NativeAddon } from "../../src/host/native.js";

export function testAddon(): NativeAddon {
  if (!existsSync(ADDON)) {
    const failure = buildNative();
    if (failure !== null) throw new Error(`cannot build the native reader: ${failure}`);
  }
  const addon = loadAddon(ADDON);
  if (addon === null) throw new Error(`${ADDON} does not load`);
  return addon;
}
