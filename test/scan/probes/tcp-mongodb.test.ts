import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { tcpMongodbProbe as probe, readBsonScalars } from "../../../src/scan/probes/tcp-mongodb.js";
import { checkTcpRobust, hex } from "./never-throws.js";

// A BSON writer for the tests (bsonspec.org 1.1), independent of the reader under test.
type Val = number | string | boolean | null | { doc: [string, Val][] } | { arr: Val[] } | { i32: number };
function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`, "utf8");
}
function el(name: string, v: Val): Buffer {
  const b = (t: number, body: Buffer) => Buffer.concat([Buffer.from([t]), cstr(name), body]);
  if (v === null) return b(0x0a, Buffer.alloc(0));
  if (typeof v === "boolean") return b(0x08, Buffer.from([v ? 1 : 0]));
  if (typeof v === "number") {
    const d = Buffer.alloc(8);
    d.writeDoubleLE(v);
    return b(0x01, d);
  }
  if (typeof v === "string") {
    const s = cstr(v);
    const l = Buffer.alloc(4);
    l.writeInt32LE(s.length);
    return b(0x02, Buffer.concat([l, s]));
  }
  if ("i32" in v) {
    const d = Buffer.alloc(4);
    d.writeInt32LE(v.i32);
    return b(0x10, d);
  }
  if ("arr" in v) return b(0x04, bson(v.arr.map((x, i) => [String(i), x])));
  return b(0x03, bson(v.doc));
}
function bson(pairs: [string, Val][]): Buffer {
  const body = Buffer.concat(pairs.map(([k, v]) => el(k, v)));
  const doc = Buffer.alloc(4 + body.length + 1);
  doc.writeInt32LE(doc.length);
  body.copy(doc, 4);
  return doc;
}

const HELLO = bson([
  ["topologyVersion", { doc: [["counter", { i32: 0 }]] }],
  ["hosts", { arr: ["db1.example.net:27017", "db2.example.net:27017"] }],
  ["setName", "rs0"],
  ["ismaster", true],
  ["maxBsonObjectSize", { i32: 16777216 }],
  ["maxWireVersion", { i32: 21 }],
  ["minWireVersion", { i32: 0 }],
  ["readOnly", false],
  ["ok", 1],
]);

function header(length: number, responseTo: number, op: number): Buffer {
  const h = Buffer.alloc(16);
  h.writeInt32LE(length, 0);
  h.writeInt32LE(7, 4);
  h.writeInt32LE(responseTo, 8);
  h.writeInt32LE(op, 12);
  return h;
}
/** OP_REPLY: responseFlags, cursorID (8), startingFrom, numberReturned 1, the document. */
function opReply(doc: Buffer, responseTo = 0x6d6f6174): Buffer {
  const body = Buffer.concat([hex("00000000 0000000000000000 00000000 01000000"), doc]);
  return Buffer.concat([header(16 + body.length, responseTo, 1), body]);
}
/** OP_MSG: flagBits 0, one section of kind 0. */
function opMsg(doc: Buffer): Buffer {
  const body = Buffer.concat([hex("00000000 00"), doc]);
  return Buffer.concat([header(16 + body.length, 0x6d6f6174, 2013), body]);
}

describe("tcp-mongodb probe", () => {
  it("sends OP_QUERY isMaster on admin.$cmd", () => {
    const a = (s: string) => Buffer.from(s, "ascii").toString("hex");
    assert.deepEqual(
      probe.request,
      hex(`3a000000 74616f6d 00000000 d4070000 00000000 ${a("admin.$cmd")}00 00000000 ffffffff
           13000000 10 ${a("isMaster")}00 01000000 00`),
    );
    assert.equal(probe.request?.length, 58);
  });

  it("parses an OP_REPLY isMaster answer", () => {
    const r = probe.parse(opReply(HELLO));
    assert.ok(r);
    assert.equal(r.fields.max_wire_version, 21);
    assert.equal(r.fields.min_wire_version, 0);
    assert.equal(r.fields.is_primary, true);
    assert.equal(r.fields.set_name, "rs0");
    assert.equal(r.fields.router, false);
    assert.equal(r.fields.ok, 1);
    assert.equal(r.fields.version, null);
  });

  it("parses an OP_MSG answer and a version when present", () => {
    const r = probe.parse(
      opMsg(
        bson([
          ["msg", "isdbgrid"],
          ["maxWireVersion", { i32: 25 }],
          ["version", "8.0.4"],
          ["ok", 1],
        ]),
      ),
    );
    assert.equal(r?.fields.router, true);
    assert.equal(r?.fields.version, "8.0.4");
  });

  it("reports an error reply", () => {
    const r = probe.parse(
      opReply(
        bson([
          ["ok", 0],
          ["errmsg", "Unsupported OP_QUERY command: isMaster"],
          ["code", { i32: 352 }],
        ]),
      ),
    );
    assert.equal(r?.fields.ok, 0);
    assert.equal(r?.fields.error, "Unsupported OP_QUERY command: isMaster");
  });

  it("rejects replies to other requests and other services", () => {
    assert.equal(probe.parse(opReply(HELLO, 1)), null);
    assert.equal(
      probe.parse(Buffer.from("HTTP/1.0 200 OK\r\n\r\nIt looks like you are trying to access MongoDB")),
      null,
    );
    assert.equal(probe.parse(opReply(HELLO).subarray(0, 60)), null, "document cut short");
  });

  it("survives BSON length bombs", () => {
    assert.equal(readBsonScalars(hex("ffffff7f 00"), 0), null);
    assert.equal(readBsonScalars(hex("0c000000 03 6100 ffffff7f 00 00"), 0), null);
    assert.equal(readBsonScalars(hex("0c000000 02 6100 00000080 00 00"), 0), null);
    assert.equal(readBsonScalars(hex("0c000000 05 6100 ffffffff 00 00"), 0), null);
    assert.deepEqual(readBsonScalars(hex("05000000 00"), 0), new Map());
  });

  it("never throws on hostile data", () => {
    checkTcpRobust(probe, [opReply(HELLO), opMsg(HELLO)]);
  });
});
