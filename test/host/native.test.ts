/**
 * native/moat.c's netlink parser on crafted input (no root needed): well-formed sock_diag messages
 * decode to the sockets they describe; truncated, oversized or foreign messages are refused with
 * EPROTO, never read past the buffer; random bytes never crash it. Plus the /proc fd walk against
 * the JavaScript walk on this process's own sockets.
 */
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import fc from "fast-check";
import { decodeRecords, nativeSocketFds, RECORD_SIZE } from "../../src/host/native.js";
import { processInfoFrom, readProcessInfo, walkSocketFdsJs } from "../../src/host/processes.js";
import { formatIpv6Bytes } from "../../src/net/ipv6-text.js";
import { testAddon } from "./native-addon.js";

const addon = testAddon();
const TCP = 6;
const UDP = 17;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const SOCK_DIAG_BY_FAMILY = 20;
const HDR = 16;
const DIAG_MSG = 72; // struct inet_diag_msg

function header(len: number, type: number): Buffer {
  const h = Buffer.alloc(HDR);
  h.writeUInt32LE(len, 0);
  h.writeUInt16LE(type, 4);
  h.writeUInt16LE(2, 6); // NLM_F_MULTI
  return h;
}

interface Diag {
  family: 4 | 6;
  state: number;
  sport: number;
  dport?: number;
  src: number[];
  dst?: number[];
  inode: number;
}

function diagMessage(d: Diag): Buffer {
  const body = Buffer.alloc(DIAG_MSG);
  body[0] = d.family === 4 ? 2 : 10; // AF_INET, AF_INET6
  body[1] = d.state;
  body.writeUInt16BE(d.sport, 4);
  body.writeUInt16BE(d.dport ?? 0, 6);
  Buffer.from(d.src).copy(body, 8);
  Buffer.from(d.dst ?? []).copy(body, 24);
  body.writeUInt32LE(d.inode, 68);
  return Buffer.concat([header(HDR + DIAG_MSG, SOCK_DIAG_BY_FAMILY), body]);
}

const done = () => Buffer.concat([header(HDR + 4, NLMSG_DONE), Buffer.alloc(4)]);

function errorMessage(errno: number): Buffer {
  const body = Buffer.alloc(4 + HDR);
  body.writeInt32LE(-errno, 0);
  return Buffer.concat([header(HDR + body.length, NLMSG_ERROR), body]);
}

const V6_DOC = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];

describe("decodeRecords", () => {
  test("reads every field of any record, addresses repeated or not, as Buffer's readers do", () => {
    const record = fc.record({
      tcp: fc.boolean(),
      v4: fc.boolean(),
      port: fc.integer({ min: 0, max: 65535 }),
      inode: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      // few distinct addresses, so the per-decode address cache is hit as well as missed
      address: fc.constantFrom(
        [0, 0, 0, 0],
        [255, 255, 255, 255],
        [192, 0, 2, 10],
        V6_DOC,
        [0xfe, 0x80, ...Array(13).fill(0), 1],
        [...Array(10).fill(0), 0xff, 0xff, 127, 0, 0, 1],
        Array(16).fill(0xff),
      ),
    });
    fc.assert(
      fc.property(fc.array(record, { maxLength: 50 }), (records) => {
        const buf = Buffer.alloc(records.length * RECORD_SIZE);
        records.forEach((r, i) => {
          const at = i * RECORD_SIZE;
          buf[at] = r.tcp ? 6 : 17;
          buf[at + 1] = r.v4 ? 4 : 6;
          buf.writeUInt16LE(r.port, at + 2);
          buf.writeUInt32LE(r.inode, at + 4);
          Buffer.from(r.address).copy(buf, at + 8);
        });
        const expected = records.map((r, i) => {
          const a = i * RECORD_SIZE + 8;
          return {
            protocol: r.tcp ? "tcp" : "udp",
            family: r.v4 ? "ipv4" : "ipv6",
            address: r.v4 ? [...buf.subarray(a, a + 4)].join(".") : formatIpv6Bytes(buf.subarray(a, a + 16)),
            port: buf.readUInt16LE(a - 6),
            inode: buf.readUInt32LE(a - 4),
          };
        });
        assert.deepEqual(decodeRecords(buf), expected);
      }),
    );
  });
});

describe("native sock_diag parser", () => {
  test("decodes listeners and unconnected UDP like the /proc parser names them", () => {
    const messages = Buffer.concat([
      diagMessage({ family: 4, state: 10, sport: 11211, src: [127, 0, 0, 1], inode: 4242 }),
      diagMessage({ family: 6, state: 10, sport: 443, src: V6_DOC, inode: 7 }),
      done(),
    ]);
    assert.deepEqual(decodeRecords(addon.parseDiag(messages, TCP)), [
      { protocol: "tcp", family: "ipv4", address: "127.0.0.1", port: 11211, inode: 4242 },
      { protocol: "tcp", family: "ipv6", address: "2001:db8::10", port: 443, inode: 7 },
    ]);
    const udp = Buffer.concat([
      diagMessage({ family: 4, state: 7, sport: 53, src: [0, 0, 0, 0], inode: 1 }),
      // connected UDP (a peer address, state ESTABLISHED) exposes nothing: left out
      diagMessage({
        family: 4,
        state: 1,
        sport: 5000,
        dport: 53,
        src: [10, 0, 0, 1],
        dst: [9, 9, 9, 9],
        inode: 2,
      }),
      // state CLOSE but with a peer: still connected to one source
      diagMessage({
        family: 4,
        state: 7,
        sport: 5001,
        dport: 53,
        src: [0, 0, 0, 0],
        dst: [9, 9, 9, 9],
        inode: 3,
      }),
      done(),
    ]);
    assert.deepEqual(decodeRecords(addon.parseDiag(udp, UDP)), [
      { protocol: "udp", family: "ipv4", address: "0.0.0.0", port: 53, inode: 1 },
    ]);
  });

  test("TCP sockets in states other than LISTEN are connections, not services", () => {
    const established = diagMessage({ family: 4, state: 1, sport: 22, src: [10, 0, 0, 1], inode: 9 });
    assert.equal(addon.parseDiag(Buffer.concat([established, done()]), TCP).length, 0);
  });

  test("malformed messages are refused with EPROTO", () => {
    const good = diagMessage({ family: 4, state: 10, sport: 80, src: [0, 0, 0, 0], inode: 1 });
    const cases: Array<[string, Buffer]> = [
      ["shorter than a header", good.subarray(0, 10)],
      [
        "length below the header size",
        Buffer.concat([header(8, SOCK_DIAG_BY_FAMILY), Buffer.alloc(DIAG_MSG)]),
      ],
      ["length past the buffer", good.subarray(0, HDR + DIAG_MSG - 1)],
      [
        "body shorter than inet_diag_msg",
        Buffer.concat([header(HDR + 8, SOCK_DIAG_BY_FAMILY), Buffer.alloc(8)]),
      ],
      ["foreign message type", Buffer.concat([header(HDR + DIAG_MSG, 99), Buffer.alloc(DIAG_MSG)])],
      [
        "unknown address family",
        Buffer.concat([header(HDR + DIAG_MSG, SOCK_DIAG_BY_FAMILY), Buffer.alloc(DIAG_MSG)]),
      ],
      ["error message without its errno", header(HDR, NLMSG_ERROR)],
    ];
    for (const [what, bytes] of cases) {
      assert.throws(() => addon.parseDiag(bytes, TCP), { code: "EPROTO" }, what);
    }
  });

  test("an NLMSG_ERROR from the kernel surfaces its errno", () => {
    assert.throws(() => addon.parseDiag(errorMessage(1), TCP), { code: "EPERM" });
    assert.throws(() => addon.parseDiag(errorMessage(2), UDP), { code: "ENOENT" });
  });

  test("random and mutated bytes either parse or throw, and every record is whole", () => {
    const valid = Buffer.concat([
      diagMessage({ family: 6, state: 10, sport: 8080, src: V6_DOC, inode: 77 }),
      diagMessage({ family: 4, state: 10, sport: 22, src: [0, 0, 0, 0], inode: 78 }),
      done(),
    ]);
    const mutated = fc
      .array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 })
      .chain((edits) =>
        fc.nat(valid.length).map((cut) => {
          const b = Buffer.from(valid);
          for (const [at, value] of edits) b[at] = value;
          return b.subarray(0, cut);
        }),
      );
    const random = fc.uint8Array({ maxLength: 400 }).map((a) => Buffer.from(a));
    fc.assert(
      fc.property(fc.oneof(mutated, random), fc.constantFrom(TCP, UDP), (bytes, protocol) => {
        let out: Buffer;
        try {
          out = addon.parseDiag(bytes, protocol);
        } catch (err) {
          assert.ok(err instanceof Error && typeof (err as NodeJS.ErrnoException).code === "string");
          return;
        }
        assert.equal(out.length % 24, 0);
        for (const s of decodeRecords(out)) assert.ok(s.port >= 0 && s.port <= 65535);
      }),
      { numRuns: 2000 },
    );
  });

  test("wrong argument types are a TypeError, not a crash", () => {
    assert.throws(() => addon.parseDiag("x" as unknown as Buffer, TCP), TypeError);
    assert.throws(() => addon.listeners(42 as unknown as string), TypeError);
    assert.throws(() => addon.socketFds(null as unknown as string), TypeError);
  });
});

describe("native /proc fd walk", () => {
  test("finds this process's listening socket exactly as the JavaScript walk does", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const fast = await nativeSocketFds("/proc", addon);
      assert.ok(fast !== null);
      const js = walkSocketFdsJs("/proc");
      const mine = new Set<number>();
      for (let i = 0; i < fast.pairs.length; i += 2)
        if (fast.pairs[i + 1] === process.pid) mine.add(fast.pairs[i]!);
      const jsMine = [...js.pidsByInode]
        .filter(([, pids]) => pids.includes(process.pid))
        .map(([inode]) => inode);
      assert.ok(mine.size > 0, "the listening socket is one of this process's fds");
      assert.deepEqual([...mine].sort(), jsMine.sort());
      // It holds a socket, so the walk read its files too: the same as reading them afterwards.
      const at = fast.owners.indexOf(process.pid);
      assert.ok(at >= 0 && at % 4 === 0, "this process is among the socket owners");
      const [comm, cgroup, cmdline] = fast.owners.slice(at + 1, at + 4) as [string, string, string];
      assert.deepEqual(
        processInfoFrom(process.pid, comm, cgroup, cmdline),
        readProcessInfo("/proc", process.pid),
      );
    } finally {
      server.close();
    }
  });

  test("a missing /proc root is an error the caller can fall back from", async () => {
    assert.equal(await nativeSocketFds("/nonexistent-proc-root", addon), null);
    await assert.rejects(addon.socketFds("/nonexistent-proc-root"), { code: "ENOENT" });
  });
});
