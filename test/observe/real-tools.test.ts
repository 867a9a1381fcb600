/**
 * The decoder and classifier on what real scanners put on the wire: captures made by
 * fixtures/make-real-captures.sh (zmap, masscan, nmap, hping3 aimed at a telescope namespace, and a
 * victim's answers to a forged-source flood). Counts are checked against tcpdump's reading of the
 * same file; tool tags against what each tool is known to do.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { addressText } from "../../src/observe/address.js";
import { openCapture } from "../../src/observe/capture/open.js";
import { classifyPacket, type PacketKind, victimOf } from "../../src/observe/classify.js";
import { decodePacket, newDecodedPacket } from "../../src/observe/decode.js";
import { toolMissing } from "../helpers/skip.js";
import { fixture, tcpdumpLines } from "./capture-helpers.js";

interface Row {
  family: string;
  protocol: string;
  port: number | null;
  source: string;
  kind: PacketKind;
  probe: string | null;
  victim: string | null;
  tags: readonly string[];
}

interface Capture {
  path: string;
  rows: Row[];
  readerProblems: number;
  decodeProblems: string[];
}

/** MOAT_REAL_CAPTURES=DIR checks a freshly made set (OUT=DIR make-real-captures.sh) instead of the committed one. */
const captureDir = process.env.MOAT_REAL_CAPTURES;
const capturePath = (name: string) => (captureDir ? join(captureDir, name) : fixture(`real/${name}`));

async function classifyFile(name: string): Promise<Capture> {
  const path = capturePath(name);
  const reader = await openCapture(path);
  const into = newDecodedPacket();
  const rows: Row[] = [];
  const decodeProblems: string[] = [];
  const summary = await reader.forEach((record) => {
    const problem = decodePacket(record, into);
    if (problem !== null) {
      decodeProblems.push(`${name} packet ${problem.index} offset ${problem.offset}: ${problem.problem}`);
      return;
    }
    const c = classifyPacket(into);
    rows.push({
      family: into.family,
      protocol: into.protocol,
      port: into.destinationPort,
      source: addressText(into.source),
      kind: c.kind,
      probe: c.probe,
      victim: victimOf(into, c) === null ? null : addressText(into.source),
      tags: c.tags,
    });
  });
  await reader.close();
  return { path, rows, readerProblems: summary.problemCount, decodeProblems };
}

const TOOL_TAGS = ["zmap", "masscan", "mirai"];
const tagged = (rows: Row[], tag: string) => rows.filter((r) => r.tags.includes(tag)).length;
const count = (rows: Row[], kind: PacketKind) => rows.filter((r) => r.kind === kind).length;

/** tcpdump's count of packets matching a filter in the same file: the independent reading. */
const tcpdumpCount = (path: string, filter: string[] = []) => tcpdumpLines(path, filter).length;
/** tcpdump prints a pure SYN as `Flags [S],` (with ACK it is `[S.]`, with ECN bits `[SE]`, ...). */
const tcpdumpSyns = (path: string) => tcpdumpLines(path).filter((l) => l.includes("Flags [S],")).length;

/** The probes each tool is expected to send per UDP port; null where it sends a payload we do not know. */
const UDP_PROBES_SENT: Record<string, Record<number, (string | null)[]>> = {
  // --probe-args hex (memcached stats) and file: zmap's own dns_53.pkt (version.bind) and
  // ntp_123_monlist.pkt; its ntp module sends a mode 3 client request.
  "zmap.pcap": { 11211: ["memcached-stats"], 53: ["dns-query"], 123: ["ntp-monlist", "ntp-client"] },
  // masscan's built-in UDP payloads (templ-payloads.c).
  "masscan.pcap": {
    11211: ["memcached-stats"],
    53: ["dns-query"],
    123: ["ntp-monlist"],
    161: ["snmp-get"],
    1900: ["ssdp-msearch"],
  },
  // nmap-payloads: two per port for some; the DNS STATUS query, the NTP symmetric-active packet and
  // an RPC call to a random program are nmap's own and not reflector probes, so they stay unnamed.
  "nmap.pcap": {
    11211: ["memcached-version"],
    53: ["dns-query", null],
    111: ["portmap-call", null],
    123: ["ntp-client", null],
    161: ["snmp-get", "snmp-v3"],
    1900: ["ssdp-msearch"],
  },
  // -E with a memcached stats frame.
  "hping3.pcap": { 11211: ["memcached-stats"] },
};

/** The one tool tag each scanner's SYNs carry, or none. */
const SYN_TAG: Record<string, string | null> = {
  "zmap.pcap": "zmap",
  "masscan.pcap": "masscan",
  "nmap.pcap": null,
  "hping3.pcap": null,
};

const skip = toolMissing("tcpdump") ?? false;

describe("real scanner captures: decode and classify", { skip }, () => {
  for (const [name, probesByPort] of Object.entries(UDP_PROBES_SENT)) {
    describe(name, () => {
      const read = classifyFile(name);

      it("every packet decodes, as many as tcpdump reads", async () => {
        const { path, rows, readerProblems, decodeProblems } = await read;
        assert.deepEqual(decodeProblems, []);
        assert.equal(readerProblems, 0);
        assert.ok(rows.length > 0, `${name} is empty`);
        assert.equal(rows.length, tcpdumpCount(path));
      });

      it("every SYN is a scan, every UDP datagram a probe, nothing else is there", async () => {
        const { path, rows } = await read;
        assert.equal(count(rows, "tcp-syn-scan"), tcpdumpSyns(path));
        assert.equal(count(rows, "udp-probe"), tcpdumpCount(path, ["udp"]));
        assert.equal(count(rows, "tcp-syn-scan") + count(rows, "udp-probe"), rows.length);
      });

      it("the tool's own tag is on every SYN, no other tool's on any packet", async () => {
        const { rows } = await read;
        const own = SYN_TAG[name] ?? null;
        const syns = rows.filter((r) => r.kind === "tcp-syn-scan");
        assert.ok(syns.length > 0, `${name} has no SYNs`);
        if (own !== null) {
          assert.equal(tagged(syns, own), syns.length, `${own} on every SYN`);
          assert.ok(tagged(rows, own) > 0);
        }
        for (const tag of TOOL_TAGS) {
          if (tag === own) continue;
          assert.equal(tagged(rows, tag), 0, `no ${tag} tag in ${name}`);
        }
      });

      it("UDP probes are recognised from the payloads the tool sent", async () => {
        const { rows } = await read;
        const udp = rows.filter((r) => r.kind === "udp-probe");
        assert.ok(udp.length > 0, `${name} has no UDP`);
        const seen = new Map<number, Set<string | null>>();
        for (const r of udp) {
          const port = r.port ?? -1;
          const expected = probesByPort[port];
          assert.ok(expected !== undefined, `${name}: UDP to unexpected port ${port}`);
          assert.ok(expected.includes(r.probe), `${name}: ${port}/udp probe ${r.probe}`);
          seen.set(port, (seen.get(port) ?? new Set()).add(r.probe));
        }
        // Every probe the tool sends shows up at least once.
        for (const [port, expected] of Object.entries(probesByPort))
          assert.deepEqual(
            [...(seen.get(Number(port)) ?? [])].sort(),
            [...expected].sort(),
            `${name}: probes on ${port}/udp`,
          );
      });
    });
  }

  it("zmap marks everything it sends, UDP included (IP id 54321)", async () => {
    const { rows } = await classifyFile("zmap.pcap");
    assert.equal(tagged(rows, "zmap"), rows.length);
  });

  it("nmap's IPv6 SYN scan is a scan too, and carries no tag (no IP id in IPv6)", async () => {
    const { path, rows } = await classifyFile("nmap.pcap");
    const v6 = rows.filter((r) => r.family === "ipv6");
    assert.equal(v6.length, tcpdumpCount(path, ["ip6"]));
    assert.ok(v6.length > 0);
    for (const r of v6) {
      assert.equal(r.kind, "tcp-syn-scan");
      assert.deepEqual(r.tags, []);
    }
  });
});

describe("real backscatter: a victim's answers to forged telescope sources", { skip }, () => {
  /** The flooded host in make-real-captures.sh. */
  const VICTIM = "198.51.100.6";

  it("every packet decodes and is backscatter naming the host that answered", async () => {
    const { path, rows, readerProblems, decodeProblems } = await classifyFile("backscatter.pcap");
    assert.deepEqual(decodeProblems, []);
    assert.equal(readerProblems, 0);
    const lines = tcpdumpLines(path);
    assert.equal(rows.length, lines.length);
    rows.forEach((r, i) => {
      assert.equal(r.kind, "backscatter", `packet ${i}: ${lines[i]}`);
      assert.equal(r.victim, r.source);
      // tcpdump: "<time> IP <source>[.port] > ..."
      assert.ok(lines[i]!.split(" ")[2]!.startsWith(`${r.victim}`), `packet ${i}: ${lines[i]}`);
      assert.deepEqual(r.tags, []);
    });
    assert.deepEqual([...new Set(rows.map((r) => r.victim))], [VICTIM]);
  });

  it("holds each kind of answer: SYN-ACK, RST, ICMP unreachable and echo reply", async () => {
    const { path, rows } = await classifyFile("backscatter.pcap");
    const lines = tcpdumpLines(path);
    const synAcks = lines.filter((l) => l.includes("Flags [S.]")).length;
    const rsts = lines.filter((l) => l.includes("Flags [R.]") || l.includes("Flags [R]")).length;
    const unreachable = lines.filter((l) => l.includes("port 9999 unreachable")).length;
    const echoReplies = lines.filter((l) => l.includes("ICMP echo reply")).length;
    for (const n of [synAcks, rsts, unreachable, echoReplies]) assert.ok(n > 0);
    assert.equal(synAcks + rsts + unreachable + echoReplies, rows.length);
    assert.equal(rows.filter((r) => r.protocol === "tcp").length, synAcks + rsts);
    assert.equal(rows.filter((r) => r.protocol === "icmp").length, unreachable + echoReplies);
  });
});
