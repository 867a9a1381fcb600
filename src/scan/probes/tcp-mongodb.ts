/**
 * MongoDB (wire protocol, "Legacy Opcodes" and "OP_MSG"): an OP_QUERY `isMaster` on `admin.$cmd`. It
 * is the one legacy request every server from 2.x to 8.x still answers — 5.1+ kept it for the driver
 * handshake — and needs no authentication. The answer is an OP_REPLY (or OP_MSG) whose document
 * carries maxWireVersion, which dates the server. A tiny BSON reader takes the top-level scalars only.
 */
import type { ProbeResult, TcpProbe } from "./types.js";

const OP_REPLY = 1;
const OP_QUERY = 2004;
const OP_MSG = 2013;
const REQUEST_ID = 0x6d6f6174; // "moat": the reply's responseTo must repeat it
const HEADER = 16;
const MAX_STRING = 256;
/** Elements read from one document: an isMaster reply has ~20. */
const MAX_ELEMENTS = 128;

type Scalar = string | number | boolean | null;

/** {isMaster: 1} as BSON. */
function isMasterDoc(): Buffer {
  const name = Buffer.from("isMaster\0", "ascii");
  const doc = Buffer.alloc(4 + 1 + name.length + 4 + 1);
  doc.writeInt32LE(doc.length, 0);
  doc[4] = 0x10; // int32
  name.copy(doc, 5);
  doc.writeInt32LE(1, 5 + name.length);
  return doc; // last byte 0: end of document
}

function opQuery(): Buffer {
  const collection = Buffer.from("admin.$cmd\0", "ascii");
  const body = Buffer.alloc(4);
  const tail = Buffer.alloc(8);
  tail.writeInt32LE(0, 0); // numberToSkip
  tail.writeInt32LE(-1, 4); // numberToReturn: one batch, close the cursor
  const msg = Buffer.concat([Buffer.alloc(HEADER), body, collection, tail, isMasterDoc()]);
  msg.writeInt32LE(msg.length, 0);
  msg.writeInt32LE(REQUEST_ID, 4);
  msg.writeInt32LE(OP_QUERY, 12);
  return msg;
}

/** Fixed-size BSON value lengths; strings, documents and binaries are handled separately. */
const FIXED: Record<number, number> = {
  1: 8,
  6: 0,
  7: 12,
  8: 1,
  9: 8,
  10: 0,
  16: 4,
  17: 8,
  18: 8,
  19: 16,
  127: 0,
  255: 0,
};

/**
 * Top-level scalar elements of the BSON document at `offset`; nested documents and arrays are skipped
 * by their length, never entered. Null when a length or name runs past the document.
 */
export function readBsonScalars(buf: Buffer, offset: number): Map<string, Scalar> | null {
  if (offset < 0 || offset + 5 > buf.length) return null;
  const size = buf.readInt32LE(offset);
  const end = offset + size;
  if (size < 5 || end > buf.length || buf[end - 1] !== 0) return null;
  const out = new Map<string, Scalar>();
  let pos = offset + 4;
  for (let n = 0; n < MAX_ELEMENTS; n++) {
    const type = buf[pos]!;
    if (type === 0) return out; // end of document (pos < end is guaranteed below)
    const nul = buf.indexOf(0, pos + 1);
    if (nul < 0 || nul >= end - 1) return null;
    const name = buf.subarray(pos + 1, nul).toString("utf8");
    const v = nul + 1;
    let value: Scalar | undefined;
    let len: number;
    const fixed = FIXED[type];
    if (fixed !== undefined) {
      len = fixed;
      if (v + len > end - 1) return null;
      if (type === 0x01) value = buf.readDoubleLE(v);
      else if (type === 0x08) value = buf[v] !== 0;
      else if (type === 0x10) value = buf.readInt32LE(v);
      else if (type === 0x12) value = Number(buf.readBigInt64LE(v));
      else if (type === 0x0a) value = null;
    } else if (type === 0x02 || type === 0x0d || type === 0x0e) {
      // string: int32 length including its NUL
      if (v + 4 > end - 1) return null;
      const sl = buf.readInt32LE(v);
      if (sl < 1 || v + 4 + sl > end - 1) return null;
      value = buf.subarray(v + 4, v + 4 + Math.min(sl - 1, MAX_STRING)).toString("utf8");
      len = 4 + sl;
    } else if (type === 0x03 || type === 0x04 || type === 0x0f) {
      // document, array, code-with-scope: int32 total length including itself
      if (v + 4 > end - 1) return null;
      len = buf.readInt32LE(v);
      if (len < 5) return null;
    } else if (type === 0x05) {
      if (v + 4 > end - 1) return null;
      const bl = buf.readInt32LE(v);
      if (bl < 0) return null;
      len = 4 + 1 + bl;
    } else {
      return null; // regex, DBPointer or unknown: not in an isMaster reply
    }
    if (v + len > end - 1) return null;
    if (value !== undefined && !out.has(name))
      out.set(name, typeof value === "number" && !Number.isFinite(value) ? null : value);
    pos = v + len;
  }
  return out;
}

/** The reply document's offset for OP_REPLY and OP_MSG (first section of kind 0); -1 otherwise. */
function documentOffset(data: Buffer): number {
  if (data.length < HEADER) return -1;
  const length = data.readInt32LE(0);
  if (length < HEADER || data.readInt32LE(8) !== REQUEST_ID) return -1;
  const op = data.readInt32LE(12);
  if (op === OP_REPLY)
    return data.length >= HEADER + 20 && data.readInt32LE(HEADER + 16) >= 1 ? HEADER + 20 : -1;
  if (op === OP_MSG) return data.length > HEADER + 5 && data[HEADER + 4] === 0 ? HEADER + 5 : -1;
  return -1;
}

export const tcpMongodbProbe: TcpProbe = {
  id: "tcp-mongodb",
  service: "mongodb",
  transport: "tcp",
  ports: [27017],
  request: opQuery(),
  parse(data: Buffer): ProbeResult | null {
    const offset = documentOffset(data);
    if (offset < 0) return null;
    const doc = readBsonScalars(data, offset);
    if (doc === null) return null;
    const num = (k: string): number | null => {
      const v = doc.get(k);
      return typeof v === "number" ? v : null;
    };
    const str = (k: string): string | null => {
      const v = doc.get(k);
      return typeof v === "string" ? v.replace(/[^\x20-\x7e]/g, "?") : null;
    };
    const primary = doc.get("isWritablePrimary") ?? doc.get("ismaster");
    const ok = num("ok") ?? (doc.get("ok") === true ? 1 : null);
    if (ok === null && num("maxWireVersion") === null) return null; // not a command reply
    return {
      fields: {
        max_wire_version: num("maxWireVersion"),
        min_wire_version: num("minWireVersion"),
        version: str("version"),
        is_primary: typeof primary === "boolean" ? primary : null,
        set_name: str("setName"),
        router: str("msg") === "isdbgrid",
        ok,
        error: str("errmsg"),
      },
      abusable: false,
      note:
        ok === 1
          ? "MongoDB answers from here; isMaster needs no login, so whether data needs one is not tested."
          : "MongoDB answers from here but refused isMaster.",
    };
  },
};
