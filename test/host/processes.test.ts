import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import dgram from "node:dgram";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { InputError } from "../../src/errors.js";
import {
  findSocketOwners,
  OWNER_NOT_VISIBLE,
  ownersFrom,
  SortedHolders,
  unitFromCgroup,
  walkSocketFds,
  walkSocketFdsJs,
} from "../../src/host/processes.js";
import { readProcSockets } from "../../src/host/procfs.js";
import type { Socket } from "../../src/host/types.js";
import { runAsNobody } from "../helpers/unprivileged.js";
import { testAddon } from "./native-addon.js";

const FIXTURE = fileURLToPath(new URL("./fixtures/proc", import.meta.url));
const isRoot = process.geteuid?.() === 0;

describe("unitFromCgroup", () => {
  const cases: [string, string | null][] = [
    ["0::/system.slice/memcached.service\n", "memcached.service"],
    ["12:pids:/\n1:name=systemd:/system.slice/ntp.service\n0::/system.slice/ntp.service\n", "ntp.service"],
    // hybrid host where systemd tracks only in the v1 name=systemd tree
    ["1:name=systemd:/system.slice/snmpd.service\n0::/\n", "snmpd.service"],
    ["0::/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service\n", "foo.service"],
    ["0::/user.slice/user-1000.slice/session-3.scope\n", "session-3.scope"],
    [
      "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-ab12.scope\n",
      "cri-containerd-ab12.scope",
    ],
    ["0::/system.slice/docker-0123abcd.scope\n", "docker-0123abcd.scope"],
    // a service that delegates sub-cgroups keeps its own name
    ["0::/system.slice/dockerd.service/worker\n", "dockerd.service"],
    ["0::/init.scope\n", "init.scope"],
    ["0::/docker/0123abcd\n", null],
    ["0::/\n", null],
    ["", null],
  ];
  for (const [text, unit] of cases) {
    it(`${JSON.stringify(text.trim().replaceAll("\n", " | "))} -> ${unit}`, () => {
      assert.equal(unitFromCgroup(text), unit);
    });
  }
  it("null for an unreadable file", () => assert.equal(unitFromCgroup(null), null));
});

describe("findSocketOwners over a copied tree", () => {
  let root = "";
  const wanted = new Set<number>();
  before(() => {
    // 200 processes x 50 sockets (+10 other fds each), a shared socket, a process without comm
    root = mkdtempSync(join(tmpdir(), "moat-proc-"));
    for (let p = 1000; p < 1200; p++) {
      mkdirSync(`${root}/${p}/fd`, { recursive: true });
      writeFileSync(`${root}/${p}/comm`, `svc${p}\n`);
      writeFileSync(`${root}/${p}/cmdline`, `/usr/sbin/svc\0-p\0${p}\0`);
      writeFileSync(`${root}/${p}/cgroup`, `0::/system.slice/svc${p}.service\n`);
      for (let f = 0; f < 60; f++) {
        const inode = p * 100 + f;
        symlinkSync(f < 50 ? `socket:[${inode}]` : `pipe:[${inode}]`, `${root}/${p}/fd/${f}`);
        if (f < 50) wanted.add(inode);
      }
    }
    symlinkSync("socket:[100000]", `${root}/1001/fd/99`); // 1001 shares 1000's first socket
    symlinkSync("socket:[100000]", `${root}/1001/fd/98`); // twice: still one entry
    mkdirSync(`${root}/4242/fd`, { recursive: true }); // exited: fd left, comm gone
    symlinkSync("socket:[100001]", `${root}/4242/fd/3`);
    writeFileSync(`${root}/net`, "not a pid");
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it("maps every wanted inode of 200 processes and reads their names", async () => {
    const owners = await findSocketOwners(root);
    assert.ok([...wanted].every((inode) => owners.of(inode).length > 0));
    assert.equal(owners.hiddenPids, 0);
    assert.deepEqual(owners.of(110_049), [
      { name: "svc1100", pid: 1100, unit: "svc1100.service", cmdline: "/usr/sbin/svc -p 1100" },
    ]);
    assert.deepEqual(
      owners.of(100_000).map((p) => p.pid),
      [1000, 1001],
    );
    // 4242's comm is gone: skipped without a word; pipes are not wanted
    assert.deepEqual(
      owners.of(100_001).map((p) => p.pid),
      [1000],
    );
  });

  it("names nobody for an inode no process holds, or one only a pipe has", async () => {
    const owners = await findSocketOwners(root);
    assert.deepEqual(owners.of(999_999), []);
    assert.deepEqual(owners.of(100_055), []);
    assert.deepEqual(owners.of(0), []);
  });

  it("the native and the JavaScript walk name the same owners", async () => {
    testAddon(); // built first when missing, as native.test.ts does
    const walk = await walkSocketFds(root);
    // Only the native walk reads the holders' files itself: without it this compared JS with JS.
    assert.ok(walk.processes !== undefined, "the native walk ran (dist/native/moat.node loads)");
    const native = ownersFrom(walk, root);
    const js = ownersFrom(walkSocketFdsJs(root), root);
    for (const inode of [...wanted, 100_055, 999_999]) assert.deepEqual(native.of(inode), js.of(inode));
  });
});

describe("SortedHolders", () => {
  it("finds each inode's pids in sorted, repeat-free pairs, as a map of them does", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 9 }))),
        (list) => {
          const pairs = [...new Map(list.map(([i, p]) => [`${i}/${p}`, [i, p] as const])).values()].sort(
            (a, b) => a[0] - b[0] || a[1] - b[1],
          );
          const holders = new SortedHolders(Uint32Array.from(pairs.flat()));
          for (let inode = -1; inode <= 41; inode++) {
            const want = pairs.filter(([i]) => i === inode).map(([, p]) => p);
            const n = holders.find(inode);
            assert.deepEqual(
              Array.from({ length: n }, (_, k) => holders.pid(k)),
              want,
            );
          }
        },
      ),
    );
  });
});

describe("readProcSockets on a copied /proc", () => {
  it("reads the committed fixture exactly", async () => {
    const table = await readProcSockets({ procRoot: FIXTURE });
    const owners = [
      { name: "python3", pid: 10143, unit: "moat-fixture.service", cmdline: "/usr/bin/python3 listen.py" },
      { name: "python3", pid: 10145, unit: "moat-fixture.service", cmdline: "/usr/bin/python3 listen.py" },
    ];
    const s = (
      protocol: "tcp" | "udp",
      family: "ipv4" | "ipv6",
      address: string,
      port: number,
      inode: number,
    ) =>
      ({
        protocol,
        family,
        address,
        port,
        device: null,
        inode,
        netns: null,
        processes: owners,
        ownerUnknown: null,
      }) satisfies Socket;
    assert.deepEqual(table, {
      source: `proc-root:${FIXTURE}`,
      host: "vm",
      sockets: [
        s("tcp", "ipv4", "0.0.0.0", 8080, 22396),
        s("tcp", "ipv6", "::1", 9090, 22397),
        s("udp", "ipv4", "127.0.0.1", 5353, 22398),
        s("udp", "ipv6", "::", 11211, 22399),
      ],
      warnings: [],
    });
  });

  it("says how to make a copy when the directory is not one", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-notproc-"));
    try {
      await assert.rejects(
        readProcSockets({ procRoot: dir }),
        (e: unknown) =>
          e instanceof InputError &&
          e.place?.file === `${dir}/net/tcp` &&
          /does not look like a copied \/proc/.test(e.message) &&
          /copy-proc\.sh/.test(e.message),
      );
      // IPv6 tables may be missing (IPv6 disabled): not an error
      mkdirSync(`${dir}/net`);
      writeFileSync(`${dir}/net/tcp`, "  sl  local_address rem_address   st\n");
      writeFileSync(`${dir}/net/udp`, "  sl  local_address rem_address   st\n");
      assert.deepEqual((await readProcSockets({ procRoot: dir })).sockets, []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("readProcSockets on the live /proc", () => {
  const tcp = net.createServer();
  const udp = dgram.createSocket({ type: "udp6" });
  before(async () => {
    await new Promise<void>((resolve) => tcp.listen(0, "127.0.0.1", resolve));
    await new Promise<void>((resolve) => udp.bind(0, "::", resolve));
  });
  after(() => {
    tcp.close();
    udp.close();
  });

  it("finds this process's TCP listener and UDP socket with pid and name", async (t) => {
    const t0 = performance.now();
    const table = await readProcSockets();
    t.diagnostic(
      `live read of ${table.sockets.length} sockets with owners: ${(performance.now() - t0).toFixed(1)} ms`,
    );
    assert.equal(table.source, "procfs");
    const tcpPort = (tcp.address() as net.AddressInfo).port;
    const udpPort = udp.address().port;
    const mine = (s: Socket) => s.processes.some((p) => p.pid === process.pid);
    const t4 = table.sockets.filter((s) => s.protocol === "tcp" && s.port === tcpPort && mine(s));
    const u6 = table.sockets.filter((s) => s.protocol === "udp" && s.port === udpPort && mine(s));
    assert.equal(t4.length, 1);
    assert.equal(u6.length, 1);
    assert.deepEqual([t4[0]!.family, t4[0]!.address, t4[0]!.netns], ["ipv4", "127.0.0.1", null]);
    assert.deepEqual([u6[0]!.family, u6[0]!.address], ["ipv6", "::"]);
    const me = t4[0]!.processes.find((p) => p.pid === process.pid)!;
    assert.equal(me.name, "node");
    assert.match(me.cmdline ?? "", /node/);
    assert.equal(t4[0]!.ownerUnknown, null);
  });

  it("scripts/copy-proc.sh makes a copy that reads back the same", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-copy-"));
    try {
      const script = fileURLToPath(new URL("../../scripts/copy-proc.sh", import.meta.url));
      await new Promise<void>((resolve, reject) =>
        execFile("sh", [script, dir, String(process.pid)], (err, _out, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(),
        ),
      );
      const port = (tcp.address() as net.AddressInfo).port;
      const copy = await readProcSockets({ procRoot: dir });
      const live = await readProcSockets();
      const found = copy.sockets.find((s) => s.protocol === "tcp" && s.port === port);
      assert.deepEqual(
        found?.processes.map((p) => [p.pid, p.name]),
        [[process.pid, "node"]],
      );
      assert.deepEqual(
        found,
        live.sockets.find((s) => s.inode === found?.inode),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("as an unprivileged user, says the owner is not visible", {
    skip: isRoot ? false : "needs root to drop to user nobody with setpriv",
  }, async () => {
    const port = (tcp.address() as net.AddressInfo).port;
    const procfs = fileURLToPath(new URL("../../src/host/procfs.ts", import.meta.url));
    const code = `import { readProcSockets } from ${JSON.stringify(procfs)}; console.log(JSON.stringify(await readProcSockets()));`;
    const out = await runAsNobody(code);
    const table = JSON.parse(out) as { sockets: Socket[]; warnings: string[] };
    const mine = table.sockets.find((s) => s.protocol === "tcp" && s.port === port);
    assert.ok(mine, "the root-owned listener is still listed");
    assert.deepEqual(mine.processes, []);
    assert.equal(mine.ownerUnknown, OWNER_NOT_VISIBLE);
    assert.ok(table.warnings.some((w) => /run moat as root/.test(w)));
  });
});
