/** The socket-source flags shared by `moat audit` and `moat filter suggest`. */
import type { Command } from "commander";
import { InputError } from "../errors.js";
import type { SocketSourceSpec } from "../host/sockets.js";

export interface SourceFlags {
  procRoot?: string;
  ss?: string;
  netns?: string;
  allNetns?: boolean;
}

export function addSourceOptions(command: Command): Command {
  return command
    .option("--proc-root <dir>", "read a copied /proc tree instead of this host's")
    .option("--ss <file>", 'read "ss -tulpn" text from FILE, or "-" for stdin')
    .option("--netns <name>", "audit one network namespace (as named by ip netns)")
    .option("--all-netns", "audit every network namespace on the host, containers included");
}

export function sourceFrom(flags: SourceFlags): SocketSourceSpec {
  const chosen = [flags.procRoot, flags.ss, flags.netns, flags.allNetns].filter((f) => f !== undefined);
  if (chosen.length > 1) {
    throw new InputError("choose one socket source: --proc-root, --ss, --netns or --all-netns");
  }
  if (flags.procRoot !== undefined) return { kind: "proc-root", dir: flags.procRoot };
  if (flags.ss !== undefined) return { kind: "ss", file: flags.ss };
  if (flags.netns !== undefined) return { kind: "netns", name: flags.netns };
  if (flags.allNetns) return { kind: "all-netns" };
  return { kind: "live" };
}
