import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { InputError } from "../../src/errors.js";
import { eachAddress } from "../../src/scan/intervals.js";
import {
  defaultExclude,
  planTargets,
  readNetworkFile,
  type ScopeOptions,
  specialRangeOf,
} from "../../src/scan/scope.js";
import { parseTarget } from "../../src/scan/targets.js";

const dir = mkdtempSync(join(tmpdir(), "moat-scope-"));

function plan(targets: string[], options: ScopeOptions = {}) {
  return planTargets(
    targets.map((t) => parseTarget(t)),
    options,
  );
}

function refusal(targets: string[], options: ScopeOptions, why: RegExp): void {
  assert.throws(
    () => plan(targets, options),
    (e: unknown) => e instanceof InputError && why.test(e.message),
    targets.join(" "),
  );
}

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("scope: special-purpose ranges", () => {
  it("refuses a target named inside one, and says which range and which flag", () => {
    refusal(
      ["10.1.2.3"],
      {},
      /10\.1\.2\.3 is in 10\.0\.0\.0\/8, an IANA special-purpose range \(private-use\); scanning it needs --allow-special/,
    );
    refusal(["192.0.2.0/28"], {}, /192\.0\.2\.0\/24, .*documentation.*--allow-special/);
    refusal(["2001:db8::1"], {}, /2001:db8::\/32.*--allow-special/);
    refusal(["fe80::1"], {}, /link-local/);
    refusal(["255.255.255.255"], {}, /limited broadcast/);
    refusal(["224.0.0.1"], {}, /multicast/);
    refusal(["::ffff:192.0.2.1"], {}, /IPv4-mapped/);
    refusal(["64:ff9b::c000:201"], {}, /NAT64/);
  });

  it("allows them with --allow-special when named", () => {
    assert.equal(plan(["192.0.2.0/28", "2001:db8::1"], { allowSpecial: true }).count, 17);
  });

  it("allows loopback without the flag: it is this host", () => {
    const p = plan(["127.0.0.1", "::1"]);
    assert.deepEqual([...eachAddress(p.intervals)], ["127.0.0.1", "::1"]);
  });

  it("skips special ranges inside a wider target, with a note, even with --allow-special", () => {
    const scope = { file: "s", networks: parseTarget("192.0.0.0/20").intervals };
    for (const allowSpecial of [false, true]) {
      const p = plan(["192.0.0.0/22"], { scope, allowSpecial });
      // 192.0.0.0/24 (IETF) and 192.0.2.0/24 (documentation) are skipped: 1024 - 512.
      assert.equal(p.count, 512);
      const addresses = [...eachAddress(p.intervals)];
      assert.ok(
        !addresses.includes("192.0.2.1") &&
          addresses.includes("192.0.1.1") &&
          addresses.includes("192.0.3.255"),
      );
      assert.match(
        p.notes.join("\n"),
        /skipping 512 addresses in IANA special-purpose ranges \(192\.0\.0\.0\/24, 192\.0\.2\.0\/24\)/,
      );
    }
  });

  it("names every special address of random targets (fast-check)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => {
        const text = `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
        const [interval] = parseTarget(text).intervals;
        const special = specialRangeOf(interval!);
        try {
          const p = plan([text]);
          assert.ok(special === undefined || special.name === "loopback", text);
          assert.equal(p.count, 1);
        } catch (error) {
          assert.ok(error instanceof InputError && special !== undefined, `${text}: ${String(error)}`);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe("scope: size, scope file, exclude", () => {
  it("needs --scope above 256 addresses and names the flag", () => {
    assert.equal(plan(["11.0.0.0/24"]).count, 256);
    refusal(["11.0.0.0/24", "11.0.1.0"], {}, /257 addresses; more than 256 need --scope FILE/);
  });

  it("with a scope file, every target lies inside it", () => {
    const scopeFile = file("scope.txt", "# ours\n11.0.0.0/16\n12.0.0.1-12.0.0.9\n");
    const scope = { file: scopeFile, networks: readNetworkFile(scopeFile) };
    assert.equal(plan(["11.0.0.0/16", "12.0.0.2-5"], { scope }).count, 65536 + 4);
    refusal(
      ["11.0.0.0/15"],
      { scope },
      /11\.1\.0\.0\/16 is not inside the networks listed in the scope file/,
    );
    refusal(["12.0.0.1"], { scope: { file: "x", networks: [] } }, /not inside/);
  });

  it("plans a /8 without expanding it", () => {
    const scope = { file: "s", networks: parseTarget("11.0.0.0/8").intervals };
    const started = performance.now();
    const p = plan(["11.0.0.0/8"], { scope });
    assert.equal(p.count, 2 ** 24);
    assert.ok(performance.now() - started < 50);
    const it = eachAddress(p.intervals);
    assert.equal(it.next().value, "11.0.0.0");
  });

  it("refuses scans that cannot end", () => {
    const scope = { file: "s", networks: parseTarget("2600::/16").intervals };
    refusal(["2600::/64"], { scope }, /cannot be scanned in a lifetime/);
  });

  it("always honours exclude lists, and says when nothing is left", () => {
    const excludeFile = file("exclude.txt", "11.0.0.128/25\n11.0.0.5\n");
    const exclude = readNetworkFile(excludeFile);
    const p = plan(["11.0.0.0/24"], { exclude });
    assert.equal(p.count, 127);
    assert.ok(![...eachAddress(p.intervals)].includes("11.0.0.5"));
    assert.match(p.notes.join(), /excluded 129 addresses/);
    refusal(["11.0.0.200"], { exclude }, /every target is excluded/);
  });

  it("exclusion happens before the size check: excluding can bring a target under 256", () => {
    const exclude = parseTarget("11.0.1.0/24").intervals;
    assert.equal(plan(["11.0.0.0/23"], { exclude }).count, 256);
  });

  it("reads the default exclude file when it exists", () => {
    assert.deepEqual(defaultExclude(join(dir, "absent.txt")), []);
    const path = file("default-exclude.txt", "11.0.0.0/8\n");
    assert.equal(defaultExclude(path).length, 1);
  });

  it("refuses host names and bad lines in network files, naming the line", () => {
    const path = file("bad-scope.txt", "11.0.0.0/8\nexample.org\n");
    assert.throws(
      () => readNetworkFile(path),
      (e: unknown) =>
        e instanceof InputError && e.message.startsWith(`${path}:2:`) && /not host names/.test(e.message),
    );
    const path2 = file("bad-scope2.txt", "11.0.0.0/33\n");
    assert.throws(() => readNetworkFile(path2), /bad-scope2\.txt:1: .*prefix length/);
  });

  it("refuses an empty target list", () => {
    assert.throws(() => planTargets([]), /no targets/);
  });
});
