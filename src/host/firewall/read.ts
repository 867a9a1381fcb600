/**
 * Reads the host's firewall: `nft -j list ruleset` and `iptables-save` / `ip6tables-save`, inside
 * `ip netns exec NS` when a namespace is named.
 *
 * Double counting. iptables comes in two builds:
 * - iptables-nft (Debian's default; its save header says "(nf_tables)") writes its rules into nft
 *   tables `ip filter`, `ip6 raw`, ... which `nft -j` lists too, but with the iptables matches it
 *   could not translate shown as opaque `xt` blobs. Those tables are therefore taken from the
 *   iptables-save parse and dropped from nft's (same family and name), so every rule counts once and
 *   in its more precise form.
 * - iptables-legacy hooks x_tables into netfilter beside nftables: its rules are not in nft's
 *   ruleset and both apply, so both are kept. iptables-nft-save warns when legacy tables exist; then
 *   iptables-legacy-save and ip6tables-legacy-save are read as well.
 * `rulesets` is the result to hand to evaluateRuleset.
 */
import { spawn } from "node:child_process";
import { EnvironmentError, InputError } from "../../errors.js";
import type { Ruleset } from "./model.js";

export interface HostFirewall {
  nft: Ruleset | null;
  /** iptables and ip6tables together (tables of family ip and ip6); null when the tools are absent. */
  iptables: Ruleset | null;
  /** What to evaluate: nft without the tables iptables-nft owns, plus iptables. */
  rulesets: Ruleset[];
  warnings: string[];
}

export interface ReadOptions {
  netns?: string;
}

const APT_FIX = "install the tools: apt-get install nftables iptables";
const LEGACY_WARNING = /iptables-legacy tables present/;

interface Output {
  stdout: string;
  stderr: string;
}

type RunResult =
  | { ok: true; out: Output }
  | { ok: false; missing: boolean; denied: boolean; message: string };

export async function readHostFirewall(options: ReadOptions = {}): Promise<HostFirewall> {
  const warnings: string[] = [];
  const where = options.netns === undefined ? "" : ` in network namespace ${options.netns}`;
  const runs = runEach(
    [["nft", "-j", "list", "ruleset"], ["iptables-save"], ["ip6tables-save"]],
    options.netns,
  );
  // The parsers (nft's brings the schema library) load while the tools run, not before they start.
  const [{ parseIptablesSave }, { NFT_ORIGIN, parseNftJson }] = await Promise.all([
    import("./iptables.js"),
    import("./nft.js"),
  ]);
  const [nftRun, v4Run, v6Run] = await runs;
  for (const r of [nftRun, v4Run, v6Run]) {
    if (r.ok) continue;
    if (r.denied)
      throw new EnvironmentError(`reading the firewall${where} needs root: ${r.message}`, "run moat as root");
    if (
      /Cannot open network namespace|No such file or directory/.test(r.message) &&
      options.netns !== undefined &&
      !r.missing
    )
      throw new InputError(`network namespace "${options.netns}" does not exist: ${r.message}`);
  }
  if (!nftRun.ok && nftRun.missing && !v4Run.ok && v4Run.missing)
    throw new EnvironmentError(
      "neither nft nor iptables-save is installed, so the firewall cannot be read",
      APT_FIX,
    );

  let nft: Ruleset | null = null;
  if (nftRun.ok) nft = parseNftJson(nftRun.out.stdout, `${NFT_ORIGIN}${where}`);
  else
    warnings.push(
      `nft${where}: ${nftRun.missing ? "not installed; nftables rules not read" : nftRun.message}`,
    );

  const saves: Ruleset[] = [];
  let legacyPresent = false;
  for (const [tool, r] of [
    ["iptables-save", v4Run],
    ["ip6tables-save", v6Run],
  ] as const) {
    if (!r.ok) {
      warnings.push(`${tool}${where}: ${r.missing ? "not installed; iptables rules not read" : r.message}`);
      continue;
    }
    if (LEGACY_WARNING.test(r.out.stderr)) legacyPresent = true;
    saves.push(
      parseIptablesSave(r.out.stdout, {
        file: `${tool}${where}`,
        family: tool === "iptables-save" ? "ipv4" : "ipv6",
      }),
    );
  }
  if (legacyPresent) {
    for (const tool of ["iptables-legacy-save", "ip6tables-legacy-save"] as const) {
      const [r] = await runEach([[tool]], options.netns);
      if (!r.ok)
        warnings.push(`${tool}${where}: legacy tables are present but could not be read: ${r.message}`);
      else {
        const parsed = parseIptablesSave(r.out.stdout, {
          file: `${tool}${where}`,
          family: tool.startsWith("ip6") ? "ipv6" : "ipv4",
        });
        // an empty legacy save has no header to say it is legacy
        saves.push({ ...parsed, source: tool.replace(/-save$/, "") });
      }
    }
  }
  const iptables = saves.length === 0 ? null : joinSaves(saves);
  return { nft, iptables, rulesets: effectiveRulesets(nft, saves), warnings };
}

function joinSaves(saves: Ruleset[]): Ruleset {
  return {
    source: "iptables",
    origin: saves.map((s) => s.origin).join(" + "),
    tables: saves.flatMap((s) => s.tables),
    notes: saves.flatMap((s) => s.notes),
  };
}

/**
 * nft's ruleset without the tables iptables-nft wrote (they come from the save text instead), plus
 * every iptables save. Pure, so the dedup is testable on captured output.
 */
export function effectiveRulesets(nft: Ruleset | null, saves: readonly Ruleset[]): Ruleset[] {
  const owned = new Set<string>();
  for (const save of saves)
    if (!save.source.endsWith("-legacy"))
      for (const table of save.tables) owned.add(`${table.family} ${table.name}`);
  const result: Ruleset[] = [];
  if (nft !== null) {
    const tables = nft.tables.filter((t) => !owned.has(`${t.family} ${t.name}`));
    result.push(tables.length === nft.tables.length ? nft : { ...nft, tables });
  }
  result.push(...saves);
  return result;
}

/** Output beyond this (all commands together) ends the child: no ruleset is that large. */
const MAX_OUTPUT = 256 * 1024 * 1024;
const TIMEOUT_MS = 30_000;
const DENIED = /Operation not permitted|Permission denied/;
/** sh's status for a command it could not find. */
const NOT_FOUND = "127";

const quote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;

/**
 * Runs the commands one after another in one child, `sh` (inside `ip netns exec NS` for a
 * namespace), each with pipes of its own for stdout and stderr (fds 3 and 4, 5 and 6, ...), and sh
 * printing each exit status on its stdout. One child rather than one per command: each spawn forks
 * node, and for a namespace each ran `ip netns exec` again (~4 ms of CPU apiece).
 */
export function runEach<const T extends readonly (readonly string[])[]>(
  commands: T,
  netns: string | undefined,
): Promise<{ [K in keyof T]: RunResult }> {
  type Results = { [K in keyof T]: RunResult };
  const script = commands
    .map((argv, i) => `${argv.map(quote).join(" ")} >&${3 + 2 * i} 2>&${4 + 2 * i}; echo $?`)
    .join("; ");
  const full =
    netns === undefined ? ["sh", "-c", script] : ["ip", "netns", "exec", netns, "sh", "-c", script];
  return new Promise((resolve) => {
    const child = spawn(full[0]!, full.slice(1), {
      stdio: ["ignore", "pipe", "pipe", ...commands.flatMap(() => ["pipe", "pipe"] as const)],
      detached: true, // a group of its own: a hung command is stopped with the sh that runs it
    });
    const chunks: Buffer[][] = child.stdio.map(() => []);
    let size = 0;
    let failure: string | null = null;
    const stop = (why: string) => {
      failure ??= why;
      if (child.pid === undefined) return; // never started: nothing to stop (and -0 is our own group)
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    child.stdio.forEach((stream, fd) => {
      stream?.on("data", (chunk: Buffer) => {
        chunks[fd]!.push(chunk);
        size += chunk.length;
        if (size > MAX_OUTPUT) stop(`more than ${MAX_OUTPUT / 1048576} MiB of output`);
      });
    });
    const timer = setTimeout(() => stop(`no answer within ${TIMEOUT_MS / 1000} s`), TIMEOUT_MS);
    const text = (fd: number) => Buffer.concat(chunks[fd]!).toString("utf8");
    child.once("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // ip (or sh) itself is missing
      const missing = error.code === "ENOENT";
      resolve(commands.map(() => ({ ok: false, missing, denied: false, message: error.message })) as Results);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      const statuses = text(1).split("\n");
      const own = text(2).trim(); // the child's own complaint: `ip netns exec` failing, say
      resolve(
        commands.map((_, i): RunResult => {
          const status = failure === null ? statuses[i] : undefined;
          if (status === "0") return { ok: true, out: { stdout: text(3 + 2 * i), stderr: text(4 + 2 * i) } };
          const said = status === undefined ? (failure ?? own) : text(4 + 2 * i).trim();
          const message = (said || `exited with status ${status ?? code}`).split("\n")[0]!;
          return { ok: false, missing: status === NOT_FOUND, denied: DENIED.test(said), message };
        }) as Results,
      );
    });
  });
}
