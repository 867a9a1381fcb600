import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { bindScope } from "../../src/net/address.js";

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
});
