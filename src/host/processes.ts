/**
 * Which processes hold which sockets: walk /proc/<pid>/fd, where every open socket is a symlink whose
 * target reads "socket:[INODE]", and keep the pids holding each socket inode. Socket inodes
 * are unique across the host (one sockfs), so one walk serves every network namespace.
 *
 * Sync fs calls on purpose: on 200 processes x 60 fds (50 sockets each; test/host/processes.test.ts)
 * the sync walk took ~40 ms and the same walk with fs/promises (Promise.all per process) 110-140 ms,
 * because each procfs call is short in-kernel work and the thread-pool round trip costs more than it.
 */

import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { nativeSocketFds } from "./native.js";
import type { ProcessInfo } from "./types.js";

export const OWNER_NOT_VISIBLE =
  "owner not visible: run moat as root (sudo moat audit) to see which process owns it";
/** Even root may be refused a process's fds (another user namespace's init, a non-dumpable daemon). */
export const OWNER_HIDDEN_FROM_ROOT =
  "owner not visible even to root: the process holding it refuses inspection of its open files " +
  "(it may run in another user namespace or be marked non-dumpable)";

export interface SocketOwners {
  /** inode -> processes holding it, in pid order. Inodes nobody holds are absent. */
  byInode: Map<number, ProcessInfo[]>;
  /** Processes whose fd directory we may not read (not root): their sockets look ownerless. */
  hiddenPids: number;
  /** What to tell about a socket nobody visible holds; null when no process was hidden. */
  ownerUnknown: string | null;
}

const SOCKET_PREFIX = "socket:[";

function denied(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code === "EACCES" || code === "EPERM";
}

/** Every socket fd on the host: inode -> pids holding it. Names and units are read later, only as needed. */
export interface FdWalk {
  pidsByInode: Map<number, number[]>;
  /** Processes whose fd directory we may not read: their sockets look ownerless. */
  hiddenPids: number;
  /** Socket holders the walk already read (the native one does, on its threads); others are read later. */
  processes?: Map<number, ProcessInfo | null>;
}

/** Record that `pid` holds `inode`; pids arrive in walk order, each process's fds together. */
export function addHolder(pidsByInode: Map<number, number[]>, inode: number, pid: number): void {
  const pids = pidsByInode.get(inode);
  if (pids === undefined) pidsByInode.set(inode, [pid]);
  else if (pids[pids.length - 1] !== pid) pids.push(pid); // dup()ed fds: one entry per process
}

/**
 * Walk /proc/<pid>/fd of every process once: natively off the JavaScript thread when the addon is
 * built (native.ts), so start it first and read the socket tables meanwhile. The JavaScript walk
 * starts only after the caller's synchronous part, which starts those reads.
 */
export async function walkSocketFds(procRoot = "/proc"): Promise<FdWalk> {
  const fast = await nativeSocketFds(procRoot);
  if (fast === null) return walkSocketFdsJs(procRoot);
  const { pairs, owners } = fast;
  const pidsByInode = new Map<number, number[]>();
  for (let i = 0; i < pairs.length; i += 2) addHolder(pidsByInode, pairs[i]!, pairs[i + 1]!);
  const processes = new Map<number, ProcessInfo | null>();
  for (let i = 0; i + 3 < owners.length; i += 4) {
    const [pid, comm, cgroup, cmdline] = owners.slice(i, i + 4) as [
      number,
      string | null,
      string | null,
      string | null,
    ];
    processes.set(pid, comm === null ? null : processInfoFrom(pid, comm, cgroup, cmdline));
  }
  return { pidsByInode, hiddenPids: fast.hiddenPids, processes };
}

/** The JavaScript walk. `procRoot` may be a copied /proc tree. */
export function walkSocketFdsJs(procRoot = "/proc"): FdWalk {
  const pidsByInode = new Map<number, number[]>();
  let hiddenPids = 0;
  for (const name of readdirSync(procRoot)) {
    const c = name.charCodeAt(0);
    if (c < 0x30 || c > 0x39) continue; // not a pid: "net", "self", "sys", ...
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const fdDir = `${procRoot}/${name}/fd`;
    let fds: string[];
    try {
      fds = readdirSync(fdDir);
    } catch (err) {
      if (denied(err)) hiddenPids++;
      continue; // gone, or not a process directory (a stray file in a copied tree)
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`${fdDir}/${fd}`);
      } catch (err) {
        if (denied(err)) {
          hiddenPids++;
          break;
        }
        continue; // fd closed meanwhile, or not a symlink in a copied tree
      }
      if (!target.startsWith(SOCKET_PREFIX)) continue;
      addHolder(pidsByInode, Number(target.slice(SOCKET_PREFIX.length, -1)), pid);
    }
  }
  return { pidsByInode, hiddenPids };
}

/** The owners of the wanted inodes; comm, cmdline and cgroup read (unless the walk did) only for pids that hold one. */
export function ownersFrom(walk: FdWalk, wanted: ReadonlySet<number>, procRoot = "/proc"): SocketOwners {
  const info = new Map<number, ProcessInfo | null>(walk.processes);
  const infoOf = (pid: number): ProcessInfo | null => {
    let p = info.get(pid);
    if (p === undefined) {
      p = readProcessInfo(procRoot, pid);
      info.set(pid, p);
    }
    return p;
  };
  // The sockets a process holds alone share one owner list: 10,000 sockets of 200 processes need
  // 200 lists, not 10,000 (nothing changes a socket's list once made).
  const alone = new Map<number, ProcessInfo[]>();
  const byInode = new Map<number, ProcessInfo[]>();
  for (const inode of wanted) {
    const pids = walk.pidsByInode.get(inode);
    if (pids === undefined) continue;
    let procs: ProcessInfo[];
    if (pids.length === 1) {
      const pid = pids[0]!;
      let list = alone.get(pid);
      if (list === undefined) {
        const p = infoOf(pid);
        list = p === null ? [] : [p];
        alone.set(pid, list);
      }
      procs = list;
    } else {
      procs = [];
      for (const pid of pids.sort((a, b) => a - b)) {
        const p = infoOf(pid);
        if (p !== null) procs.push(p);
      }
    }
    if (procs.length > 0) byInode.set(inode, procs);
  }
  const { hiddenPids } = walk;
  const asRoot = process.geteuid?.() === 0;
  const ownerUnknown = hiddenPids === 0 ? null : asRoot ? OWNER_HIDDEN_FROM_ROOT : OWNER_NOT_VISIBLE;
  return { byInode, hiddenPids, ownerUnknown };
}

/** Map each wanted socket inode to its owning processes. `procRoot` may be a copied /proc tree. */
export async function findSocketOwners(
  wanted: ReadonlySet<number>,
  procRoot = "/proc",
): Promise<SocketOwners> {
  if (wanted.size === 0) return { byInode: new Map(), hiddenPids: 0, ownerUnknown: null };
  return ownersFrom(await walkSocketFds(procRoot), wanted, procRoot);
}

/** comm, cmdline and unit of one process; null when it exited meanwhile. */
export function readProcessInfo(procRoot: string, pid: number): ProcessInfo | null {
  const dir = `${procRoot}/${pid}`;
  const comm = readOptional(`${dir}/comm`);
  // exited meanwhile (or a copied tree without it): no process to report
  if (comm === null) return null;
  return processInfoFrom(pid, comm, readOptional(`${dir}/cgroup`), readOptional(`${dir}/cmdline`));
}

/** A process from the text of its comm, cgroup and cmdline files (null: could not be read). */
export function processInfoFrom(
  pid: number,
  comm: string,
  cgroup: string | null,
  cmdline: string | null,
): ProcessInfo {
  return { name: comm.replace(/\n$/, ""), pid, unit: unitFromCgroup(cgroup), cmdline: cmdlineOf(cmdline) };
}

function readOptional(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null; // exited, or a copied tree without the file: the field is just unknown
  }
}

/** Arguments are NUL-terminated; join them with spaces. Empty (zombie, kernel thread) -> null. */
function cmdlineOf(raw: string | null): string | null {
  if (raw === null) return null;
  const text = raw.replace(/\0+$/, "").replaceAll("\0", " ");
  return text === "" ? null : text;
}

/**
 * The systemd unit a process runs in, from /proc/<pid>/cgroup text. Uses the cgroup v2 line
 * ("0::/path") or, on v1/hybrid hosts where that line is just "/", the "name=systemd" line, and returns the deepest path component
 * that is a unit (".service" or ".scope"): that is the service itself, a user service below
 * user@UID.service, a login session ("session-3.scope") or a container's scope. null when none.
 */
export function unitFromCgroup(text: string | null): string | null {
  if (text === null) return null;
  let v2: string | null = null;
  let v1: string | null = null;
  for (const line of text.split("\n")) {
    if (line.startsWith("0::")) v2 = line.slice(3);
    else {
      const at = line.indexOf(":name=systemd:");
      if (at > 0) v1 = line.slice(at + ":name=systemd:".length);
    }
  }
  return deepestUnit(v2) ?? deepestUnit(v1);
}

function deepestUnit(path: string | null): string | null {
  if (path === null) return null;
  const parts = path.split("/");
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i]!;
    if (part.endsWith(".service") || part.endsWith(".scope")) return part;
  }
  return null;
}
