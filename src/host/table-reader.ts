/**
 * Reads a network namespace's socket tables (<net dir>/{tcp,tcp6,udp,udp6}) as raw bytes.
 *
 * The kernel formats these tables one 4 KiB page per read(), so a namespace with 10,000 sockets
 * costs ~60 ms of kernel time in ~400 reads. Done on the main thread, that time adds to the fd walk
 * (the other big cost of `moat audit`). For large tables a child `sh` + `cat` does the reading on
 * another core, writing into an unlinked temporary file, while the main thread walks the fds; a
 * spawn costs ~4 ms of main-thread time (a worker thread was measured at ~30 ms to start). Small
 * tables, the usual case, are read right here; <net dir>/sockstat tells the sizes in one tiny read.
 */
import { spawn } from "node:child_process";
import { closeSync, fstatSync, openSync, readFileSync, readSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";

/** The tables, in the order every reader returns them. */
export const TABLE_NAMES = ["tcp", "tcp6", "udp", "udp6"] as const;

/** Below this many sockets in the namespace the tables are read on the main thread. */
const CHILD_THRESHOLD = 2000;

export type TableRead = { ok: true; data: Buffer } | { ok: false; code: string | undefined; message: string };

const MARKER = "@@moat-table ";

/**
 * `sh -c CAT_SCRIPT sh NETDIR` prints each table that exists after a marker line. A table line
 * never starts with "@", so cutting at the markers is exact; a table with no section is missing.
 */
export const CAT_SCRIPT = `for t in ${TABLE_NAMES.join(" ")}; do [ -e "$1/$t" ] && { printf '\\n${MARKER}%s\\n' "$t"; cat "$1/$t" 2>/dev/null; }; done; exit 0`;

/** Cut CAT_SCRIPT output into one read per table, TABLE_NAMES order; absent ones are ENOENT. */
export function sectionsOf(out: Buffer): TableRead[] {
  const marker = Buffer.from(`\n${MARKER}`);
  const sections = new Map<string, Buffer>();
  let at = out.indexOf(marker);
  while (at >= 0) {
    const nameStart = at + marker.length;
    let nameEnd = out.indexOf(0x0a, nameStart);
    if (nameEnd < 0) nameEnd = out.length;
    const next = out.indexOf(marker, nameEnd);
    sections.set(
      out.toString("latin1", nameStart, nameEnd),
      out.subarray(nameEnd + 1, next < 0 ? out.length : next),
    );
    at = next;
  }
  return TABLE_NAMES.map((name) => {
    const data = sections.get(name);
    return data === undefined
      ? { ok: false, code: "ENOENT", message: `no ${name} table` }
      : { ok: true, data };
  });
}

function readHere(file: string): TableRead {
  try {
    return { ok: true, data: readFileSync(file) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ok: false, code: e.code, message: e.message };
  }
}

/** Sockets in use in the namespace of `netDir`, from sockstat and sockstat6; 0 when unreadable. */
function socketsInUse(netDir: string): number {
  let total = 0;
  for (const name of ["sockstat", "sockstat6"]) {
    const read = readHere(`${netDir}/${name}`);
    if (!read.ok) continue;
    for (const m of read.data.toString("latin1").matchAll(/^(?:TCP6?|UDP6?): inuse (\d+)/gm))
      total += Number(m[1]);
  }
  return total;
}

function readInChild(netDir: string): Promise<TableRead[]> {
  const path = `${tmpdir()}/moat-tables-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fd = openSync(path, "w+", 0o600);
  unlinkSync(path); // the open fd keeps it; nothing is left behind whatever happens next
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", CAT_SCRIPT, "sh", netDir], { stdio: ["ignore", fd, "ignore"] });
    child.once("error", (err) => {
      closeSync(fd);
      reject(err);
    });
    child.once("exit", () => {
      try {
        const out = Buffer.allocUnsafe(fstatSync(fd).size);
        readSync(fd, out, 0, out.length, 0);
        resolve(sectionsOf(out));
      } catch (err) {
        reject(err);
      } finally {
        closeSync(fd);
      }
    });
  });
}

/**
 * Starts reading the tables of the namespace whose net directory is `netDir`, TABLE_NAMES order.
 * Small tables are read before this returns; large ones by a child, so the caller can work meanwhile.
 */
export function readTables(netDir: string): Promise<TableRead[]> {
  if (socketsInUse(netDir) < CHILD_THRESHOLD) {
    return Promise.resolve(TABLE_NAMES.map((name) => readHere(`${netDir}/${name}`)));
  }
  return readInChild(netDir);
}
