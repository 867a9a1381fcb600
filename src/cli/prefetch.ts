/**
 * The first thing moat does: when the command line asks for an audit of live sockets, start the
 * native socket reads (the /proc/<pid>/fd walk and the sock_diag dump, both on other threads) before
 * the rest of the program loads, instead of after. On 10,000 sockets the walk takes ~30 ms, about
 * what loading commander, the catalog and the audit code takes: now the two overlap.
 *
 * A guess from the raw arguments, not a parse: commander still decides. A guess that is wrong (a
 * value that looks like a flag, an option this does not know) costs one unused read, never a
 * wrong answer: the readers take a prefetched read only when they ask for exactly the same thing.
 */
import { prefetchNativeReads } from "../host/native.js";
import { namedNetnsPath } from "../host/netns-path.js";

/** What an audit with these arguments reads first; null when it reads no live sockets or asks for help. */
export function auditReadsFor(
  args: readonly string[],
): { procRoot: string; nsPath: string | null | undefined } | null {
  if (args.find((arg) => !arg.startsWith("-")) !== "audit") return null;
  let netns: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") break;
    // Other sources read no live table (--ss, --proc-root) or first list what to read (--all-netns).
    if (/^(--ss|--proc-root|--help|-h|--all-netns)(=|$)/.test(arg)) return null;
    if (arg === "--netns") netns = args[i + 1];
    else if (arg.startsWith("--netns=")) netns = arg.slice("--netns=".length);
  }
  // A name readNamedNetns refuses is not read at all (nsPath undefined).
  return { procRoot: "/proc", nsPath: netns === undefined ? null : (namedNetnsPath(netns) ?? undefined) };
}

export function prefetchFor(args: readonly string[]): void {
  const reads = auditReadsFor(args);
  if (reads !== null) prefetchNativeReads(reads.procRoot, reads.nsPath);
}
