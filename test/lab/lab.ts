/**
 * The network-namespace lab: real daemons in throwaway namespaces, joined by veth pairs and addressed
 * from the documentation ranges, so tests audit real sockets and never send traffic off the machine.
 *
 * Teardown is synchronous on purpose: the same code then runs from `after`, from an 'exit' handler
 * and from SIGINT/SIGTERM, and a crashed run's leftovers are removed by `sweepStaleLabs()`.
 *
 * Daemon kinds. Each runs in the FOREGROUND as the lab's own child inside its namespace, from a config
 * file the lab writes into REGISTRY/<id>/daemons/ (never the system's config, never a systemd unit),
 * and is ready when every socket it was asked for shows in the namespace's procfs tables.
 *   memcached  `-l listen -p tcpPort -U udpPort` (udpPort 0 = UDP off), `-S` with sasl.
 *   listener   python3 binding the given sockets: "some unknown service".
 *   dnsmasq    open resolver on listen:53 udp+tcp: `no-resolv` + `address=/example.com/192.0.2.80`
 *              (records), so a recursive query is answered with RA set; version.bind built in;
 *              names without local data get REFUSED. Nothing is ever forwarded.
 *   unbound    closed resolver on listen:53: `access-control: 0.0.0.0/0 refuse` except `allow`
 *              (the host itself by default), so outside clients get REFUSED without RA.
 *   ntpd       NTPsec (Debian 12 has no other ntpd) on listen:123/udp, mode 6 queries open to all,
 *              `enable monitor`; NTPsec has no mode 7, so monlist gets no answer. No time service,
 *              no CAP_SYS_TIME: it cannot touch the host clock.
 *   xinetd     chargen (built in) and qotd (a script) on listen:19 and :17, udp and tcp (services,
 *              protocols).
 *   rpcbind    portmap, UDP on listen:111, TCP on the wildcard :111 (rpcbind's own choice); a private
 *              mount namespace with a tmpfs /run keeps its fixed lock and socket paths apart.
 *   snmpd      net-snmp, v1/v2c with read-only community `public` (community) on listen:161/udp.
 * TCP services `moat scan` identifies (each state and config in its temp dir, none of /etc read):
 *   redis      redis-server on listen:6379, no persistence; open, protected mode, or a password (access).
 *   mariadb    a datadir from mariadb-install-db, then mariadbd on listen:3306 (--skip-grant-tables
 *              unless grantTables); may take up to 30 s to listen on a loaded machine.
 *   sshd       OpenSSH on listen:22 with its own config and host key; a private mount namespace
 *              gives it its own /run/sshd.
 *   smbd       Samba on listen:445 only, no NetBIOS, one read-only share.
 *   http       python3 -m http.server on listen:80 (Server: SimpleHTTP/... Python/...).
 *   xinetd     also serves telnet (inetutils telnetd) on listen:23/tcp when services names it.
 * The modules for all but memcached and listener are in test/lab/daemons/, one per kind.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { accessSync, constants, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ipaddr from "ipaddr.js";
import {
  isScanDaemon,
  planDaemon,
  type ScanDaemonKind,
  type ScanDaemonSpec,
  TOOLS,
} from "./daemons/index.js";
import { existsExecutable, PYTHON } from "./daemons/plan.js";

// Every daemon spec type, for tests that build labs.
export type * from "./daemons/index.js";

export type LabProtocol = "tcp" | "udp";

export interface Endpoint {
  protocol: LabProtocol;
  /** Canonical text form: "0.0.0.0", "::", "127.0.0.1", "2001:db8::1". */
  address: string;
  port: number;
}

/** memcached as Debian ships it. `udpPort: 0` turns UDP off (`-U 0`), as the safe config does. */
export interface MemcachedSpec {
  kind: "memcached";
  name: string;
  listen: string;
  tcpPort: number;
  udpPort: number;
  /** `-S`: binary-protocol SASL auth. memcached refuses it together with UDP, so udpPort must be 0. */
  sasl?: boolean;
}

/** A python3 process that binds the given sockets and sleeps: a stand-in for "some unknown service". */
export interface ListenerSpec {
  kind: "listener";
  name: string;
  sockets: Endpoint[];
}

export type DaemonSpec = MemcachedSpec | ListenerSpec | ScanDaemonSpec;

export interface NamespaceSpec {
  role: string;
  /** Extra addresses put on the namespace's `lo` (no dummy driver here), e.g. "192.0.2.10/32". */
  addresses?: string[];
  daemons?: DaemonSpec[];
}

export interface LabSpec {
  namespaces: NamespaceSpec[];
  /** veth pairs between roles; link i gets the i-th documentation /24 and 2001:db8:<i+1>::/64. */
  links?: Array<[string, string]>;
}

export interface LabNamespace {
  role: string;
  name: string;
  /** Addresses assigned on links, without prefix length. */
  addresses: string[];
}

export interface LabDaemon {
  name: string;
  role: string;
  netns: string;
  pid: number;
  /** The sockets this daemon was asked to open, all confirmed listening before createLab returns. */
  endpoints: Endpoint[];
  command: string[];
}

export interface Lab {
  id: string;
  namespaces: LabNamespace[];
  daemons: LabDaemon[];
  /** Full namespace name for a role, e.g. "moat-3fa9c1-server". */
  ns(role: string): string;
  daemon(name: string): LabDaemon;
  /** Starts one more daemon after creation (bench: hundreds of listeners) and waits until it listens. */
  start(role: string, spec: DaemonSpec): Promise<LabDaemon>;
  destroy(): Promise<void>;
}

const PREFIX = "moat-";
const LAB_NAME = /^moat-([0-9a-f]{6})-[a-z0-9-]+$/;
const DOC_V4 = ["192.0.2", "198.51.100", "203.0.113"];
const READY_TIMEOUT_MS = 10_000;

// ---------------------------------------------------------------------------------------------
// Preconditions

function onPath(tool: string): boolean {
  const dirs = (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/sbin", "/usr/bin"]);
  return dirs.some((dir) => dir !== "" && existsExecutable(join(dir, tool)));
}

/** One line saying why lab tests cannot run here, or undefined when they can. */
export function labSkipReason(): string | undefined {
  if (process.platform !== "linux") return "lab needs Linux network namespaces";
  if (typeof process.getuid !== "function" || process.getuid() !== 0) {
    return "lab needs root for network namespaces (run as root)";
  }
  for (const tool of ["ip", "memcached", "python3", "ss"]) {
    if (!onPath(tool)) return `lab needs ${tool}: run scripts/install-test-deps.sh`;
  }
  return undefined;
}

/** One line saying why a daemon kind cannot run here (its executable is missing), or undefined. */
export function daemonSkipReason(kind: ScanDaemonKind): string | undefined {
  const lab = labSkipReason();
  if (lab !== undefined) return lab;
  const missing = TOOLS[kind].find((tool) => !onPath(tool));
  return missing === undefined ? undefined : `lab ${kind} needs ${missing}: run scripts/install-test-deps.sh`;
}

// ---------------------------------------------------------------------------------------------
// Small wrappers

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? "";
    throw new Error(`${cmd} ${args.join(" ")} failed: ${stderr.trim() || String(error)}`);
  }
}

/** Like run, but for teardown: a missing namespace or dead process is not an error there. */
function tryRun(cmd: string, args: string[]): string {
  try {
    return run(cmd, args);
  } catch {
    return "";
  }
}

function ip(args: string[]): string {
  return run("ip", args);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** `unref`: a timeout that must not keep the test process alive once everything else is done. */
function sleep(ms: number, opts: { unref?: boolean } = {}): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (opts.unref) timer.unref();
  });
}

export function familyOf(address: string): "ipv4" | "ipv6" {
  return ipaddr.parse(address).kind() === "ipv6" ? "ipv6" : "ipv4";
}

export function endpointKey(e: Endpoint): string {
  return `${e.protocol} ${ipaddr.parse(e.address).toString()} ${e.port}`;
}

// ---------------------------------------------------------------------------------------------
// Reading listening sockets straight from procfs (no spawn: cheap enough to poll)

/** Kernel hex address (host byte order per 32-bit word) -> canonical text. */
function decodeHexAddress(hex: string): string {
  const bytes: number[] = [];
  for (let word = 0; word < hex.length; word += 8) {
    const chunk = hex.slice(word, word + 8);
    // Each 32-bit word is printed in host order; x86 and arm64 are little-endian.
    for (let i = 6; i >= 0; i -= 2) bytes.push(Number.parseInt(chunk.slice(i, i + 2), 16));
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** Listening TCP and bound UDP endpoints of the network namespace `pid` lives in. */
export function listeningIn(pid: number): Set<string> {
  const found = new Set<string>();
  const tables: Array<[string, LabProtocol, string]> = [
    ["tcp", "tcp", "0A"],
    ["tcp6", "tcp", "0A"],
    ["udp", "udp", "07"],
    ["udp6", "udp", "07"],
  ];
  for (const [file, protocol, state] of tables) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 4 || fields[3] !== state) continue;
      const [hexAddr, hexPort] = (fields[1] ?? "").split(":");
      if (hexAddr === undefined || hexPort === undefined) continue;
      found.add(`${protocol} ${decodeHexAddress(hexAddr)} ${Number.parseInt(hexPort, 16)}`);
    }
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Registry of live labs: lets a sweep tell a crashed run's leftovers from a concurrent test file's lab

const REGISTRY = (() => {
  for (const dir of ["/run/moat-lab", join(tmpdir(), "moat-lab")]) {
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(dir, constants.W_OK);
      return dir;
    } catch {}
  }
  return join(tmpdir(), "moat-lab");
})();

/** Start time in clock ticks: with the pid it names a process even after the pid is reused. */
function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

/** Each lab owns REGISTRY/<id>/: an `owner` file naming its process, and scratch files (SASL config). */
function register(id: string): void {
  mkdirSync(join(REGISTRY, id), { recursive: true });
  writeFileSync(join(REGISTRY, id, "owner"), `${process.pid} ${startTime(process.pid) ?? ""}\n`);
}

function ownerAlive(id: string): boolean {
  let text: string;
  try {
    text = readFileSync(join(REGISTRY, id, "owner"), "utf8");
  } catch {
    return false;
  }
  const [pid, start] = text.trim().split(" ");
  const owner = Number(pid);
  return Number.isInteger(owner) && isAlive(owner) && startTime(owner) === (start ?? "");
}

// ---------------------------------------------------------------------------------------------
// Teardown

export function listNamespaces(): string[] {
  return tryRun("ip", ["netns", "list"])
    .split("\n")
    .map((line) => line.split(" ")[0] ?? "")
    .filter((name) => name !== "");
}

function pidsIn(ns: string): number[] {
  return tryRun("ip", ["netns", "pids", ns])
    .split("\n")
    .map(Number)
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

/** SIGKILLs everything in the namespace, then deletes it; its veth ends go with it. */
function removeNamespace(ns: string): void {
  for (const pid of pidsIn(ns)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  tryRun("ip", ["netns", "del", ns]);
}

/** Removes `moat-<id>-*` namespaces whose creating process is gone (crashed or killed test runs). */
export function sweepStaleLabs(): string[] {
  const removed: string[] = [];
  for (const ns of listNamespaces()) {
    const id = LAB_NAME.exec(ns)?.[1];
    if (id === undefined || ownerAlive(id)) continue;
    removeNamespace(ns);
    removed.push(ns);
  }
  for (const id of safeReaddir(REGISTRY)) {
    if (!ownerAlive(id)) rmSync(join(REGISTRY, id), { recursive: true, force: true });
  }
  return removed;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Labs of this process not yet destroyed, for the exit and signal handlers. */
const live = new Set<() => void>();
let handlersInstalled = false;

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const teardownAll = () => {
    for (const teardown of [...live]) teardown();
  };
  process.on("exit", teardownAll);
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
    ["SIGHUP", 129],
  ] as const) {
    process.once(signal, () => {
      teardownAll();
      process.exit(code);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Daemons

const LISTENER_PY = `
import json, signal, socket, sys
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
held = []
for proto, addr, port in json.loads(sys.argv[1]):
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        # v6-only, so [::]:P and 0.0.0.0:P can both be bound and each shows as its own socket.
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port))
    if kind == socket.SOCK_STREAM:
        s.listen(64)
    held.append(s)
print("ready", flush=True)
while True:
    signal.pause()
`;

function memcachedEndpoints(spec: MemcachedSpec): Endpoint[] {
  const endpoints: Endpoint[] = [{ protocol: "tcp", address: spec.listen, port: spec.tcpPort }];
  if (spec.udpPort !== 0) endpoints.push({ protocol: "udp", address: spec.listen, port: spec.udpPort });
  return endpoints;
}

function daemonCommand(
  spec: MemcachedSpec | ListenerSpec,
  saslDir: string,
): { argv: string[]; env: NodeJS.ProcessEnv } {
  if (spec.kind === "listener") {
    const sockets = spec.sockets.map((s) => [s.protocol, s.address, s.port]);
    return { argv: [PYTHON, "-c", LISTENER_PY, JSON.stringify(sockets)], env: process.env };
  }
  if (spec.sasl && spec.udpPort !== 0) throw new Error(`${spec.name}: memcached refuses -S with UDP on`);
  // Foreground (no -d) so the pid we hold is memcached's own, as `ip netns exec` execs in place.
  const argv = ["memcached", "-u", "nobody", "-l", spec.listen, "-p", String(spec.tcpPort)];
  argv.push("-U", String(spec.udpPort), "-m", "16", "-t", "2");
  if (spec.sasl) argv.push("-S");
  return { argv, env: spec.sasl ? { ...process.env, SASL_CONF_PATH: saslDir } : process.env };
}

interface StartPlan {
  argv: string[];
  env: NodeJS.ProcessEnv;
  endpoints: Endpoint[];
  readyTimeoutMs?: number;
}

function builtinPlan(spec: MemcachedSpec | ListenerSpec, saslDir: string): StartPlan {
  const endpoints = spec.kind === "memcached" ? memcachedEndpoints(spec) : spec.sockets;
  return { ...daemonCommand(spec, saslDir), endpoints };
}

/** The kinds in test/lab/daemons/: the module writes the config, the lab runs and watches it. */
function scanPlan(spec: ScanDaemonSpec, dir: string): StartPlan {
  const plan = planDaemon(spec, dir);
  const { argv, endpoints, readyTimeoutMs } = plan;
  return { argv, env: { ...process.env, ...plan.env }, endpoints, readyTimeoutMs };
}

/** A SASL config memcached can start with; the password is irrelevant, the flag is what audit sees. */
function writeSaslConfig(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "memcached.conf"), `mech_list: plain\nsasldb_path: ${join(dir, "sasldb2")}\n`);
  if (onPath("saslpasswd2")) {
    execFileSync("saslpasswd2", ["-p", "-a", "memcached", "-c", "-f", join(dir, "sasldb2"), "lab"], {
      input: "lab-password\n",
      stdio: ["pipe", "ignore", "ignore"],
    });
  }
}

/** The exit can be seen before the last stderr chunk is read: wait for it, so errors quote the daemon. */
async function stderrDrained(child: ChildProcess): Promise<void> {
  if (child.stderr === null || child.stderr.closed) return;
  const closed = new Promise<void>((resolve) => child.stderr?.once("close", () => resolve()));
  await Promise.race([closed, sleep(1000, { unref: true })]);
}

async function waitListening(
  child: ChildProcess,
  endpoints: Endpoint[],
  stderr: () => string,
  timeoutMs = READY_TIMEOUT_MS,
): Promise<void> {
  const pid = child.pid!;
  const wanted = endpoints.map(endpointKey);
  const deadline = Date.now() + timeoutMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stderrDrained(child);
      throw new Error(`daemon ${pid} exited before listening: ${stderr().trim() || "no output"}`);
    }
    const have = listeningIn(pid);
    const missing = wanted.filter((key) => !have.has(key));
    if (missing.length === 0) return;
    if (Date.now() > deadline) throw new Error(`daemon ${pid} not listening on ${missing.join(", ")}`);
    await sleep(delay);
  }
}

/** Resolves on the daemon's "ready" line; rejects when it exits first or stays silent too long. */
function readyLine(child: ChildProcess, stderr: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(
      () => reject(new Error(`daemon ${child.pid} not ready after ${READY_TIMEOUT_MS} ms`)),
      READY_TIMEOUT_MS,
    );
    const onExit = () => {
      clearTimeout(timer);
      reject(new Error(`daemon ${child.pid} exited before listening: ${stderr().trim() || "no output"}`));
    };
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      if (!out.includes("ready\n")) return;
      clearTimeout(timer);
      child.off("exit", onExit);
      resolve();
    });
    child.once("exit", onExit);
  });
}

// ---------------------------------------------------------------------------------------------
// Creation

function linkAddresses(index: number): { a: string[]; b: string[] } {
  const v4 = DOC_V4[index];
  if (v4 === undefined)
    throw new Error(`the lab has ${DOC_V4.length} documentation /24s: at most that many links`);
  const v6 = `2001:db8:${index + 1}::`;
  return { a: [`${v4}.1/24`, `${v6}1/64`], b: [`${v4}.2/24`, `${v6}2/64`] };
}

function addAddress(ns: string, dev: string, cidr: string): void {
  // nodad: IPv6 addresses are usable at once instead of after duplicate address detection.
  const extra = cidr.includes(":") ? ["nodad"] : [];
  ip(["-n", ns, "addr", "add", cidr, "dev", dev, ...extra]);
}

export async function createLab(spec: LabSpec): Promise<Lab> {
  const reason = labSkipReason();
  if (reason !== undefined) throw new Error(reason);
  installHandlers();
  sweepStaleLabs();

  const id = randomBytes(3).toString("hex");
  const nsName = (role: string) => {
    if (!/^[a-z0-9][a-z0-9-]*$/.test(role))
      throw new Error(`role "${role}": lower-case letters, digits, dashes`);
    return `${PREFIX}${id}-${role}`;
  };
  const saslDir = join(REGISTRY, id, "sasl");
  let daemonDirs = 0;
  /** A fresh directory per started daemon for its config and state; removed with the lab. */
  const daemonDir = (name: string) => {
    const dir = join(REGISTRY, id, "daemons", `${daemonDirs++}-${name.replace(/[^A-Za-z0-9_-]/g, "_")}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const namespaces: LabNamespace[] = [];
  const daemons: LabDaemon[] = [];
  const children: ChildProcess[] = [];
  let destroyed = false;

  const teardown = () => {
    if (destroyed) return;
    destroyed = true;
    live.delete(teardown);
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    for (const ns of namespaces) removeNamespace(ns.name);
    rmSync(join(REGISTRY, id), { recursive: true, force: true });
  };
  register(id);
  live.add(teardown);

  const findNs = (role: string): LabNamespace => {
    const found = namespaces.find((n) => n.role === role);
    if (found === undefined) throw new Error(`no namespace with role "${role}" in lab ${id}`);
    return found;
  };

  const start = async (role: string, daemon: DaemonSpec): Promise<LabDaemon> => {
    const ns = findNs(role);
    if (daemon.kind === "memcached" && daemon.sasl) writeSaslConfig(saslDir);
    const { argv, env, endpoints, readyTimeoutMs } = isScanDaemon(daemon)
      ? scanPlan(daemon, daemonDir(daemon.name))
      : builtinPlan(daemon, saslDir);
    const child = spawn("ip", ["netns", "exec", ns.name, ...argv], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let err = "";
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      err = (err + chunk).slice(-4000);
    });
    // The listener prints "ready" only after every bind and listen returned: no need to poll procfs,
    // which costs a full table parse per poll once the bench has 10,000 sockets up.
    const ready = daemon.kind === "listener" ? readyLine(child, () => err) : undefined;
    if (ready === undefined) child.stdout?.resume();
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", reject);
    });
    await (ready ?? waitListening(child, endpoints, () => err, readyTimeoutMs));
    const running: LabDaemon = {
      name: daemon.name,
      role,
      netns: ns.name,
      pid: child.pid!,
      endpoints,
      command: argv,
    };
    daemons.push(running);
    return running;
  };

  try {
    for (const n of spec.namespaces) {
      const name = nsName(n.role);
      if (namespaces.some((x) => x.name === name)) throw new Error(`role "${n.role}" given twice`);
      ip(["netns", "add", name]);
      namespaces.push({ role: n.role, name, addresses: [] });
      ip(["-n", name, "link", "set", "lo", "up"]);
      for (const cidr of n.addresses ?? []) addAddress(name, "lo", cidr);
    }
    for (const [index, [roleA, roleB]] of (spec.links ?? []).entries()) {
      const a = findNs(roleA);
      const b = findNs(roleB);
      const devA = `v${id}-${index}a`;
      const devB = `v${id}-${index}b`;
      // Both ends are created inside their namespaces: nothing ever appears in the host's.
      ip(["link", "add", devA, "netns", a.name, "type", "veth", "peer", "name", devB, "netns", b.name]);
      const addrs = linkAddresses(index);
      for (const [ns, dev, cidrs] of [
        [a, devA, addrs.a],
        [b, devB, addrs.b],
      ] as const) {
        for (const cidr of cidrs) {
          addAddress(ns.name, dev, cidr);
          ns.addresses.push(cidr.split("/")[0]!);
        }
        ip(["-n", ns.name, "link", "set", dev, "up"]);
      }
    }
    for (const n of spec.namespaces) {
      await Promise.all((n.daemons ?? []).map((d) => start(n.role, d)));
    }
  } catch (error) {
    teardown();
    throw error;
  }

  return {
    id,
    namespaces,
    daemons,
    ns: (role) => findNs(role).name,
    daemon: (name) => {
      const found = daemons.find((d) => d.name === name);
      if (found === undefined) throw new Error(`no daemon "${name}" in lab ${id}`);
      return found;
    },
    start,
    destroy: async () => {
      const exits = children
        .filter((c) => c.exitCode === null && c.signalCode === null)
        .map((c) => new Promise<void>((resolve) => c.once("exit", () => resolve())));
      teardown();
      // Wait for the kills to be reaped so no zombie outlives destroy().
      await Promise.race([Promise.all(exits), sleep(5000, { unref: true })]);
    },
  };
}
