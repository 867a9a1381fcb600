/**
 * What `moat scan` may send to (DESIGN.md, "Safety of the tool itself"). From the targets the user
 * named, in this order:
 *   1. the exclude (opt-out) lists are removed, always: --exclude files and DEFAULT_EXCLUDE_FILE;
 *   2. IANA special-purpose ranges: a target that lies wholly inside one was named on purpose and is
 *      scanned only with --allow-special; a wider target skips them (as zmap's blocklist does), with
 *      a note. Loopback is the exception: it is this host, packets never leave it, so a target inside
 *      127.0.0.0/8 or ::1 is allowed without the flag (a wider target still skips it);
 *   3. more than MAX_UNSCOPED addresses need --scope FILE, and with a scope file every address must
 *      lie inside it.
 * Each refusal is an InputError that says why and which flag changes it.
 */
import { existsSync } from "node:fs";
import { InputError } from "../errors.js";
import type { Family } from "../host/types.js";
import { FAMILY_BITS } from "../net/address-range.js";
import { parseAddress } from "../net/cidr.js";
import {
  eachAddress,
  formatInterval,
  type Interval,
  intersect,
  normalize,
  size,
  subtract,
  within,
} from "./intervals.js";
import { bitsToBig, parseTargetResult, readListFile, type TargetSpec } from "./targets.js";

/** Named targets up to this many addresses need no scope file (DESIGN.md: "a few hundred at most"). */
export const MAX_UNSCOPED = 256;
/** Beyond this a scan never ends (an IPv6 /64): refuse rather than start it. */
export const MAX_ADDRESSES = 2n ** 32n;
/** An operator-wide opt-out list, honoured whenever it exists. */
export const DEFAULT_EXCLUDE_FILE = "/etc/moat/exclude.txt";

export interface SpecialRange extends Interval {
  cidr: string;
  name: string;
  loopback?: boolean;
}

/** IANA special-purpose registries (RFC 6890 and successors); most specific first for naming. */
const SPECIAL: Array<[string, string]> = [
  ["0.0.0.0/8", "'this network'"],
  ["10.0.0.0/8", "private-use"],
  ["100.64.0.0/10", "shared address space (carrier-grade NAT)"],
  ["127.0.0.0/8", "loopback"],
  ["169.254.0.0/16", "link-local"],
  ["172.16.0.0/12", "private-use"],
  ["192.0.0.0/24", "IETF protocol assignments"],
  ["192.0.2.0/24", "documentation (TEST-NET-1)"],
  ["192.88.99.0/24", "6to4 relay anycast"],
  ["192.168.0.0/16", "private-use"],
  ["198.18.0.0/15", "benchmarking"],
  ["198.51.100.0/24", "documentation (TEST-NET-2)"],
  ["203.0.113.0/24", "documentation (TEST-NET-3)"],
  ["224.0.0.0/4", "multicast"],
  ["255.255.255.255/32", "limited broadcast"],
  ["240.0.0.0/4", "reserved"],
  ["::/128", "unspecified"],
  ["::1/128", "loopback"],
  ["::ffff:0:0/96", "IPv4-mapped"],
  ["64:ff9b::/96", "IPv4/IPv6 translation (NAT64)"],
  ["64:ff9b:1::/48", "local-use IPv4/IPv6 translation"],
  ["100::/64", "discard-only"],
  ["2001:db8::/32", "documentation"],
  ["2001::/23", "IETF protocol assignments"],
  ["2002::/16", "6to4"],
  ["3fff::/20", "documentation"],
  ["5f00::/16", "segment routing (SRv6) SIDs"],
  ["fc00::/7", "unique-local"],
  ["fe80::/10", "link-local"],
  ["fec0::/10", "site-local (deprecated)"],
  ["ff00::/8", "multicast"],
  // Whatever is left outside global unicast is reserved by the IETF.
  ["::/3", "reserved (outside global unicast 2000::/3)"],
  ["4000::/2", "reserved (outside global unicast 2000::/3)"],
  ["8000::/1", "reserved (outside global unicast 2000::/3)"],
];

function cidrInterval(text: string): Interval {
  const slash = text.indexOf("/");
  const bits = parseAddress(text.slice(0, slash));
  const host = BigInt(FAMILY_BITS[bits.family] - Number(text.slice(slash + 1)));
  const first = bitsToBig(bits);
  return { family: bits.family, first, last: first + (1n << host) - 1n };
}

export const SPECIAL_RANGES: readonly SpecialRange[] = SPECIAL.map(([cidr, name]) => ({
  ...cidrInterval(cidr),
  cidr,
  name,
  ...(name === "loopback" ? { loopback: true } : {}),
}));

const SPECIAL_SET = normalize(SPECIAL_RANGES);

/** The special range an address or interval starts in, for messages. */
export function specialRangeOf(interval: Interval): SpecialRange | undefined {
  return SPECIAL_RANGES.find(
    (r) => r.family === interval.family && interval.first >= r.first && interval.first <= r.last,
  );
}

/** A scope or exclude file: networks, ranges or addresses (no host names), one a line. */
export function readNetworkFile(path: string): Interval[] {
  const out: Interval[] = [];
  for (const { text, line } of readListFile(path)) {
    const result = parseTargetResult(text);
    if (!result.ok) throw new InputError(result.message, { file: path, line });
    if (result.value.hostname !== undefined)
      throw new InputError(`"${text}": write networks or addresses here, not host names`, {
        file: path,
        line,
      });
    out.push(...result.value.intervals);
  }
  return normalize(out);
}

export interface ScopeOptions {
  allowSpecial?: boolean;
  /** Networks the user is responsible for (--scope); required above MAX_UNSCOPED addresses. */
  scope?: { file: string; networks: Interval[] };
  /** Opt-out networks, always removed. */
  exclude?: Interval[];
}

export interface TargetPlan {
  /** Sorted, disjoint: what will be sent to. */
  intervals: Interval[];
  count: number;
  /** Things the user should know, e.g. special ranges skipped inside a wider target. */
  notes: string[];
}

function describeSpecial(spec: TargetSpec, range: SpecialRange): string {
  const where = spec.hostname === undefined ? `${spec.text}` : `${spec.text} (host name ${spec.hostname})`;
  return `${where} is in ${range.cidr}, an IANA special-purpose range (${range.name})`;
}

/** Step 2 for one target: its intervals that may be scanned, or a refusal. */
function allowedParts(spec: TargetSpec, options: ScopeOptions, notes: string[]): Interval[] {
  const out: Interval[] = [];
  for (const interval of spec.intervals) {
    const touched = SPECIAL_RANGES.filter((r) => intersect([interval], [r]).length > 0);
    if (touched.length === 0) {
      out.push(interval);
      continue;
    }
    const home = touched.find((r) => within(interval, r));
    if (home !== undefined) {
      if (!home.loopback && options.allowSpecial !== true)
        throw new InputError(
          `${describeSpecial(spec, home)}; scanning it needs --allow-special (use it only for your own lab or network)`,
          spec.place,
        );
      out.push(interval);
      continue;
    }
    const kept = subtract([interval], SPECIAL_SET);
    const skipped = size([interval]) - size(kept);
    const names = [...new Set(touched.map((r) => r.cidr))].slice(0, 4).join(", ");
    notes.push(
      `${spec.text}: skipping ${skipped} addresses in IANA special-purpose ranges (${names}${touched.length > 4 ? ", ..." : ""}); ` +
        "name such a range as its own target with --allow-special to scan it",
    );
    out.push(...kept);
  }
  return out;
}

/** Decides what may be scanned; throws InputError on any refusal. */
export function planTargets(specs: readonly TargetSpec[], options: ScopeOptions = {}): TargetPlan {
  if (specs.length === 0)
    throw new InputError("no targets: name addresses, networks or host names, or give --targets-file");
  const notes: string[] = [];
  let intervals = normalize(specs.flatMap((spec) => allowedParts(spec, options, notes)));
  if (options.exclude !== undefined && options.exclude.length > 0) {
    const before = size(intervals);
    intervals = subtract(intervals, normalize(options.exclude));
    const removed = before - size(intervals);
    if (removed > 0n) notes.push(`excluded ${removed} addresses listed in the exclude (opt-out) files`);
  }
  const count = size(intervals);
  if (count === 0n) throw new InputError("every target is excluded: there is nothing left to scan");
  if (count > MAX_ADDRESSES)
    throw new InputError(
      `the targets hold ${count} addresses; more than ${MAX_ADDRESSES} cannot be scanned in a lifetime (name smaller networks)`,
    );
  if (options.scope !== undefined) {
    const outside = subtract(intervals, normalize(options.scope.networks));
    if (outside.length > 0)
      throw new InputError(
        `${formatInterval(outside[0]!)} is not inside the networks listed in the scope file ${options.scope.file}; ` +
          "scan only networks you are responsible for, or add it to the scope file",
      );
  } else if (count > BigInt(MAX_UNSCOPED)) {
    throw new InputError(
      `the targets hold ${count} addresses; more than ${MAX_UNSCOPED} need --scope FILE listing the networks you are responsible for (every target must lie inside them)`,
    );
  }
  return { intervals, count: Number(count), notes };
}

/** The default exclude file's networks when it exists, else none. */
export function defaultExclude(path = DEFAULT_EXCLUDE_FILE): Interval[] {
  return existsSync(path) ? readNetworkFile(path) : [];
}

export function planAddresses(plan: TargetPlan): Generator<string> {
  return eachAddress(plan.intervals);
}

export function familyCount(plan: TargetPlan, family: Family): number {
  return Number(size(plan.intervals.filter((i) => i.family === family)));
}
