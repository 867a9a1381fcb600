import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import {
  cidrContains,
  formatAddress,
  formatCidr,
  parseAddressResult,
  parseCidr,
  parseCidrResult,
  parseIpv4Number,
  parseIpv6Words,
} from "../../src/net/cidr.js";

/** "::a.b.c.d", which ipaddr.js misreads (see parseIpv6Words' test). */
const IPADDR_QUIRK = /^::\d+\./;

function message(text: string): string {
  const result = parseCidrResult(text);
  assert.equal(result.ok, false, `${text} should be refused`);
  return result.ok ? "" : result.message;
}

describe("parseCidr", () => {
  it("reads an IPv4 tail after :: as RFC 4291 says (ipaddr.js maps it to ::ffff:)", () => {
    assert.equal(parseCidr("::10.0.0.1").address, "::a00:1");
    assert.equal(parseCidr("::ffff:10.0.0.1").address, "::ffff:a00:1");
  });

  it("reads networks and single addresses of both families", () => {
    assert.deepEqual(parseCidr("203.0.113.0/24"), { family: "ipv4", address: "203.0.113.0", prefix: 24 });
    assert.deepEqual(parseCidr("192.0.2.123"), { family: "ipv4", address: "192.0.2.123", prefix: 32 });
    assert.deepEqual(parseCidr("0.0.0.0/0"), { family: "ipv4", address: "0.0.0.0", prefix: 0 });
    assert.deepEqual(parseCidr("2001:db8::/32"), { family: "ipv6", address: "2001:db8::", prefix: 32 });
    assert.deepEqual(parseCidr("2001:DB8:0:0::1"), { family: "ipv6", address: "2001:db8::1", prefix: 128 });
    assert.deepEqual(parseCidr("::/0"), { family: "ipv6", address: "::", prefix: 0 });
  });

  it("refuses host bits and names the network that was probably meant", () => {
    assert.equal(message("203.0.113.5/24"), "203.0.113.5/24 has host bits set; did you mean 203.0.113.0/24?");
    assert.equal(message("2001:db8::1/32"), "2001:db8::1/32 has host bits set; did you mean 2001:db8::/32?");
    assert.equal(message("10.1.2.3/0"), "10.1.2.3/0 has host bits set; did you mean 0.0.0.0/0?");
  });

  it("refuses malformed text with a reason", () => {
    assert.match(message("300.1.2.3"), /not an IPv4 or IPv6 address/);
    assert.match(message("1.2.3"), /not an IPv4 or IPv6 address/);
    assert.match(message("010.0.0.1"), /leading zero/);
    assert.match(message("192.0.2.0/33"), /prefix length must be a number from 0 to 32/);
    assert.match(message("2001:db8::/129"), /from 0 to 128/);
    assert.match(message("192.0.2.0/"), /prefix length/);
    assert.match(message("192.0.2.0/024"), /prefix length/);
    assert.match(message("fe80::1%eth0"), /zone index/);
    assert.match(message(""), /empty address/);
    assert.match(message("example.com"), /not an IPv4 or IPv6 address/);
  });

  it("formats a host as its bare address and a network with its prefix", () => {
    assert.equal(formatCidr(parseCidr("192.0.2.1/32")), "192.0.2.1");
    assert.equal(formatCidr(parseCidr("2001:db8::/48")), "2001:db8::/48");
  });
});

describe("parseIpv4Number", () => {
  it("reads dotted quads only", () => {
    assert.equal(parseIpv4Number("255.255.255.255"), 0xffffffff);
    assert.equal(parseIpv4Number("0.0.0.0"), 0);
    for (const bad of ["1.2.3", "1.2.3.4.5", "256.0.0.1", "1..2.3", "01.2.3.4", " 1.2.3.4", "1.2.3.4 ", ""])
      assert.equal(parseIpv4Number(bad), -1, bad);
  });

  it("agrees with ipaddr.js on every IPv4 address", () => {
    fc.assert(
      fc.property(fc.ipV4(), (text) => {
        assert.equal(
          parseIpv4Number(text),
          ipaddr.IPv4.parse(text)
            .toByteArray()
            .reduce((a, b) => a * 256 + b, 0),
        );
      }),
    );
  });
});

describe("addresses", () => {
  it("formatAddress(parseAddress(x)) is ipaddr.js's canonical text", () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const parsed = parseAddressResult(text);
        assert.ok(parsed.ok, text);
        if (parsed.ok && !IPADDR_QUIRK.test(text))
          assert.equal(formatAddress(parsed.value), ipaddr.parse(text).toString());
      }),
    );
  });
});

describe("cidrContains", () => {
  it("handles the edges of a network and the other family", () => {
    const net = parseCidr("203.0.113.0/24");
    assert.ok(cidrContains(net, "203.0.113.0"));
    assert.ok(cidrContains(net, "203.0.113.255"));
    assert.ok(!cidrContains(net, "203.0.114.0"));
    assert.ok(!cidrContains(net, "203.0.112.255"));
    assert.ok(!cidrContains(net, "::ffff:203.0.113.1"), "an IPv6 address is never in an IPv4 network");
    assert.ok(cidrContains(parseCidr("0.0.0.0/0"), "255.255.255.255"));
    assert.ok(cidrContains(parseCidr("128.0.0.0/1"), "255.0.0.1"));
    assert.ok(!cidrContains(parseCidr("128.0.0.0/1"), "127.255.255.255"));
    assert.ok(cidrContains(parseCidr("2001:db8::/32"), "2001:db8:ffff::1"));
    assert.ok(!cidrContains(parseCidr("2001:db8::/32"), "2001:db9::"));
    assert.ok(!cidrContains(net, "not an address"));
  });

  /** A network drawn as (address, prefix) with its host bits cleared through ipaddr.js. */
  const network = (family: "ipv4" | "ipv6") =>
    fc
      .tuple(
        family === "ipv4" ? fc.ipV4() : fc.ipV6(),
        fc.integer({ min: 0, max: family === "ipv4" ? 32 : 128 }),
      )
      .map(([address, prefix]) => {
        const base = ipaddr.parse(address);
        const mask = ipaddr.IPv6.isValid(address)
          ? ipaddr.IPv6.subnetMaskFromPrefixLength(prefix)
          : ipaddr.IPv4.subnetMaskFromPrefixLength(prefix);
        const bytes = base.toByteArray().map((b, i) => b & mask.toByteArray()[i]!);
        return `${ipaddr.fromByteArray(bytes).toString()}/${prefix}`;
      });

  it("agrees with ipaddr.js match() on random networks and addresses", () => {
    fc.assert(
      fc.property(
        fc.oneof(network("ipv4"), network("ipv6")),
        fc.oneof(fc.ipV4(), fc.ipV6()),
        fc.boolean(),
        (cidrText, other, near) => {
          const cidr = parseCidr(cidrText);
          const [range, bits] = ipaddr.parseCIDR(cidrText);
          // Half the time test an address inside or next to the network, else an unrelated one.
          const address = near ? flipLowBit(range.toString()) : other;
          const parsed = ipaddr.parse(address);
          const expected = parsed.kind() === range.kind() && parsed.match(range, bits);
          assert.equal(cidrContains(cidr, address), expected, `${address} in ${cidrText}`);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

function flipLowBit(address: string): string {
  const bytes = ipaddr.parse(address).toByteArray();
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
  return ipaddr.fromByteArray(bytes).toString();
}

describe("parseIpv6Words", () => {
  const mutated = fc.ipV6().chain((text) =>
    fc.oneof(
      fc.constant(text),
      fc.nat({ max: text.length }).map((n) => text.slice(0, n)),
      fc
        .tuple(fc.nat({ max: text.length }), fc.constantFrom(":", "::", ".", "0", "g", "1.2.3.4", "ffff0"))
        .map(([n, s]) => text.slice(0, n) + s + text.slice(n)),
      fc.nat({ max: Math.max(0, text.length - 1) }).map((n) => text.slice(0, n) + text.slice(n + 1)),
    ),
  );

  it("accepts exactly what ipaddr.js accepts, with the same value", () => {
    fc.assert(
      fc.property(mutated, (text) => {
        const words = new Int32Array(4);
        const mine = parseIpv6Words(text, words);
        // Stricter than ipaddr.js on purpose: no zone, and no leading zero in an IPv4 tail ("1.2.3.04").
        const tail = /(?:^|:)([\d.]+)$/.exec(text)?.[1];
        const tailOk = tail === undefined || !tail.includes(".") || parseIpv4Number(tail) >= 0;
        const theirs = ipaddr.IPv6.isValid(text) && !text.includes("%") && tailOk;
        assert.equal(mine, theirs, text);
        // ipaddr.js reads "::a.b.c.d" as "::ffff:a.b.c.d"; RFC 4291 (2.5.5.1) says "::0a0b:0c0d".
        if (!mine || IPADDR_QUIRK.test(text)) return;
        const parts = ipaddr.IPv6.parse(text).parts;
        for (let i = 0; i < 4; i++)
          assert.equal(words[i], (parts[2 * i]! << 16) | parts[2 * i + 1]! | 0, text);
      }),
      { numRuns: 5000 },
    );
  });
});
