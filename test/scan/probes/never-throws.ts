/**
 * Shared hostile-input checks for probe tests: arbitrary bytes, every truncation and random mutations
 * of valid replies. `match` must return a boolean and `parse` a well-formed (JSON-serialisable) result
 * or null, never throw, and each call must finish quickly (a length bomb or pointer loop shows up as a
 * slow call). `checkUdpRobust` / `checkTcpRobust` run the checks inside the caller's test;
 * `robustnessProperties` registers them as separate named tests.
 */
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { it } from "node:test";
import fc from "fast-check";
import type { Cookie, ProbeResult, TcpProbe, UdpProbe } from "../../../src/scan/probes/types.js";

/** A hang guard, not a timing test: a loop on hostile lengths or pointers never ends; a loaded CI box only slows. */
const SLOW_MS = 2000;

function timed<T>(what: string, f: () => T): T {
  const t0 = performance.now();
  const out = f();
  const ms = performance.now() - t0;
  assert.ok(ms < SLOW_MS, `${what} took ${ms.toFixed(1)} ms`);
  return out;
}

export function assertResultShape(r: ProbeResult | null): void {
  if (r === null) return;
  assert.equal(typeof r.abusable, "boolean");
  assert.equal(typeof r.note, "string");
  assert.ok(r.note.length > 0);
  for (const [k, v] of Object.entries(r.fields)) {
    const ok =
      v === null ||
      ["string", "number", "boolean"].includes(typeof v) ||
      (Array.isArray(v) && v.every((s) => typeof s === "string"));
    assert.ok(ok, `field ${k} has a bad value`);
    if (typeof v === "number") assert.ok(Number.isFinite(v), `field ${k} is not finite`);
  }
  JSON.stringify(r);
}

type Edit = "set" | "insert" | "delete" | "truncate";

/** Valid reply with some bytes overwritten, some inserted, some deleted (and, if asked, cut short). */
function mutated(
  valid: readonly Buffer[],
  kinds: readonly Edit[] = ["set", "insert", "delete"],
  maxEdits = 8,
): fc.Arbitrary<Buffer> {
  return fc
    .record({
      which: fc.nat(),
      edits: fc.array(
        fc.record({
          kind: fc.constantFrom(...kinds),
          at: fc.nat(),
          byte: fc.integer({ min: 0, max: 255 }),
        }),
        { minLength: 1, maxLength: maxEdits },
      ),
    })
    .map(({ which, edits }) => {
      const bytes = [...valid[which % valid.length]!];
      for (const e of edits) {
        const at = bytes.length === 0 ? 0 : e.at % bytes.length;
        if (e.kind === "set" && bytes.length > 0) bytes[at] = e.byte;
        else if (e.kind === "insert") bytes.splice(at, 0, e.byte);
        else if (e.kind === "delete") bytes.splice(at, 1);
        else if (e.kind === "truncate") bytes.length = at;
      }
      return Buffer.from(bytes);
    });
}

/** Interesting edge bytes: all-0xff and all-zero buffers of common sizes. */
const EDGES = [0, 1, 2, 4, 8, 12, 16, 64, 512, 1500, 65_507].flatMap((n) => [
  Buffer.alloc(n, 0xff),
  Buffer.alloc(n, 0),
]);

function checkUdpOnce(probe: UdpProbe, bufs: readonly Buffer[], cookie: Cookie): void {
  for (const b of bufs) {
    const m = timed(`${probe.id}.match`, () => probe.match(b, cookie));
    assert.equal(typeof m, "boolean");
  }
  assertResultShape(timed(`${probe.id}.parse`, () => probe.parse(bufs)));
  if (probe.complete !== undefined)
    assert.equal(typeof timed(`${probe.id}.complete`, () => probe.complete!(bufs)), "boolean");
}

export function checkUdpRobust(
  probe: UdpProbe,
  valid: readonly Buffer[],
  cookie: Cookie,
  numRuns = 300,
): void {
  assert.ok(valid.length > 0);
  for (const e of EDGES) checkUdpOnce(probe, [e], cookie);
  for (const v of valid) {
    for (let n = 0; n <= v.length; n++) checkUdpOnce(probe, [v.subarray(0, n)], cookie);
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), (a) => checkUdpOnce(probe, [Buffer.from(a)], cookie)),
    { numRuns },
  );
  fc.assert(
    fc.property(fc.array(mutated(valid), { minLength: 1, maxLength: 4 }), fc.boolean(), (bufs, mixed) =>
      checkUdpOnce(probe, mixed ? [...valid, ...bufs] : bufs, cookie),
    ),
    { numRuns },
  );
  // Volume: a maximum-size datagram of repeated valid replies, and a flood of copies of the largest.
  for (const v of valid) checkUdpOnce(probe, [repeatTo(v, 65_507)], cookie);
  const big = valid.reduce((x, y) => (y.length > x.length ? y : x));
  assertResultShape(
    timed(`${probe.id}.parse x2000`, () => probe.parse(Array.from({ length: 2000 }, () => big))),
  );
}

/** Registers the robustness properties for `probe` as named tests, seeded with real-shaped `valid` replies. */
export function robustnessProperties(probe: UdpProbe, cookie: Cookie, valid: readonly Buffer[]): void {
  it("never throws on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 1500 }), { maxLength: 8 }), (arrays) =>
        checkUdpOnce(
          probe,
          arrays.map((a) => Buffer.from(a)),
          cookie,
        ),
      ),
      { numRuns: 300 },
    );
  });

  it("never throws on any truncation of a valid reply", () => {
    for (const v of valid) {
      for (let n = 0; n <= v.length; n++) checkUdpOnce(probe, [v.subarray(0, n)], cookie);
      for (let n = 0; n <= v.length; n++) checkUdpOnce(probe, [...valid, v.subarray(n)], cookie);
    }
  });

  it("never throws on mutated valid replies (alone and mixed with valid ones)", () => {
    fc.assert(
      fc.property(mutated(valid, ["set", "insert", "delete", "truncate"], 12), fc.boolean(), (bad, mixed) =>
        checkUdpOnce(probe, mixed ? [...valid, bad, bad] : [bad], cookie),
      ),
      { numRuns: 500 },
    );
  });

  it("never throws on all-zero, all-0xff and maximum-size datagrams", () => {
    for (const n of [1, 2, 4, 8, 12, 16, 64, 512, 1500, 65_507]) {
      checkUdpOnce(probe, [Buffer.alloc(n, 0)], cookie);
      checkUdpOnce(probe, [Buffer.alloc(n, 0xff)], cookie);
    }
    for (const v of valid) checkUdpOnce(probe, [repeatTo(v, 65_507)], cookie);
  });

  it("finishes fast on many copies of a large reply", () => {
    const big = valid.reduce((a, b) => (b.length > a.length ? b : a));
    checkUdpOnce(
      probe,
      Array.from({ length: 2000 }, () => big),
      cookie,
    );
  });
}

function repeatTo(v: Buffer, size: number): Buffer {
  if (v.length === 0) return Buffer.alloc(0);
  return Buffer.concat(Array.from({ length: Math.ceil(size / v.length) }, () => v)).subarray(0, size);
}

function checkTcpOnce(probe: TcpProbe, b: Buffer): void {
  assertResultShape(timed(`${probe.id}.parse`, () => probe.parse(b)));
}

export function checkTcpRobust(probe: TcpProbe, valid: readonly Buffer[], numRuns = 300): void {
  assert.ok(valid.length > 0);
  for (const e of EDGES) checkTcpOnce(probe, e);
  for (const v of valid) {
    for (let n = 0; n <= v.length; n++) checkTcpOnce(probe, v.subarray(0, n));
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 4096 }), (a) => checkTcpOnce(probe, Buffer.from(a))),
    { numRuns },
  );
  fc.assert(
    fc.property(mutated(valid), (b) => checkTcpOnce(probe, b)),
    { numRuns },
  );
  // The scanner reads a few KiB; a parser must not care if it is handed far more.
  for (const v of valid) checkTcpOnce(probe, repeatTo(v, 1 << 20));
}

/** Hex string (spaces and newlines allowed) to bytes, for hand-built packets in tests. */
export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ""), "hex");
}
