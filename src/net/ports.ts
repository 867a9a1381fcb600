/**
 * Port specs as users write them in filters and on the command line: `22`, `"32768-61000"`, or a
 * list of those. Ports go from 0 to 65535 (0 appears in real traffic and in cloud filter rules).
 */
import type { PortRange } from "../filter/types.js";
import type { ParseResult } from "./cidr.js";

export const MAX_PORT = 65535;

const RANGE = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/;

/** One port or range: a whole number, or text "N" / "A-B". */
export function parsePortRangeResult(value: unknown): ParseResult<PortRange> {
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 0 || value > MAX_PORT)
      return { ok: false, message: `${value} is not a port; ports are whole numbers from 0 to ${MAX_PORT}` };
    return { ok: true, value: { start: value, end: value } };
  }
  if (typeof value !== "string")
    return { ok: false, message: `expected a port number or "START-END", found ${describe(value)}` };
  const match = RANGE.exec(value);
  if (!match) return { ok: false, message: `"${value}" is not a port or range; write 22 or "32768-61000"` };
  const start = Number(match[1]);
  const end = match[2] === undefined ? start : Number(match[2]);
  if (start > MAX_PORT || end > MAX_PORT)
    return { ok: false, message: `"${value}": ports go from 0 to ${MAX_PORT}` };
  if (start > end)
    return {
      ok: false,
      message: `"${value}" is reversed: the range starts above its end; did you mean "${end}-${start}"?`,
    };
  return { ok: true, value: { start, end } };
}

/** A spec (one item or a list); on failure `index` says which list item was wrong. */
export function parsePortSpecResult(value: unknown): ParseResult<PortRange[]> & { index?: number } {
  if (!Array.isArray(value)) {
    const one = parsePortRangeResult(value);
    return one.ok ? { ok: true, value: [one.value] } : one;
  }
  if (value.length === 0)
    return { ok: false, message: "an empty port list; leave the field out to mean any port" };
  const ranges: PortRange[] = [];
  for (let index = 0; index < value.length; index++) {
    const one = parsePortRangeResult(value[index]);
    if (!one.ok) return { ...one, index };
    ranges.push(one.value);
  }
  return { ok: true, value: ranges };
}

export function parsePortSpec(value: unknown): PortRange[] {
  const result = parsePortSpecResult(value);
  if (!result.ok) throw new Error(result.message);
  return result.value;
}

/** 22, "32768-61000", or a list of those: the inverse of parsePortSpec. */
export function formatPortSpec(ranges: readonly PortRange[]): number | string | (number | string)[] {
  const items = ranges.map((r) => (r.start === r.end ? r.start : `${r.start}-${r.end}`));
  return items.length === 1 ? items[0]! : items;
}

/** "22", "32768-61000", "25, 465, 587" for sentences. */
export function formatPortList(ranges: readonly PortRange[]): string {
  return ranges.map((r) => (r.start === r.end ? String(r.start) : `${r.start}-${r.end}`)).join(", ");
}

/** Sorted, merged ranges: overlapping or adjacent ranges become one. */
export function normalizePorts(ranges: readonly PortRange[]): PortRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const merged: PortRange[] = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && r.start <= last.end + 1) last.end = Math.max(last.end, r.end);
    else merged.push({ start: r.start, end: r.end });
  }
  return merged;
}

export function portInRanges(port: number, ranges: readonly PortRange[]): boolean {
  for (const r of ranges) if (port >= r.start && port <= r.end) return true;
  return false;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return "nothing";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `${typeof value} ${JSON.stringify(value)}`;
}
