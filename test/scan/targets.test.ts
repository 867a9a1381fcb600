import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { loadCatalog } from "../../src/catalog/load.js";
import { InputError } from "../../src/errors.js";
import { cidrContains, parseCidr } from "../../src/net/cidr.js";
import { eachAddress, formatInterval, size } from "../../src/scan/intervals.js";
import { parsePorts, portCount, profilePorts } from "../../src/scan/ports.js";
import { parseTarget, parseTargetResult, readTargetsFile, resolveTargets } from "../../src/scan/targets.js";

const dir = mkdtempSync(join(tmpdir(), "moat-targets-"));

function addresses(text: string): string[] {
  return [...eachAddress(parseTarget(text).intervals)];
}

describe("targets", () => {
  it("reads addresses, networks, ranges and short ranges of both families", () => {
    assert.deepEqual(addresses("192.0.2.7"), ["192.0.2.7"]);
    assert.deepEqual(addresses("192.0.2.4/30"), ["192.0.2.4", "192.0.2.5", "192.0.2.6", "192.0.2.7"]);
    assert.deepEqual(addresses("192.0.2.254-192.0.3.1"), [
      "192.0.2.254",
      "192.0.2.255",
      "192.0.3.0",
      "192.0.3.1",
    ]);
    assert.deepEqual(addresses("198.51.100.9-11"), ["198.51.100.9", "198.51.100.10", "198.51.100.11"]);
    assert.deepEqual(addresses("2001:db8::fe/127"), ["2001:db8::fe", "2001:db8::ff"]);
    assert.deepEqual(addresses("2001:db8::1-2001:db8::2"), ["2001:db8::1", "2001:db8::2"]);
    assert.deepEqual(addresses("::1"), ["::1"]);
    assert.equal(parseTarget("web-1.example.org.").hostname, "web-1.example.org");
  });

  it("refuses bad syntax with a message that says what is wrong", () => {
    const bad: Array<[string, RegExp]> = [
      ["192.0.2.0/33", /prefix length/],
      ["192.0.2.5/24", /host bits/],
      ["192.0.2.9-3", /ends before it starts/],
      ["192.0.2.1-2001:db8::1", /same address family/],
      ["300.1.1.1", /not an IPv4/],
      ["010.0.0.1", /leading zero/],
      ["2001:db8:::1", /not a valid IPv6/],
      ["fe80::1%eth0", /zone/],
      ["under_score!", /not an address, network/],
      ["", /empty/],
    ];
    for (const [text, message] of bad) {
      assert.throws(
        () => parseTarget(text),
        (e: unknown) => e instanceof InputError && message.test(e.message),
        text,
      );
    }
  });

  it("never throws anything but InputError, whatever the text (fast-check)", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (text) => {
        try {
          parseTarget(text);
        } catch (error) {
          assert.ok(error instanceof InputError, String(error));
        }
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-f:./-]{0,40}$/), (text) => {
        parseTargetResult(text); // returns, never throws
      }),
      { numRuns: 2000 },
    );
  });

  it("expands a CIDR to exactly 2^(32-prefix) addresses, each inside it (fast-check)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 20, max: 32 }),
        (value, prefix) => {
          const network = (prefix === 0 ? 0 : (value >>> (32 - prefix)) << (32 - prefix)) >>> 0;
          const text = `${network >>> 24}.${(network >>> 16) & 255}.${(network >>> 8) & 255}.${network & 255}/${prefix}`;
          const spec = parseTarget(text);
          const cidr = parseCidr(text);
          assert.equal(size(spec.intervals), 2n ** BigInt(32 - prefix));
          let n = 0;
          for (const a of eachAddress(spec.intervals)) {
            assert.ok(cidrContains(cidr, a), `${a} in ${text}`);
            n++;
          }
          assert.equal(n, 2 ** (32 - prefix));
          assert.equal(formatInterval(spec.intervals[0]!), prefix === 32 ? text.split("/")[0] : text);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("expands IPv6 networks lazily: a /64 is one interval, and iterating it starts at once", () => {
    const spec = parseTarget("2001:db8:1:2::/64");
    assert.equal(size(spec.intervals), 2n ** 64n);
    const first = eachAddress(spec.intervals);
    assert.equal(first.next().value, "2001:db8:1:2::");
    assert.equal(first.next().value, "2001:db8:1:2::1");
  });

  it("reads a targets file with comments; an error names file and line", () => {
    const file = join(dir, "targets.txt");
    writeFileSync(file, "# our web servers\n192.0.2.1\n\n192.0.2.8/31   # pair\n");
    assert.deepEqual(
      readTargetsFile(file).flatMap((s) => [...eachAddress(s.intervals)]),
      ["192.0.2.1", "192.0.2.8", "192.0.2.9"],
    );
    writeFileSync(file, "192.0.2.1\n192.0.2.300\n");
    assert.throws(
      () => readTargetsFile(file),
      (e: unknown) => e instanceof InputError && e.message.startsWith(`${file}:2:`),
    );
    assert.throws(() => readTargetsFile(join(dir, "missing.txt")), /cannot read the file \(ENOENT\)/);
  });

  it("resolves host names to all their addresses; a name that does not resolve is an input error", async () => {
    const lookup = async (name: string) => {
      if (name === "dual.example") return ["192.0.2.5", "2001:db8::5", "192.0.2.5"];
      throw Object.assign(new Error("nope"), { code: "ENOTFOUND" });
    };
    const [spec] = await resolveTargets([parseTarget("dual.example")], lookup);
    assert.deepEqual([...eachAddress(spec!.intervals)], ["192.0.2.5", "2001:db8::5"]);
    await assert.rejects(
      resolveTargets([parseTarget("missing.example")], lookup),
      /cannot resolve host name "missing.example" \(ENOTFOUND\)/,
    );
  });

  it("resolves localhost with the system resolver", async () => {
    const [spec] = await resolveTargets([parseTarget("localhost")]);
    assert.ok([...eachAddress(spec!.intervals)].some((a) => a === "127.0.0.1" || a === "::1"));
  });
});

describe("ports", () => {
  it("reads protocol-tagged ports and ranges, merged", () => {
    const set = parsePorts("11211/udp, 22/tcp,1-1024/TCP,123/udp,124/udp");
    assert.deepEqual(set.tcp, [{ start: 1, end: 1024 }]);
    assert.deepEqual(set.udp, [
      { start: 123, end: 124 },
      { start: 11211, end: 11211 },
    ]);
    assert.equal(portCount(set), 1027);
  });

  it("refuses a port without protocol and out-of-range ports", () => {
    assert.throws(() => parsePorts("53"), /needs a protocol: write 53\/udp or 53\/tcp/);
    assert.throws(() => parsePorts("0/udp"), InputError);
    assert.throws(() => parsePorts("70000/tcp"), InputError);
    assert.throws(() => parsePorts("9-3/tcp"), InputError);
    assert.throws(() => parsePorts("22/sctp"), InputError);
  });

  it("builds profiles from the catalog", async () => {
    const catalog = await loadCatalog();
    const reflectors = profilePorts(catalog, "reflectors");
    assert.equal(reflectors.tcp.length, 0, "reflection is UDP only");
    for (const port of [11211, 123, 53, 19, 17, 1900]) {
      assert.ok(
        reflectors.udp.some((r) => port >= r.start && port <= r.end),
        `${port}/udp is a reflector port`,
      );
    }
    const exposure = profilePorts(catalog, "exposure");
    assert.ok(exposure.tcp.some((r) => r.start <= 11211 && r.end >= 11211));
    assert.ok(!exposure.tcp.some((r) => r.start <= 443 && r.end >= 443), "public services are not exposure");
    assert.ok(portCount(profilePorts(catalog, "all-catalog")) >= portCount(exposure));
  });
});
