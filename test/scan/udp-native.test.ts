/**
 * The native UDP socket (native/udp.c, src/scan/udp-native.ts): the error-queue parser over crafted,
 * truncated and random control messages, the event-record decoder over truncated and random bytes,
 * the send records' bounds, and the socket itself on loopback (a real kernel's ICMP errors and replies).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import dgram from "node:dgram";
import { before, describe, it } from "node:test";
import fc from "fast-check";
import {
  decodeEvents,
  destination,
  EVENT_HEADER,
  ipv4Key,
  NativeUdpSocket,
  SEND_HEADER,
  type UdpAddon,
} from "../../src/scan/udp-native.js";
import { testUdpAddon } from "./helpers/native-udp.js";

// Linux x86-64/arm64 layouts: struct cmsghdr { size_t len; int level; int type; }, then
// struct sock_extended_err { u32 errno; u8 origin, type, code, pad; u32 info; u32 data; }.
const SOL_IP = 0;
const IP_RECVERR = 11;
const SOL_IPV6 = 41;
const IPV6_RECVERR = 25;
const ORIGIN_LOCAL = 1;
const ORIGIN_ICMP = 2;
const ORIGIN_ICMP6 = 3;
const ECONNREFUSED = 111;

function extendedErr(
  origin: number,
  type: number,
  code: number,
  errno: number,
  level = SOL_IP,
  cmsgType = IP_RECVERR,
): Buffer {
  const b = Buffer.alloc(16 + 16 + 16); // header, sock_extended_err, the offender's sockaddr_in
  b.writeBigUInt64LE(48n, 0); // CMSG_LEN of both, as ip_recv_error puts them
  b.writeInt32LE(level, 8);
  b.writeInt32LE(cmsgType, 12);
  b.writeUInt32LE(errno, 16);
  b[20] = origin;
  b[21] = type;
  b[22] = code;
  return b;
}

function sockaddrIn(address: string, port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(2, 0); // AF_INET, host order
  b.writeUInt16BE(port, 2);
  address.split(".").forEach((x, i) => {
    b[4 + i] = Number(x);
  });
  return b;
}

function sockaddrIn6(port: number, last: number): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16LE(10, 0); // AF_INET6
  b.writeUInt16BE(port, 2);
  b[8 + 15] = last; // 2001:db8::<last>
  b[8] = 0x20;
  b[9] = 0x01;
  b[10] = 0x0d;
  b[11] = 0xb8;
  return b;
}

describe("native UDP socket: the error-queue parser", () => {
  let addon: UdpAddon;
  before(() => {
    addon = testUdpAddon();
  });

  it("reads an ICMP port unreachable: the original destination, type, code and errno", () => {
    const rec = addon.udpParseError(
      sockaddrIn("198.51.100.7", 161),
      extendedErr(ORIGIN_ICMP, 3, 3, ECONNREFUSED),
    )!;
    assert.equal(rec.length, EVENT_HEADER);
    assert.deepEqual([...rec.subarray(0, 8)], [2, 4, 0, 161, ORIGIN_ICMP, 3, 3, ECONNREFUSED]);
    assert.deepEqual([...rec.subarray(8, 12)], [198, 51, 100, 7]);
    const icmp: [number | string, string][] = [];
    decodeEvents(rec, { datagram: () => assert.fail("no datagram"), icmp: (k, c) => icmp.push([k, c]) });
    assert.deepEqual(icmp, [[destination("198.51.100.7", "ipv4", 161).key, "ECONNREFUSED"]]);
  });

  it("reads an ICMPv6 error to an IPv6 destination", () => {
    const control = extendedErr(ORIGIN_ICMP6, 1, 4, ECONNREFUSED, SOL_IPV6, IPV6_RECVERR);
    const rec = addon.udpParseError(sockaddrIn6(53, 9), control)!;
    assert.equal(rec[1], 6);
    const keys: (number | string)[] = [];
    decodeEvents(rec, { datagram: () => {}, icmp: (k) => keys.push(k) });
    assert.deepEqual(keys, [destination("2001:db8::9", "ipv6", 53).key]);
  });

  it("skips errors that are not ICMP (a local EMSGSIZE) and messages without an extended error", () => {
    assert.equal(addon.udpParseError(sockaddrIn("192.0.2.1", 9), extendedErr(ORIGIN_LOCAL, 0, 0, 90)), null);
    assert.equal(addon.udpParseError(sockaddrIn("192.0.2.1", 9), Buffer.alloc(0)), null);
    const other = extendedErr(ORIGIN_ICMP, 3, 3, ECONNREFUSED, SOL_IP, 8 /* IP_PKTINFO */);
    assert.equal(addon.udpParseError(sockaddrIn("192.0.2.1", 9), other), null);
  });

  it("refuses malformed messages: lengths past the buffer, a short extended error, a wrong address", () => {
    const name = sockaddrIn("192.0.2.1", 9);
    const long = extendedErr(ORIGIN_ICMP, 3, 3, ECONNREFUSED);
    long.writeBigUInt64LE(4096n, 0);
    assert.throws(() => addon.udpParseError(name, long), RangeError);
    const short = extendedErr(ORIGIN_ICMP, 3, 3, ECONNREFUSED);
    short.writeBigUInt64LE(20n, 0);
    assert.throws(() => addon.udpParseError(name, short), RangeError);
    const good = extendedErr(ORIGIN_ICMP, 3, 3, ECONNREFUSED);
    assert.throws(() => addon.udpParseError(name.subarray(0, 8), good), RangeError);
    assert.throws(
      () => addon.udpParseError(sockaddrIn6(9, 1), good),
      RangeError,
      "ICMPv4 error, IPv6 address",
    );
  });

  it("never crashes on a truncated control message or name, at any length", () => {
    const name = sockaddrIn("203.0.113.5", 1900);
    const control = extendedErr(ORIGIN_ICMP, 3, 3, ECONNREFUSED);
    for (let n = 0; n <= control.length; n++)
      for (const nameLength of [0, 2, 8, 15, 16]) {
        try {
          const r = addon.udpParseError(name.subarray(0, nameLength), control.subarray(0, n));
          assert.ok(r === null || r.length === EVENT_HEADER);
        } catch (error) {
          assert.ok(error instanceof RangeError, String(error));
        }
      }
  });

  it("never crashes on random control bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 32 }), (control, name) => {
        try {
          const r = addon.udpParseError(Buffer.from(name), Buffer.from(control));
          return r === null || r.length === EVENT_HEADER;
        } catch (error) {
          return error instanceof RangeError;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe("native UDP socket: event records", () => {
  function datagramRecord(address: string, port: number, payload: Buffer): Buffer {
    const r = Buffer.alloc(EVENT_HEADER + payload.length);
    r[0] = 1;
    r[1] = 4;
    r.writeUInt16BE(port, 2);
    r.writeUInt32LE(payload.length, 4);
    address.split(".").forEach((x, i) => {
      r[8 + i] = Number(x);
    });
    payload.copy(r, EVENT_HEADER);
    return r;
  }

  it("decodes datagrams as views with their source's key", () => {
    const events = Buffer.concat([
      datagramRecord("198.51.100.1", 11211, Buffer.from("STAT pid 1")),
      datagramRecord("255.255.255.255", 65535, Buffer.alloc(0)),
    ]);
    const got: [number | string, string][] = [];
    const n = decodeEvents(events, {
      datagram: (k, p) => got.push([k, p.toString()]),
      icmp: () => assert.fail("no icmp"),
    });
    assert.equal(n, 2);
    assert.deepEqual(got, [
      [ipv4Key(0xc6336401, 11211), "STAT pid 1"],
      [ipv4Key(0xffffffff, 65535), ""],
    ]);
  });

  it("stops at a record that does not fit or is of an unknown kind or family, at any truncation", () => {
    const one = datagramRecord("192.0.2.9", 53, Buffer.from("answer"));
    const two = Buffer.concat([one, one]);
    for (let n = 0; n <= two.length; n++) {
      let seen = 0;
      decodeEvents(two.subarray(0, n), { datagram: () => seen++, icmp: () => seen++ });
      assert.equal(seen, Math.floor(n / one.length), `at ${n} bytes`);
    }
    const unknown = Buffer.from(one);
    unknown[0] = 9;
    assert.equal(decodeEvents(Buffer.concat([unknown, one]), { datagram: () => {}, icmp: () => {} }), 0);
    const family = Buffer.from(one);
    family[1] = 5;
    assert.equal(decodeEvents(family, { datagram: () => {}, icmp: () => {} }), 0);
  });

  it("never throws on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const n = decodeEvents(Buffer.from(bytes), { datagram: () => {}, icmp: () => {} });
        return n >= 0;
      }),
      { numRuns: 2000 },
    );
  });
});

describe("native UDP socket on loopback", () => {
  let addon: UdpAddon;
  before(() => {
    addon = testUdpAddon();
  });

  it("learns a closed port from the error queue and reads a reply, on one unconnected socket", async () => {
    const server = dgram.createSocket("udp4");
    server.on("message", (msg, rinfo) =>
      server.send(Buffer.concat([Buffer.from("re:"), msg]), rinfo.port, rinfo.address),
    );
    await new Promise<void>((resolve) => server.bind(0, "127.0.0.1", resolve));
    const closed = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => closed.bind(0, "127.0.0.1", resolve));
    const closedPort = closed.address().port;
    await new Promise<void>((resolve) => closed.close(resolve));

    const seen: string[] = [];
    const sent: string[] = [];
    let done: () => void;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    const open = destination("127.0.0.1", "ipv4", server.address().port);
    const shut = destination("127.0.0.1", "ipv4", closedPort);
    const note = (line: string) => {
      seen.push(line);
      if (seen.length === 2) done();
    };
    const socket = new NativeUdpSocket<string>(addon, "ipv4", {
      datagram: (key, payload) => note(`${key === open.key ? "open" : key} ${payload}`),
      icmp: (key, code) => note(`${key === shut.key ? "closed" : key} ${code}`),
      sent: (tag) => sent.push(tag),
      refused: (code) => assert.fail(code),
      backlog: () => {},
    });
    try {
      assert.ok(socket.port > 0);
      socket.queue(open, Buffer.from("hello"), "a");
      socket.queue(shut, Buffer.from("anyone?"), "b");
      assert.equal(socket.queued, true);
      for (let i = 0; i < 200 && socket.queued; i++) {
        socket.flush();
        if (socket.queued) await new Promise((r) => setTimeout(r, 5));
      }
      assert.deepEqual(sent, ["a", "b"], "each datagram reported sent once, in order");
      await finished;
      assert.deepEqual(seen.sort(), ["closed ECONNREFUSED", "open re:hello"]);
    } finally {
      socket.close();
      server.close();
    }
  });

  it("reads a backlog larger than one call takes over several calls, saying there is more", async () => {
    // 4,500 datagrams wait in the socket before it is read (more than the 4,096 events of one call).
    const received: number[] = [];
    let backlogs = 0;
    const socket = new NativeUdpSocket<string>(addon, "ipv4", {
      datagram: (_key, payload) => received.push(payload.readUInt16BE(0)),
      icmp: () => {},
      sent: () => {},
      refused: (code) => assert.fail(code),
      backlog: () => backlogs++,
    });
    try {
      const count = 4500;
      // spawnSync blocks this thread until the sender is done: nothing is read meanwhile.
      const sender = spawnSync(
        process.execPath,
        [
          "-e",
          `const s = require("node:dgram").createSocket("udp4");
           let i = 0;
           const next = () => {
             if (i === ${count}) return s.close();
             const b = Buffer.alloc(2); b.writeUInt16BE(i++);
             s.send(b, ${socket.port}, "127.0.0.1", next);
           };
           next();`,
        ],
        { stdio: "ignore", timeout: 20_000 },
      );
      assert.equal(sender.status, 0);
      for (let i = 0; i < 200 && received.length < count; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(received.length, count);
      assert.deepEqual(received.slice(0, 3), [0, 1, 2], "in order");
      assert.ok(backlogs >= 1, "the first call said there was more");
    } finally {
      socket.close();
    }
  });

  it("refuses send records that run past the end", () => {
    const socket = addon.udpOpen(4, 0, () => {});
    try {
      const record = Buffer.alloc(SEND_HEADER + 4);
      record.writeUInt16LE(5, 18); // says 5 payload bytes, has 4
      assert.throws(() => addon.udpSend(socket, record, 0, record.length, new Int32Array(4)), RangeError);
      assert.throws(() => addon.udpSend(socket, record, 0, record.length + 1, new Int32Array(4)), TypeError);
      assert.throws(() => addon.udpSend(socket, record, 0, 3, new Float64Array(4) as never), TypeError);
    } finally {
      addon.udpClose(socket);
    }
  });
});
