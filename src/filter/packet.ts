/**
 * Packets as people write them to ask "what would the filter do with this?":
 *
 *   udp 203.0.113.9:4444 > 198.51.100.10:11211
 *   tcp [2001:db8::1]:5555 > [2001:db8::2]:22
 *   icmp 192.0.2.1 > 192.0.2.2          icmpv6 2001:db8::1 > 2001:db8::2
 *   udp 192.0.2.1 > 192.0.2.2 frag      a second or later fragment: no ports
 *   ip 192.0.2.1 > 192.0.2.2            any other protocol
 *
 * Hand-written rather than a regex so that an error can name the column, and so that a million
 * lines of `--packets` parse quickly.
 */
import { InputError } from "../errors.js";
import type { Family } from "../host/types.js";
import { formatAddress, parseAddressResult } from "../net/cidr.js";
import type { Packet } from "./types.js";

export type PacketResult = { ok: true; value: Packet } | { ok: false; message: string; column: number };

const PROTOCOLS: Record<string, Packet["protocol"]> = {
  tcp: "tcp",
  udp: "udp",
  icmp: "icmp",
  icmpv6: "icmpv6",
  ip: "other",
  other: "other",
};

export const PACKET_SYNTAX = "PROTOCOL SOURCE[:PORT] > DESTINATION[:PORT] [frag]";

interface Endpoint {
  family: Family;
  address: string;
  port: number | null;
}

type EndpointResult = { ok: true; value: Endpoint } | { ok: false; message: string; column: number };

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}
  skipSpace(): void {
    while (this.pos < this.text.length && isSpace(this.text.charCodeAt(this.pos))) this.pos++;
  }
  /** The next run of characters up to a space or `>`; empty at the end. */
  word(): { text: string; column: number } {
    this.skipSpace();
    const start = this.pos;
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (isSpace(c) || c === 62 /* > */) break;
      this.pos++;
    }
    return { text: this.text.slice(start, this.pos), column: start + 1 };
  }
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 13;
}

export function parsePacketResult(text: string): PacketResult {
  const scan = new Scanner(text);
  const proto = scan.word();
  if (proto.text === "") return fail(`an empty packet; write ${PACKET_SYNTAX}`, 1);
  const protocol = PROTOCOLS[proto.text.toLowerCase()];
  if (protocol === undefined)
    return fail(
      `unknown protocol "${proto.text}"; use tcp, udp, icmp, icmpv6 or ip (any other)`,
      proto.column,
    );
  const src = scan.word();
  if (src.text === "") return fail(`a source address is missing; write ${PACKET_SYNTAX}`, src.column);
  scan.skipSpace();
  if (text.charCodeAt(scan.pos) !== 62)
    return fail(`expected ">" between source and destination; write ${PACKET_SYNTAX}`, scan.pos + 1);
  scan.pos++;
  const dst = scan.word();
  if (dst.text === "") return fail(`a destination address is missing; write ${PACKET_SYNTAX}`, dst.column);
  const flag = scan.word();
  let fragment = false;
  if (flag.text !== "") {
    if (flag.text !== "frag" && flag.text !== "fragment")
      return fail(
        `unexpected "${flag.text}"; only "frag" (a second or later fragment) may follow`,
        flag.column,
      );
    fragment = true;
    const rest = scan.word();
    if (rest.text !== "") return fail(`unexpected "${rest.text}" after "frag"`, rest.column);
  }
  const source = parseEndpoint(src.text, src.column);
  if (!source.ok) return source;
  const destination = parseEndpoint(dst.text, dst.column);
  if (!destination.ok) return destination;
  return checkPacket(
    protocol,
    source.value,
    destination.value,
    fragment,
    proto.column,
    src.column,
    dst.column,
  );
}

function checkPacket(
  protocol: Packet["protocol"],
  src: Endpoint,
  dst: Endpoint,
  fragment: boolean,
  protoColumn: number,
  srcColumn: number,
  dstColumn: number,
): PacketResult {
  if (src.family !== dst.family)
    return fail(`the source is ${name(src.family)} but the destination ${name(dst.family)}`, dstColumn);
  if (protocol === "icmp" && src.family === "ipv6")
    return fail("icmp is IPv4's ICMP; write icmpv6 for an IPv6 packet", protoColumn);
  if (protocol === "icmpv6" && src.family === "ipv4")
    return fail("icmpv6 is IPv6 only; write icmp for an IPv4 packet", protoColumn);
  const wantsPorts = (protocol === "tcp" || protocol === "udp") && !fragment;
  for (const [end, column] of [
    [src, srcColumn],
    [dst, dstColumn],
  ] as const) {
    if (wantsPorts && end.port === null)
      return fail(
        `a ${protocol} packet needs a port here (${end.family === "ipv6" ? `[${end.address}]:PORT` : `${end.address}:PORT`})`,
        column,
      );
    if (!wantsPorts && end.port !== null) {
      const why = fragment
        ? "a second or later fragment carries no ports"
        : `${protocol === "other" ? "ip" : protocol} has no ports`;
      return fail(`no port here: ${why}`, column);
    }
  }
  return {
    ok: true,
    value: {
      protocol,
      family: src.family,
      source: src.address,
      destination: dst.address,
      sourcePort: src.port,
      destinationPort: dst.port,
      fragment,
    },
  };
}

function parseEndpoint(text: string, column: number): EndpointResult {
  let addressText = text;
  let portText: string | null = null;
  let portColumn = column;
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0) return fail(`"${text}": an opening "[" without "]"`, column);
    addressText = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return fail(`"${text}": expected ":PORT" after "]"`, column + close + 1);
      portText = rest.slice(1);
      portColumn = column + close + 2;
    }
  } else {
    const first = text.indexOf(":");
    // One colon: address:port. Several: a bare IPv6 address, which cannot carry a port.
    if (first >= 0 && text.indexOf(":", first + 1) < 0) {
      addressText = text.slice(0, first);
      portText = text.slice(first + 1);
      portColumn = column + first + 1;
    }
  }
  const address = parseAddressResult(addressText);
  if (!address.ok) return fail(address.message, column);
  if (text.startsWith("[") && address.value.family === "ipv4")
    return fail(`"${text}": brackets are for IPv6 addresses; write ${addressText}:PORT`, column);
  let port: number | null = null;
  if (portText !== null) {
    if (!/^(0|[1-9]\d{0,4})$/.test(portText) || Number(portText) > 65535)
      return fail(`"${portText}" is not a port (0-65535)`, portColumn);
    port = Number(portText);
  }
  const canonical = address.value.family === "ipv4" ? addressText : formatAddress(address.value);
  return { ok: true, value: { family: address.value.family, address: canonical, port } };
}

function fail(message: string, column: number): { ok: false; message: string; column: number } {
  return { ok: false, message, column };
}

function name(family: Family): string {
  return family === "ipv4" ? "IPv4" : "IPv6";
}

/** One packet from `--packet`: errors quote the text and name the column. */
export function parsePacket(text: string): Packet {
  const result = parsePacketResult(text);
  if (!result.ok) throw new InputError(`packet "${text}", column ${result.column}: ${result.message}`);
  return result.value;
}

/**
 * Packets one per line (`--packets FILE|-`): `#` starts a comment, blank lines are skipped, an
 * error names file:line:column.
 */
export function parsePacketLines(text: string, file: string): Packet[] {
  const packets: Packet[] = [];
  let line = 0;
  // A byte-order mark (Windows editors write one) is not part of the first packet.
  let start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (start <= text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    line++;
    const whole = text.slice(start, end);
    const hash = whole.indexOf("#");
    const content = hash >= 0 ? whole.slice(0, hash) : whole;
    start = end + 1;
    if (content.trim() === "") continue;
    const result = parsePacketResult(content);
    if (!result.ok)
      throw new InputError(`${result.message} (in "${content.trim()}")`, {
        file,
        line,
        column: result.column,
      });
    packets.push(result.value);
  }
  return packets;
}

/** The text form of a packet; parsePacket(formatPacket(p)) equals p. */
export function formatPacket(packet: Packet): string {
  const protocol = packet.protocol === "other" ? "ip" : packet.protocol;
  const v6 = packet.family === "ipv6";
  const text = `${protocol} ${endpoint(packet.source, packet.sourcePort, v6)} > ${endpoint(packet.destination, packet.destinationPort, v6)}`;
  return packet.fragment ? `${text} frag` : text;
}

function endpoint(address: string, port: number | null, v6: boolean): string {
  if (port === null) return address;
  return v6 ? `[${address}]:${port}` : `${address}:${port}`;
}
