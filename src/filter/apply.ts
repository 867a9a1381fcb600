/**
 * `moat filter apply | confirm | remove | status`: putting a filter into the kernel without locking
 * the operator out (DESIGN.md, "Safety of the tool itself").
 *
 * - One transaction: the compiled script replaces `table inet moat` and nothing else, in one
 *   `nft -f`; a failure changes nothing.
 * - A backup first: what the table held (or that there was none) is written to the state directory
 *   as an `nft -f` script that puts it back in one transaction, plus `nft -j` output for the record.
 * - Rollback unless confirmed: before the filter goes in, a detached watchdog (`moat filter
 *   rollback-if-unconfirmed`, its own session, so a dropped SSH connection does not take it down)
 *   is started; at the deadline it restores the backup unless `moat filter confirm` came first.
 * - No lockout: the SSH session in use (SSH_CONNECTION) is judged by the filter first; a deny is
 *   refused unless --force.
 *
 * Who acts on a pending apply (confirm, remove, a newer apply, or the watchdog) is settled by
 * creating `<key>.<id>.decided` with O_EXCL: exactly one of them wins, so a confirm arriving as the
 * deadline passes either keeps the filter or reports the rollback, never both.
 */
import { execFile, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, resolve as resolvePath } from "node:path";
import { EnvironmentError, InputError } from "../errors.js";
import { NETNS_DIR, namedNamespaces } from "../host/netns.js";
import { compileNft, NFT_TABLE } from "./compile/nft.js";
import { ruleName } from "./lint.js";
import { loadFilter } from "./load.js";
import { parseSshConnection, sessionVerdict } from "./ssh-session.js";
import type { Filter } from "./types.js";

export const DEFAULT_STATE_DIR = "/var/lib/moat";
export const DEFAULT_CONFIRM_SECONDS = 60;
/** A day: longer than that is a forgotten confirm, not a deliberate one. */
export const MAX_CONFIRM_SECONDS = 86_400;
/** The hidden subcommand the watchdog runs. */
export const WATCHDOG_COMMAND = "rollback-if-unconfirmed";

/** What Moat's table holds, as far as Moat knows. */
export type ApplyStatus = "pending" | "confirmed" | "rolled-back" | "rollback-failed" | "removed";

export interface ApplyState {
  version: 1;
  /** Names the apply; the watchdog and the decided-file carry it. */
  id: string;
  /** null = the namespace moat runs in (the host). */
  netns: string | null;
  status: ApplyStatus;
  file: string | null;
  filterName: string | null;
  rules: number | null;
  /** sha256 of the filter file's bytes. */
  sha256: string | null;
  interface: string | null;
  appliedAt: string;
  /** When the watchdog rolls back; null when applied with --confirm 0. */
  deadline: string | null;
  confirmedAt: string | null;
  rolledBackAt: string | null;
  removedAt: string | null;
  watchdogPid: number | null;
  /** Whether a Moat table existed before, i.e. whether rollback restores one or deletes the table. */
  hadTable: boolean;
  /** `nft -f` script that restores the previous table; JSON listing of it (absent when none). */
  backupScript: string;
  backupJson: string | null;
  error: string | null;
}

export interface Where {
  stateDir: string;
  netns: string | null;
}

export function stateDirFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.MOAT_STATE_DIR;
  return dir !== undefined && dir !== "" ? resolvePath(dir) : DEFAULT_STATE_DIR;
}

// ---------------------------------------------------------------------------------------------
// Preconditions

const NETNS_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

function requireRoot(command: string): void {
  if (process.geteuid?.() !== 0)
    throw new EnvironmentError(
      `moat filter ${command} needs root: it changes (or reads) the kernel's nftables ruleset`,
      `run it as root: sudo moat filter ${command} ...`,
    );
}

/** An unknown --netns is a usage error (exit 2), as in `moat audit --netns`. */
function checkNetns(netns: string | null): void {
  if (netns === null) return;
  if (NETNS_NAME.test(netns) && existsSync(`${NETNS_DIR}/${netns}`)) return;
  const names = namedNamespaces();
  const known = names.length > 0 ? `existing: ${names.join(", ")}` : "`ip netns list` shows none";
  throw new InputError(`no network namespace named "${netns}" in ${NETNS_DIR} (${known})`);
}

function parseConfirm(seconds: string | number): number {
  const n = typeof seconds === "number" ? seconds : Number(seconds);
  if (typeof seconds === "string" && !/^\d+$/.test(seconds.trim()))
    throw new InputError(`--confirm ${seconds}: a whole number of seconds (0 = no automatic rollback)`);
  if (!Number.isInteger(n) || n < 0 || n > MAX_CONFIRM_SECONDS)
    throw new InputError(`--confirm ${seconds}: between 0 and ${MAX_CONFIRM_SECONDS} seconds`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// nft, in the namespace asked for

class NftFailed extends Error {
  constructor(
    readonly args: string[],
    readonly stderr: string,
  ) {
    super(`nft ${args.join(" ")}: ${stderr.trim() || "failed"}`);
  }
}

const NFT_FIX = "install nftables: apt-get install nftables";

function nft(netns: string | null, args: string[]): Promise<string> {
  const argv = netns === null ? ["nft", ...args] : ["ip", "netns", "exec", netns, "nft", ...args];
  return new Promise((resolve, reject) => {
    execFile(
      argv[0]!,
      argv.slice(1),
      { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error === null) return resolve(stdout);
        const text = `${stderr}`;
        // `ip netns exec` reports a missing program on its own stderr.
        if ((error as NodeJS.ErrnoException).code === "ENOENT" || /exec of "nft" failed/.test(text))
          return reject(new EnvironmentError("nft is not installed", NFT_FIX));
        if (/Operation not permitted/.test(text))
          return reject(
            new EnvironmentError(`nft was refused: ${text.trim()}`, "run moat as root (CAP_NET_ADMIN)"),
          );
        reject(new NftFailed(args, text || error.message));
      },
    );
  });
}

interface TableListing {
  text: string;
  json: string;
}

/** Moat's table as `nft list` prints it, or null when there is none. */
async function listMoatTable(netns: string | null): Promise<TableListing | null> {
  try {
    const text = await nft(netns, ["list", "table", ...NFT_TABLE.split(" ")]);
    const json = await nft(netns, ["-j", "list", "table", ...NFT_TABLE.split(" ")]);
    return { text, json };
  } catch (error) {
    if (error instanceof NftFailed && /No such file or directory/.test(error.stderr)) return null;
    throw error;
  }
}

/** Declaring the table first makes the delete safe when it does not exist; all one transaction. */
const DROP_TABLE = `table ${NFT_TABLE} {}\ndelete table ${NFT_TABLE}\n`;

function restoreScript(previous: TableListing | null): string {
  const head = `#!/usr/sbin/nft -f\n# Restores table ${NFT_TABLE} as it was before moat filter apply, in one transaction.\n`;
  return previous === null
    ? `${head}# There was no such table: the restore deletes it.\n${DROP_TABLE}`
    : `${head}${DROP_TABLE}${previous.text}`;
}

/** Runs a script as one `nft -f` transaction. */
async function runScript(netns: string | null, path: string): Promise<void> {
  await nft(netns, ["-f", path]);
}

// ---------------------------------------------------------------------------------------------
// State files: <dir>/<key>.state.json and friends, one key per namespace

export function stateKey(netns: string | null): string {
  return netns === null ? "host" : `netns-${netns}`;
}

export function statePath(where: Where): string {
  return `${where.stateDir}/${stateKey(where.netns)}.state.json`;
}

function sidePath(where: Where, suffix: string): string {
  return `${where.stateDir}/${stateKey(where.netns)}.${suffix}`;
}

export function readState(path: string): ApplyState | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  try {
    const state = JSON.parse(text) as ApplyState;
    if (state.version !== 1) throw new Error(`version ${String(state.version)}`);
    return state;
  } catch (error) {
    throw new InputError(
      `the state file is not one moat wrote (${String(error)}); move it away to start afresh`,
      { file: path },
    );
  }
}

/** Write-then-rename: a crash leaves the old state or the new one, never half of either. */
function writeState(path: string, state: ApplyState): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

function updateState(path: string, id: string, change: Partial<ApplyState>): ApplyState | null {
  const state = readState(path);
  if (state === null || state.id !== id) return state;
  const next = { ...state, ...change };
  writeState(path, next);
  return next;
}

function log(where: Where, line: string): void {
  try {
    appendFileSync(sidePath(where, "log"), `${new Date().toISOString()} ${line}\n`, { mode: 0o600 });
  } catch {
    // The log is a courtesy; the state file is the record.
  }
}

/** True for the one caller that gets to act on apply `id`; false when someone already did. */
function claim(where: Where, id: string, who: string): boolean {
  try {
    writeFileSync(sidePath(where, `${id}.decided`), `${who} ${process.pid}\n`, { flag: "wx", mode: 0o600 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

function release(where: Where, id: string): void {
  rmSync(sidePath(where, `${id}.decided`), { force: true });
}

/** Decided-files of applies other than `keep`: done with once a newer apply owns the table. */
function sweepDecided(where: Where, keep: string): void {
  const prefix = `${stateKey(where.netns)}.`;
  for (const name of readdirSync(where.stateDir)) {
    if (name.startsWith(prefix) && name.endsWith(".decided") && name !== `${prefix}${keep}.decided`)
      rmSync(`${where.stateDir}/${name}`, { force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The watchdog process

/** Kills the watchdog of apply `id`, checking first that the pid still is that watchdog. */
function stopWatchdog(state: ApplyState): void {
  const pid = state.watchdogPid;
  if (pid === null) return;
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return; // already gone
  }
  if (!cmdline.includes(WATCHDOG_COMMAND) || !cmdline.includes(state.id)) return;
  try {
    process.kill(-pid, "SIGTERM"); // its own process group: nothing it started survives it
  } catch {}
}

/** Starts `moat filter rollback-if-unconfirmed` detached, in its own session; returns its pid. */
function startWatchdog(stateFile: string, id: string): number {
  const script = process.argv[1];
  if (script === undefined) throw new Error("cannot tell which script is moat (process.argv[1])");
  const child = spawn(
    process.execPath,
    [...process.execArgv, script, "filter", WATCHDOG_COMMAND, "--state", stateFile, "--id", id],
    { detached: true, stdio: "ignore", env: process.env },
  );
  child.unref();
  if (child.pid === undefined) throw new Error("the rollback watchdog did not start");
  return child.pid;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/**
 * The watchdog's whole life: wait for the deadline, then restore the backup unless the apply was
 * confirmed, removed or replaced meanwhile. Returns what it did, for its log.
 */
export async function rollbackIfUnconfirmed(stateFile: string, id: string): Promise<string> {
  const first = readState(stateFile);
  if (first === null || first.id !== id) return "nothing to watch: the state names another apply";
  const where: Where = { stateDir: dirname(stateFile), netns: first.netns };
  if (first.deadline === null) return "nothing to watch: applied without --confirm";
  await sleep(Date.parse(first.deadline) - Date.now());
  const state = readState(stateFile);
  if (state === null || state.id !== id || state.status !== "pending") return "confirmed in time";
  if (!claim(where, id, "rollback")) return "confirmed in time (decided elsewhere)";
  const backup = sidePath(where, `${id}.restore.nft`);
  try {
    writeFileSync(backup, state.backupScript, { mode: 0o600 });
    await runScript(state.netns, backup);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    updateState(stateFile, id, { status: "rollback-failed", error: message, watchdogPid: null });
    log(where, `rollback of ${id} FAILED: ${message}`);
    return `rollback failed: ${message}`;
  } finally {
    rmSync(backup, { force: true });
  }
  updateState(stateFile, id, {
    status: "rolled-back",
    rolledBackAt: new Date().toISOString(),
    watchdogPid: null,
  });
  const what = state.hadTable ? "the previous table restored" : "table removed (there was none before)";
  log(where, `not confirmed by ${state.deadline}: rolled back ${id}, ${what}`);
  return `rolled back: ${what}`;
}

/**
 * Takes the previous apply's decision away from its watchdog. If the watchdog has already won, its
 * rollback is in flight: wait for it to land so the backup taken next is of the restored table.
 */
async function takeOver(where: Where, who: string): Promise<ApplyState | null> {
  const path = statePath(where);
  const state = readState(path);
  if (state === null || state.status !== "pending") return state;
  if (claim(where, state.id, who)) return state;
  for (let waited = 0; waited < 30_000; waited += 50) {
    const now = readState(path);
    if (now === null || now.id !== state.id || now.status !== "pending") return now;
    await sleep(50);
  }
  throw new EnvironmentError(
    `the rollback watchdog of the previous apply (pid ${state.watchdogPid}) is not finishing`,
    `check ${sidePath(where, "log")}, then remove ${sidePath(where, `${state.id}.decided`)}`,
  );
}

// ---------------------------------------------------------------------------------------------
// The SSH session in use

export interface SshRefusal {
  message: string;
}

/** Why applying `filter` would cut the SSH session named by SSH_CONNECTION, or null when it would not. */
export function sshLockout(filter: Filter, sshConnection: string | undefined): SshRefusal | null {
  if (sshConnection === undefined || sshConnection.trim() === "") return null;
  const session = parseSshConnection(sshConnection);
  if (session === undefined) return null; // not judgeable; the caller warns
  const verdict = sessionVerdict(filter, session);
  if (verdict.verdict === "allow") return null;
  const by = verdict.rule === null ? "the default action (deny)" : ruleName(filter, verdict.rule - 1);
  const where = verdict.rule === null ? "at the end of the rules" : `before rule ${verdict.rule}`;
  const host = session.family === "ipv6" ? `[${session.client}]` : session.client;
  return {
    message:
      `refusing to apply: the SSH session in use (from ${host} port ${session.clientPort} to port ${session.serverPort}, ` +
      `per SSH_CONNECTION) would be denied by ${by}, which would lock you out.\n` +
      `  fix: add { action: allow, protocol: tcp, source: ${session.client}, destinationPort: ${session.serverPort} } ${where}, ` +
      "or pass --force if you have another way in (a console) or the session does not go through this filter",
  };
}

// ---------------------------------------------------------------------------------------------
// apply

export interface ApplyOptions extends Where {
  file: string;
  confirmSeconds: string | number;
  interface?: string;
  force?: boolean;
  sshConnection?: string;
}

export interface ApplyResult {
  state: ApplyState;
  warnings: string[];
  /** Milliseconds spent in the `nft -f` transaction itself. */
  nftMs: number;
}

function sha256(bytes: Buffer | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export async function applyFilter(opts: ApplyOptions): Promise<ApplyResult> {
  const file = resolvePath(opts.file);
  // Input first: a bad file or flag is exit 2 wherever moat runs, root or not.
  const confirmSeconds = parseConfirm(opts.confirmSeconds);
  const filter = loadFilter(opts.file);
  let compiled: ReturnType<typeof compileNft>;
  try {
    compiled = compileNft(filter, opts.interface === undefined ? {} : { interface: opts.interface });
  } catch (error) {
    throw new InputError(`--interface: ${error instanceof Error ? error.message : String(error)}`);
  }
  const warnings = [...compiled.warnings];
  if (!opts.force) {
    const refusal = sshLockout(filter, opts.sshConnection);
    if (refusal !== null) throw new InputError(refusal.message);
  }
  if (opts.sshConnection !== undefined && opts.sshConnection.trim() !== "") {
    if (parseSshConnection(opts.sshConnection) === undefined)
      warnings.push(
        `SSH_CONNECTION ("${opts.sshConnection}") is not "client_ip client_port server_ip server_port": the SSH session in use was not checked`,
      );
  }
  requireRoot("apply");
  checkNetns(opts.netns);
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });

  const where: Where = { stateDir: opts.stateDir, netns: opts.netns };
  const path = statePath(where);
  const previous = await takeOver(where, "apply");
  const previousPending = previous?.status === "pending" ? previous : null;

  const id = `${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
  let backup: TableListing | null;
  try {
    backup = await listMoatTable(opts.netns);
  } catch (error) {
    if (previousPending !== null) release(where, previousPending.id);
    throw error;
  }
  const now = new Date();
  const state: ApplyState = {
    version: 1,
    id,
    netns: opts.netns,
    status: confirmSeconds === 0 ? "confirmed" : "pending",
    file,
    filterName: filter.name,
    rules: filter.rules.length,
    sha256: sha256(readFileSync(file)),
    interface: opts.interface ?? null,
    appliedAt: now.toISOString(),
    deadline: confirmSeconds === 0 ? null : new Date(now.getTime() + confirmSeconds * 1000).toISOString(),
    confirmedAt: confirmSeconds === 0 ? now.toISOString() : null,
    rolledBackAt: null,
    removedAt: null,
    watchdogPid: null,
    hadTable: backup !== null,
    backupScript: restoreScript(backup),
    backupJson: backup?.json ?? null,
    error: null,
  };
  // The backup on its own, for restoring by hand: `nft -f <key>.backup.nft`.
  writeFileSync(sidePath(where, "backup.nft"), state.backupScript, { mode: 0o600 });
  writeFileSync(sidePath(where, "backup.json"), backup?.json ?? "", { mode: 0o600 });
  const script = sidePath(where, "applied.nft");
  writeFileSync(script, compiled.output, { mode: 0o600 });

  // The watchdog is running before the filter goes in: a crash right after the apply is still undone.
  const previousText = existsSync(path) ? readFileSync(path, "utf8") : null;
  writeState(path, state);
  if (state.status === "pending") state.watchdogPid = startWatchdog(path, id);
  writeState(path, state);

  const started = performance.now();
  try {
    await runScript(opts.netns, script);
  } catch (error) {
    // Nothing changed (one transaction): put the record back as it was and let the previous
    // apply's watchdog, still alive, carry on.
    claim(where, id, "apply-failed");
    stopWatchdog(state);
    if (previousText === null) rmSync(path, { force: true });
    else writeFileSync(path, previousText, { mode: 0o600 });
    if (previousPending !== null) release(where, previousPending.id);
    if (error instanceof NftFailed)
      throw new EnvironmentError(
        `nft refused the filter, so nothing was changed: ${error.stderr.trim()}`,
        `check that the kernel has nf_tables (modprobe nf_tables) and try \`nft -c -f ${script}\``,
      );
    throw error;
  }
  const nftMs = performance.now() - started;
  if (previousPending !== null) stopWatchdog(previousPending);
  sweepDecided(where, id);
  log(
    where,
    `applied ${id}: ${filter.name} from ${file} (sha256 ${state.sha256}); ${state.deadline ? `rollback at ${state.deadline}` : "no rollback"}`,
  );
  return { state, warnings, nftMs };
}

// ---------------------------------------------------------------------------------------------
// confirm, remove, status

export interface ConfirmResult {
  state: ApplyState;
  /** true when it was confirmed earlier (or applied with --confirm 0). */
  already: boolean;
}

function nsFlag(netns: string | null): string {
  return netns === null ? "" : ` --netns ${netns}`;
}

export async function confirmFilter(where: Where): Promise<ConfirmResult> {
  requireRoot("confirm");
  checkNetns(where.netns);
  const path = statePath(where);
  const state = readState(path);
  if (state === null)
    throw new InputError(`nothing to confirm: moat has applied no filter here (no ${path})`);
  if (state.status === "confirmed") return { state, already: true };
  if (state.status !== "pending") throw tooLate(state);
  if (!claim(where, state.id, "confirm")) {
    // The watchdog got there first: wait for its rollback to be recorded, then say so.
    for (let i = 0; i < 600; i++) {
      const now = readState(path);
      if (now === null || now.status !== "pending") throw tooLate(now ?? state);
      await sleep(50);
    }
    throw tooLate(state);
  }
  stopWatchdog(state);
  const next: ApplyState = { ...state, status: "confirmed", confirmedAt: new Date().toISOString() };
  next.watchdogPid = null;
  writeState(path, next);
  log(where, `confirmed ${state.id}`);
  return { state: next, already: false };
}

function tooLate(state: ApplyState): InputError {
  const when =
    state.status === "rolled-back"
      ? `it was rolled back at ${state.rolledBackAt}`
      : state.status === "removed"
        ? `it was removed at ${state.removedAt}`
        : `its rollback failed (${state.error ?? "see the log"})`;
  return new InputError(
    `nothing to confirm: ${when}. Apply it again: moat filter apply ${state.file ?? "FILE"}${nsFlag(state.netns)}`,
  );
}

export interface RemoveResult {
  removed: boolean;
}

export async function removeFilter(where: Where): Promise<RemoveResult> {
  requireRoot("remove");
  checkNetns(where.netns);
  const dirExists = existsSync(where.stateDir);
  const previous = dirExists ? await takeOver(where, "remove") : null;
  if (previous?.status === "pending") stopWatchdog(previous);
  const current = await listMoatTable(where.netns);
  if (current !== null) {
    mkdirSync(where.stateDir, { recursive: true, mode: 0o700 });
    // What is removed can be put back by hand: nft -f <key>.backup.nft
    writeFileSync(sidePath(where, "backup.nft"), restoreScript(current), { mode: 0o600 });
    writeFileSync(sidePath(where, "backup.json"), current.json, { mode: 0o600 });
    const script = sidePath(where, "remove.nft");
    writeFileSync(script, `#!/usr/sbin/nft -f\n${DROP_TABLE}`, { mode: 0o600 });
    await runScript(where.netns, script);
    rmSync(script, { force: true });
  }
  if (previous !== null && previous.status !== "removed") {
    const next: ApplyState = {
      ...previous,
      status: "removed",
      removedAt: new Date().toISOString(),
      watchdogPid: null,
    };
    writeState(statePath(where), next);
  }
  if (dirExists) log(where, current === null ? "remove: there was no table" : "removed the table");
  return { removed: current !== null };
}

export interface StatusReport {
  netns: string | null;
  state: ApplyState | null;
  /** Whether table inet moat exists right now, and how many rules it holds. */
  table: { present: boolean; rules: number };
}

export async function filterStatus(where: Where): Promise<StatusReport> {
  requireRoot("status");
  checkNetns(where.netns);
  const state = readState(statePath(where));
  const live = await listMoatTable(where.netns);
  let rules = 0;
  if (live !== null) {
    const parsed = JSON.parse(live.json) as { nftables?: Array<Record<string, unknown>> };
    rules = (parsed.nftables ?? []).filter((item) => "rule" in item).length;
  }
  return { netns: where.netns, state, table: { present: live !== null, rules } };
}
