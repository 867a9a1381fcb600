import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseIpv4Number } from "../../src/net/cidr.js";
import { addressText } from "../../src/observe/address.js";
import { classifyPacket, victimOf } from "../../src/observe/classify.js";
import { dnsQuestionType, probeOf } from "../../src/observe/payloads.js";
import type { DecodedPacket } from "../../src/observe/types.js";
import { UDP_PROBES } from "../../src/scan/probes/index.js";
import { icmp, packet, udp } from "./packets.js";

const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ""), "hex");
const ascii = (s: string) => Buffer.from(s, "latin1");

/** A DNS query with one question, as scanners send it. */
function dnsQuery(labels: string[], type: number, qclass = 1): Buffer {
  const name = Buffer.concat([
    ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), ascii(l)])),
    hex("00"),
  ]);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(qclass, 2);
  return Buffer.concat([hex("abcd 0100 0001 0000 0000 0000"), name, tail]);
}

/** The victim a packet names, as text (null when it names none). */
function victim(p: DecodedPacket): string | null {
  const v = victimOf(p, classifyPacket(p));
  return v === null ? null : addressText(v);
}

describe("classifyPacket: kinds", () => {
  it("a SYN without ACK is a scan", () => {
    const c = classifyPacket(packet());
    assert.equal(c.kind, "tcp-syn-scan");
    assert.equal(victim(packet()), null);
    assert.equal(c.probe, null);
  });

  it("SYN-ACK and RST (with or without ACK) are backscatter naming the replying host", () => {
    for (const flags of [0x12, 0x04, 0x14]) {
      const p = packet({ tcpFlags: flags, source: "203.0.113.5", sourcePort: 80 });
      assert.equal(classifyPacket(p).kind, "backscatter", `flags ${flags}`);
      assert.equal(victim(p), "203.0.113.5");
    }
  });

  it("other TCP (ACK, FIN, NULL and XMAS scans, SYN+RST) is other", () => {
    for (const flags of [0x10, 0x01, 0x00, 0x29, 0x06])
      assert.equal(classifyPacket(packet({ tcpFlags: flags })).kind, "other");
  });

  it("ICMP echo request is a ping; echo reply, unreachable, time exceeded are backscatter", () => {
    assert.equal(classifyPacket(icmp(8)).kind, "icmp-echo");
    for (const type of [0, 3, 11]) {
      const p = icmp(type, { source: "203.0.113.9" });
      assert.equal(classifyPacket(p).kind, "backscatter");
      assert.equal(victim(p), "203.0.113.9");
    }
    assert.equal(classifyPacket(icmp(13)).kind, "other");
  });

  it("ICMPv6 the same way", () => {
    const v6 = {
      family: "ipv6" as const,
      protocol: "icmpv6" as const,
      ipProtocol: 58,
      ipId: null,
      source: "2001:db8::5",
    };
    assert.equal(classifyPacket(icmp(128, v6)).kind, "icmp-echo");
    for (const type of [1, 3, 129]) assert.equal(victim(icmp(type, v6)), "2001:db8::5");
    assert.equal(classifyPacket(icmp(135, v6)).kind, "other");
  });

  it("later fragments and unknown protocols are other", () => {
    assert.equal(classifyPacket(packet({ fragment: true, tcpFlags: null })).kind, "other");
    assert.equal(classifyPacket(packet({ protocol: "other", ipProtocol: 47, tcpFlags: null })).kind, "other");
  });

  it("UDP is a probe, recognised or not", () => {
    const c = classifyPacket(udp(4444, ascii("hello")));
    assert.equal(c.kind, "udp-probe");
    assert.equal(c.probe, null);
  });
});

describe("classifyPacket: UDP probes from their payloads", () => {
  const cases: [string, number, Buffer][] = [
    ["memcached-stats", 11211, Buffer.concat([hex("0000 0000 0001 0000"), ascii("stats\r\n")])],
    ["memcached-get", 11211, Buffer.concat([hex("0001 0000 0001 0000"), ascii("get a\r\n")])],
    ["memcached-get", 11211, Buffer.concat([hex("0001 0000 0001 0000"), ascii("gets a b\r\n")])],
    ["memcached-version", 11211, Buffer.concat([hex("0001 0000 0001 0000"), ascii("version\r\n")])],
    ["ntp-monlist", 123, hex("17 00 03 2a 00000000")],
    ["ntp-monlist", 123, hex("27 00 02 14 00000000")],
    ["ntp-version", 123, hex("16 02 0001 0000 0000 0000 0000")],
    ["ntp-client", 123, Buffer.concat([hex("e3"), Buffer.alloc(47)])],
    [
      "ssdp-msearch",
      1900,
      ascii('M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\n\r\n'),
    ],
    ["sip-options", 5060, ascii("OPTIONS sip:nm SIP/2.0\r\n")],
    ["dns-any", 53, dnsQuery(["isc", "org"], 255)],
    ["dns-query", 53, dnsQuery(["example", "com"], 1)],
    ["dns-query", 53, dnsQuery(["version", "bind"], 16, 3)],
    ["mdns", 5353, dnsQuery(["_services", "_dns-sd", "_udp", "local"], 12)],
    ["netbios-nbstat", 137, dnsQuery([`C${"K".repeat(1)}${"A".repeat(30)}`], 0x21)],
    [
      "snmp-get",
      161,
      hex("3026 020101 0406 7075626c6963 a019 0204 00000001 020100 020100 300b 3009 0605 2b06010201 0500"),
    ],
    [
      "snmp-getbulk",
      161,
      hex("3021 020101 0406 7075626c6963 a514 0202 1234 020100 020164 3008 3006 0602 2b06 0500"),
    ],
    [
      "snmp-v3",
      161,
      hex(
        "303a 020103 300f 02024a69 020300ffe3 040104 020103 0410 300e 0400 020100 020100 0400 0400 0400 3012 0400 0400 a00c 020237f0 020100 020100 3000",
      ),
    ],
    [
      "cldap-rootdse",
      389,
      hex("3025 020101 6320 0400 0a0100 0a0100 020100 020100 010100 870b 6f626a656374436c617373 3000"),
    ],
    [
      "portmap-dump",
      111,
      hex("11223344 00000000 00000002 000186a0 00000002 00000004 0000000000000000 0000000000000000"),
    ],
    [
      "portmap-call",
      111,
      hex("11223344 00000000 00000002 000186a0 00000002 00000003 0000000000000000 0000000000000000"),
    ],
    ["coap", 5683, hex("40 01 1234 bb 2e77656c6c2d6b6e6f776e 04 636f7265")],
    ["ws-discovery", 3702, ascii("<:/>")],
    ["tftp-rrq", 69, Buffer.concat([hex("0001"), ascii("a\0octet\0")])],
    ["rip-request", 520, hex("0101 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0010")],
    ["stun-binding", 3478, hex("0001 0000 2112a442 000102030405060708090a0b")],
    ["a2s-info", 27015, Buffer.concat([hex("ffffffff54"), ascii("Source Engine Query\0")])],
    ["ubiquiti-discovery", 10001, hex("01000000")],
    ["chargen", 19, ascii("x")],
    ["qotd", 17, Buffer.alloc(0)],
  ];
  for (const [probe, port, payload] of cases) {
    it(`${probe} on ${port}/udp`, () => {
      const c = classifyPacket(udp(port, payload));
      assert.equal(c.kind, "udp-probe");
      assert.equal(c.probe, probe);
    });
  }

  it("port-bound signatures do not fire elsewhere (chargen's any-datagram, a DNS query to 8080)", () => {
    assert.equal(classifyPacket(udp(20, ascii("x"))).probe, null);
    assert.equal(classifyPacket(udp(8080, dnsQuery(["a"], 255))).probe, null);
  });

  it("recognises the request of every UDP probe moat scan sends", () => {
    // scanner probe id -> what a telescope should call its request
    const expected: Record<string, string> = {
      chargen: "chargen",
      cldap: "cldap-rootdse",
      coap: "coap",
      "dns-recursion": "dns-query",
      "dns-version": "dns-query",
      mdns: "mdns",
      memcached: "memcached-stats",
      netbios: "netbios-nbstat",
      "ntp-monlist": "ntp-monlist",
      "ntp-version": "ntp-version",
      portmap: "portmap-dump",
      qotd: "qotd",
      rip: "rip-request",
      snmp: "snmp-get",
      ssdp: "ssdp-msearch",
      tftp: "tftp-rrq",
      "ws-discovery": "ws-discovery",
    };
    for (const probe of UDP_PROBES) {
      const want = expected[probe.id];
      assert.ok(want, `no expectation for scanner probe ${probe.id}`);
      const payload = probe.request({ id: 0x4242, sourcePort: 40000 });
      assert.equal(probeOf(payload, probe.ports[0]!), want, probe.id);
    }
  });

  it("never throws and never reads out of bounds on junk or truncated payloads", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 80 }),
        fc.constantFrom(53, 69, 123, 137, 161, 389, 3702, 5353, 11211, 1900),
        (bytes, port) => {
          const c = classifyPacket(udp(port, Buffer.from(bytes)));
          assert.equal(c.kind, "udp-probe");
        },
      ),
      { numRuns: 3000, seed: 5 },
    );
    // every prefix of a real probe
    const full = dnsQuery(["isc", "org"], 255);
    for (let n = 0; n < full.length; n++) assert.equal(probeOf(full.subarray(0, n), 53), null);
  });

  it("dnsQuestionType refuses responses, compression and runaway names", () => {
    const q = dnsQuery(["a"], 28);
    assert.equal(dnsQuestionType(q), 28);
    const response = Buffer.from(q);
    response[2] = 0x81;
    assert.equal(dnsQuestionType(response), -1);
    assert.equal(
      dnsQuestionType(Buffer.concat([hex("0000 0000 0001 0000 0000 0000 c00c"), hex("00ff0001")])),
      -1,
    );
  });
});

describe("classifyPacket: tool tags", () => {
  const dst = "192.0.2.10";
  const dstU32 = parseIpv4Number(dst);

  it("zmap: IP id 54321 on SYN, UDP and ICMP probes", () => {
    assert.deepEqual(classifyPacket(packet({ ipId: 54321 })).tags, ["zmap"]);
    assert.deepEqual(classifyPacket(udp(53, Buffer.alloc(0), { ipId: 54321 })).tags, ["zmap"]);
    assert.deepEqual(classifyPacket(icmp(8, { ipId: 54321 })).tags, ["zmap"]);
    assert.deepEqual(classifyPacket(packet({ ipId: 54320 })).tags, []);
  });

  it("masscan: ip id = (destination ^ port ^ sequence) & 0xffff", () => {
    fc.assert(
      fc.property(
        fc.ipV4(),
        fc.integer({ min: 1, max: 65535 }),
        fc.nat({ max: 0xffffffff }),
        (ip, port, seq) => {
          const ipId = (parseIpv4Number(ip) ^ port ^ seq) & 0xffff;
          const tags = classifyPacket(
            packet({ destination: ip, destinationPort: port, tcpSequence: seq, ipId }),
          ).tags;
          assert.ok(tags.includes("masscan"));
          const off = classifyPacket(
            packet({ destination: ip, destinationPort: port, tcpSequence: seq, ipId: ipId ^ 1 }),
          ).tags;
          assert.ok(!off.includes("masscan"));
        },
      ),
      { seed: 7 },
    );
  });

  it("mirai: sequence number = destination address", () => {
    const tags = classifyPacket(packet({ destination: dst, tcpSequence: dstU32, ipId: 77 })).tags;
    assert.ok(tags.includes("mirai"));
    assert.ok(
      !classifyPacket(packet({ destination: dst, tcpSequence: dstU32 + 1, ipId: 77 })).tags.includes("mirai"),
    );
  });

  it("no tags on IPv6, on backscatter, or on ordinary SYNs", () => {
    assert.deepEqual(
      classifyPacket(packet({ family: "ipv6", ipId: null, destination: "2001:db8::1" })).tags,
      [],
    );
    assert.deepEqual(classifyPacket(packet({ tcpFlags: 0x12, ipId: 54321 })).tags, []);
    assert.deepEqual(classifyPacket(packet()).tags, []);
  });
});
