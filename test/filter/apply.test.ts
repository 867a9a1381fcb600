/**
 * `moat filter apply | confirm | remove | status` end to end, in lab namespaces: the table goes in
 * and out in one transaction, other tables stay byte-identical, an unconfirmed apply rolls back to
 * exactly what was there, the SSH session in use is protected, and real UDP traffic follows along.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type ApplyState, applyFilter, rollbackIfUnconfirmed } from "../../src/filter/apply.js";
import { type MoatResult, runMoat } from "../helpers/moat.js";
import { nftLabSkipReason } from "../helpers/skip.js";
import { runAsNobody } from "../helpers/unprivileged.js";
import { createLab, type Lab } from "../lab/lab.js";

const CLIENT = fileURLToPath(new URL("./kernel/client.py", import.meta.url));
const SERVER = "192.0.2.1";
const PEER = "192.0.2.2";

const SKIP = nftLabSkipReason();
let lab: Lab | undefined;
let server = "";
let dir = "";
let stateDir = "";

/** Runs moat with the test's state dir and no SSH session, unless a test gives one. */
function moat(args: string[], env: NodeJS.ProcessEnv = {}): Promise<MoatResult> {
  return runMoat(args, { env: { MOAT_STATE_DIR: stateDir, SSH_CONNECTION: "", ...env } });
}

function ok(result: MoatResult): MoatResult {
  assert.equal(result.code, 0, `exit ${result.code}\n${result.stdout}\n${result.stderr}`);
  return result;
}

function nft(args: string[]): string {
  return execFileSync("ip", ["netns", "exec", server, "nft", ...args], { encoding: "utf8" });
}

/** `nft -j list table inet moat` without handles and version info (a reload renumbers handles); null when absent. */
function moatTable(): unknown {
  let text: string;
  try {
    text = execFileSync("ip", ["netns", "exec", server, "nft", "-j", "list", "table", "inet", "moat"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
  } catch {
    return null;
  }
  const strip = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(strip);
    if (value === null || typeof value !== "object") return value;
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => k !== "handle")
        .map(([k, v]) => [k, strip(v)]),
    );
  };
  const items = (JSON.parse(text) as { nftables: Array<Record<string, unknown>> }).nftables;
  return strip(items.filter((item) => !("metainfo" in item)));
}

/** Another program's tables: must never change. */
const OTHER_TABLES = `
table inet other {
  set admins {
    type ipv4_addr
    elements = { 198.51.100.7, 203.0.113.9 }
  }
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 9999 ip saddr @admins accept comment "not moat's"
  }
}
table ip legacy {
  chain pre {
    type nat hook prerouting priority -100; policy accept;
  }
}
`;

function otherTables(): string {
  return nft(["list", "table", "inet", "other"]) + nft(["list", "table", "ip", "legacy"]);
}

/** One UDP question from the peer to memcached: "reply" or "timeout". */
function ask(): string {
  return execFileSync(
    "ip",
    ["netns", "exec", lab!.ns("peer"), "/usr/bin/python3", CLIENT, "memcached", PEER, SERVER, "11211"],
    { encoding: "utf8" },
  ).trim();
}

function writeFilter(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const DENY_MEMCACHED = `name: deny-memcached
default: allow
rules:
  - { action: deny, protocol: udp, destinationPort: 11211, description: memcached reflector }
`;
const DENY_DISCARD = `name: deny-discard
default: allow
rules:
  - { action: deny, protocol: tcp, destinationPort: 9, description: discard }
  - { action: deny, protocol: udp, destinationPort: 9 }
`;
const ADMIN_SSH_ONLY = `name: admin-ssh-only
default: allow
rules:
  - { action: allow, protocol: tcp, source: 203.0.113.0/24, destinationPort: 22, description: SSH from admin }
  - { action: deny, protocol: tcp, destinationPort: 22, description: SSH from elsewhere }
`;

function stateFiles(): ApplyState[] {
  return readdirSync(stateDir)
    .filter((name) => name.endsWith(".state.json"))
    .map((name) => JSON.parse(readFileSync(join(stateDir, name), "utf8")) as ApplyState);
}

function state(): ApplyState {
  const found = stateFiles().find((s) => s.netns === server);
  assert.ok(found, "no state file for the server namespace");
  return found;
}

async function waitForStatus(status: ApplyState["status"], ms: number): Promise<ApplyState> {
  const until = Date.now() + ms;
  for (;;) {
    const s = state();
    if (s.status === status) return s;
    if (Date.now() > until) assert.fail(`status still ${s.status} after ${ms} ms, wanted ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("moat filter apply, confirm, remove", { skip: SKIP }, () => {
  before(async () => {
    lab = await createLab({
      namespaces: [
        {
          role: "server",
          daemons: [
            { kind: "memcached", name: "memcached", listen: "0.0.0.0", tcpPort: 11211, udpPort: 11211 },
          ],
        },
        { role: "peer" },
      ],
      links: [["server", "peer"]],
    });
    server = lab.ns("server");
    dir = mkdtempSync(join(tmpdir(), "moat-apply-"));
    stateDir = join(dir, "state");
    execFileSync("ip", ["netns", "exec", server, "nft", "-f", "-"], { input: OTHER_TABLES });
  });

  after(async () => {
    try {
      // Watchdogs live in the root namespace: the lab's teardown does not see them.
      if (stateDir !== "" && existsSync(stateDir))
        for (const s of stateFiles().filter((x) => x.watchdogPid !== null)) {
          try {
            process.kill(-s.watchdogPid!, "SIGKILL");
          } catch {}
        }
    } finally {
      await lab?.destroy();
      if (dir !== "") rmSync(dir, { recursive: true, force: true });
    }
  });

  test("before any filter: memcached answers the peer over UDP", () => {
    assert.equal(ask(), "reply");
    assert.equal(moatTable(), null);
  });

  test("apply loads the rules into table inet moat; other tables stay byte-identical; UDP is cut", async () => {
    const others = otherTables();
    const file = writeFilter("deny-memcached.yaml", DENY_MEMCACHED);
    const result = ok(await moat(["filter", "apply", file, "--netns", server, "--confirm", "0"]));
    assert.match(result.stdout, /Applied filter "deny-memcached" \(1 rules\)/);
    assert.match(result.stdout, /No automatic rollback/);
    assert.match(
      nft(["list", "table", "inet", "moat"]),
      /udp dport 11211 drop comment "moat rule 1: memcached reflector"/,
    );
    assert.equal(otherTables(), others);
    assert.equal(ask(), "timeout");
    const s = state();
    assert.equal(s.status, "confirmed");
    assert.equal(s.hadTable, false);
    assert.match(s.sha256 ?? "", /^[0-9a-f]{64}$/);
    assert.equal(s.file, file);
  });

  test("apply again replaces the table in one transaction: it is never missing meanwhile", async () => {
    const file = writeFilter("deny-discard.yaml", DENY_DISCARD);
    const again = writeFilter("deny-memcached.yaml", DENY_MEMCACHED);
    // A poller lists the tables as fast as it can while the table is replaced several times.
    const poller = spawn(
      "ip",
      ["netns", "exec", server, "sh", "-c", "while :; do echo ---; nft list tables; done"],
      { stdio: ["ignore", "pipe", "ignore"] },
    );
    let seen = "";
    poller.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      seen += chunk;
    });
    try {
      for (let i = 0; i < 3; i++) {
        ok(await moat(["filter", "apply", file, "--netns", server, "--confirm", "0"]));
        ok(await moat(["filter", "apply", again, "--netns", server, "--confirm", "0"]));
      }
      ok(await moat(["filter", "apply", file, "--netns", server, "--confirm", "0"]));
    } finally {
      poller.kill("SIGKILL");
    }
    const listings = seen.split("---\n").slice(1, -1); // the last one may be cut short
    assert.ok(listings.length > 20, `only ${listings.length} listings`);
    const missing = listings.filter((l) => !l.includes("table inet moat"));
    assert.equal(missing.length, 0, `table missing in ${missing.length} of ${listings.length} listings`);
    const table = nft(["list", "table", "inet", "moat"]);
    assert.match(table, /tcp dport 9 drop/);
    assert.doesNotMatch(table, /11211/, "the previous filter's rules are gone");
    assert.equal(ask(), "reply");
    assert.equal(state().hadTable, true);
  });

  test("remove deletes Moat's table only; memcached answers again", async () => {
    const others = otherTables();
    const result = ok(await moat(["filter", "remove", "--netns", server]));
    assert.match(result.stdout, /Removed table inet moat/);
    assert.equal(moatTable(), null);
    assert.equal(otherTables(), others);
    assert.equal(ask(), "reply");
    assert.equal(state().status, "removed");
    const twice = ok(await moat(["filter", "remove", "--netns", server]));
    assert.match(twice.stdout, /nothing to remove/);
  });

  test("no confirm: after the deadline the previous Moat table is back, exactly", async () => {
    const others = otherTables();
    ok(
      await moat([
        "filter",
        "apply",
        writeFilter("a.yaml", DENY_DISCARD),
        "--netns",
        server,
        "--confirm",
        "0",
      ]),
    );
    const earlier = moatTable();
    assert.notEqual(earlier, null);
    assert.equal(ask(), "reply");
    const file = writeFilter("b.yaml", DENY_MEMCACHED);
    // A window long enough that a slow CLI start on a loaded machine cannot outlive it before `status`.
    const applied = ok(await moat(["filter", "apply", file, "--netns", server, "--confirm", "12"]));
    assert.match(applied.stdout, /Confirm by .* with: moat filter confirm --netns /);
    assert.match(applied.stdout, /rolled back to the previous Moat table/);
    const status = ok(await moat(["filter", "status", "--netns", server, "--json"])).json<{
      applied: { status: string; deadline: string };
      table: { present: boolean };
    }>();
    assert.equal(status.applied.status, "pending");
    assert.equal(status.table.present, true);
    assert.equal(ask(), "timeout", "the new filter is in");
    const s = await waitForStatus("rolled-back", 25_000);
    assert.ok(Date.parse(s.rolledBackAt!) >= Date.parse(s.deadline!), "not before the deadline");
    assert.deepEqual(moatTable(), earlier);
    assert.equal(otherTables(), others);
    assert.equal(ask(), "reply", "traffic flows again after the rollback");
    const text = ok(await moat(["filter", "status", "--netns", server])).stdout;
    assert.match(text, /not confirmed in time: rolled back at .* to the previous table/);
    const late = await moat(["filter", "confirm", "--netns", server]);
    assert.equal(late.code, 2);
    assert.match(late.stderr, /nothing to confirm: it was rolled back/);
  });

  test("no confirm and no table before: the rollback deletes the table", async () => {
    ok(await moat(["filter", "remove", "--netns", server]));
    const file = writeFilter("c.yaml", DENY_MEMCACHED);
    // Windows here are generous: on a loaded machine each CLI run from source takes seconds.
    ok(await moat(["filter", "apply", file, "--netns", server, "--confirm", "8"]));
    assert.notEqual(moatTable(), null);
    assert.equal(ask(), "timeout");
    await waitForStatus("rolled-back", 25_000);
    assert.equal(moatTable(), null);
    assert.equal(ask(), "reply");
  });

  test("confirm keeps the filter past the deadline", async () => {
    const file = writeFilter("d.yaml", DENY_MEMCACHED);
    ok(await moat(["filter", "apply", file, "--netns", server, "--confirm", "8"]));
    const pid = state().watchdogPid;
    assert.ok(pid !== null && pid > 0);
    const confirmed = ok(await moat(["filter", "confirm", "--netns", server]));
    assert.match(confirmed.stdout, /Confirmed: filter "deny-memcached" stays/);
    const table = moatTable();
    await sleep(Math.max(0, Date.parse(state().deadline!) - Date.now()) + 1500); // past the deadline
    assert.deepEqual(moatTable(), table);
    assert.equal(state().status, "confirmed");
    assert.throws(() => process.kill(pid, 0), "the watchdog is gone");
    assert.equal(ask(), "timeout");
    const again = ok(await moat(["filter", "confirm", "--netns", server]));
    assert.match(again.stdout, /already confirmed/);
  });

  test("confirm and a late watchdog: exactly one decides", async () => {
    ok(
      await moat([
        "filter",
        "apply",
        writeFilter("race.yaml", DENY_MEMCACHED),
        "--netns",
        server,
        "--confirm",
        "1",
      ]),
    );
    const applied = state();
    const file = join(stateDir, `netns-${server}.state.json`);
    process.kill(applied.watchdogPid!, "SIGSTOP"); // a watchdog late to its own deadline (a loaded machine)
    await sleep(1500);
    // Confirm has claimed the decision but not yet written "confirmed": a watchdog waking now must not act.
    const claimed = join(stateDir, `netns-${server}.${applied.id}.decided`);
    writeFileSync(claimed, "confirm (test)\n");
    assert.match(await rollbackIfUnconfirmed(file, applied.id), /decided elsewhere/);
    assert.notEqual(moatTable(), null);
    rmSync(claimed);
    ok(await moat(["filter", "confirm", "--netns", server])); // also ends the stopped watchdog
    assert.match(await rollbackIfUnconfirmed(file, applied.id), /confirmed in time/);
    assert.equal(state().status, "confirmed");
    assert.notEqual(moatTable(), null);
    assert.equal(ask(), "timeout");
    try {
      process.kill(applied.watchdogPid!, "SIGCONT");
    } catch {}
  });

  test("remove cancels a pending rollback", async () => {
    ok(
      await moat([
        "filter",
        "apply",
        writeFilter("e.yaml", DENY_DISCARD),
        "--netns",
        server,
        "--confirm",
        "2",
      ]),
    );
    const pid = state().watchdogPid!;
    ok(await moat(["filter", "remove", "--netns", server]));
    assert.equal(moatTable(), null);
    await sleep(2500);
    assert.equal(state().status, "removed");
    assert.throws(() => process.kill(pid, 0), "the watchdog is gone");
  });

  test("refuses a filter that cuts the SSH session in use; --force applies it", async () => {
    ok(
      await moat([
        "filter",
        "apply",
        writeFilter("f.yaml", DENY_DISCARD),
        "--netns",
        server,
        "--confirm",
        "0",
      ]),
    );
    const before = moatTable();
    const saved = readFileSync(join(stateDir, `netns-${server}.state.json`), "utf8");
    const file = writeFilter("ssh.yaml", ADMIN_SSH_ONLY);
    const ssh = { SSH_CONNECTION: "198.51.100.64 50022 192.0.2.1 22" };
    const refused = await moat(["filter", "apply", file, "--netns", server, "--confirm", "0"], ssh);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(
      refused.stderr,
      /refusing to apply: the SSH session in use \(from 198\.51\.100\.64 port 50022/,
    );
    assert.match(refused.stderr, /denied by rule 2/);
    assert.match(
      refused.stderr,
      /fix: add \{ action: allow, protocol: tcp, source: 198\.51\.100\.64, destinationPort: 22 \} before rule 2/,
    );
    assert.match(refused.stderr, /--force/);
    assert.deepEqual(moatTable(), before, "nothing changed");
    assert.equal(readFileSync(join(stateDir, `netns-${server}.state.json`), "utf8"), saved);
    // From the admin network the same filter is fine.
    const admin = { SSH_CONNECTION: "203.0.113.9 50022 192.0.2.1 22" };
    ok(await moat(["filter", "apply", file, "--netns", server, "--confirm", "0"], admin));
    ok(
      await moat([
        "filter",
        "apply",
        writeFilter("g.yaml", DENY_DISCARD),
        "--netns",
        server,
        "--confirm",
        "0",
      ]),
    );
    const forced = ok(
      await moat(["filter", "apply", file, "--netns", server, "--confirm", "0", "--force"], ssh),
    );
    assert.match(forced.stdout, /Applied filter "admin-ssh-only"/);
    assert.match(nft(["list", "table", "inet", "moat"]), /SSH from elsewhere/);
  });

  test("bad input: exit 2 and nothing changed", async () => {
    const before = moatTable();
    const saved = readFileSync(join(stateDir, `netns-${server}.state.json`), "utf8");
    const bad = writeFilter(
      "bad.yaml",
      "name: bad\nrules:\n  - { action: deny, protocol: udp, destinationPort: 70000 }\n",
    );
    const result = await moat(["filter", "apply", bad, "--netns", server]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /bad\.yaml:3/);
    const flag = await moat([
      "filter",
      "apply",
      writeFilter("h.yaml", DENY_DISCARD),
      "--netns",
      server,
      "--confirm",
      "soon",
    ]);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /--confirm soon: a whole number of seconds/);
    const nic = await moat([
      "filter",
      "apply",
      writeFilter("i.yaml", DENY_DISCARD),
      "--netns",
      server,
      "--interface",
      "eth 0",
    ]);
    assert.equal(nic.code, 2);
    const ns = await moat([
      "filter",
      "apply",
      writeFilter("j.yaml", DENY_DISCARD),
      "--netns",
      "moat-no-such-ns",
    ]);
    assert.equal(ns.code, 2);
    assert.match(ns.stderr, /no network namespace named "moat-no-such-ns"/);
    assert.deepEqual(moatTable(), before);
    assert.equal(readFileSync(join(stateDir, `netns-${server}.state.json`), "utf8"), saved);
  });

  test("--interface judges only that interface's packets", async () => {
    const file = writeFilter("k.yaml", DENY_MEMCACHED);
    const dev = JSON.parse(
      execFileSync("ip", ["-j", "-n", server, "link", "show", "type", "veth"], { encoding: "utf8" }),
    ) as Array<{ ifname: string }>;
    ok(await moat(["filter", "apply", file, "--netns", server, "--confirm", "0", "--interface", "lo"]));
    assert.equal(ask(), "reply", "the peer's packets arrive on the veth, not on lo");
    ok(
      await moat([
        "filter",
        "apply",
        file,
        "--netns",
        server,
        "--confirm",
        "0",
        "--interface",
        dev[0]!.ifname,
      ]),
    );
    assert.equal(ask(), "timeout");
    ok(await moat(["filter", "remove", "--netns", server]));
  });

  test("a rollback that cannot run is recorded as failed, in the state and the log", async () => {
    const other = await createLab({ namespaces: [{ role: "gone" }] });
    const ns = other.ns("gone");
    try {
      ok(
        await moat([
          "filter",
          "apply",
          writeFilter("gone.yaml", DENY_DISCARD),
          "--netns",
          ns,
          "--confirm",
          "2",
        ]),
      );
    } finally {
      await other.destroy();
    }
    const file = join(stateDir, `netns-${ns}.state.json`);
    const until = Date.now() + 10_000;
    let s = JSON.parse(readFileSync(file, "utf8")) as ApplyState;
    while (s.status === "pending" && Date.now() < until) {
      await sleep(100);
      s = JSON.parse(readFileSync(file, "utf8")) as ApplyState;
    }
    assert.equal(s.status, "rollback-failed");
    assert.match(s.error ?? "", /nft -f/);
    assert.match(readFileSync(join(stateDir, `netns-${ns}.log`), "utf8"), /rollback of .* FAILED/);
  });

  test("nft missing: exit 3 with the apt-get fix", async () => {
    const bin = join(dir, "bin-without-nft");
    mkdirSync(bin);
    const ipPath = execFileSync("sh", ["-c", "command -v ip"], { encoding: "utf8" }).trim();
    symlinkSync(ipPath, join(bin, "ip"));
    const file = writeFilter("l.yaml", DENY_DISCARD);
    const result = await moat(["filter", "apply", file, "--netns", server, "--confirm", "0"], { PATH: bin });
    assert.equal(result.code, 3, result.stderr);
    assert.match(result.stderr, /nft is not installed\n {2}fix: install nftables: apt-get install nftables/);
    assert.equal(moatTable(), null);
  });

  test("not root: exit 3 with the fix", async () => {
    const module = fileURLToPath(new URL("../../src/filter/apply.ts", import.meta.url));
    const out = await runAsNobody(
      `import { confirmFilter } from ${JSON.stringify(module)};\n` +
        `try { await confirmFilter({ stateDir: "/nonexistent", netns: null }); console.log("no error"); }\n` +
        `catch (e) { console.log(e.name + ": " + e.message + " | " + e.fix); }\n`,
    );
    assert.match(
      out,
      /^EnvironmentError: moat filter confirm needs root.* \| run it as root: sudo moat filter confirm/,
    );
  });

  test("a 30-rule filter applies whole (bench/filter times it)", async () => {
    const rules = Array.from({ length: 30 }, (_, i) =>
      i % 3 === 0
        ? `  - { action: allow, protocol: tcp, source: 203.0.113.${i}/32, destinationPort: ${1000 + i} }`
        : i % 3 === 1
          ? `  - { action: deny, protocol: udp, destinationPort: "${2000 + i * 10}-${2005 + i * 10}" }`
          : `  - { action: allow, protocol: tcp, source: ["198.51.100.${i}", "2001:db8:${i}::/48"], destinationPort: [22, ${3000 + i}] }`,
    );
    const file = writeFilter("thirty.yaml", `name: thirty\ndefault: deny\nrules:\n${rules.join("\n")}\n`);
    await applyFilter({ stateDir, netns: server, file, confirmSeconds: 0 });
    assert.equal(state().rules, 30);
    ok(await moat(["filter", "remove", "--netns", server]));
  });
});
