/**
 * Addresses and networks as numbers. Text is parsed once (IPv4 by hand because it is the hot case,
 * IPv6 through ipaddr.js) into 32-bit words; containment is then a few integer operations, which is
 * what the filter evaluator, the scanner's scope checks and the linter need.
 */
import ipaddr from "ipaddr.js";
import type { Cidr } from "../filter/types.js";
import type { Family } from "../host/types.js";

/** An address as 32-bit words: one word for IPv4, four (most significant first) for IPv6. */
export interface IpBits {
  family: Family;
  words: Int32Array;
}

/** A network prepared for containment tests: `words & masks === network`, word by word. */
export interface CompiledCidr {
  family: Family;
  words: Int32Array;
  masks: Int32Array;
}

export type ParseResult<T> = { ok: true; value: T } | { ok: false; message: string };

const ok = <T>(value: T): ParseResult<T> => ({ ok: true, value });
const fail = <T>(message: string): ParseResult<T> => ({ ok: false, message });

/**
 * Strict dotted-quad IPv4 as an unsigned 32-bit number, or -1. Leading zeros are refused because
 * some tools read "010" as octal (8) and others as decimal (10): such an address is ambiguous.
 */
export function parseIpv4Number(text: string, start = 0, end = text.length): number {
  let value = 0;
  let part = -1;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero
      part = digits === 0 ? c - 48 : part * 10 + (c - 48);
      digits++;
      if (part > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + part;
      dots++;
      digits = 0;
      part = -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + part;
}

/**
 * IPv6 text (RFC 4291 forms: "::" once, 1-4 hex digits a group, an IPv4 tail) into four words.
 * Hand-written because ipaddr.js's parser takes microseconds and the evaluator meets one per packet.
 */
export function parseIpv6Words(text: string, out: Int32Array): boolean {
  const n = text.length;
  const groups: number[] = [];
  let gap = -1; // index in `groups` where "::" stands
  let i = 0;
  if (n >= 2 && text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    const start = i;
    let value = 0;
    for (; i < n; i++) {
      const digit = hexValue(text.charCodeAt(i));
      if (digit < 0) break;
      if (i - start === 4) return false;
      value = value * 16 + digit;
    }
    if (i < n && text.charCodeAt(i) === 46) {
      const v4 = parseIpv4Number(text, start, n);
      if (v4 < 0) return false;
      groups.push(v4 >>> 16, v4 & 0xffff);
      break;
    }
    if (i === start) return false;
    groups.push(value);
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) return false;
    i++;
    if (i < n && text.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = groups.length;
      i++;
    } else if (i === n) {
      return false;
    }
  }
  if (gap >= 0 ? groups.length > 7 : groups.length !== 8) return false;
  const full = new Array<number>(8).fill(0);
  if (gap < 0) for (let k = 0; k < 8; k++) full[k] = groups[k]!;
  else {
    for (let k = 0; k < gap; k++) full[k] = groups[k]!;
    const tail = groups.length - gap;
    for (let k = 0; k < tail; k++) full[8 - tail + k] = groups[gap + k]!;
  }
  for (let k = 0; k < 4; k++) out[k] = (full[2 * k]! << 16) | full[2 * k + 1]!;
  return true;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** An IPv4 or IPv6 address (no prefix, no zone) as words. */
export function parseAddressResult(text: string): ParseResult<IpBits> {
  const v4 = parseIpv4Number(text);
  if (v4 >= 0) return ok({ family: "ipv4", words: Int32Array.of(v4 | 0) });
  if (text.includes(":")) {
    if (text.includes("%")) return fail(`"${text}" has a zone index (%...); write the address alone`);
    const words = new Int32Array(4);
    if (!parseIpv6Words(text, words)) return fail(`"${text}" is not a valid IPv6 address`);
    return ok({ family: "ipv6", words });
  }
  if (/^[\d.]+$/.test(text) && /(^|\.)0\d/.test(text))
    return fail(`"${text}" has a leading zero, which some tools read as octal; write it without`);
  return fail(`"${text}" is not an IPv4 or IPv6 address`);
}

export function parseAddress(text: string): IpBits {
  const result = parseAddressResult(text);
  if (!result.ok) throw new Error(result.message);
  return result.value;
}

/** The canonical text of an address: dotted quad, or RFC 5952 compressed IPv6. */
export function formatAddress(bits: IpBits): string {
  if (bits.family === "ipv4") {
    const v = bits.words[0]! >>> 0;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const parts: number[] = [];
  for (const word of bits.words) parts.push((word >>> 16) & 0xffff, word & 0xffff);
  return new ipaddr.IPv6(parts).toString();
}

function maskWords(family: Family, prefix: number): Int32Array {
  const masks = new Int32Array(family === "ipv4" ? 1 : 4);
  for (let i = 0; i < masks.length; i++) {
    const bits = Math.max(0, Math.min(32, prefix - 32 * i));
    masks[i] = bits === 0 ? 0 : (-1 << (32 - bits)) | 0;
  }
  return masks;
}

/**
 * "203.0.113.0/24", "2001:db8::/32", or a single address (a /32 or /128). Host bits must be zero:
 * "203.0.113.5/24" is refused with the network the writer probably meant, because a filter that
 * silently widened it would not be the filter they reviewed.
 */
export function parseCidrResult(text: string): ParseResult<Cidr> {
  const trimmed = text.trim();
  if (trimmed === "") return fail("an empty address; write an address or network such as 203.0.113.0/24");
  const slash = trimmed.indexOf("/");
  const addressText = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const address = parseAddressResult(addressText);
  if (!address.ok) return address;
  const { family, words } = address.value;
  const max = family === "ipv4" ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const prefixText = trimmed.slice(slash + 1);
    if (!/^(0|[1-9]\d{0,2})$/.test(prefixText) || Number(prefixText) > max)
      return fail(`"${trimmed}": the prefix length must be a number from 0 to ${max}`);
    prefix = Number(prefixText);
  }
  const masks = maskWords(family, prefix);
  const network = words.map((word, i) => word & masks[i]!);
  const canonical = formatAddress({ family, words: network });
  if (network.some((word, i) => word !== words[i]))
    return fail(`${trimmed} has host bits set; did you mean ${canonical}/${prefix}?`);
  return ok({ family, address: canonical, prefix });
}

export function parseCidr(text: string): Cidr {
  const result = parseCidrResult(text);
  if (!result.ok) throw new Error(result.message);
  return result.value;
}

/** "203.0.113.0/24"; a single host is written as its bare address. */
export function formatCidr(cidr: Cidr): string {
  return cidr.prefix === (cidr.family === "ipv4" ? 32 : 128)
    ? cidr.address
    : `${cidr.address}/${cidr.prefix}`;
}

export function compileCidr(cidr: Cidr): CompiledCidr {
  const { words } = parseAddress(cidr.address);
  const masks = maskWords(cidr.family, cidr.prefix);
  return { family: cidr.family, words: words.map((w, i) => w & masks[i]!), masks };
}

/** The hot-path test: no allocation, a handful of integer operations. */
export function compiledContains(net: CompiledCidr, address: IpBits): boolean {
  if (net.family !== address.family) return false;
  const { words, masks } = net;
  const a = address.words;
  for (let i = 0; i < words.length; i++) if ((a[i]! & masks[i]!) !== words[i]) return false;
  return true;
}

// Compiled forms are cached per Cidr object: callers pass the same rule objects many times.
const compiledCache = new WeakMap<Cidr, CompiledCidr>();

/** Whether `address` (text or parsed) lies inside `cidr`; an address of the other family never does. */
export function cidrContains(cidr: Cidr, address: string | IpBits): boolean {
  let net = compiledCache.get(cidr);
  if (net === undefined) {
    net = compileCidr(cidr);
    compiledCache.set(cidr, net);
  }
  const bits = typeof address === "string" ? parseAddressResult(address) : ok(address);
  return bits.ok && compiledContains(net, bits.value);
}
