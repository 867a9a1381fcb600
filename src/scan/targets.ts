/**
 * Scan targets as users write them: addresses, CIDRs, ranges ("192.0.2.1-192.0.2.9", "192.0.2.1-9"),
 * host names, one per argument or one per line of a --targets-file. Each becomes one interval of
 * addresses; nothing is expanded here (scope.ts decides what may be sent to, intervals.ts iterates).
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { readFileSync } from "node:fs";
import { InputError, type InputPlace } from "../errors.js";
import { FAMILY_BITS } from "../net/address-range.js";
import {
  type IpBits,
  type ParseResult,
  parseAddress,
  parseAddressResult,
  parseCidrResult,
} from "../net/cidr.js";
import type { Interval } from "./intervals.js";

/** One target as written; `hostname` only for names, which are resolved before planning. */
export interface TargetSpec {
  /** The text as the user wrote it, for messages. */
  text: string;
  place?: InputPlace;
  /** The addresses it names; empty for a host name until resolved. */
  intervals: Interval[];
  hostname?: string;
}

/** RFC 1123 host name: letters, digits, dashes; labels of 1-63; a trailing dot allowed. */
const HOSTNAME =
  /^(?=.{1,253}\.?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;
/** Digits and dots only: meant as an IPv4 address, never a host name ("10.1.1", "010.0.0.1"). */
const NUMERIC = /^[\d.]+$/;

const fail = (message: string): ParseResult<TargetSpec> => ({ ok: false, message });

/** The address as one integer; from the strict parser's words (ipaddr.js misreads "::a.b.c.d"). */
export function bitsToBig(bits: IpBits): bigint {
  let value = 0n;
  for (const word of bits.words) value = (value << 32n) | BigInt(word >>> 0);
  return value;
}

function point(bits: IpBits): Interval {
  const value = bitsToBig(bits);
  return { family: bits.family, first: value, last: value };
}

function parseRange(text: string, dash: number): ParseResult<TargetSpec> {
  const left = text.slice(0, dash);
  const right = text.slice(dash + 1);
  const start = parseAddressResult(left);
  if (!start.ok) return fail(`"${text}": ${start.message}`);
  let endText = right;
  if (start.value.family === "ipv4" && /^\d{1,3}$/.test(right)) {
    // "192.0.2.10-20": the end replaces the last octet.
    endText = `${left.slice(0, left.lastIndexOf(".") + 1)}${right}`;
  }
  const end = parseAddressResult(endText);
  if (!end.ok) return fail(`"${text}": the end of the range: ${end.message}`);
  if (end.value.family !== start.value.family)
    return fail(`"${text}": a range starts and ends in the same address family`);
  const first = bitsToBig(start.value);
  const last = bitsToBig(end.value);
  if (last < first) return fail(`"${text}": the range ends before it starts`);
  return { ok: true, value: { text, intervals: [{ family: start.value.family, first, last }] } };
}

/** One target token, without resolving names. */
export function parseTargetResult(input: string): ParseResult<TargetSpec> {
  const text = input.trim();
  if (text === "") return fail("an empty target");
  if (text.includes("/")) {
    const cidr = parseCidrResult(text);
    if (!cidr.ok) return fail(cidr.message);
    const { family, prefix } = cidr.value;
    const first = bitsToBig(parseAddress(cidr.value.address));
    const last = first + (1n << BigInt(FAMILY_BITS[family] - prefix)) - 1n;
    return { ok: true, value: { text, intervals: [{ family, first, last }] } };
  }
  const address = parseAddressResult(text);
  if (address.ok) return { ok: true, value: { text, intervals: [point(address.value)] } };
  // A dash after an address is a range; a dash inside a name ("web-1.example") is part of the name.
  const dash = text.indexOf("-");
  if (dash > 0 && parseAddressResult(text.slice(0, dash)).ok) return parseRange(text, dash);
  if (text.includes(":") || NUMERIC.test(text)) return fail(address.message);
  if (!HOSTNAME.test(text))
    return fail(`"${text}" is not an address, network (203.0.113.0/24), range (203.0.113.1-20) or host name`);
  return { ok: true, value: { text, intervals: [], hostname: text.replace(/\.$/, "").toLowerCase() } };
}

export function parseTarget(text: string, place?: InputPlace): TargetSpec {
  const result = parseTargetResult(text);
  if (!result.ok) throw new InputError(result.message, place);
  return place === undefined ? result.value : { ...result.value, place };
}

/** Lines of a targets, scope or exclude file: `#` starts a comment, blank lines are skipped. */
export function readListFile(path: string): Array<{ text: string; line: number }> {
  let content: string;
  try {
    content = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new InputError(`cannot read the file (${code})`, { file: path });
  }
  const out: Array<{ text: string; line: number }> = [];
  content.split(/\r?\n/).forEach((raw, index) => {
    const text = raw.replace(/#.*/, "").trim();
    if (text !== "") out.push({ text, line: index + 1 });
  });
  return out;
}

/** A --targets-file: one target a line, errors naming file:line. */
export function readTargetsFile(path: string): TargetSpec[] {
  return readListFile(path).map(({ text, line }) => parseTarget(text, { file: path, line }));
}

export type Lookup = (hostname: string) => Promise<string[]>;

export const systemLookup: Lookup = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/**
 * Names become their addresses (all of them, both families). A name that does not resolve is an
 * input error: scanning "nothing" silently would look like a clean result.
 */
export async function resolveTargets(
  specs: readonly TargetSpec[],
  lookup = systemLookup,
): Promise<TargetSpec[]> {
  return Promise.all(
    specs.map(async (spec) => {
      if (spec.hostname === undefined) return spec;
      let addresses: string[];
      try {
        addresses = await lookup(spec.hostname);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? String(error);
        throw new InputError(`cannot resolve host name "${spec.hostname}" (${code})`, spec.place);
      }
      const intervals: Interval[] = [];
      for (const address of new Set(addresses)) {
        const bits = parseAddressResult(address);
        if (bits.ok) intervals.push(point(bits.value));
      }
      if (intervals.length === 0)
        throw new InputError(`host name "${spec.hostname}" has no IPv4 or IPv6 address`, spec.place);
      return { ...spec, intervals };
    }),
  );
}
