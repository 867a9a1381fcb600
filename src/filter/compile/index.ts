/**
 * One entry point for `moat filter compile --to TARGET`: every target gets the same filter and
 * returns the text to write plus warnings for what it cannot express.
 */
import type { Filter } from "../types.js";
import { compileCloud } from "./cloud.js";
import type { CompileOptions, CompileResult } from "./common.js";
import { compileIptables } from "./iptables.js";
import { compileNft } from "./nft.js";
import { compileTerraform } from "./terraform.js";

export type { CompileOptions, CompileResult } from "./common.js";

export const COMPILE_TARGETS = ["nft", "iptables", "cloud-json", "terraform"] as const;
export type CompileTarget = (typeof COMPILE_TARGETS)[number];

/** `interface` and `counters` apply to the host targets (nft, iptables); the cloud ones are per NIC already. */
export function compile(filter: Filter, target: CompileTarget, opts: CompileOptions = {}): CompileResult {
  switch (target) {
    case "nft":
      return compileNft(filter, opts);
    case "iptables": {
      const { output, warnings } = compileIptables(filter, opts);
      return { output, warnings };
    }
    case "cloud-json":
      return hostOnly(compileCloud(filter), opts);
    case "terraform":
      return hostOnly(compileTerraform(filter), opts);
  }
}

/** The cloud filter is attached to a NIC in the provider's console: an interface here means nothing. */
function hostOnly(result: CompileResult, opts: CompileOptions): CompileResult {
  if (opts.interface === undefined) return result;
  const note = `--interface ${opts.interface} is ignored: the cloud filter is attached to a NIC by the provider`;
  return { output: result.output, warnings: [...result.warnings, note] };
}
