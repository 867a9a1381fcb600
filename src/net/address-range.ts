/**
 * Addresses as integers, for reasoning about whole ranges: which sources a firewall lets through,
 * written back as the fewest CIDRs. Not a hot path: clarity over speed.
 */
import ipaddr from "ipaddr.js";
import type { Family } from "../host/types.js";

export const FAMILY_BITS: Record<Family, number> = { ipv4: 32, ipv6: 128 };

export function addressToBig(address: string): { family: Family; value: bigint } {
  const ip = ipaddr.parse(address);
  let value = 0n;
  for (const byte of ip.toByteArray()) value = (value << 8n) | BigInt(byte);
  return { family: ip.kind() === "ipv4" ? "ipv4" : "ipv6", value };
}

export function bigToAddress(family: Family, value: bigint): string {
  const bytes: number[] = [];
  for (let i = FAMILY_BITS[family] / 8 - 1; i >= 0; i--) bytes.push(Number((value >> BigInt(i * 8)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

/** First and last address of a network. */
export function cidrBounds(family: Family, address: string, prefix: number): [bigint, bigint] {
  const host = BigInt(FAMILY_BITS[family] - prefix);
  const first = (addressToBig(address).value >> host) << host;
  return [first, first + (1n << host) - 1n];
}

/** The fewest CIDRs that cover exactly [first, last]. */
export function rangeToCidrs(family: Family, first: bigint, last: bigint): string[] {
  const bits = FAMILY_BITS[family];
  const out: string[] = [];
  let start = first;
  while (start <= last) {
    // The largest block that starts at `start` (aligned) and does not pass `last`.
    let size = 0;
    while (
      size < bits &&
      (start & ((1n << BigInt(size + 1)) - 1n)) === 0n &&
      start + (1n << BigInt(size + 1)) - 1n <= last
    ) {
      size++;
    }
    out.push(`${bigToAddress(family, start)}/${bits - size}`);
    start += 1n << BigInt(size);
  }
  return out;
}
