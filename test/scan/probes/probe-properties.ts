/**
 * Shared fast-check properties for UDP probes: whatever the bytes (random, truncated or mutated valid
 * replies, mixtures of them), `match` returns a boolean and `parse` a well-formed result or null,
 * without throwing and quickly.
 */
import assert from "node:assert/strict";
import { it } from "node:test";
import fc from "fast-check";
import type { Cookie, ProbeResult, UdpProbe } from "../../../src/scan/probes/types.js";

/** A hang guard, not a timing test: a loop on hostile lengths or pointers never ends; a loaded CI box only slows. */
const SLOW_MS = 2000;

function timed<T>(f: () => T): T {
  const t0 = performance.now();
  const out = f();
  const ms = performance.now() - t0;
  assert.ok(ms < SLOW_MS, `took ${ms.toFixed(1)} ms`);
  return out;
}

export function checkResult(r: ProbeResult | null): void {
  if (r === null) return;
  assert.equal(typeof r.abusable, "boolean");
  assert.equal(typeof r.note, "string");
  assert.ok(r.note.length > 0);
  for (const v of Object.values(r.fields)) {
    const ok =
      v === null ||
      ["string", "number", "boolean"].includes(typeof v) ||
      (Array.isArray(v) && v.every((s) => typeof s === "string"));
    assert.ok(ok, `bad field value ${String(v)}`);
    if (typeof v === "number") assert.ok(Number.isFinite(v));
  }
  JSON.stringify(r);
}

function exercise(probe: UdpProbe, cookie: Cookie, datagrams: Buffer[]): void {
  for (const d of datagrams) assert.equal(typeof timed(() => probe.match(d, cookie)), "boolean");
  checkResult(timed(() => probe.parse(datagrams)));
}

const mutation = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom("set", "insert", "delete", "truncate"),
  byte: fc.integer({ min: 0, max: 255 }),
});

function mutate(buf: Buffer, muts: { at: number; kind: string; byte: number }[]): Buffer {
  let b = Buffer.from(buf);
  for (const m of muts) {
    const i = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === "set" && b.length > 0) b[i] = m.byte;
    else if (m.kind === "insert") b = Buffer.concat([b.subarray(0, i), Buffer.from([m.byte]), b.subarray(i)]);
    else if (m.kind === "delete") b = Buffer.concat([b.subarray(0, i), b.subarray(i + 1)]);
    else if (m.kind === "truncate") b = b.subarray(0, i);
  }
  return b;
}

/** Registers the robustness properties for `probe`, seeded with real-shaped `valid` replies. */
export function robustnessProperties(probe: UdpProbe, cookie: Cookie, valid: Buffer[]): void {
  it("never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 1500 }), { maxLength: 8 }), (arrays) =>
        exercise(
          probe,
          cookie,
          arrays.map((a) => Buffer.from(a)),
        ),
      ),
      { numRuns: 300 },
    );
  });

  it("never throws on any truncation of a valid reply", () => {
    for (const v of valid) {
      for (let n = 0; n <= v.length; n++) exercise(probe, cookie, [v.subarray(0, n)]);
      for (let n = 0; n <= v.length; n++) exercise(probe, cookie, [...valid, v.subarray(n)]);
    }
  });

  it("never throws on mutated valid replies (alone and mixed with valid ones)", () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.array(mutation, { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        (pick, muts, mixed) => {
          const base = valid[pick % valid.length]!;
          const bad = mutate(base, muts);
          exercise(probe, cookie, mixed ? [...valid, bad, bad] : [bad]);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("never throws on all-zero, all-0xff and maximum-size datagrams", () => {
    for (const n of [1, 2, 4, 8, 12, 16, 64, 512, 1500, 65_507]) {
      exercise(probe, cookie, [Buffer.alloc(n, 0)]);
      exercise(probe, cookie, [Buffer.alloc(n, 0xff)]);
    }
    for (const v of valid)
      exercise(probe, cookie, [
        Buffer.concat(Array.from({ length: 65_507 / Math.max(1, v.length) }, () => v)).subarray(0, 65_507),
      ]);
  });

  it("finishes fast on many copies of a large reply", () => {
    const big = valid.reduce((a, b) => (b.length > a.length ? b : a));
    exercise(
      probe,
      cookie,
      Array.from({ length: 2000 }, () => big),
    );
  });
}
