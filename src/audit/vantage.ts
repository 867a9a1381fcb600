/**
 * `moat audit --scan-from NETNS`: the outside half of the audit join. Runs `moat scan` inside another
 * network namespace against the audited host's own addresses, on the ports of its reachable findings
 * only (never a sweep), and returns the results for confirm.ts. The scan is a child `moat scan`, so
 * every safety rule of the scanner (opt-out file, special ranges, rate limit) stays in force; the one
 * thing this adds is --allow-special for exactly the host's own addresses, named one by one.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { EnvironmentError, InputError } from "../errors.js";
import { namedNamespaces } from "../host/netns.js";
import { NETNS_DIR, namedNetnsPath } from "../host/netns-path.js";
import type { SocketSourceSpec } from "../host/sockets.js";
import { bindScope, unmapAddress } from "../net/address.js";
import { MAX_UNSCOPED } from "../scan/scope.js";
import { type OutsideResult, type OutsideScan, reachedAt } from "./confirm.js";
import type { Finding } from "./types.js";

export interface VantageScanOptions {
  /** The network namespace to scan from, as named by `ip netns add`. */
  from: string;
  /** What is being audited: only this host and one --netns have addresses of their own to scan. */
  audited: SocketSourceSpec;
  findings: readonly Finding[];
  /** How to start this same moat again: node, its flags and the entry script. */
  moat: readonly string[];
}

const STATES = new Set(["open", "closed", "filtered", "open|filtered"]);

function nsInode(path: string): number | null {
  try {
    return statSync(path).ino;
  } catch {
    return null;
  }
}

/** The vantage must exist and must not be the audited namespace itself: that view is not from outside. */
function checkVantage(from: string, audited: SocketSourceSpec): void {
  if (audited.kind !== "live" && audited.kind !== "netns")
    throw new InputError(
      "--scan-from scans the addresses of this host or of one --netns namespace; it cannot be used with --ss, --proc-root or --all-netns",
    );
  if (process.geteuid?.() !== 0)
    throw new EnvironmentError(
      "--scan-from runs a scan inside another network namespace, which needs root",
      `run it as root: sudo moat audit --scan-from ${from}`,
    );
  const path = namedNetnsPath(from);
  const ino = path === null ? null : nsInode(path);
  if (ino === null) {
    const names = namedNamespaces();
    const known = names.length > 0 ? `existing: ${names.join(", ")}` : "`ip netns list` shows none";
    throw new InputError(`--scan-from: no network namespace named "${from}" in ${NETNS_DIR} (${known})`);
  }
  const own = audited.kind === "netns" ? `${NETNS_DIR}/${audited.name}` : "/proc/self/ns/net";
  if (nsInode(own) === ino)
    throw new InputError(
      `--scan-from ${from} is the namespace being audited; scan from a second namespace linked to it`,
    );
}

function run(
  command: string,
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { encoding: "utf8", maxBuffer: 1 << 26 }, (error, stdout, stderr) => {
      if (error !== null && (error as NodeJS.ErrnoException).code === "ENOENT")
        return reject(
          new EnvironmentError(`${command} is not installed`, "install iproute2: apt-get install iproute2"),
        );
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Addresses other hosts could use to reach this one: not loopback, not link-local (those need a zone). */
function usable(address: string): boolean {
  const scope = bindScope(address);
  return scope !== "loopback" && scope !== "link-local" && scope !== "all";
}

/** `ip -j addr show` output -> the addresses on its interfaces. */
export function parseIpAddrJson(text: string): string[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = undefined;
  }
  if (!Array.isArray(data))
    throw new EnvironmentError(
      "`ip -j addr show` did not print a JSON list of interfaces",
      "install a current iproute2 (it has -j since 4.13): apt-get install iproute2",
    );
  const out: string[] = [];
  for (const link of data as unknown[]) {
    const info = (link as { addr_info?: unknown }).addr_info;
    if (!Array.isArray(info)) continue;
    for (const entry of info as unknown[]) {
      const local = (entry as { local?: unknown }).local;
      if (typeof local === "string") out.push(local);
    }
  }
  return out;
}

async function hostAddresses(audited: SocketSourceSpec): Promise<string[]> {
  let all: string[];
  if (audited.kind === "netns") {
    const r = await run("ip", ["-j", "-n", audited.name, "addr", "show"]);
    if (r.code !== 0)
      throw new EnvironmentError(
        `ip -n ${audited.name} addr show failed: ${r.stderr.trim()}`,
        "check `ip netns list`",
      );
    all = parseIpAddrJson(r.stdout);
  } else {
    all = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address));
  }
  return [...new Set(all.filter(usable).map((a) => unmapAddress(a).toString()))];
}

/** One `moat scan --json` line -> the fields the join reads; anything else is a bug in moat. */
export function parseScanLine(line: string, n: number): OutsideResult {
  const bad = (what: string) => new Error(`moat scan --json line ${n}: ${what}: ${line.slice(0, 200)}`);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw bad("not JSON");
  }
  const r = value as Partial<Record<keyof OutsideResult, unknown>>;
  if (typeof r !== "object" || r === null) throw bad("not an object");
  if (typeof r.ip !== "string") throw bad("no ip");
  if (r.protocol !== "tcp" && r.protocol !== "udp") throw bad("no protocol");
  if (typeof r.port !== "number" || !Number.isInteger(r.port)) throw bad("no port");
  if (typeof r.state !== "string" || !STATES.has(r.state)) throw bad("no state");
  if (r.amplification !== null && typeof r.amplification !== "number") throw bad("bad amplification");
  if (typeof r.fields !== "object" || r.fields === null || Array.isArray(r.fields)) throw bad("bad fields");
  return {
    ip: r.ip,
    protocol: r.protocol,
    port: r.port,
    state: r.state as OutsideResult["state"],
    amplification: r.amplification,
    fields: r.fields as OutsideResult["fields"],
  };
}

/** The child's own message ("moat: ..." and "  fix: ...") passed on with the exit code it meant. */
function childFailure(from: string, code: number, stderr: string): Error {
  const lines = stderr.trim().split("\n");
  const message = (lines.find((l) => l.startsWith("moat: ")) ?? lines[0] ?? "").replace(/^moat: /, "");
  const fix = lines
    .find((l) => l.trimStart().startsWith("fix: "))
    ?.trim()
    .slice(5);
  const what = `the scan from network namespace ${from} failed: ${message || `exit ${code}`}`;
  if (code === 2) return new InputError(what);
  return new EnvironmentError(what, fix ?? `run it by hand to see more: ip netns exec ${from} moat scan ...`);
}

export async function scanFromVantage(options: VantageScanOptions): Promise<OutsideScan> {
  const { from, audited, findings } = options;
  checkVantage(from, audited);
  const label = `netns:${from}`;
  const plan = reachedAt(findings, await hostAddresses(audited));
  const targets = [...new Set([...plan.values()].flat())];
  const ports = [...new Set([...plan.keys()].map((f) => `${f.port}/${f.protocol}`))];
  if (targets.length === 0 || ports.length === 0) return { from: label, results: [] };

  // The targets are the host's own addresses, named one by one; a scope file of exactly those lets a
  // host with very many addresses through the scanner's size rule without widening anything.
  const args = ["scan", "--json", "--allow-special", "--ports", ports.join(",")];
  let scopeDir: string | undefined;
  if (targets.length > MAX_UNSCOPED) {
    scopeDir = mkdtempSync(join(tmpdir(), "moat-vantage-"));
    writeFileSync(join(scopeDir, "scope.txt"), `${targets.join("\n")}\n`);
    args.push("--scope", join(scopeDir, "scope.txt"));
  }
  try {
    const r = await run("ip", ["netns", "exec", from, ...options.moat, ...args, ...targets]);
    if (r.code !== 0) throw childFailure(from, r.code, r.stderr);
    const wanted = new Set(targets);
    const results = r.stdout
      .split("\n")
      .map((line, i) => ({ line, n: i + 1 }))
      .filter(({ line }) => line.trim() !== "")
      .map(({ line, n }) => parseScanLine(line, n))
      .filter((x) => wanted.has(unmapAddress(x.ip).toString()));
    return { from: label, results };
  } finally {
    if (scopeDir !== undefined) rmSync(scopeDir, { recursive: true, force: true });
  }
}
