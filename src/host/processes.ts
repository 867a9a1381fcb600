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
  /** The processes holding the socket with this inode, in pid order; empty when none is visible. */
  of(inode: number): ProcessInfo[];
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

/**
 * Which pids hold a socket inode, without an object per lookup: find() says how many, pid(i) names
 * them (ascending) until the next find().
 */
export interface Holders {
  find(inode: number): number;
  pid(i: number): number;
}

/** Every socket fd on the host. Names and units are read later, only as needed. */
export interface FdWalk {
  holders: Holders;
  /** Processes whose fd directory we may not read: their sockets look ownerless. */
  hiddenPids: number;
  /** Socket holders the walk already read (the native one does, on its threads); others are read later. */
  processes?: Map<number, ProcessInfo | null>;
}

/**
 * The native walk's pairs [inode, pid, ...], sorted by inode then pid and each pair once
 * (native/moat.c): a binary search per socket instead of a Map of 10,000 one-pid lists.
 */
export class SortedHolders implements Holders {
  private at = 0;
  constructor(private readonly pairs: Uint32Array) {}

  find(inode: number): number {
    const pairs = this.pairs;
    const count = pairs.length >>> 1;
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pairs[2 * mid]! < inode) lo = mid + 1;
      else hi = mid;
    }
    this.at = lo;
    let n = 0;
    while (lo + n < count && pairs[2 * (lo + n)] === inode) n++;
    return n;
  }

  pid(i: number): number {
    return this.pairs[2 * (this.at + i) + 1]!;
  }
}

/** The JavaScript walk's inode -> pids map (pids in walk order, sorted here when there are several). */
class MappedHolders implements Holders {
  private pids: number[] = [];
  constructor(private readonly byInode: Map<number, number[]>) {}

  find(inode: number): number {
    const pids = this.byInode.get(inode);
    if (pids === undefined) return 0;
    if (pids.length > 1) pids.sort((a, b) => a - b);
    this.pids = pids;
    return pids.length;
  }

  pid(i: number): number {
    return this.pids[i]!;
  }
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
  const { owners } = fast;
  const processes = new Map<number, ProcessInfo | null>();
  for (let i = 0; i + 3 < owners.length; i += 4) {
    const pid = owners[i] as number;
    const comm = owners[i + 1] as string | null;
    const info =
      comm === null
        ? null
        : processInfoFrom(pid, comm, owners[i + 2] as string | null, owners[i + 3] as string | null);
    processes.set(pid, info);
  }
  return { holders: new SortedHolders(fast.pairs), hiddenPids: fast.hiddenPids, processes };
}

/** The JavaScript walk: every socket inode -> pids holding it. `procRoot` may be a copied /proc tree. */
export function walkSocketFdsJs(procRoot = "/proc"): FdWalk & { pidsByInode: Map<number, number[]> } {
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
  return { holders: new MappedHolders(pidsByInode), pidsByInode, hiddenPids };
}

/** Socket owners by inode, found when asked; comm, cmdline and cgroup read (unless the walk did) once per pid. */
export function ownersFrom(walk: FdWalk, procRoot = "/proc"): SocketOwners {
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
  const { holders, hiddenPids } = walk;
  const of = (inode: number): ProcessInfo[] => {
    const n = holders.find(inode);
    if (n === 1) {
      const pid = holders.pid(0);
      let list = alone.get(pid);
      if (list === undefined) {
        const p = infoOf(pid);
        list = p === null ? [] : [p];
        alone.set(pid, list);
      }
      return list;
    }
    const procs: ProcessInfo[] = [];
    for (let i = 0; i < n; i++) {
      const p = infoOf(holders.pid(i));
      if (p !== null) procs.push(p);
    }
    return procs;
  };
  const asRoot = process.geteuid?.() === 0;
  const ownerUnknown = hiddenPids === 0 ? null : asRoot ? OWNER_HIDDEN_FROM_ROOT : OWNER_NOT_VISIBLE;
  return { of, hiddenPids, ownerUnknown };
}

/** Every socket's owners on the host (or in a copied /proc tree at `procRoot`). */
export async function findSocketOwners(procRoot = "/proc"): Promise<SocketOwners> {
  return ownersFrom(await walkSocketFds(procRoot), procRoot);
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
