import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { bindScope, ipaddrScope, quickScope } from "../../src/net/address.js";

describe("bindScope", () => {
  const cases: [string, string][] = [
    ["0.0.0.0", "all"],
    ["::", "all"],
    ["127.0.0.1", "loopback"],
    ["127.53.0.1", "loopback"],
    ["::1", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["10.0.0.5", "private"],
    ["172.31.255.1", "private"],
    ["172.32.0.1", "public"],
    ["192.168.1.10", "private"],
    ["100.64.1.1", "private"],
    ["fd12:3456::1", "private"],
    ["169.254.169.254", "link-local"],
    ["fe80::1", "link-local"],
    ["203.0.113.7", "public"],
    ["2001:db8::10", "public"],
    ["::ffff:198.51.100.1", "public"],
  ];
  for (const [address, scope] of cases) {
    it(`${address} is ${scope}`, () => assert.equal(bindScope(address), scope));
  }

  it("an IPv4-mapped IPv6 address has the scope of its IPv4 address", () => {
    fc.assert(
      fc.property(fc.ipV4(), (v4) => {
        assert.equal(bindScope(`::ffff:${v4}`), bindScope(v4));
      }),
    );
  });

  it("every 127/8 address is loopback and every 10/8 address private", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffff }), (low) => {
        const tail = `${(low >> 16) & 255}.${(low >> 8) & 255}.${low & 255}`;
        assert.equal(bindScope(`127.${tail}`), "loopback");
        assert.equal(bindScope(`10.${tail}`), "private");
      }),
    );
  });

  it("the quick path answers as ipaddr.js does, and leaves alone what ipaddr.js refuses", () => {
    const hex = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
    const sample = fc.oneof(
      fc.ipV4(),
      fc.ipV4Extended(),
      fc.ipV6(),
      fc.ipV4().map((v4) => `::ffff:${v4}`),
      // the ranges the scope turns on, in full and compressed forms
      fc
        .tuple(
          fc.constantFrom("fe80", "febf", "fec0", "fc00", "fdff", "fe00", "2001", "0", "ff02"),
          fc.array(hex, { maxLength: 7 }),
        )
        .map(([head, rest]) =>
          rest.length === 7 ? [head, ...rest].join(":") : `${head}::${rest.join(":")}`,
        ),
      // upper-case hex and an IPv4 tail, which the quick path reads as well
      fc
        .tuple(fc.constantFrom("fe80", "FE80", "FEBF", "fc00", "FDFF", "2001", "0"), fc.ipV4())
        .map(([head, v4]) => `${head}::${v4}`),
      // leading zeros are octal to ipaddr.js: "010.1.1.1" is 8.1.1.1
      fc
        .array(
          fc.constantFrom("0", "00", "010", "012", "0127", "127", "10", "172", "016", "169", "0254", "0x7f"),
          {
            minLength: 4,
            maxLength: 4,
          },
        )
        .map((octets) => octets.join(".")),
      fc.stringMatching(/^[0-9a-fA-F:.%]{0,20}$/),
    );
    fc.assert(
      fc.property(sample, (address) => {
        let reference: string | null;
        try {
          reference = ipaddrScope(address);
        } catch {
          reference = null; // not an address to ipaddr.js
        }
        const quick = quickScope(address);
        if (quick !== undefined) assert.equal(quick, reference, address);
      }),
      { numRuns: 20_000 },
    );
  });

  it("the quick path covers the forms moat's readers write", () => {
    for (const address of [
      "0.0.0.0",
      "::",
      "::1",
      "127.0.0.1",
      "192.0.2.10",
      "2001:db8::10",
      "fe80::1",
      "::ffff:10.1.2.3",
    ]) {
      assert.ok(quickScope(address) !== undefined, address);
    }
  });
});
