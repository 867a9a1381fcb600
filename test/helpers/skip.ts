/** Why a test that needs the lab and a system tool cannot run here, in one line; undefined when it can. */
import { execFileSync } from "node:child_process";
import { labSkipReason } from "../lab/lab.js";

export function toolMissing(tool: string, versionFlag = "--version"): string | undefined {
  try {
    execFileSync(tool, [versionFlag], { stdio: "ignore" });
    return undefined;
  } catch {
    return `${tool} is not installed (bash scripts/install-test-deps.sh installs it)`;
  }
}

/** The lab (root, ip, namespaces) and nftables. */
export function nftLabSkipReason(): string | undefined {
  return labSkipReason() ?? toolMissing("nft");
}
