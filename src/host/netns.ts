/**
 * Sockets of other network namespaces: one named by `ip netns add NAME` (--netns), or all of them
 * (--all-netns: the named ones plus every namespace some process lives in, containers included).
 *
 * A namespace is identified by its nsfs inode (stat of /run/netns/NAME or /proc/<pid>/ns/net), so
 * each is read once however many names and processes point at it, as osquery does. Its tables are
 * read through /proc/<pid>/net of any process inside it (no process is started); only a named
 * namespace without processes needs one child: nsenter running cat. Owners come from one global
 * /proc/<pid>/fd walk, since socket inodes are unique host-wide.
 */

import { execFile } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { EnvironmentError, InputError } from "../errors.js";
import { nativeListeners } from "./native.js";
import { NETNS_DIR, namedNetnsPath } from "./netns-path.js";
import { parseProcNet, type RawSocket } from "./proc-net.js";
import { ownersFrom, walkSocketFds } from "./processes.js";
import { ownerWarnings, ProcessGone, readNetDir, TABLES, toSockets } from "./procfs.js";
import { CAT_SCRIPT, sectionsOf } from "./table-reader.js";
import type { Socket, SocketTable } from "./types.js";

export { NETNS_DIR } from "./netns-path.js";

interface Namespace {
  /** "dev:ino" of the nsfs inode: the namespace's identity. */
  key: string;
  ino: number;
  /** Names in /run/netns that point at it, sorted. */
  names: string[];
  /** Processes living in it, ascending; left out by --netns, which asks only if the name fails. */
  pids?: number[];
}

function nsKey(path: string): { key: string; ino: number } | null {
  try {
    const st = statSync(path);
    return { key: `${st.dev}:${st.ino}`, ino: st.ino };
  } catch {
    return null; // process exited, or a stale entry
  }
}

function requireRoot(flag: string): void {
  if (process.geteuid?.() !== 0) {
    throw new EnvironmentError(
      "reading another network namespace needs root (its tables and processes are not visible otherwise)",
      `run it as root: sudo moat audit ${flag}`,
    );
  }
}

/** Names made by `ip netns add`, sorted; none when /run/netns does not exist. */
export function namedNamespaces(dir = NETNS_DIR): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** Every namespace some process is in, keyed by "dev:ino", with its pids. */
function namespacesOfProcesses(procRoot = "/proc"): Map<string, Namespace & { pids: number[] }> {
  const out = new Map<string, Namespace & { pids: number[] }>();
  for (const name of readdirSync(procRoot)) {
    const c = name.charCodeAt(0);
    if (c < 0x30 || c > 0x39) continue;
    const id = nsKey(`${procRoot}/${name}/ns/net`);
    if (id === null) continue;
    const ns = out.get(id.key);
    if (ns === undefined) out.set(id.key, { key: id.key, ino: id.ino, names: [], pids: [Number(name)] });
    else ns.pids.push(Number(name));
  }
  for (const ns of out.values()) ns.pids.sort((a, b) => a - b);
  return out;
}

/** The tables of one namespace: via a process inside it, else (named only) via nsenter; null if gone. */
async function readNamespace(ns: Namespace): Promise<RawSocket[] | null> {
  // A named namespace can be entered by its name: no process to look for (native reader only).
  const named = ns.names[0] === undefined ? null : await nativeListeners(`${NETNS_DIR}/${ns.names[0]}`);
  if (named !== null && nsKey(`${NETNS_DIR}/${ns.names[0]}`)?.key === ns.key) return named;
  for (const pid of ns.pids ?? namespacesOfProcesses().get(ns.key)?.pids ?? []) {
    try {
      const raw = await readNetDir(`/proc/${pid}/net`, false, `/proc/${pid}/ns/net`);
      // Still there and still in this namespace? If it exited mid-read, a missing tcp6 would have
      // looked like "IPv6 disabled"; then the read proves nothing and the next process is asked.
      if (nsKey(`/proc/${pid}/ns/net`)?.key === ns.key) return raw;
    } catch (err) {
      if (!(err instanceof ProcessGone)) throw err; // exited meanwhile: try the next one
    }
  }
  const name = ns.names[0];
  if (name === undefined) return null;
  try {
    return await readNsenterTables(name);
  } catch (err) {
    // deleted (`ip netns del`) between listing and reading: gone, not broken
    if (err instanceof EnvironmentError && nsKey(`${NETNS_DIR}/${name}`)?.key !== ns.key) return null;
    throw err;
  }
}

/**
 * Read the four tables of a named namespace from a child entered into it: `nsenter --net=... sh -c`
 * printing each /proc/self/net table after a marker line. One spawn for all four tables.
 */
export async function readNsenterTables(name: string, dir = NETNS_DIR): Promise<RawSocket[]> {
  const stdout = await new Promise<Buffer>((resolve, reject) => {
    execFile(
      "nsenter",
      [`--net=${dir}/${name}`, "sh", "-c", CAT_SCRIPT, "sh", "/proc/self/net"],
      { encoding: "buffer", maxBuffer: 1 << 28 },
      (err, out, errOut) => {
        if (err === null) return resolve(out);
        if ((err as NodeJS.ErrnoException).code === "ENOENT") {
          return reject(
            new EnvironmentError(
              "nsenter is not installed",
              "install util-linux: apt-get install util-linux",
            ),
          );
        }
        const why = errOut.toString("utf8").trim() || err.message;
        reject(
          new EnvironmentError(
            `cannot enter network namespace ${name}: ${why}`,
            "run moat as root, and check `ip netns list`",
          ),
        );
      },
    );
  });
  return splitTables(stdout, name);
}

/** Parse the tables nsenter printed (CAT_SCRIPT output). */
export function splitTables(out: Buffer, name: string): RawSocket[] {
  const reads = sectionsOf(out);
  const raw: RawSocket[] = [];
  for (const [i, t] of TABLES.entries()) {
    const read = reads[i]!;
    const text = read.ok ? read.data : undefined;
    const file = `/proc/net/${t.name} of netns ${name}`;
    if (text === undefined || text.length === 0) {
      if (t.family === "ipv6") continue; // IPv6 disabled
      throw new EnvironmentError(`${file} could not be read`, "run moat as root, and check `ip netns list`");
    }
    for (const r of parseProcNet(text, file, t.protocol, t.family)) raw.push(r);
  }
  return raw;
}

function labelOf(ns: Namespace, own: string | null): string | null {
  if (ns.key === own) return null;
  return ns.names[0] ?? `net:[${ns.ino}]`;
}

/** Every namespace once: named ones (even without processes) merged with those of processes. */
function allNamespaces(): Namespace[] {
  const byKey = namespacesOfProcesses();
  for (const name of namedNamespaces()) {
    const id = nsKey(`${NETNS_DIR}/${name}`);
    if (id === null) continue;
    const ns = byKey.get(id.key);
    if (ns === undefined) byKey.set(id.key, { key: id.key, ino: id.ino, names: [name], pids: [] });
    else ns.names.push(name);
  }
  return [...byKey.values()];
}

/** Read namespaces, then map owners over all their sockets in one fd walk. */
async function readMany(
  list: { ns: Namespace; label: string | null }[],
  source: string,
  warnings: string[],
): Promise<SocketTable> {
  // The fd walk first, on other threads; meanwhile every namespace's tables are read (natively here,
  // or as text the kernel formats on another core), then collected.
  const walk = walkSocketFds();
  const pending = list.map(({ ns, label }) => ({ label, raw: readNamespace(ns) }));
  // awaited below; keeps an early failure from being "unhandled"
  walk.catch(() => {});
  for (const p of pending) p.raw.catch(() => {});
  const parts: { raw: RawSocket[]; label: string | null }[] = [];
  for (const { label, raw } of pending) {
    const tables = await raw;
    if (tables === null) warnings.push(`network namespace ${label ?? "net"} disappeared while being read`);
    else parts.push({ raw: tables, label });
  }
  const owners = ownersFrom(await walk);
  const sockets: Socket[] = [];
  for (const p of parts) for (const s of toSockets(p.raw, p.label, owners)) sockets.push(s);
  return { source, host: hostname(), sockets, warnings: [...warnings, ...ownerWarnings(owners, sockets)] };
}

/** --netns NAME: the sockets of one namespace made by `ip netns add NAME`. */
export async function readNamedNetns(name: string): Promise<SocketTable> {
  requireRoot(`--netns ${name}`);
  const path = namedNetnsPath(name);
  const id = path === null ? null : nsKey(path);
  if (id === null) {
    const names = namedNamespaces();
    const known = names.length > 0 ? `existing: ${names.join(", ")}` : "`ip netns list` shows none";
    throw new InputError(`no network namespace named "${name}" in ${NETNS_DIR} (${known})`);
  }
  // No scan of every process's namespace here: reading by name needs none (readNamespace asks).
  const ns: Namespace = { key: id.key, ino: id.ino, names: [name] };
  return readMany([{ ns, label: name }], `netns:${name}`, []);
}

/** --all-netns: every network namespace on the host, each read once. */
export async function readAllNetns(): Promise<SocketTable> {
  requireRoot("--all-netns");
  const own = nsKey("/proc/self/ns/net")?.key ?? null;
  const list = allNamespaces().map((ns) => ({ ns, label: labelOf(ns, own) }));
  // moat's own namespace first, then named ones by name, then the rest by inode
  const rank = (ns: Namespace, label: string | null) => (label === null ? 0 : ns.names.length > 0 ? 1 : 2);
  list.sort(
    (a, b) =>
      rank(a.ns, a.label) - rank(b.ns, b.label) ||
      (a.ns.names[0] ?? "").localeCompare(b.ns.names[0] ?? "") ||
      a.ns.ino - b.ns.ino,
  );
  return readMany(list, "all-netns", []);
}
