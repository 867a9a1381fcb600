import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { InputError } from "../../src/errors.js";
import { readAllNetns, readNamedNetns, readNsenterTables } from "../../src/host/netns.js";
import type { Socket, SocketTable } from "../../src/host/types.js";
import { runAsNobody } from "../helpers/unprivileged.js";

const isRoot = process.geteuid?.() === 0;
const skip = isRoot ? false : "network namespace tests need root (ip netns add); run the tests as root";

const TCP_PORT = 18080;
const UDP_PORT = 11211;

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
}

async function until<T>(what: string, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const got = await probe();
    if (got !== null) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const brief = (s: Socket) =>
  `${s.netns} ${s.protocol}/${s.family} ${s.address}:${s.port} ${s.processes.map((p) => `${p.pid}:${p.name}`).join(",")}`;

describe("network namespaces", { skip }, () => {
  const id = randomBytes(3).toString("hex");
  const name = `moat-t-${id}`;
  const empty = `moat-t-${id}-empty`;
  const children: ChildProcess[] = [];
  let httpPid = 0;
  let udpPid = 0;
  const own = net.createServer();

  before(async () => {
    sh("ip", ["netns", "add", name]);
    sh("ip", ["netns", "add", empty]);
    sh("ip", ["-n", name, "link", "set", "lo", "up"]);
    // `ip netns exec` execs the command, so each child's pid is the server's pid
    const http = spawn(
      "ip",
      ["netns", "exec", name, "python3", "-m", "http.server", "--bind", "0.0.0.0", String(TCP_PORT)],
      { stdio: "ignore" },
    );
    const udp = spawn(
      "ip",
      [
        "netns",
        "exec",
        name,
        "python3",
        "-c",
        `import socket, time\ns = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\ns.bind(("::", ${UDP_PORT}))\ntime.sleep(600)`,
      ],
      { stdio: "ignore" },
    );
    children.push(http, udp);
    httpPid = http.pid ?? 0;
    udpPid = udp.pid ?? 0;
    await new Promise<void>((resolve) => own.listen(0, "127.0.0.1", resolve));
    await until("both servers to listen", async () => {
      const t = await readNamedNetns(name);
      return t.sockets.length === 2 && t.sockets.every((s) => s.processes.length > 0) ? t : null;
    });
  });

  after(async () => {
    own.close();
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        const gone = new Promise((r) => c.once("exit", r));
        c.kill("SIGKILL");
        await gone;
      }
    }
    for (const n of [name, empty]) {
      try {
        sh("ip", ["netns", "del", n]);
      } catch {
        // already gone
      }
    }
  });

  it("--netns NAME: the namespace's sockets with their owners, read through a process inside", async () => {
    const table = await readNamedNetns(name);
    assert.equal(table.source, `netns:${name}`);
    assert.deepEqual(table.sockets.map(brief).sort(), [
      `${name} tcp/ipv4 0.0.0.0:${TCP_PORT} ${httpPid}:python3`,
      `${name} udp/ipv6 :::${UDP_PORT} ${udpPid}:python3`,
    ]);
    const http = table.sockets.find((s) => s.protocol === "tcp")!;
    assert.match(http.processes[0]!.cmdline ?? "", /http\.server --bind 0\.0\.0\.0 18080/);
    assert.equal(http.ownerUnknown, null);
  });

  it("--all-netns: every namespace once, each socket once, with its label", async () => {
    const table: SocketTable = await readAllNetns();
    assert.equal(table.source, "all-netns");
    const ours = table.sockets.filter((s) => s.netns === name);
    assert.deepEqual(ours.map(brief).sort(), [
      `${name} tcp/ipv4 0.0.0.0:${TCP_PORT} ${httpPid}:python3`,
      `${name} udp/ipv6 :::${UDP_PORT} ${udpPid}:python3`,
    ]);
    // no socket is listed twice (a namespace reached both by name and by pid is read once)
    const inodes = table.sockets.map((s) => s.inode);
    assert.equal(new Set(inodes).size, inodes.length);
    // moat's own namespace is labelled null
    const port = (own.address() as net.AddressInfo).port;
    const mine = table.sockets.filter(
      (s) => s.port === port && s.processes.some((p) => p.pid === process.pid),
    );
    assert.deepEqual(
      mine.map((s) => s.netns),
      [null],
    );
    assert.ok(!table.sockets.some((s) => s.netns === empty), "the empty namespace has no sockets");
  });

  it("reads a namespace through nsenter (the path for named namespaces without processes)", async () => {
    const raw = await readNsenterTables(name);
    assert.deepEqual(raw.map((r) => `${r.protocol}/${r.family} ${r.address}:${r.port}`).sort(), [
      `tcp/ipv4 0.0.0.0:${TCP_PORT}`,
      `udp/ipv6 :::${UDP_PORT}`,
    ]);
    assert.deepEqual(await readNsenterTables(empty), []);
    const table = await readNamedNetns(empty);
    assert.deepEqual(table.sockets, []);
  });

  it("an unknown name is an input error listing the names that exist", async () => {
    await assert.rejects(
      readNamedNetns(`moat-t-${id}-nope`),
      (e: unknown) => e instanceof InputError && e.message.includes(name) && e.message.includes(empty),
    );
    await assert.rejects(readNamedNetns("../../proc/1/ns/net"), InputError);
  });

  it("without root, an environment error with the fix", async () => {
    const netns = fileURLToPath(new URL("../../src/host/netns.ts", import.meta.url));
    const code =
      `import { readAllNetns, readNamedNetns } from ${JSON.stringify(netns)};\n` +
      `for (const f of [() => readAllNetns(), () => readNamedNetns(${JSON.stringify(name)})]) {\n` +
      "  try { await f(); console.log('no error'); } catch (e) { console.log(e.name, '|', e.fix); }\n" +
      "}";
    const out = await runAsNobody(code);
    assert.deepEqual(out.trim().split("\n"), [
      "EnvironmentError | run it as root: sudo moat audit --all-netns",
      `EnvironmentError | run it as root: sudo moat audit --netns ${name}`,
    ]);
  });
});
