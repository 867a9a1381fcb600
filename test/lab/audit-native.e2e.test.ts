/**
 * The native socket reader (netlink sock_diag, C fd walk) against the JavaScript one (/proc text,
 * readlinkSync) on a lab namespace: the same sockets with the same owners, through each layer and
 * through the whole `moat audit --json` (MOAT_NATIVE=0 forces the JavaScript path).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { nativeListeners } from "../../src/host/native.js";
import type { RawSocket } from "../../src/host/proc-net.js";
import { walkSocketFdsJs } from "../../src/host/processes.js";
import { readNetDir } from "../../src/host/procfs.js";
import { runMoat } from "../helpers/moat.js";
import { testAddon } from "../host/native-addon.js";
import { createLab, type Lab, labSkipReason } from "./lab.js";

const key = (s: RawSocket) => `${s.protocol} ${s.family} [${s.address}]:${s.port} ${s.inode}`;

describe("native and JavaScript socket readers agree", { skip: labSkipReason() }, () => {
  let lab: Lab;
  before(async () => {
    lab = await createLab({
      namespaces: [
        {
          role: "server",
          addresses: ["192.0.2.10/32", "2001:db8::10/128"],
          daemons: [
            {
              kind: "listener",
              name: "mixed",
              sockets: [
                { protocol: "tcp", address: "0.0.0.0", port: 40001 },
                { protocol: "tcp", address: "::", port: 40002 },
                { protocol: "tcp", address: "127.0.0.1", port: 40003 },
                { protocol: "tcp", address: "2001:db8::10", port: 40004 },
                { protocol: "udp", address: "0.0.0.0", port: 40005 },
                { protocol: "udp", address: "::1", port: 40006 },
                { protocol: "udp", address: "192.0.2.10", port: 40007 },
                { protocol: "udp", address: "::", port: 40008 },
              ],
            },
            { kind: "listener", name: "second", sockets: [{ protocol: "tcp", address: "::1", port: 40009 }] },
          ],
        },
      ],
    });
  });
  after(async () => {
    await lab?.destroy();
  });

  test("sock_diag lists the same sockets as /proc/net text", async () => {
    const addon = testAddon();
    const pid = lab.daemon("mixed").pid;
    const text = (await readNetDir(`/proc/${pid}/net`, false)).map(key).sort();
    const byName = await nativeListeners(`/run/netns/${lab.ns("server")}`, addon);
    const byPid = await nativeListeners(`/proc/${pid}/ns/net`, addon);
    assert.ok(byName !== null && byPid !== null);
    assert.equal(text.length, 9);
    assert.deepEqual(byName.map(key).sort(), text);
    assert.deepEqual(byPid.map(key).sort(), text);
  });

  test("the fd walks name the same owners for the lab's sockets", async () => {
    const addon = testAddon();
    const raw = await readNetDir(`/proc/${lab.daemon("mixed").pid}/net`, false);
    const fast = await addon.socketFds("/proc");
    const js = walkSocketFdsJs("/proc");
    for (const { inode } of raw) {
      const pids: number[] = [];
      for (let i = 0; i < fast.pairs.length; i += 2)
        if (fast.pairs[i] === inode) pids.push(fast.pairs[i + 1]!);
      assert.deepEqual([...new Set(pids)], js.pidsByInode.get(inode), `inode ${inode}`);
    }
  });

  test("moat audit --netns gives the same report either way", async () => {
    testAddon(); // the CLI loads the built addon
    const args = ["audit", "--netns", lab.ns("server"), "--json", "--no-firewall"];
    const [native, js] = await Promise.all([runMoat(args), runMoat(args, { env: { MOAT_NATIVE: "0" } })]);
    type Report = { generatedAt?: string; findings: unknown[] };
    const strip = (r: Report): Report => ({ ...r, generatedAt: undefined });
    const a = strip(native.json<Report>());
    assert.equal(a.findings.length, 9);
    assert.deepEqual(a, strip(js.json<Report>()));
  });
});
