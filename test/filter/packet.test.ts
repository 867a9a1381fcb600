import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { InputError } from "../../src/errors.js";
import { formatPacket, parsePacket, parsePacketLines, parsePacketResult } from "../../src/filter/packet.js";
import { arbitraryPacket } from "./arbitraries.js";

describe("parsePacket", () => {
  it("reads every form", () => {
    assert.deepEqual(parsePacket("udp 203.0.113.9:4444 > 198.51.100.10:11211"), {
      protocol: "udp",
      family: "ipv4",
      source: "203.0.113.9",
      destination: "198.51.100.10",
      sourcePort: 4444,
      destinationPort: 11211,
      fragment: false,
    });
    assert.deepEqual(parsePacket("tcp [2001:DB8:0::1]:5555 > [2001:db8::2]:22"), {
      protocol: "tcp",
      family: "ipv6",
      source: "2001:db8::1",
      destination: "2001:db8::2",
      sourcePort: 5555,
      destinationPort: 22,
      fragment: false,
    });
    assert.equal(parsePacket("icmp 192.0.2.1 > 192.0.2.2").protocol, "icmp");
    assert.equal(parsePacket("icmpv6 2001:db8::1 > [2001:db8::2]").family, "ipv6");
    assert.equal(parsePacket("ip 192.0.2.1 > 192.0.2.2").protocol, "other");
    const frag = parsePacket("udp 192.0.2.1 > 192.0.2.2 frag");
    assert.equal(frag.fragment, true);
    assert.equal(frag.sourcePort, null);
    assert.equal(parsePacket("  TCP   192.0.2.1:1>192.0.2.2:2  ").destinationPort, 2);
  });

  const errors: [string, number, RegExp][] = [
    ["", 1, /empty packet/],
    ["sctp 192.0.2.1 > 192.0.2.2", 1, /unknown protocol "sctp"/],
    ["udp 192.0.2.1 > 192.0.2.2:53", 5, /needs a port here \(192\.0\.2\.1:PORT\)/],
    ["tcp [2001:db8::1] > [2001:db8::2]:22", 5, /\[2001:db8::1\]:PORT/],
    ["udp 192.0.2.1:5 > 192.0.2.2:53 frag", 5, /second or later fragment carries no ports/],
    ["icmp 192.0.2.1:5 > 192.0.2.2", 6, /icmp has no ports/],
    ["icmp 2001:db8::1 > 2001:db8::2", 1, /write icmpv6/],
    ["icmpv6 192.0.2.1 > 192.0.2.2", 1, /write icmp for an IPv4 packet/],
    ["udp 192.0.2.1:1 > [2001:db8::2]:53", 19, /the source is IPv4 but the destination IPv6/],
    ["udp 192.0.2.1:1 192.0.2.2:53", 17, /expected ">"/],
    ["udp 192.0.2.1:1 >", 18, /destination address is missing/],
    ["udp 192.0.2.1:70000 > 192.0.2.2:53", 15, /"70000" is not a port/],
    ["udp 192.0.2.1:1 > 192.0.2.2:53 frog", 32, /only "frag"/],
    ["udp 192.0.2.1 > 192.0.2.2 frag x", 32, /unexpected "x"/],
    ["udp 192.0.2.300:1 > 192.0.2.2:53", 5, /not an IPv4 or IPv6 address/],
    ["tcp [192.0.2.1]:1 > 192.0.2.2:53", 5, /brackets are for IPv6/],
    ["tcp [2001:db8::1:1 > 192.0.2.2:53", 5, /without "\]"/],
  ];
  for (const [text, column, pattern] of errors) {
    it(`refuses ${JSON.stringify(text)} at column ${column}`, () => {
      const result = parsePacketResult(text);
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.match(result.message, pattern);
      assert.equal(result.column, column, result.message);
      assert.throws(
        () => parsePacket(text),
        (e: unknown) =>
          e instanceof InputError && e.message.startsWith(`packet "${text}", column ${column}: `),
      );
    });
  }

  it("formatPacket round-trips through parsePacket", () => {
    fc.assert(
      fc.property(arbitraryPacket, (packet) => {
        const text = formatPacket(packet);
        assert.deepEqual(parsePacket(text), packet, text);
        assert.equal(formatPacket(parsePacket(text)), text);
      }),
      { numRuns: 1000 },
    );
  });

  it("never throws anything but a result on arbitrary text", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), arbitraryPacket.map(formatPacket).chain(mutate)), (text) => {
        const result = parsePacketResult(text);
        if (!result.ok)
          assert.ok(result.column >= 1 && result.column <= text.length + 1, `${text}: ${result.column}`);
      }),
      { numRuns: 2000 },
    );
  });
});

function mutate(text: string): fc.Arbitrary<string> {
  return fc.oneof(
    fc.nat({ max: text.length }).map((n) => text.slice(0, n)),
    fc
      .tuple(fc.nat({ max: text.length }), fc.string({ maxLength: 3 }))
      .map(([n, s]) => text.slice(0, n) + s + text.slice(n)),
    fc.nat({ max: Math.max(0, text.length - 1) }).map((n) => text.slice(0, n) + text.slice(n + 1)),
  );
}

describe("parsePacketLines", () => {
  it("skips comments and blank lines", () => {
    const packets = parsePacketLines(
      "# header\n\nudp 192.0.2.1:1 > 192.0.2.2:53  # dns\r\n   \nip 192.0.2.1 > 192.0.2.2",
      "p.txt",
    );
    assert.deepEqual(
      packets.map((p) => p.protocol),
      ["udp", "other"],
    );
    assert.deepEqual(parsePacketLines("", "empty.txt"), []);
    assert.equal(parsePacketLines("\ufeffip 192.0.2.1 > 192.0.2.2\n", "bom.txt").length, 1);
  });

  it("names file, line and column of a bad line", () => {
    assert.throws(
      () => parsePacketLines("udp 192.0.2.1:1 > 192.0.2.2:53\n# ok\ntcp 192.0.2.1 > 192.0.2.2:22\n", "p.txt"),
      (e: unknown) =>
        e instanceof InputError &&
        e.place?.file === "p.txt" &&
        e.place.line === 3 &&
        e.place.column === 5 &&
        /needs a port here.*\(in "tcp 192\.0\.2\.1 > 192\.0\.2\.2:22"\)/.test(e.message),
    );
  });
});
