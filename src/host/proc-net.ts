/**
 * Parser for the kernel's socket tables /proc/net/{tcp,tcp6,udp,udp6}.
 *
 * A line looks like
 *   "   0: 0100007F:2BCB 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0  0 1161 1 ..."
 * i.e. slot, local addr:port, remote addr:port, state, tx:rx queue, timer, retransmits, uid, timeout,
 * inode, then fields that differ between tcp and udp (ref count, pointer, ...).
 *
 * This runs on every audit over tables that can hold tens of thousands of rows, so it walks the bytes
 * once with a lookup table instead of splitting strings or running a regex per line.
 */

import { InputError } from "../errors.js";
import { formatIpv6Bytes } from "../net/ipv6-text.js";
import type { Family, Protocol } from "./types.js";

/** One listening socket as the kernel table shows it, before any process is joined to it. */
export interface RawSocket {
  protocol: Protocol;
  family: Family;
  address: string;
  port: number;
  inode: number;
}

/**
 * Which rows describe something that accepts traffic from others:
 * - TCP 0A (TCP_LISTEN): a listener. Every other TCP state is one connection, not a service.
 * - UDP 07 (TCP_CLOSE, which the kernel reuses for UDP) with an all-zero remote address: a bound,
 *   unconnected socket that takes datagrams from any source. A connected UDP socket (state 01) only
 *   receives from its one peer, so it exposes nothing.
 */
const TCP_LISTEN = 0x0a;
const UDP_UNCONNECTED = 0x07;

/** Hex digit value per byte, -1 for anything else. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[0x41 + i] = 10 + i;
  HEX[0x61 + i] = 10 + i;
}

const NL = 0x0a;
const COLON = 0x3a;
const ZERO = 0x30;

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Two hex digits at `at` as one byte; the caller has checked they are hex. */
function hexByte(buf: Buffer, at: number): number {
  return (HEX[buf[at]!]! << 4) | HEX[buf[at + 1]!]!;
}

// Reused by every call: formatting is synchronous, and allocating typed arrays per row costs more
// than the rest of the row's parse.
const SCRATCH_BYTES = new Uint8Array(16);

/** IPv4 from the kernel's "%08X" of the address as a little-endian u32: "0100007F" is 127.0.0.1. */
export function formatIpv4Hex(buf: Buffer, at: number): string {
  return `${hexByte(buf, at + 6)}.${hexByte(buf, at + 4)}.${hexByte(buf, at + 2)}.${hexByte(buf, at)}`;
}

/**
 * IPv6 from four "%08X" little-endian u32 words, in RFC 5952 form (lower case, longest run of two or
 * more zero groups shortened to "::", the first one on a tie), with IPv4-mapped addresses written
 * "::ffff:a.b.c.d" as ss and the rest of moat write them.
 */
export function formatIpv6Hex(buf: Buffer, at: number): string {
  const b = SCRATCH_BYTES;
  for (let w = 0; w < 4; w++) {
    const base = at + w * 8;
    b[w * 4] = hexByte(buf, base + 6);
    b[w * 4 + 1] = hexByte(buf, base + 4);
    b[w * 4 + 2] = hexByte(buf, base + 2);
    b[w * 4 + 3] = hexByte(buf, base);
  }
  return formatIpv6Bytes(b);
}

/**
 * Parse one table. `file` names it in errors; `protocol` and `family` say which table it is (the text
 * does not). Returns listening TCP and unconnected UDP sockets only (see TCP_LISTEN above).
 * Any malformed, truncated or foreign line is an InputError naming the file and 1-based line.
 */
export function parseProcNet(
  input: Buffer | string,
  file: string,
  protocol: Protocol,
  family: Family,
): RawSocket[] {
  const buf = typeof input === "string" ? Buffer.from(input, "utf8") : input;
  const len = buf.length;
  const addrLen = family === "ipv4" ? 8 : 32;
  const wanted = protocol === "tcp" ? TCP_LISTEN : UDP_UNCONNECTED;
  const out: RawSocket[] = [];
  let line = 1;

  let end = buf.indexOf(NL);
  if (end < 0) end = len;
  checkHeader(buf.toString("latin1", 0, end), file, protocol, family);

  let p = end + 1;
  while (p < len) {
    line++;
    end = buf.indexOf(NL, p);
    if (end < 0) end = len;
    while (p < end && isBlank(buf[p]!)) p++;
    if (p === end) {
      p = end + 1; // blank line: the kernel never writes one, but it carries no socket either
      continue;
    }

    // slot: decimal digits and a colon
    const slot = p;
    while (p < end && isDigit(buf[p]!)) p++;
    if (p === slot || buf[p] !== COLON)
      bad("expected a slot number like '12:' first", file, line, protocol, family);
    p++;

    // local address and port
    while (p < end && isBlank(buf[p]!)) p++;
    const local = p;
    p =
      skipAddress(buf, p, end, addrLen) ??
      bad(`local address is not ${addrLen} hex digits ':' port`, file, line, protocol, family);
    const localPort = (hexByte(buf, local + addrLen + 1) << 8) | hexByte(buf, local + addrLen + 3);

    // remote address and port; zero everywhere means "not connected"
    while (p < end && isBlank(buf[p]!)) p++;
    const remote = p;
    p =
      skipAddress(buf, p, end, addrLen) ??
      bad(`remote address is not ${addrLen} hex digits ':' port`, file, line, protocol, family);
    let remoteZero = true;
    for (let i = remote; i < p; i++) {
      const c = buf[i]!;
      if (c !== ZERO && c !== COLON) {
        remoteZero = false;
        break;
      }
    }

    // state: two hex digits
    while (p < end && isBlank(buf[p]!)) p++;
    if (p + 2 > end || HEX[buf[p]!]! < 0 || HEX[buf[p + 1]!]! < 0)
      bad("state is not two hex digits", file, line, protocol, family);
    const state = hexByte(buf, p);
    p += 2;
    if (p < end && !isBlank(buf[p]!)) bad("state is not two hex digits", file, line, protocol, family);

    // tx:rx, timer, retransmits, uid, timeout: present, not used
    for (let f = 0; f < 5; f++) {
      while (p < end && isBlank(buf[p]!)) p++;
      if (p === end) bad("line ends before the inode column", file, line, protocol, family);
      while (p < end && !isBlank(buf[p]!)) p++;
    }

    // inode: decimal
    while (p < end && isBlank(buf[p]!)) p++;
    const inodeStart = p;
    let inode = 0;
    while (p < end && isDigit(buf[p]!)) inode = inode * 10 + (buf[p++]! - ZERO);
    if (p === inodeStart || (p < end && !isBlank(buf[p]!)))
      bad("inode is not a decimal number", file, line, protocol, family);
    if (p - inodeStart > 15) bad("inode is too large", file, line, protocol, family);

    // Both tcp and udp print at least a reference count and a pointer after the inode; requiring
    // them catches a line cut inside the inode, which would otherwise still look like a number.
    for (let f = 0; f < 2; f++) {
      while (p < end && isBlank(buf[p]!)) p++;
      if (p === end) bad("line is truncated after the inode column", file, line, protocol, family);
      while (p < end && !isBlank(buf[p]!)) p++;
    }

    if (state === wanted && (protocol === "tcp" || remoteZero)) {
      const address = family === "ipv4" ? formatIpv4Hex(buf, local) : formatIpv6Hex(buf, local);
      out.push({ protocol, family, address, port: localPort, inode });
    }
    p = end + 1;
  }
  return out;
}

function bad(what: string, file: string, line: number, protocol: Protocol, family: Family): never {
  throw new InputError(`not a /proc/net/${tableName(protocol, family)} line: ${what}`, { file, line });
}

/** "HEX{addrLen}:HEX{4}" then a blank or the end; returns the index after it, or null. */
function skipAddress(buf: Buffer, p: number, end: number, addrLen: number): number | null {
  const stop = p + addrLen + 5;
  if (stop > end) return null;
  for (let i = p; i < p + addrLen; i++) if (HEX[buf[i]!]! < 0) return null;
  if (buf[p + addrLen] !== COLON) return null;
  for (let i = p + addrLen + 1; i < stop; i++) if (HEX[buf[i]!]! < 0) return null;
  if (stop < end && !isBlank(buf[stop]!)) return null;
  return stop;
}

function tableName(protocol: Protocol, family: Family): string {
  return family === "ipv4" ? protocol : `${protocol}6`;
}

/** The header names the columns; its first two must be "sl" and "local_address". */
function checkHeader(header: string, file: string, protocol: Protocol, family: Family): void {
  const cols = header.trim().split(/\s+/);
  if (cols[0] !== "sl" || cols[1] !== "local_address") {
    const what = header.trim() === "" ? "the file is empty" : `found "${header.trim().slice(0, 60)}"`;
    throw new InputError(
      `expected the /proc/net/${tableName(protocol, family)} header line "sl local_address ...", ${what}`,
      { file, line: 1 },
    );
  }
}
