/**
 * `moat scan` (the built CLI, as users install it) from a `client` namespace against the real TCP
 * services its identification probes name, run by the lab in a `server` namespace: Redis (open,
 * protected mode, password), MariaDB (handshake, and ERR 1130 with the grant tables), OpenSSH, telnetd
 * under xinetd, an HTTP server, Samba (default, and SMB 2.1 with signing required). The versions
 * the probes report are compared with what the daemon binaries say about themselves, never with
 * literals. Ports where nothing listens are closed.
 *
 * MongoDB is not tested against a real server: Debian 12 does not package it (MongoDB's licence is
 * not free software by Debian's rules), so the tcp-mongodb probe is tested on spec-built bytes only.
 * Here 27017/tcp is one of the closed ports.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { machine, release, type } from "node:os";
import { after, before, describe, it } from "node:test";
import { CLI_BUILT, runMoat } from "../helpers/moat.js";
import { PYTHON } from "../lab/daemons/plan.js";
import {
  createLab,
  daemonSkipReason,
  type Lab,
  labSkipReason,
  listeningIn,
  type ScanDaemonKind,
} from "../lab/lab.js";

const KINDS: ScanDaemonKind[] = ["redis", "mariadb", "sshd", "smbd", "xinetd", "http"];
const TELNETD = "/usr/sbin/telnetd";
const skip =
  labSkipReason() ??
  KINDS.map(daemonSkipReason).find((reason) => reason !== undefined) ??
  (existsSync(TELNETD)
    ? undefined
    : "lab telnet needs inetutils-telnetd: run scripts/install-test-deps.sh") ??
  (existsSync(CLI_BUILT) ? undefined : "the built CLI is missing: run npm run build");

/** The server's end of link 0, and the client's. */
const SERVER = "192.0.2.1";
const CLIENT = "192.0.2.2";
/** More server addresses on its lo, one per other configuration of the same service. */
const SERVER_B = "192.0.2.11";
const SERVER_C = "192.0.2.12";
/** The server's end of link 0, IPv6: sshd and the HTTP server there too. */
const SERVER_V6 = "2001:db8:1::1";

/** Every service's port, 27017 (MongoDB: no server, see above) and a range where nothing listens. */
const PORTS = "22/tcp,23/tcp,80/tcp,445/tcp,3306/tcp,6379/tcp,27017/tcp,1000-1019/tcp";

interface Row {
  ip: string;
  protocol: "tcp" | "udp";
  port: number;
  state: string;
  service: string | null;
  probe: string | null;
  requestBytes: number;
  responseBytes: number;
  unparseable: boolean;
  fields: Record<string, unknown>;
}

/** `moat scan ADDRESS --json` inside `ns`, with the built CLI; rows by "ip port". */
async function scanFrom(ns: string, target: string): Promise<Map<string, Row>> {
  const args = ["scan", target, "--allow-special", "--ports", PORTS, "--json", "--timeout", "1000"];
  const result = await runMoat(args, { netns: ns, built: true });
  assert.equal(result.code, 0, `moat ${args.join(" ")} in ${ns}: exit ${result.code}\n${result.stderr}`);
  return new Map(result.jsonLines<Row>().map((r) => [`${r.ip} ${r.port}`, r]));
}

/** What a binary prints about itself, stdout and stderr together (sshd -V writes to stderr). */
function selfReport(cmd: string, args: string[]): string {
  const out = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  return `${out.stdout ?? ""}${out.stderr ?? ""}`;
}

function capture(text: string, re: RegExp, what: string): string {
  const m = re.exec(text);
  assert.ok(m?.[1], `${what}: no match for ${re} in ${JSON.stringify(text)}`);
  return m[1];
}

describe("moat scan identifies real TCP services", { skip }, () => {
  let lab: Lab;
  /** All rows of the four scans, by "ip port". */
  const rows = new Map<string, Row>();
  const at = (ip: string, port: number): Row => {
    const row = rows.get(`${ip} ${port}`);
    assert.ok(row, `no result for ${ip} ${port}`);
    return row;
  };
  /** An open port whose probe recognised the service. */
  const identified = (ip: string, port: number, probe: string): Row => {
    const row = at(ip, port);
    assert.equal(row.state, "open", `${ip} ${port}`);
    assert.equal(row.probe, probe, `${ip} ${port}: ${JSON.stringify(row)}`);
    assert.equal(row.unparseable, false, `${ip} ${port}`);
    return row;
  };

  before(async () => {
    lab = await createLab({
      namespaces: [
        {
          role: "server",
          addresses: [`${SERVER_B}/32`, `${SERVER_C}/32`],
          daemons: [
            { kind: "redis", name: "redis-open", listen: SERVER },
            { kind: "redis", name: "redis-protected", listen: SERVER_B, access: "protected" },
            { kind: "redis", name: "redis-password", listen: SERVER_C, access: "password" },
            { kind: "mariadb", name: "mariadb", listen: SERVER },
            { kind: "mariadb", name: "mariadb-grants", listen: SERVER_B, grantTables: true },
            { kind: "sshd", name: "sshd", listen: SERVER },
            { kind: "sshd", name: "sshd-v6", listen: SERVER_V6 },
            { kind: "xinetd", name: "telnet", listen: SERVER, services: ["telnet"], protocols: ["tcp"] },
            { kind: "http", name: "http", listen: SERVER },
            { kind: "http", name: "http-v6", listen: SERVER_V6 },
            { kind: "smbd", name: "smbd", listen: SERVER },
            {
              kind: "smbd",
              name: "smbd-2.1",
              listen: SERVER_B,
              maxProtocol: "SMB2_10",
              signing: "mandatory",
            },
          ],
        },
        { role: "client" },
      ],
      links: [["server", "client"]],
    });
    const scans = await Promise.all(
      [SERVER, SERVER_B, SERVER_C, SERVER_V6].map((ip) => scanFrom(lab.ns("client"), ip)),
    );
    for (const scan of scans) for (const [key, row] of scan) rows.set(key, row);
  });

  after(async () => {
    await lab?.destroy();
  });

  it("Redis: the version, mode, os and pid of the running server; protected mode and password seen", () => {
    const open = identified(SERVER, 6379, "tcp-redis");
    const version = capture(selfReport("redis-server", ["--version"]), /\bv=(\S+)/, "redis-server --version");
    assert.equal(open.fields.version, version);
    assert.equal(open.fields.pid, lab.daemon("redis-open").pid);
    assert.equal(open.fields.mode, "standalone");
    assert.equal(open.fields.os, `${type()} ${release()} ${machine()}`, "uname of the shared kernel");
    assert.equal(open.fields.auth_required, false);
    assert.equal(open.fields.reply, "+PONG");

    const locked = identified(SERVER_B, 6379, "tcp-redis");
    assert.equal(locked.fields.protected_mode, true);
    assert.match(String(locked.fields.reply), /^-DENIED /);
    assert.ok(locked.responseBytes > 256, "the whole DENIED line, which is long, was read");

    const password = identified(SERVER_C, 6379, "tcp-redis");
    assert.equal(password.fields.auth_required, true);
    assert.match(String(password.fields.reply), /^-NOAUTH /);
    for (const r of [locked, password]) assert.equal(r.fields.version, null, "INFO is refused too");
  });

  it("MariaDB: the handshake's version is the server binary's; with grant tables, ERR 1130 for us", () => {
    const db = identified(SERVER, 3306, "tcp-mysql");
    const self = selfReport("mariadbd", ["--version"]);
    const version = capture(self, /\bVer (\S+)/, "mariadbd --version");
    assert.equal(db.fields.version, version);
    assert.ok(String(db.fields.server_version).endsWith(version), String(db.fields.server_version));
    assert.equal(db.fields.mariadb, true);
    assert.equal(db.fields.protocol_version, 10);
    assert.ok(Number(db.fields.connection_id) > 0, `${db.fields.connection_id}`);
    assert.match(String(db.fields.auth_plugin), /^\w+$/);
    assert.equal(db.fields.error_code, null);

    const refused = identified(SERVER_B, 3306, "tcp-mysql");
    assert.equal(refused.fields.error_code, 1130);
    assert.match(String(refused.fields.error_message), new RegExp(`^Host '${CLIENT}' is not allowed`));
    assert.equal(refused.fields.version, null);
  });

  it("OpenSSH: the banner names the sshd binary's version (and Debian's package revision)", () => {
    const ssh = identified(SERVER, 22, "tcp-ssh");
    const self = capture(selfReport("sshd", ["-V"]), /^(OpenSSH_[^\s,]+)/m, "sshd -V");
    assert.equal(ssh.fields.protocol_version, "2.0");
    assert.ok(String(ssh.fields.software).startsWith(self), `${ssh.fields.software} vs ${self}`);
    assert.equal(ssh.fields.banner, `SSH-2.0-${ssh.fields.software} ${ssh.fields.comment}`);
    // dpkg's own ${Version} format field, spelled so that it is not read as a template placeholder.
    const pkg = selfReport("dpkg-query", ["-W", "-f", "$" + "{Version}", "openssh-server"]);
    const debian = /^(?:\d+:)?([^-]+)-(\S+)$/.exec(pkg.trim());
    if (debian) {
      // Debian's banner: OpenSSH_<upstream> Debian-<revision> (DebianBanner yes, the default).
      assert.equal(ssh.fields.software, `OpenSSH_${debian[1]}`);
      assert.equal(ssh.fields.comment, `Debian-${debian[2]}`);
    }
    // The same binary over IPv6 (its own host key, so only the banner is compared).
    assert.equal(identified(SERVER_V6, 22, "tcp-ssh").fields.banner, ssh.fields.banner);
  });

  it("telnetd under xinetd: seen by its option negotiation", () => {
    const telnet = identified(SERVER, 23, "tcp-telnet");
    const negotiation = telnet.fields.negotiation as string[];
    // inetutils telnetd asks for the terminal type first and waits for an answer before any prompt.
    assert.ok(negotiation.includes("DO TERMINAL-TYPE"), JSON.stringify(negotiation));
    assert.equal(telnet.service, "telnet");
  });

  it("HTTP: the Server header is the one python3's http.server says it sends", () => {
    const http = identified(SERVER, 80, "tcp-http");
    const expected = execFileSync(
      PYTHON,
      ["-c", "from http.server import SimpleHTTPRequestHandler as H; print(H.server_version, H.sys_version)"],
      { encoding: "utf8" },
    ).trim();
    assert.equal(http.fields.server, expected);
    assert.equal(http.fields.status, 200);
    assert.equal(http.fields.auth_required, false);
    assert.deepEqual(identified(SERVER_V6, 80, "tcp-http").fields, http.fields, "the same over IPv6");
  });

  it("Samba: the dialect and signing its smb.conf allows, a GUID and the server's clock", () => {
    const smb = identified(SERVER, 445, "tcp-smb");
    assert.equal(smb.fields.status, "STATUS_SUCCESS");
    assert.equal(smb.fields.dialect, "3.1.1", "Samba's default maximum is SMB3_11, the highest offered");
    assert.equal(smb.fields.signing_enabled, true);
    assert.equal(smb.fields.signing_required, false);
    assert.match(String(smb.fields.server_guid), /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/);
    const skew = Math.abs(Date.parse(String(smb.fields.system_time)) - Date.now());
    assert.ok(skew < 86_400_000, `system_time ${smb.fields.system_time}: a FILETIME decoded wrong`);

    const old = identified(SERVER_B, 445, "tcp-smb");
    assert.equal(old.fields.dialect, "2.1", "server max protocol = SMB2_10");
    assert.equal(old.fields.signing_required, true, "server signing = mandatory");
  });

  it("ports where nothing listens are closed, MongoDB's included; nothing listens in the root namespace", () => {
    const listening = [
      [SERVER, [22, 23, 80, 445, 3306, 6379]],
      [SERVER_B, [445, 3306, 6379]],
      [SERVER_C, [6379]],
      [SERVER_V6, [22, 80]],
    ] as const;
    for (const [ip, open] of listening) {
      for (const row of [...rows.values()].filter((r) => r.ip === ip)) {
        const expected = (open as readonly number[]).includes(row.port) ? "open" : "closed";
        assert.equal(row.state, expected, `${ip} ${row.port}`);
        if (expected === "closed") assert.equal(row.responseBytes, 0);
      }
    }
    assert.equal(rows.size, listening.length * 27);
    const mine = new Set(lab.daemons.flatMap((d) => d.endpoints.map((e) => `tcp ${e.address} ${e.port}`)));
    const host = [...listeningIn(process.pid)].filter((key) => mine.has(key));
    assert.deepEqual(host, []);
  });
});
