/** The socket record every socket source produces (procfs, copied /proc, ss text, namespaces). */

export type Protocol = "tcp" | "udp";
export type Family = "ipv4" | "ipv6";

export interface ProcessInfo {
  /** Short command name (comm), e.g. "memcached". */
  name: string;
  pid: number;
  /** systemd unit from /proc/<pid>/cgroup, e.g. "memcached.service"; null when not under systemd. */
  unit: string | null;
  /** Full command line, arguments joined by spaces; null when unknown (ss import, process gone). */
  cmdline: string | null;
}

export interface Socket {
  protocol: Protocol;
  family: Family;
  /**
   * Bound address in canonical text form: "0.0.0.0", "::", "127.0.0.1", "::1", "::ffff:127.0.0.1",
   * "fe80::1". No brackets, no port. A device-bound socket keeps the device in `device`.
   */
  address: string;
  port: number;
  /** Device the socket is bound to (ss prints "addr%eth0"); null when not bound to one. */
  device: string | null;
  /** Socket inode from the kernel table; null when the source does not have it (ss text). */
  inode: number | null;
  /** Network namespace label: null for the namespace moat runs in, else the name or "net:[inode]". */
  netns: string | null;
  /** Processes holding the socket open; several when forked workers share it. */
  processes: ProcessInfo[];
  /**
   * Why the owner is unknown, as a sentence a user can act on ("run as root to see it"); null when
   * `processes` is known to be complete or the source never has owners (plain `ss -tuln`).
   */
  ownerUnknown: string | null;
}

export interface SocketTable {
  /** Where the sockets came from, for the report: "procfs", "ss:FILE", "netns:NAME", ... */
  source: string;
  /** Host name the table describes. */
  host: string;
  sockets: Socket[];
  /** Things the user should know that did not stop the read (a process that exited mid-read, ...). */
  warnings: string[];
}
