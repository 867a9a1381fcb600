import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { loadCatalog } from "../../src/catalog/load.js";
import { InputError } from "../../src/errors.js";
import { evaluate } from "../../src/filter/evaluate.js";
import { parseFilter, renderFilterYaml } from "../../src/filter/load.js";
import { parsePacket } from "../../src/filter/packet.js";
import { instantiatePreset, listPresets } from "../../src/filter/presets.js";
import type { Filter } from "../../src/filter/types.js";

const examples = (name: string): Record<string, string> => {
  const preset = listPresets().find((p) => p.name === name)!;
  return Object.fromEntries(preset.parameters.map((p) => [p.name, p.example]));
};

const rulesOf = (filter: Filter) =>
  filter.rules.map((r) => {
    const ports = r.destinationPorts
      ?.map((p) => (p.start === p.end ? `${p.start}` : `${p.start}-${p.end}`))
      .join(",");
    const from = r.sources?.map((s) => `${s.address}/${s.prefix}`).join(",");
    return `${r.action} ${r.protocol}${from ? ` from ${from}` : ""}${ports ? ` to ${ports}` : ""}`;
  });

async function presetError(name: string, params: Record<string, string>): Promise<string> {
  try {
    await instantiatePreset(name, params);
  } catch (error) {
    assert.ok(error instanceof InputError, String(error));
    return error.message;
  }
  assert.fail("no error");
}

describe("presets", () => {
  it("lists at least the five presets the issue asks for", () => {
    const names = listPresets().map((p) => p.name);
    for (const name of ["linux-unneeded-ports", "web", "mail", "windows", "block-reflectors"])
      assert.ok(names.includes(name), name);
  });

  for (const preset of listPresets()) {
    it(`${preset.name}: instantiates with its examples, and its YAML loads back the same`, async () => {
      const filter = await instantiatePreset(preset.name, examples(preset.name));
      assert.ok(filter.rules.length > 0);
      assert.ok(filter.rules.every((r) => r.line === null));
      const again = parseFilter(renderFilterYaml(filter), `${preset.name}.yaml`);
      assert.deepEqual(
        again.rules.map((r) => ({ ...r, line: null })),
        filter.rules,
      );
      assert.equal(again.name, preset.name);
    });
  }

  it("linux-unneeded-ports is the advisory's preset, rule for rule", async () => {
    const filter = await instantiatePreset("linux-unneeded-ports", {
      admin: "203.0.113.0/24",
      ntp: "192.0.2.123",
    });
    assert.equal(filter.mode, "stateless");
    assert.deepEqual(filter.families, ["ipv4"]);
    assert.deepEqual(rulesOf(filter), [
      "allow tcp to 25",
      "allow tcp to 80",
      "allow tcp to 110",
      "allow udp to 68",
      "allow tcp from 203.0.113.0/24 to 22",
      "allow udp from 192.0.2.123/32 to 123",
      "allow icmp",
      "allow fragment",
      "allow tcp to 32768-61000",
      "allow udp to 32768-61000",
      "deny ip",
    ]);
    const judge = (text: string) => evaluate(filter, parsePacket(text));
    assert.equal(judge("udp 198.51.100.9:4444 > 192.0.2.10:11211").verdict, "deny");
    assert.equal(judge("tcp 203.0.113.5:50000 > 192.0.2.10:22").verdict, "allow");
    assert.equal(judge("tcp 198.51.100.5:50000 > 192.0.2.10:22").verdict, "deny");
    assert.equal(judge("udp 192.0.2.123:123 > 192.0.2.10:123").verdict, "allow");
    assert.equal(judge("udp 192.0.2.124:123 > 192.0.2.10:123").verdict, "deny");
    assert.equal(judge("udp 8.8.8.8:53 > 192.0.2.10:40000").verdict, "allow", "DNS replies pass");
  });

  it("windows lets return traffic in to 49152-65535 and RDP only from admin", async () => {
    const filter = await instantiatePreset("windows", { admin: "203.0.113.0/24" });
    const judge = (text: string) => evaluate(filter, parsePacket(text));
    assert.equal(judge("tcp 203.0.113.5:50000 > 192.0.2.10:3389").verdict, "allow");
    assert.equal(judge("tcp 198.51.100.5:50000 > 192.0.2.10:3389").verdict, "deny");
    assert.equal(judge("udp 8.8.8.8:53 > 192.0.2.10:55000").verdict, "allow");
    assert.equal(judge("udp 8.8.8.8:53 > 192.0.2.10:40000").verdict, "deny");
  });

  it("leaves out rules that use an optional parameter that is not set, keeps them when set", async () => {
    const without = await instantiatePreset("web", { admin: "203.0.113.0/24" });
    const withNtp = await instantiatePreset("web", {
      admin: "203.0.113.0/24",
      ntp: "192.0.2.123,192.0.2.124",
    });
    assert.equal(withNtp.rules.length, without.rules.length + 1);
    const ntp = withNtp.rules.find((r) => r.destinationPorts?.[0]?.start === 123)!;
    assert.deepEqual(
      ntp.sources?.map((s) => s.address),
      ["192.0.2.123", "192.0.2.124"],
    );
  });

  it("block-reflectors denies every UDP reflector port in the catalog, then allows the rest", async () => {
    const filter = await instantiatePreset("block-reflectors", {});
    const catalog = await loadCatalog();
    for (const service of catalog.services) {
      if (!service.risks.some((r) => r.kind === "reflection" && (r.protocol ?? "udp") === "udp")) continue;
      for (const spec of service.ports.filter((p) => p.endsWith("/udp"))) {
        const port = Number(spec.split(/[-/]/)[0]);
        const v = evaluate(filter, parsePacket(`udp 198.51.100.9:4444 > 192.0.2.10:${port}`));
        assert.equal(v.verdict, "deny", `${service.id} ${spec}: ${v.reason}`);
      }
    }
    assert.match(
      evaluate(filter, parsePacket("udp 198.51.100.9:4444 > 192.0.2.10:11211")).reason,
      /Memcached: UDP reflection, up to 51,000x/,
    );
    assert.equal(evaluate(filter, parsePacket("tcp 198.51.100.9:4444 > 192.0.2.10:11211")).verdict, "allow");
    assert.equal(evaluate(filter, parsePacket("udp [2001:db8::9]:4444 > [2001:db8::2]:123")).verdict, "deny");
  });

  it("block-reflectors follows the catalog it is given", async () => {
    const catalog = await loadCatalog();
    const onlyMemcached = { ...catalog, services: catalog.services.filter((s) => s.id === "memcached") };
    const filter = await instantiatePreset("block-reflectors", {}, { catalog: onlyMemcached });
    assert.deepEqual(rulesOf(filter), ["deny udp to 11211", "allow ip"]);
  });

  it("a missing parameter names it and the --set to add", async () => {
    const message = await presetError("linux-unneeded-ports", { admin: "203.0.113.0/24" });
    assert.match(message, /preset "linux-unneeded-ports" needs the parameter "ntp"/);
    assert.match(message, /add --set ntp=192\.0\.2\.123/);
  });

  it("refuses unknown presets, unknown parameters and values that are not addresses", async () => {
    assert.match(await presetError("nope", {}), /there is no preset "nope"; the presets are: .*web/);
    assert.match(
      await presetError("web", { admin: "203.0.113.0/24", adimn: "x" }),
      /has no parameter "adimn"; its parameters are: admin, ntp/,
    );
    assert.match(await presetError("block-reflectors", { admin: "x" }), /it takes no parameters/);
    assert.match(
      await presetError("web", { admin: "my-laptop" }),
      /--set admin=my-laptop: "my-laptop" is not an IPv4 or IPv6 address/,
    );
    assert.match(await presetError("web", { admin: "203.0.113.7/24" }), /did you mean 203\.0\.113\.0\/24/);
  });

  it("points at the line of a mistake in a preset file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-presets-"));
    writeFileSync(
      join(dir, "broken.yaml"),
      [
        "name: broken",
        "description: a broken preset",
        "parameters: []",
        "filter:",
        "  rules:",
        "    - { action: allow, protocol: tcp, destinationPort: 22 }",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a preset parameter reference, not a template
        "    - { action: allow, protocol: tcp, source: '${admin}' }",
        "",
      ].join("\n"),
    );
    await assert.rejects(instantiatePreset("broken", {}, { dir }), (e: unknown) => {
      return (
        e instanceof InputError &&
        e.place?.line === 7 &&
        /"\$\{admin\}" is not a declared parameter/.test(e.message)
      );
    });
    writeFileSync(
      join(dir, "broken.yaml"),
      [
        "name: broken",
        "description: a broken preset",
        "parameters: []",
        "filter:",
        "  rules:",
        "    - { generate: catalog-reflectors, action: deny }",
        "    - { action: allow, protocol: icmp, destinationPort: 22 }",
        "",
      ].join("\n"),
    );
    await assert.rejects(instantiatePreset("broken", {}, { dir }), (e: unknown) => {
      // The generator expands to many rules; the error still points at the preset file's line 7.
      return e instanceof InputError && e.place?.line === 7 && /an icmp rule has no ports/.test(e.message);
    });
  });
});
