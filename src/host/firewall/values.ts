/**
 * Value helpers shared by the nft and iptables parsers: addresses, networks with masks, protocol and
 * ICMP type names. Each returns null on text it cannot read, so the caller decides whether that is an
 * input error (a broken address) or an unknown (a name it does not know).
 */
import { formatAddress, parseAddressResult } from "../../net/cidr.js";
import type { Family } from "../types.js";
import { type AddressItem, ICMP_TYPES, ICMPV6_TYPES, PROTOCOL_NUMBERS } from "./model.js";

/** A network "addr/len" or "addr/dotted-mask", or a bare address; host bits are cleared as the kernel does. */
export function parseNetwork(text: string, family?: Family): AddressItem | null {
  const slash = text.indexOf("/");
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const address = parseAddressResult(addressText);
  if (!address.ok || (family !== undefined && address.value.family !== family)) return null;
  const { family: fam, words } = address.value;
  const max = fam === "ipv4" ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const maskText = text.slice(slash + 1);
    if (/^\d{1,3}$/.test(maskText)) prefix = Number(maskText);
    else {
      const mask = parseAddressResult(maskText);
      if (!mask.ok || mask.value.family !== fam) return null;
      prefix = contiguousPrefix(mask.value.words);
      if (prefix < 0) return null;
    }
    if (prefix > max) return null;
  }
  const network = words.map((word, i) => word & maskWord(prefix - 32 * i));
  return { family: fam, kind: "prefix", address: formatAddress({ family: fam, words: network }), prefix };
}

/** An inclusive address range "a-b" or two texts; null when they differ in family or run backwards. */
export function parseAddressRange(first: string, last: string): AddressItem | null {
  const a = parseAddressResult(first);
  const b = parseAddressResult(last);
  if (!a.ok || !b.ok || a.value.family !== b.value.family) return null;
  if (addressToBigInt(a.value.words) > addressToBigInt(b.value.words)) return null;
  return {
    family: a.value.family,
    kind: "range",
    first: formatAddress(a.value),
    last: formatAddress(b.value),
  };
}

function maskWord(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return -1;
  return (-1 << (32 - bits)) | 0;
}

/** Prefix length of a contiguous mask, or -1 for a mask like 255.0.255.0 that no prefix expresses. */
function contiguousPrefix(words: Int32Array): number {
  let prefix = 0;
  let ended = false;
  for (const word of words) {
    for (let bit = 31; bit >= 0; bit--) {
      const set = ((word >>> bit) & 1) === 1;
      if (set && ended) return -1;
      if (set) prefix++;
      else ended = true;
    }
  }
  return prefix;
}

export function addressToBigInt(words: Int32Array): bigint {
  let value = 0n;
  for (const word of words) value = (value << 32n) | BigInt(word >>> 0);
  return value;
}

/** A protocol name or number as nft and iptables print it ("tcp", "ipv6-icmp", "47"). */
export function protocolNumber(value: string | number): number | null {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 && value <= 255 ? value : null;
  if (/^\d{1,3}$/.test(value)) return protocolNumber(Number(value));
  return PROTOCOL_NUMBERS[value.toLowerCase()] ?? null;
}

export function icmpTypeNumber(value: string | number, family: Family): number | null {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 && value <= 255 ? value : null;
  if (/^\d{1,3}$/.test(value)) return icmpTypeNumber(Number(value), family);
  const table = family === "ipv4" ? ICMP_TYPES : ICMPV6_TYPES;
  return Object.hasOwn(table, value) ? table[value]! : null;
}

/** "veth+" (iptables) and "veth*" (nft) both mean any name starting with "veth". */
export function interfaceMatches(pattern: string, name: string): boolean {
  if (pattern.endsWith("*") || pattern.endsWith("+")) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}
