import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runMoat } from "../helpers/moat.js";

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

interface VerdictLine {
  packet: string;
  verdict: "allow" | "deny";
  rule: number | null;
  reason: string;
}

const jsonLines = (stdout: string) =>
  stdout
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as VerdictLine);

describe("moat filter", () => {
  it("presets lists every preset, as a table and as JSON", async () => {
    const table = await runMoat(["filter", "presets"]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+PARAMETERS\s+DESCRIPTION/);
    assert.match(table.stdout, /linux-unneeded-ports\s+admin, ntp/);
    assert.match(table.stdout, /web\s+admin, \[ntp\]/);
    const json = await runMoat(["filter", "presets", "--json"]);
    const presets = json.json<{ name: string; parameters: { name: string; required: boolean }[] }[]>();
    assert.ok(presets.some((p) => p.name === "block-reflectors" && p.parameters.length === 0));
  });

  it("new writes a filter that test then reads", async () => {
    const made = await runMoat([
      "filter",
      "new",
      "--preset",
      "linux-unneeded-ports",
      "--set",
      "admin=203.0.113.0/24",
      "--set",
      "ntp=192.0.2.123",
    ]);
    assert.equal(made.code, 0, made.stderr);
    assert.match(
      made.stdout,
      /^# Made by: moat filter new --preset linux-unneeded-ports --set admin=203\.0\.113\.0\/24/,
    );
    const dir = mkdtempSync(join(tmpdir(), "moat-filter-"));
    const file = join(dir, "nic.yaml");
    writeFileSync(file, made.stdout);
    const result = await runMoat([
      "filter",
      "test",
      file,
      "--json",
      "--packet",
      "udp 203.0.113.9:4444 > 198.51.100.10:11211",
      "--packet",
      "tcp 203.0.113.9:4444 > 198.51.100.10:22",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(jsonLines(result.stdout), [
      {
        packet: "udp 203.0.113.9:4444 > 198.51.100.10:11211",
        verdict: "deny",
        rule: 11,
        reason: 'rule 11 ("deny all") denies it: any protocol from any source.',
      },
      {
        packet: "tcp 203.0.113.9:4444 > 198.51.100.10:22",
        verdict: "allow",
        rule: 5,
        reason: 'rule 5 ("SSH from the admin network") allows it: tcp from 203.0.113.0/24 to port 22.',
      },
    ]);
  });

  it("a missing preset parameter exits 2 and names the --set to add", async () => {
    const result = await runMoat(["filter", "new", "--preset", "web"]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    assert.match(result.stderr, /needs the parameter "admin".*add --set admin=203\.0\.113\.0\/24/);
    const bad = await runMoat(["filter", "new", "--preset", "web", "--set", "admin"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /write --set NAME=VALUE/);
  });

  it("test --packets - reads stdin, skipping comments and blank lines", async () => {
    const input =
      "# probes\nudp 203.0.113.9:4444 > 198.51.100.10:11211\n\ntcp 203.0.113.7:50000 > 198.51.100.10:22 # admin\nudp 192.0.2.1 > 192.0.2.2 frag\n";
    const result = await runMoat(["filter", "test", fixture("good.yaml"), "--packets", "-", "--json"], {
      input,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(
      jsonLines(result.stdout).map((v) => [v.verdict, v.rule]),
      [
        ["deny", 3],
        ["allow", 2],
        ["deny", 5],
      ],
    );
  });

  it("test --packets FILE prints verdict, rule and reason per packet for people", async () => {
    const result = await runMoat([
      "filter",
      "test",
      fixture("good.yaml"),
      "--packets",
      fixture("packets.txt"),
    ]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 8);
    assert.match(lines[0]!, /^deny\s+rule 3\s+udp 203\.0\.113\.9:4444 > 198\.51\.100\.10:11211$/);
    assert.match(lines[1]!, /^\s+rule 3 \(deny udp\) denies it: udp from any source to port 11211\.$/);
    assert.match(lines[4]!, /^allow\s+rule 1\s+tcp \[2001:db8::1\]:5555 > \[2001:db8::2\]:80$/);
  });

  it("bad packets and bad filters exit 2 naming the place", async () => {
    const packet = await runMoat([
      "filter",
      "test",
      fixture("good.yaml"),
      "--packet",
      "udp 203.0.113.9 > 198.51.100.10:11211",
    ]);
    assert.equal(packet.code, 2);
    assert.match(
      packet.stderr,
      /packet "udp 203\.0\.113\.9 > 198\.51\.100\.10:11211", column 5: a udp packet needs a port/,
    );
    const lines = await runMoat(["filter", "test", fixture("good.yaml"), "--packets", "-"], {
      input: "udp 1.2.3.4:1 > 1.2.3.4:2\nsctp 1.2.3.4 > 1.2.3.4\n",
    });
    assert.equal(lines.code, 2);
    assert.match(lines.stderr, /^moat: stdin:2:1: unknown protocol "sctp"/);
    const filter = await runMoat([
      "filter",
      "test",
      fixture("reversed-range.yaml"),
      "--packet",
      "ip 1.2.3.4 > 1.2.3.5",
    ]);
    assert.equal(filter.code, 2);
    assert.match(
      filter.stderr,
      /reversed-range\.yaml:14:22 at rules\[3\]\.destinationPort: "61000-32768" is reversed/,
    );
    const neither = await runMoat(["filter", "test", fixture("good.yaml")]);
    assert.equal(neither.code, 2);
    assert.match(neither.stderr, /either --packet TEXT .* or --packets FILE/);
  });

  it("has help with examples", async () => {
    const help = await runMoat(["filter", "test", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Examples:/);
    assert.match(help.stdout, /--packets <file>/);
  });
});
