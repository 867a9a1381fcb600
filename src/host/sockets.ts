/** The one entry point for socket tables: pick a source, get a SocketTable. */

import { basename } from "node:path";
import { readAllNetns, readNamedNetns } from "./netns.js";
import { readProcSockets } from "./procfs.js";
import type { SocketTable } from "./types.js";

export type SocketSourceSpec =
  /** This host's /proc, the namespace moat runs in. */
  | { kind: "live" }
  /** A /proc copy made by scripts/copy-proc.sh (--proc-root DIR). */
  | { kind: "proc-root"; dir: string }
  /** A namespace made by `ip netns add NAME` (--netns NAME). */
  | { kind: "netns"; name: string }
  /** Every network namespace on the host (--all-netns). */
  | { kind: "all-netns" }
  /** Text of `ss -tuln`/`-tulpn` from another host, "-" for stdin (--ss FILE). */
  | { kind: "ss"; file: string };

export async function readSockets(source: SocketSourceSpec): Promise<SocketTable> {
  switch (source.kind) {
    case "live":
      return readProcSockets();
    case "proc-root":
      return readProcSockets({ procRoot: source.dir });
    case "netns":
      return readNamedNetns(source.name);
    case "all-netns":
      return readAllNetns();
    case "ss": {
      // Loaded only here: the ss parser and its table of service names are half the host code.
      const { readSsFile } = await import("./ss.js");
      // ss text carries no host name: name the file it came from rather than pretend it is this host.
      return {
        source: `ss:${source.file}`,
        host: source.file === "-" ? "ss text from stdin" : basename(source.file),
        sockets: await readSsFile(source.file),
        warnings: [],
      };
    }
  }
}
