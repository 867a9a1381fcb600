import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { addressText, ipv4Key, keyOfText } from "../../src/observe/address.js";
import type { CaptureRecord } from "../../src/observe/capture/record.js";
import { type DecodeProblem, decodePacket, newDecodedPacket } from "../../src/observe/decode.js";
import type { DecodedPacket } from "../../src/observe/types.js";
import { fixture, hasTcpdump, type Read, readFile, tcpdumpLines } from "./capture-helpers.js";

/** A decoded packet kept for a test, its addresses as text (the decoder gives IPv4 as integer keys). */
type Decoded = Omit<DecodedPacket, "source" | "destination"> & {
  source: string;
  destination: string;
  problem: DecodeProblem | null;
};

function decodeAll(read: Read): Decoded[] {
  const into = newDecodedPacket();
  return read.records.map((record) => {
    const problem = decodePacket(record, into);
    return { ...into, source: addressText(into.source), destination: addressText(into.destination), problem };
  });
}

const decodeFile = async (name: string): Promise<Decoded[]> => decodeAll(await readFile(name));

function counts(packets: Decoded[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of packets) {
    const key = p.problem
      ? `problem:${p.problem.kind}`
      : `${p.family}/${p.protocol}${p.fragment ? "/fragment" : ""}`;
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

const record = (data: Buffer, linkType: number, index = 7): CaptureRecord => ({
  index,
  offset: 1234,
  timeMicros: 1,
  linkType,
  data,
  wireLength: data.length,
});

describe("decodePacket on the lab fixtures", () => {
  const ethernet = {
    "ipv6/icmpv6": 18,
    "problem:not-ip": 6,
    "ipv4/icmp": 12,
    "ipv4/tcp": 13,
    "ipv4/udp": 12,
    "ipv6/tcp": 4,
    "ipv4/udp/fragment": 2,
    "ipv6/udp": 2,
    "ipv6/udp/fragment": 2,
  };
  const cooked = { "problem:not-ip": 6, "ipv4/icmp": 12, "ipv4/tcp": 13, "ipv4/udp": 9 };
  const expected: Record<string, Record<string, number>> = {
    "ethernet.pcap": ethernet,
    "ethernet.pcapng": ethernet,
    "ethernet.pcap.gz": ethernet,
    "cooked-sll.pcap": cooked,
    "cooked-sll2.pcap": cooked,
    "rawip.pcap": { "ipv6/icmpv6": 2, "ipv4/udp": 1, "ipv6/udp": 1, "ipv4/icmp": 2 },
    "snaplen64.pcap": {
      "ipv4/icmp": 12,
      "ipv4/udp": 11,
      "ipv4/udp/fragment": 2,
      "ipv6/udp": 2,
      "ipv6/udp/fragment": 2,
    },
    "merged.pcapng": { "problem:not-ip": 6, "ipv4/icmp": 18, "ipv4/tcp": 13, "ipv4/udp": 9 },
    "two-sections.pcapng": { "ipv4/icmp": 24, "problem:not-ip": 6, "ipv4/tcp": 13, "ipv4/udp": 9 },
  };
  for (const [name, want] of Object.entries(expected)) {
    it(`${name}: packets per protocol`, async () => {
      assert.deepEqual(counts(await decodeFile(name)), want);
    });
  }

  for (const name of ["ethernet.pcap", "cooked-sll2.pcap", "rawip.pcap"]) {
    it(`${name}: addresses and ports agree with tcpdump -nr -tt`, {
      skip: !hasTcpdump() && "no tcpdump",
    }, async () => {
      const packets = await decodeFile(name);
      const lines = tcpdumpLines(fixture(name));
      let compared = 0;
      packets.forEach((packet, i) => {
        const match = / IP6? (\S+) > (\S+): /.exec(lines[i]!);
        if (packet.problem || !match) return;
        const split = (token: string, v6: boolean): [string, number | null] => {
          const parts = token.split(".");
          if (v6 ? parts.length === 2 : parts.length === 5)
            return [parts.slice(0, -1).join("."), Number(parts.at(-1))];
          return [token, null];
        };
        const v6 = packet.family === "ipv6";
        const [source, sourcePort] = split(match[1]!, v6);
        const [destination, destinationPort] = split(match[2]!, v6);
        assert.equal(packet.source, source, `packet ${i}: ${lines[i]}`);
        assert.equal(packet.destination, destination, `packet ${i}`);
        if (sourcePort !== null) {
          assert.equal(packet.sourcePort, sourcePort, `packet ${i}`);
          assert.equal(packet.destinationPort, destinationPort, `packet ${i}`);
        }
        compared++;
      });
      assert.ok(compared > packets.length / 2);
    });
  }

  it("TCP: nmap's SYNs, the listener's SYN-ACK and the RSTs", async () => {
    const tcp = (await decodeFile("ethernet.pcap")).filter(
      (p) => p.protocol === "tcp" && p.family === "ipv4",
    );
    const syns = tcp.filter((p) => p.tcpFlags === 0x02);
    assert.deepEqual(
      syns.map((p) => p.destinationPort).sort((a, b) => a! - b!),
      [22, 23, 80, 443, 445, 3389],
    );
    for (const syn of syns) {
      assert.equal(syn.source, "192.0.2.1");
      assert.equal(syn.destination, "192.0.2.2");
      assert.equal(syn.tcpSequence, syns[0]!.tcpSequence, "nmap uses one sequence number per scan");
      assert.equal(syn.payload.length, 0);
      assert.equal(syn.capturedLength, 44);
      assert.equal(syn.wireLength, 44);
    }
    const synAck = tcp.filter((p) => p.tcpFlags === 0x12);
    assert.equal(synAck.length, 1);
    assert.equal(synAck[0]!.sourcePort, 80);
    assert.equal(tcp.filter((p) => p.tcpFlags === 0x14).length, 5);
  });

  it("UDP probes: the memcached frame and NTP monlist payloads, on every path", async () => {
    const packets = await decodeFile("ethernet.pcap");
    const memcached = packets.filter((p) => p.destinationPort === 11211);
    assert.deepEqual(memcached.map((p) => [p.family, p.source]).sort(), [
      ["ipv4", "192.0.2.1"],
      ["ipv4", "198.51.100.1"],
      ["ipv6", "2001:db8::1"],
    ]);
    for (const p of memcached) {
      assert.equal(p.payload.subarray(6).toString("latin1"), "\x00\x00stats\r\n");
      assert.equal(p.payload.length, 15);
    }
    const vlan = memcached.find((p) => p.source === "198.51.100.1")!;
    assert.equal(vlan.ipId, 54321);
    assert.equal(vlan.sourcePort, 40000);
    const monlist = packets.filter((p) => p.destinationPort === 123 && p.payload[0] === 0x17);
    assert.equal(monlist.length, 2, "direct and inside QinQ");
    const qinq = monlist.find((p) => p.source === "198.51.100.1")!;
    assert.equal(qinq.payload.subarray(0, 4).toString("hex"), "1700032a");
    assert.equal(qinq.payload.length, 48);
    assert.equal(qinq.ttl, 64);
  });

  it("IPv4 and IPv6 fragments: ports on the first, a fragment flag and no transport on the rest", async () => {
    const packets = await decodeFile("ethernet.pcap");
    const v4 = packets.filter((p) => p.family === "ipv4" && p.ipProtocol === 17 && p.wireLength > 1000);
    assert.equal(v4.length, 3);
    assert.deepEqual(
      v4.map((p) => [p.fragment, p.destinationPort, p.wireLength]),
      [
        [false, 9999, 1500],
        [true, null, 1500],
        [true, null, 1068],
      ],
    );
    assert.equal(new Set(v4.map((p) => p.ipId)).size, 1);
    const v6 = packets.filter((p) => p.family === "ipv6" && p.ipProtocol === 17 && p.wireLength > 100);
    assert.deepEqual(
      v6.map((p) => [p.fragment, p.destinationPort]),
      [
        [false, 9999],
        [true, null],
        [true, null],
      ],
    );
    assert.equal(v6[0]!.ipId, null);
  });

  it("ICMP and ICMPv6: type and code", async () => {
    const packets = await decodeFile("ethernet.pcap");
    const types = (protocol: string) =>
      packets
        .filter((p) => p.protocol === protocol && p.source.startsWith(protocol === "icmp" ? "192" : "2001"))
        .map((p) => `${p.icmpType}/${p.icmpCode}`);
    assert.deepEqual(new Set(types("icmp")), new Set(["8/0", "0/0", "3/3"]));
    assert.ok(
      types("icmpv6").includes("128/0") &&
        types("icmpv6").includes("129/0") &&
        types("icmpv6").includes("1/4"),
    );
    const unreachable = packets.find((p) => p.icmpType === 3)!;
    assert.equal(unreachable.payload[0]! >> 4, 4, "the quoted datagram follows the 8-byte ICMP header");
  });

  it("snaplen 64: cut packets decode as far as their bytes go, without a problem", async () => {
    const packets = await decodeFile("snaplen64.pcap");
    assert.ok(packets.every((p) => p.problem === null));
    const big = packets.find((p) => p.destinationPort === 9999 && p.family === "ipv4")!;
    assert.equal(big.capturedLength, 50);
    assert.equal(big.wireLength, 1500);
    assert.equal(big.payload.length, 50 - 28);
  });

  it("SLL and SLL2 give the same IP fields as each other and as the Ethernet capture", async () => {
    const key = (p: Decoded) =>
      [
        p.source,
        p.destination,
        p.protocol,
        p.sourcePort,
        p.destinationPort,
        p.tcpFlags,
        p.payload.toString("hex"),
      ].join(" ");
    const sll = (await decodeFile("cooked-sll.pcap")).filter((p) => !p.problem).map(key);
    const sll2 = (await decodeFile("cooked-sll2.pcap")).filter((p) => !p.problem).map(key);
    const eth = (await decodeFile("ethernet.pcap")).filter((p) => !p.problem && p.family === "ipv4").map(key);
    assert.deepEqual(sll2, sll);
    assert.deepEqual(sll, eth.slice(0, sll.length));
  });

  it("link types 228 and 229 (raw IPv4, raw IPv6)", async () => {
    const raw = await readFile("rawip.pcap");
    const v4 = raw.records.find((r) => r.data[0]! >> 4 === 4)!;
    const v6 = raw.records.find((r) => r.data[0]! >> 4 === 6)!;
    const into = newDecodedPacket();
    assert.equal(decodePacket({ ...v4, linkType: 228 }, into), null);
    assert.equal(addressText(into.source), "203.0.113.1");
    assert.equal(decodePacket({ ...v6, linkType: 229 }, into), null);
    assert.equal(into.family, "ipv6");
    assert.equal(decodePacket({ ...v6, linkType: 228 }, into)?.kind, "malformed");
  });
});

describe("decodePacket on junk", () => {
  // A real Ethernet + IPv4 + UDP frame (the memcached probe) to damage.
  const frameOf = async (): Promise<Buffer> => {
    const read = await readFile("ethernet.pcap");
    const into = newDecodedPacket();
    const found = read.records.find(
      (r) =>
        decodePacket(r, into) === null &&
        into.destinationPort === 11211 &&
        addressText(into.source) === "192.0.2.1",
    )!;
    return Buffer.from(found.data);
  };

  it("bad version, header length < 20, total length < header: malformed, with the packet index", async () => {
    const frame = await frameOf();
    const into = newDecodedPacket();
    const damage = (at: number, value: number) => {
      const copy = Buffer.from(frame);
      copy[at] = value;
      return decodePacket(record(copy, 1, 41), into);
    };
    for (const [at, value, text] of [
      [14, 0x55, /IP version 5/],
      [14, 0x44, /header length 16 < 20/],
      [17, 10, /total length 10 < header length 20/],
    ] as const) {
      const problem = damage(at, value);
      assert.equal(problem?.kind, "malformed");
      assert.equal(problem?.index, 41);
      assert.equal(problem?.offset, 1234);
      assert.match(problem!.problem, text);
    }
  });

  it("an IP header cut short is truncated; options past the captured bytes too", async () => {
    const frame = await frameOf();
    const into = newDecodedPacket();
    assert.equal(decodePacket(record(frame.subarray(0, 14 + 19), 1), into)?.kind, "truncated");
    const options = Buffer.from(frame.subarray(0, 14 + 24));
    options[14] = 0x4f;
    assert.equal(decodePacket(record(options, 1), into)?.kind, "truncated");
    assert.equal(decodePacket(record(frame.subarray(0, 10), 1), into)?.kind, "truncated");
  });

  it("unknown link types are unsupported; ARP is not IP", async () => {
    const frame = await frameOf();
    const into = newDecodedPacket();
    assert.equal(decodePacket(record(frame, 147), into)?.kind, "unsupported");
    const arp = Buffer.from(frame);
    arp.writeUInt16BE(0x0806, 12);
    assert.equal(decodePacket(record(arp, 1), into)?.kind, "not-ip");
  });

  it("fuzz: random bytes under every link type never throw", () => {
    const into = newDecodedPacket();
    fc.assert(
      fc.property(
        fc.constantFrom(0, 1, 101, 108, 113, 228, 229, 276, 9999),
        fc.uint8Array({ maxLength: 200 }),
        (linkType, bytes) => {
          const problem = decodePacket(record(Buffer.from(bytes), linkType), into);
          if (problem) assert.equal(problem.index, 7);
          else assert.ok(into.payload.length <= bytes.length && into.capturedLength <= bytes.length);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("fuzz: bit flips and cuts of every real packet never throw", async () => {
    const packets = [
      ...(await readFile("ethernet.pcap")).records,
      ...(await readFile("cooked-sll2.pcap")).records,
      ...(await readFile("rawip.pcap")).records,
    ].map((r) => ({ ...r, data: Buffer.from(r.data) }));
    const into = newDecodedPacket();
    fc.assert(
      fc.property(
        fc.constantFrom(...packets),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { maxLength: 6 }),
        fc.nat(),
        (packet, flips, cut) => {
          const data = Buffer.from(packet.data);
          for (const [at, bit] of flips) data[at % data.length]! ^= 1 << bit;
          decodePacket({ ...packet, data: data.subarray(0, cut % (data.length + 1)) }, into);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe("address text", () => {
  it("IPv4 keys give the text ipaddr.js gives, and keyOfText gives the key back", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (bytes) => {
        const buf = Buffer.from(bytes);
        const want = ipaddr.fromByteArray([...bytes]).toString();
        assert.equal(addressText(ipv4Key(buf, 0)), want);
        assert.equal(keyOfText(want), ipv4Key(buf, 0));
      }),
      { numRuns: 5000 },
    );
    assert.equal(addressText(ipv4Key(Buffer.from([255, 255, 255, 255]), 0)), "255.255.255.255");
  });
});
