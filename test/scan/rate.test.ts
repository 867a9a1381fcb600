import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { InputError } from "../../src/errors.js";
import { parseRate, RateLimiter } from "../../src/scan/rate.js";

function fakeClock() {
  let now = 0;
  return { clock: () => now, advance: (ms: number) => (now += ms) };
}

describe("rate limiter", () => {
  it("starts with one burst, then refills at the rate", () => {
    const t = fakeClock();
    const r = new RateLimiter({ rate: 1000, clock: t.clock });
    assert.equal(r.burst, 10);
    assert.equal(r.available(100), 10);
    r.take(10);
    assert.equal(r.available(100), 0);
    assert.equal(r.waitMs(), 1);
    t.advance(5);
    assert.equal(r.available(100), 5);
  });

  it("never lets more than one burst through after a long idle time", () => {
    const t = fakeClock();
    const r = new RateLimiter({ rate: 5000, burst: 20, clock: t.clock });
    r.take(r.available(1000));
    t.advance(60_000);
    assert.equal(r.available(1_000_000), 20);
  });

  it("sends at most rate x time + burst over any schedule (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 500 })), {
          maxLength: 200,
        }),
        (rate, steps) => {
          const t = fakeClock();
          const r = new RateLimiter({ rate, clock: t.clock });
          let sent = 0;
          for (const [advance, want] of steps) {
            t.advance(advance);
            const n = r.available(want);
            assert.ok(n >= 0 && n <= want);
            r.take(n);
            sent += n;
            assert.ok(
              sent <= (rate * t.clock()) / 1000 + r.burst + 1e-6,
              `${sent} by ${t.clock()} ms at ${rate}/s`,
            );
          }
        },
      ),
    );
  });

  it("max means no limit", () => {
    const r = new RateLimiter({ rate: Number.POSITIVE_INFINITY });
    assert.equal(r.available(1_000_000), 1_000_000);
    assert.equal(r.waitMs(), 0);
  });

  it("parses --rate", () => {
    assert.equal(parseRate("250"), 250);
    assert.equal(parseRate("max"), Number.POSITIVE_INFINITY);
    for (const bad of ["0", "-5", "fast", "", "1e9"]) assert.throws(() => parseRate(bad), InputError, bad);
  });
});
