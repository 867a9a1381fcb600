/** Tests of the lab itself: if these fail, every lab-based test after them means nothing. */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { REPO_ROOT } from "../helpers/moat.js";
import { createLab, type Lab, type LabSpec, labSkipReason, listNamespaces, sweepStaleLabs } from "./lab.js";

const skip = labSkipReason();

const SPEC: LabSpec = {
  namespaces: [
    {
      role: "server",
      daemons: [
        { kind: "memcached", name: "mc-open", listen: "0.0.0.0", tcpPort: 11211, udpPort: 11211 },
        { kind: "memcached", name: "mc-local", listen: "127.0.0.1", tcpPort: 11311, udpPort: 0 },
        { kind: "memcached", name: "mc-sasl", listen: "0.0.0.0", tcpPort: 11212, udpPort: 0, sasl: true },
        {
          kind: "listener",
          name: "v6",
          sockets: [
            { protocol: "tcp", address: "::", port: 8081 },
            { protocol: "udp", address: "0.0.0.0", port: 47999 },
          ],
        },
      ],
    },
    { role: "client" },
  ],
  links: [["server", "client"]],
};

function inNs(ns: string, argv: string[], input?: string): string {
  return execFileSync("ip", ["netns", "exec", ns, ...argv], {
    encoding: "utf8",
    input,
    stdio: ["pipe", "pipe", "pipe"],
  });
}

/** True when the pid is gone or a zombie: a zombie holds no socket and no namespace. */
function isDead(pid: number): boolean {
  try {
    return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return true;
  }
}

/** Connects from inside a namespace and sends one line: proves the daemon is real and the link works. */
const CLIENT_PY = `
import socket, sys
host, port, line = sys.argv[1], int(sys.argv[2]), sys.argv[3]
with socket.create_connection((host, port), timeout=3) as s:
    s.sendall(line.encode() + b"\\r\\n")
    print(s.recv(200).decode().strip() if line else "connected")
`;

describe("lab", { skip }, () => {
  let lab: Lab;
  before(async () => {
    lab = await createLab(SPEC);
  });
  after(async () => {
    await lab?.destroy();
  });

  test("namespaces are named moat-<id>-<role> and exist", () => {
    assert.match(lab.id, /^[0-9a-f]{6}$/);
    assert.equal(lab.ns("server"), `moat-${lab.id}-server`);
    const names = listNamespaces();
    assert.ok(names.includes(lab.ns("server")));
    assert.ok(names.includes(lab.ns("client")));
  });

  test("lo is up and the veth ends live only inside the namespaces", () => {
    const lo = execFileSync("ip", ["-n", lab.ns("server"), "-br", "link", "show", "lo"], {
      encoding: "utf8",
    });
    assert.match(lo, /UNKNOWN|UP/);
    const hostLinks = execFileSync("ip", ["-br", "link"], { encoding: "utf8" });
    assert.ok(!hostLinks.includes(`v${lab.id}`), "a lab veth leaked into the host namespace");
    const addrs = execFileSync("ip", ["-n", lab.ns("server"), "-br", "addr"], { encoding: "utf8" });
    assert.match(addrs, /192\.0\.2\.1\/24/);
    assert.match(addrs, /2001:db8:1::1\/64/);
    assert.deepEqual(lab.namespaces.find((n) => n.role === "client")?.addresses, [
      "192.0.2.2",
      "2001:db8:1::2",
    ]);
  });

  test("every daemon listens where asked, owned by the pid the lab reports", () => {
    const ss = inNs(lab.ns("server"), ["ss", "-H", "-tulnp"]);
    for (const daemon of lab.daemons) {
      for (const e of daemon.endpoints) {
        const local = e.address.includes(":") ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
        const line = ss.split("\n").find((l) => l.startsWith(e.protocol) && l.includes(` ${local} `));
        assert.ok(line, `${daemon.name}: no ${e.protocol} ${local} in\n${ss}`);
        assert.ok(line.includes(`pid=${daemon.pid},`), `${daemon.name}: ${line} not owned by ${daemon.pid}`);
      }
    }
  });

  test("memcached runs in the foreground as itself, SASL variant with -S", () => {
    const open = lab.daemon("mc-open");
    assert.equal(readFileSync(`/proc/${open.pid}/comm`, "utf8").trim(), "memcached");
    const cmdline = readFileSync(`/proc/${lab.daemon("mc-sasl").pid}/cmdline`, "utf8").split("\0");
    assert.ok(cmdline.includes("-S"));
    assert.ok(cmdline.includes("-U") && cmdline[cmdline.indexOf("-U") + 1] === "0");
    assert.equal(readFileSync(`/proc/${lab.daemon("v6").pid}/comm`, "utf8").trim(), "python3");
  });

  test("daemons answer across the link, IPv4 and IPv6", () => {
    const client = lab.ns("client");
    assert.match(inNs(client, ["python3", "-c", CLIENT_PY, "192.0.2.1", "11211", "version"]), /^VERSION /);
    assert.equal(inNs(client, ["python3", "-c", CLIENT_PY, "2001:db8:1::1", "8081", ""]).trim(), "connected");
  });

  test("the loopback-only memcached is not reachable from the client", () => {
    assert.throws(() =>
      inNs(lab.ns("client"), ["python3", "-c", CLIENT_PY, "192.0.2.1", "11311", "version"]),
    );
  });

  test("destroy() leaves no namespace, process, veth or registry entry behind", async () => {
    const small = await createLab({
      namespaces: [
        {
          role: "a",
          daemons: [{ kind: "memcached", name: "m", listen: "0.0.0.0", tcpPort: 11211, udpPort: 0 }],
        },
        { role: "b" },
      ],
      links: [["a", "b"]],
    });
    const pid = small.daemon("m").pid;
    assert.ok(!isDead(pid));
    await small.destroy();
    const names = listNamespaces();
    assert.ok(!names.some((n) => n.startsWith(`moat-${small.id}-`)), `left behind: ${names.join(", ")}`);
    assert.ok(isDead(pid), `memcached ${pid} still running`);
    assert.ok(!execFileSync("ip", ["-br", "link"], { encoding: "utf8" }).includes(`v${small.id}`));
    await small.destroy(); // twice is harmless
  });

  test("a failing daemon makes createLab throw and clean up what it made", async () => {
    const before = listNamespaces();
    await assert.rejects(
      createLab({
        namespaces: [
          {
            role: "bad",
            daemons: [
              { kind: "listener", name: "x", sockets: [{ protocol: "tcp", address: "192.0.2.99", port: 1 }] },
            ],
          },
        ],
      }),
      /exited before listening/,
    );
    assert.deepEqual(listNamespaces().sort(), before.sort());
  });
});

/** Starts a lab in a separate node process; resolves with its namespace and memcached pid. */
function labInChild(): Promise<{ child: ReturnType<typeof spawn>; ns: string; pid: number }> {
  const script = `
    const { createLab } = await import(${JSON.stringify(`${REPO_ROOT}test/lab/lab.ts`)});
    const lab = await createLab({ namespaces: [{ role: "orphan", daemons: [
      { kind: "memcached", name: "m", listen: "127.0.0.1", tcpPort: 11211, udpPort: 0 }] }] });
    console.log(JSON.stringify({ ns: lab.ns("orphan"), pid: lab.daemon("m").pid }));
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      if (!out.includes("\n")) return;
      const { ns, pid } = JSON.parse(out) as { ns: string; pid: number };
      resolve({ child, ns, pid });
    });
    child.on("exit", (code) => reject(new Error(`lab child exited ${code} before reporting`)));
  });
}

function exited(child: ReturnType<typeof spawn>): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

describe("lab cleanup outside the happy path", { skip }, () => {
  test("SIGTERM to the test process tears its lab down", async () => {
    const { child, ns, pid } = await labInChild();
    child.kill("SIGTERM");
    await exited(child);
    assert.ok(!listNamespaces().includes(ns), `${ns} survived SIGTERM`);
    assert.ok(isDead(pid));
  });

  test("sweepStaleLabs() removes what a SIGKILLed run left, and spares live labs", async () => {
    const mine = await createLab({ namespaces: [{ role: "alive" }] });
    try {
      const { child, ns, pid } = await labInChild();
      child.kill("SIGKILL"); // no handler runs: the namespace and memcached are orphaned
      await exited(child);
      assert.ok(listNamespaces().includes(ns));
      const removed = sweepStaleLabs();
      assert.ok(removed.includes(ns));
      assert.ok(!listNamespaces().includes(ns));
      for (let i = 0; i < 50 && !isDead(pid); i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(isDead(pid), `orphaned memcached ${pid} still running`);
      assert.ok(listNamespaces().includes(mine.ns("alive")), "sweep removed a live lab");
    } finally {
      await mine.destroy();
    }
  });
});
