/**
 * CoAP (RFC 7252) resource discovery (RFC 6690): a confirmable GET for /.well-known/core. The message
 * id and the token both carry the cookie: a piggybacked answer comes in an ACK with our message id, a
 * separate answer comes later as CON/NON with a new message id and our token. The reply lists the
 * device's resources in link-format, often far larger than the 23-byte request.
 */
import type { Cookie, ProbeResult, UdpProbe } from "./types.js";

const VERSION = 1;
const CON = 0;
const NON = 1;
const ACK = 2;
const RST = 3;
const GET = 0x01;
const URI_PATH = 11;
const CONTENT_FORMAT = 12;
const BLOCK2 = 23;
const PAYLOAD_MARKER = 0xff;
const MAX_RESOURCES = 32;
const MAX_URI = 256;

function token(cookie: Cookie): Buffer {
  const t = Buffer.alloc(2);
  t.writeUInt16BE(cookie.id & 0xffff, 0);
  return t;
}

interface Message {
  type: number;
  code: number;
  messageId: number;
  token: Buffer;
  options: { number: number; value: Buffer }[];
  payload: Buffer;
}

/** Option delta/length nibble: 13 and 14 take 1 or 2 extension bytes, 15 is reserved. */
function extended(nibble: number, buf: Buffer, pos: number): { value: number; next: number } | null {
  if (nibble < 13) return { value: nibble, next: pos };
  if (nibble === 13) return pos < buf.length ? { value: buf[pos]! + 13, next: pos + 1 } : null;
  if (nibble === 14)
    return pos + 2 <= buf.length ? { value: buf.readUInt16BE(pos) + 269, next: pos + 2 } : null;
  return null;
}

function readHeader(buf: Buffer): { type: number; tkl: number; code: number; messageId: number } | null {
  if (buf.length < 4) return null;
  const first = buf[0]!;
  const tkl = first & 0x0f;
  if (first >> 6 !== VERSION || tkl > 8 || buf.length < 4 + tkl) return null;
  return { type: (first >> 4) & 0x03, tkl, code: buf[1]!, messageId: buf.readUInt16BE(2) };
}

/** The whole message; null on a malformed option. Each option consumes at least one byte. */
function readMessage(buf: Buffer): Message | null {
  const h = readHeader(buf);
  if (h === null) return null;
  const options: Message["options"] = [];
  let pos = 4 + h.tkl;
  let number = 0;
  let payload: Buffer = Buffer.alloc(0);
  while (pos < buf.length) {
    const b = buf[pos++]!;
    if (b === PAYLOAD_MARKER) {
      payload = buf.subarray(pos);
      if (payload.length === 0) return null; // a marker must be followed by payload
      break;
    }
    const delta = extended(b >> 4, buf, pos);
    if (delta === null) return null;
    const length = extended(b & 0x0f, buf, delta.next);
    if (length === null || length.next + length.value > buf.length) return null;
    number += delta.value;
    options.push({ number, value: buf.subarray(length.next, length.next + length.value) });
    pos = length.next + length.value;
  }
  return {
    type: h.type,
    code: h.code,
    messageId: h.messageId,
    token: buf.subarray(4, 4 + h.tkl),
    options,
    payload,
  };
}

function codeText(code: number): string {
  return `${code >> 5}.${(code & 0x1f).toString().padStart(2, "0")}`;
}

function isResponseCode(code: number): boolean {
  const cls = code >> 5;
  return cls === 2 || cls === 4 || cls === 5;
}

function uint(value: Buffer): number {
  let n = 0;
  for (const b of value.subarray(0, 4)) n = n * 256 + b;
  return n;
}

/** Target URIs of a link-format body (RFC 6690): the `<...>` parts, capped. */
function resources(payload: Buffer): string[] {
  const out: string[] = [];
  for (const m of payload.toString("utf8").matchAll(/<([^<>]{0,256})>/g)) {
    out.push(m[1]!.slice(0, MAX_URI).replace(/[^\x20-\x7e]/g, "?"));
    if (out.length >= MAX_RESOURCES) break;
  }
  return out;
}

export const coapProbe: UdpProbe = {
  id: "coap",
  service: "coap",
  transport: "udp",
  ports: [5683],
  request(cookie: Cookie): Buffer {
    const header = Buffer.from([(VERSION << 6) | (CON << 4) | 2, GET, 0, 0]);
    header.writeUInt16BE(cookie.id & 0xffff, 2);
    const wellKnown = Buffer.from(".well-known", "ascii");
    const core = Buffer.from("core", "ascii");
    return Buffer.concat([
      header,
      token(cookie),
      Buffer.from([(URI_PATH << 4) | wellKnown.length]), // delta 11, length 11
      wellKnown,
      Buffer.from([core.length]), // delta 0 (Uri-Path again), length 4
      core,
    ]);
  },
  match(reply: Buffer, cookie: Cookie): boolean {
    const h = readHeader(reply);
    if (h === null) return false;
    const ourToken = reply.subarray(4, 4 + h.tkl).equals(token(cookie));
    if (h.type === ACK || h.type === RST) {
      if (h.messageId !== (cookie.id & 0xffff)) return false;
      return h.code === 0 ? h.tkl === 0 : isResponseCode(h.code) && ourToken;
    }
    return (h.type === CON || h.type === NON) && isResponseCode(h.code) && ourToken;
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    const msgs = replies.map(readMessage).filter((m): m is Message => m !== null);
    const answer = msgs.find((m) => isResponseCode(m.code));
    if (answer === undefined) {
      const first = msgs[0];
      if (first === undefined || first.code !== 0 || (first.type !== ACK && first.type !== RST)) return null;
      const reset = first.type === RST;
      return {
        fields: {
          code: reset ? "RST" : "0.00",
          resources: [],
          resource_count: 0,
          content_format: null,
          more_blocks: false,
        },
        abusable: false,
        note: reset
          ? "A CoAP endpoint answered with a reset: present, but it did not serve resource discovery."
          : "A CoAP endpoint acknowledged the request; no response followed in time.",
      };
    }
    const option = (n: number) => answer.options.find((o) => o.number === n)?.value;
    const format = option(CONTENT_FORMAT);
    const block2 = option(BLOCK2);
    const content = answer.code >> 5 === 2;
    const list = content ? resources(answer.payload) : [];
    return {
      fields: {
        code: codeText(answer.code),
        resources: list,
        resource_count: list.length,
        content_format: format === undefined ? null : uint(format),
        // Block2 M bit (RFC 7959): the listing continues in further blocks.
        more_blocks: block2 !== undefined && block2.length > 0 && (block2[block2.length - 1]! & 0x08) !== 0,
      },
      abusable: content,
      note: content
        ? "CoAP answers resource discovery from anywhere: a reflector (~10-50x)."
        : `A CoAP endpoint answered ${codeText(answer.code)} to resource discovery: present, small replies.`,
    };
  },
};
