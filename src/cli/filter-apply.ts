/** `moat filter apply | confirm | remove | status`: flags and output; the work is in filter/apply.ts. */
import type { Command } from "commander";
import { InputError } from "../errors.js";
import {
  type ApplyState,
  applyFilter,
  confirmFilter,
  DEFAULT_CONFIRM_SECONDS,
  DEFAULT_STATE_DIR,
  filterStatus,
  removeFilter,
  rollbackIfUnconfirmed,
  type StatusReport,
  stateDirFromEnv,
  WATCHDOG_COMMAND,
  type Where,
} from "../filter/apply.js";

const APPLY_HELP = `
What happens, in order:
  1. The filter is read and compiled to nftables (as "moat filter compile --to nft" prints it).
  2. The SSH session in use (SSH_CONNECTION, set by sshd) is judged by the filter. If the filter
     would deny it, apply refuses (exit 2) and names the rule; --force applies anyway.
  3. What table inet moat holds now is saved to the state directory (or that there is none).
  4. A rollback watchdog starts in the background, then the filter goes in as ONE nft transaction
     that replaces table inet moat and touches no other table.
  5. Unless "moat filter confirm" comes within --confirm seconds, the watchdog puts back what was
     there before (again one transaction; no Moat table before = the table is deleted).
     So if the filter cuts you off, wait: you are let back in when the time is up.

Examples:
  $ sudo moat filter apply nic.yaml                    then, from a NEW ssh login:
  $ sudo moat filter confirm                           keep it
  $ sudo moat filter apply nic.yaml --confirm 300      five minutes to test before confirming
  $ sudo moat filter apply nic.yaml --interface eth0   judge only packets arriving on eth0
  $ sudo moat filter apply nic.yaml --netns web1       in a network namespace (ip netns list)
  $ sudo moat filter apply nic.yaml --confirm 0        no automatic rollback

Confirm from a new connection, not the one you applied from: an already open connection may
survive a filter (conntrack) that a new login does not.

Files: the state directory (${DEFAULT_STATE_DIR}, or $MOAT_STATE_DIR) holds, per namespace
(host, netns-NAME): NAME.state.json (file, sha256, applied at, deadline, status), NAME.backup.nft
(restores the previous table by hand: nft -f NAME.backup.nft), NAME.backup.json (nft -j listing),
NAME.applied.nft (what was loaded) and NAME.log.

Exit status: 0 applied; 2 bad filter file or flag, refused (SSH lockout), unknown --netns;
3 not root, nft missing, or nft refused the script (nothing was changed).`;

const CONFIRM_HELP = `
Stops the rollback watchdog started by "moat filter apply": the filter stays. Fails (exit 2) when
there is nothing pending to confirm because the deadline passed and the rollback already happened.

Examples:
  $ sudo moat filter confirm
  $ sudo moat filter confirm --netns web1`;

const REMOVE_HELP = `
Deletes table inet moat in one nft transaction (other tables are untouched) and stops a pending
rollback watchdog. What was removed is saved first: nft -f <state dir>/NAME.backup.nft puts it back.

Examples:
  $ sudo moat filter remove
  $ sudo moat filter remove --netns web1`;

const STATUS_HELP = `
Shows the filter moat applied (file, sha256, when), whether it is confirmed or when it will be
rolled back, and whether table inet moat is in the kernel right now.

Examples:
  $ sudo moat filter status
  $ sudo moat filter status --netns web1 --json`;

interface ApplyFlags {
  netns?: string;
  confirm: string;
  interface?: string;
  force?: boolean;
}

interface WhereFlags {
  netns?: string;
}

function whereOf(flags: WhereFlags): Where {
  return { stateDir: stateDirFromEnv(), netns: flags.netns ?? null };
}

function nsFlag(netns: string | null): string {
  return netns === null ? "" : ` --netns ${netns}`;
}

function place(netns: string | null): string {
  return netns === null ? "this host" : `network namespace ${netns}`;
}

function clock(iso: string): string {
  return new Date(iso).toLocaleTimeString("en-GB", { hour12: false });
}

function ago(iso: string, now = Date.now()): string {
  const s = Math.round((now - Date.parse(iso)) / 1000);
  return s >= 0 ? `${s} s ago` : `in ${-s} s`;
}

export function registerFilterApply(filter: Command): void {
  filter
    .command("apply")
    .description("load a filter into the kernel (nftables), rolled back unless confirmed in time")
    .argument("<file>", "the filter file (YAML or JSON)")
    .option("--netns <name>", "apply inside this network namespace (ip netns list)")
    .option(
      "--confirm <seconds>",
      "roll back unless `moat filter confirm` comes within this many seconds; 0 = never roll back",
      String(DEFAULT_CONFIRM_SECONDS),
    )
    .option("--interface <name>", "judge only packets arriving on this interface (per-NIC filter)")
    .option("--force", "apply even if the SSH session in use would be denied")
    .addHelpText("after", APPLY_HELP)
    .action(async (file: string, flags: ApplyFlags) => {
      const result = await applyFilter({
        ...whereOf(flags),
        file,
        confirmSeconds: flags.confirm,
        ...(flags.interface !== undefined ? { interface: flags.interface } : {}),
        force: flags.force ?? false,
        ...(process.env.SSH_CONNECTION !== undefined ? { sshConnection: process.env.SSH_CONNECTION } : {}),
      });
      for (const warning of result.warnings) process.stderr.write(`moat: warning: ${warning}\n`);
      const s = result.state;
      const backup = s.hadTable ? "the previous Moat table" : "no Moat table (there was none)";
      let out = `Applied filter "${s.filterName}" (${s.rules} rules) to table inet moat on ${place(s.netns)}${s.interface ? `, interface ${s.interface}` : ""} in one nft transaction.\n`;
      if (s.deadline !== null)
        out +=
          `Confirm by ${clock(s.deadline)} (${ago(s.deadline)}) with: moat filter confirm${nsFlag(s.netns)}\n` +
          `Otherwise it is rolled back to ${backup}.\n`;
      else out += "No automatic rollback (--confirm 0).\n";
      process.stdout.write(out);
    });

  filter
    .command("confirm")
    .description("keep the filter moat filter apply loaded: stop its automatic rollback")
    .option("--netns <name>", "the network namespace it was applied in")
    .addHelpText("after", CONFIRM_HELP)
    .action(async (flags: WhereFlags) => {
      const { state, already } = await confirmFilter(whereOf(flags));
      process.stdout.write(
        already
          ? `Filter "${state.filterName}" on ${place(state.netns)} was already confirmed${state.confirmedAt ? ` (${state.confirmedAt})` : ""}.\n`
          : `Confirmed: filter "${state.filterName}" stays on ${place(state.netns)}; the rollback is cancelled.\n`,
      );
    });

  filter
    .command("remove")
    .description("delete Moat's nftables table (and cancel a pending rollback)")
    .option("--netns <name>", "the network namespace to remove it from")
    .addHelpText("after", REMOVE_HELP)
    .action(async (flags: WhereFlags) => {
      const where = whereOf(flags);
      const { removed } = await removeFilter(where);
      process.stdout.write(
        removed
          ? `Removed table inet moat from ${place(where.netns)}.\n`
          : `No table inet moat on ${place(where.netns)}: nothing to remove.\n`,
      );
    });

  filter
    .command("status")
    .description("show the filter moat applied, since when, and any pending rollback")
    .option("--netns <name>", "the network namespace to look at")
    .option("--json", "print the status as one JSON object")
    .addHelpText("after", STATUS_HELP)
    .action(async (flags: WhereFlags & { json?: boolean }) => {
      const report = await filterStatus(whereOf(flags));
      process.stdout.write(flags.json ? statusJson(report) : statusText(report));
    });

  filter
    .command(WATCHDOG_COMMAND, { hidden: true })
    .description("internal: started by apply; rolls back at the deadline unless confirmed")
    .requiredOption("--state <file>", "the state file of the apply")
    .requiredOption("--id <id>", "the apply it watches")
    .action(async (flags: { state: string; id: string }) => {
      if (!/^[0-9a-z-]+$/.test(flags.id)) throw new InputError(`--id ${flags.id}: not an apply id`);
      await rollbackIfUnconfirmed(flags.state, flags.id);
    });

  for (const name of ["apply", "confirm", "remove", "status", WATCHDOG_COMMAND]) {
    filter.commands.find((c) => c.name() === name)?.exitOverride();
  }
}

function statusJson(report: StatusReport): string {
  const s = report.state;
  const state =
    s === null
      ? null
      : {
          id: s.id,
          status: s.status,
          file: s.file,
          filterName: s.filterName,
          rules: s.rules,
          sha256: s.sha256,
          interface: s.interface,
          appliedAt: s.appliedAt,
          deadline: s.deadline,
          confirmedAt: s.confirmedAt,
          rolledBackAt: s.rolledBackAt,
          removedAt: s.removedAt,
          hadTable: s.hadTable,
          error: s.error,
        };
  return `${JSON.stringify({ netns: report.netns, table: report.table, applied: state }, null, 2)}\n`;
}

function describeState(s: ApplyState): string {
  switch (s.status) {
    case "pending":
      return `PENDING: rolled back at ${s.deadline} (${ago(s.deadline ?? s.appliedAt)}) unless: moat filter confirm${nsFlag(s.netns)}`;
    case "confirmed":
      return `confirmed${s.confirmedAt ? ` at ${s.confirmedAt}` : ""}`;
    case "rolled-back":
      return `not confirmed in time: rolled back at ${s.rolledBackAt} to ${s.hadTable ? "the previous table" : "no table"}`;
    case "rollback-failed":
      return `ROLLBACK FAILED: ${s.error ?? "see the log"}`;
    case "removed":
      return `removed at ${s.removedAt}`;
  }
}

function statusText(report: StatusReport): string {
  const s = report.state;
  const table = report.table.present
    ? `table inet moat: present (${report.table.rules} nft rules)`
    : "table inet moat: absent";
  if (s === null) return `${place(report.netns)}: moat has applied no filter here.\n  ${table}\n`;
  return (
    `${place(report.netns)}: filter "${s.filterName}" (${s.rules} rules) from ${s.file}\n` +
    `  sha256 ${s.sha256}${s.interface ? `, interface ${s.interface}` : ""}\n` +
    `  applied ${s.appliedAt} (${ago(s.appliedAt)})\n` +
    `  ${describeState(s)}\n` +
    `  ${table}\n`
  );
}
