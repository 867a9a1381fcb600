/**
 * Sockets from procfs: the live /proc, one process's view of its network namespace
 * (/proc/<pid>/net), or a /proc tree copied from another machine by scripts/copy-proc.sh.
 */

import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { EnvironmentError, InputError } from "../errors.js";
import { nativeListeners } from "./native.js";
import { parseProcNet, type RawSocket } from "./proc-net.js";
import { ownersFrom, type SocketOwners, walkSocketFds } from "./processes.js";
import { readTables, type TABLE_NAMES } from "./table-reader.js";
import type { Family, Protocol, Socket, SocketTable } from "./types.js";

/** Same order as TABLE_NAMES in table-reader.ts, whose reads are matched to these by index. */
export const TABLES: ReadonlyArray<{
  name: (typeof TABLE_NAMES)[number];
  protocol: Protocol;
  family: Family;
}> = [
  { name: "tcp", protocol: "tcp", family: "ipv4" },
  { name: "tcp6", protocol: "tcp", family: "ipv6" },
  { name: "udp", protocol: "udp", family: "ipv4" },
  { name: "udp6", protocol: "udp", family: "ipv6" },
];

const COPY_RECIPE =
  "make one on the machine to audit with `sudo scripts/copy-proc.sh DIR` (copies net/{tcp,tcp6,udp,udp6} " +
  "and each process's comm, cmdline, cgroup and fd links); `cp -r /proc` cannot do it (kcore, mem and " +
  "pagemap are endless or unreadable)";

/**
 * Read and parse the four tables in a net directory ("/proc/net", "/proc/1234/net", "DIR/net").
 * The reading starts before this returns (see table-reader.ts): call it, do other work, then await.
 * `nsFile` names the same live namespace for the native reader (native.ts): null for moat's own,
 * "/proc/1234/ns/net", "/run/netns/NAME"; undefined (a copied tree) reads the text only.
 */
export async function readNetDir(
  netDir: string,
  copied: boolean,
  nsFile?: string | null,
): Promise<RawSocket[]> {
  const fast = nsFile === undefined ? null : await nativeListeners(nsFile);
  if (fast !== null) return fast;
  const reads = await readTables(netDir);
  const out: RawSocket[] = [];
  TABLES.forEach((t, i) => {
    const file = `${netDir}/${t.name}`;
    const read = reads[i]!;
    if (!read.ok) {
      // tcp6/udp6 are absent when the kernel runs without IPv6: no IPv6 socket can exist then.
      if (read.code === "ENOENT" && t.family === "ipv6") return;
      throw tableError(read.code ?? read.message, file, netDir, copied);
    }
    for (const raw of parseProcNet(read.data, file, t.protocol, t.family)) out.push(raw);
  });
  return out;
}

function tableError(code: string, file: string, netDir: string, copied: boolean): Error {
  if (copied) {
    return new InputError(`missing: ${dirname(netDir)} does not look like a copied /proc; ${COPY_RECIPE}`, {
      file,
    });
  }
  if (code === "ENOENT" || code === "ESRCH") return new ProcessGone(file);
  return new EnvironmentError(
    `cannot read ${file}: ${code}`,
    "mount procfs on /proc (mount -t proc proc /proc) and run moat as a user allowed to read it",
  );
}

/** The process whose /proc/<pid>/net we were reading exited; the caller may try another one. */
export class ProcessGone extends Error {
  constructor(file: string) {
    super(`${file} vanished while reading`);
    this.name = "ProcessGone";
  }
}

/** Join raw sockets to their owners and label them with their namespace. */
export function toSockets(raw: readonly RawSocket[], netns: string | null, owners: SocketOwners): Socket[] {
  return raw.map((r) => {
    const processes = owners.of(r.inode);
    return {
      protocol: r.protocol,
      family: r.family,
      address: r.address,
      port: r.port,
      device: null,
      inode: r.inode,
      netns,
      processes,
      ownerUnknown: processes.length === 0 ? owners.ownerUnknown : null,
    };
  });
}

/** One warning when hidden processes left some socket without an owner; none otherwise. */
export function ownerWarnings(owners: SocketOwners, sockets: readonly Socket[]): string[] {
  if (owners.hiddenPids === 0 || sockets.every((s) => s.processes.length > 0)) return [];
  const n = owners.hiddenPids === 1 ? "1 process" : `${owners.hiddenPids} processes`;
  const fix = process.geteuid?.() === 0 ? "" : "; run moat as root to see them";
  return [`could not read the open files of ${n}; sockets shown without an owner may be theirs${fix}`];
}

/** copy-proc.sh keeps sys/kernel/hostname so a report on a copy names the machine it came from. */
function copiedHostname(root: string): string | null {
  try {
    return readFileSync(`${root}/sys/kernel/hostname`, "utf8").trim() || null;
  } catch {
    return null;
  }
}

export interface ProcSocketsOptions {
  /** A copied /proc tree (tables in DIR/net); default the live /proc. */
  procRoot?: string;
  /** Read the tables of this process's network namespace (/proc/<pid>/net); live /proc only. */
  netnsPid?: number | "self";
  /** Label for the sockets' namespace; null (default) for the namespace moat runs in. */
  netns?: string | null;
}

/** Sockets of one namespace from procfs, joined to their processes. */
export async function readProcSockets(opts: ProcSocketsOptions = {}): Promise<SocketTable> {
  const copied = opts.procRoot !== undefined;
  const root = opts.procRoot ?? "/proc";
  const netDir = opts.netnsPid === undefined || copied ? `${root}/net` : `${root}/${opts.netnsPid}/net`;
  const nsFile = copied ? undefined : opts.netnsPid === undefined ? null : `${root}/${opts.netnsPid}/ns/net`;
  // The fd walk first: it runs on other threads while the tables are read here (or, without the
  // native reader, the kernel formats the table text on another core while it walks).
  const walk = walkSocketFds(root);
  const tables = readNetDir(netDir, copied, nsFile);
  // Both judged below, the tables first; this only keeps an early failure from counting as unhandled.
  walk.catch(() => {});
  tables.catch(() => {});
  let raw: RawSocket[];
  try {
    raw = await tables;
  } catch (err) {
    if (err instanceof ProcessGone) {
      throw new InputError(`process ${opts.netnsPid} exited before its sockets could be read`, {
        file: netDir,
      });
    }
    throw err;
  }
  const owners = ownersFrom(await walk, root);
  const sockets = toSockets(raw, opts.netns ?? null, owners);
  return {
    source: copied ? `proc-root:${root}` : "procfs",
    host: (copied && copiedHostname(root)) || hostname(),
    sockets,
    warnings: ownerWarnings(owners, sockets),
  };
}
