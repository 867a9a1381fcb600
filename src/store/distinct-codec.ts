/**
 * Distinct-counter state as stored bytes: JSON, deflated. The state is what lets the store merge two
 * rows of one bucket (two captures of the same hour, a live capture restarted mid-bucket) without
 * counting a source twice. Exact sets of addresses and sparse sketches compress well.
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import type { DistinctState } from "../observe/distinct.js";

export function encodeDistinct(state: DistinctState): Uint8Array {
  return deflateRawSync(JSON.stringify(state));
}

/** Null when the bytes are not a state this version wrote (the caller then falls back to counts). */
export function decodeDistinct(bytes: Uint8Array): DistinctState | null {
  try {
    const value = JSON.parse(inflateRawSync(bytes).toString("utf8")) as unknown;
    if (typeof value !== "object" || value === null) return null;
    const v = value as Record<string, unknown>;
    if (Array.isArray(v.exact) && v.exact.every((x) => typeof x === "string")) return { exact: v.exact };
    if (typeof v.precision === "number" && typeof v.registers === "string")
      return { precision: v.precision, registers: v.registers };
    return null;
  } catch {
    return null;
  }
}
