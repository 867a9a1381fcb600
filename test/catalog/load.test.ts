import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DEFAULT_CATALOG_PATH, loadCatalog } from "../../src/catalog/load.js";
import { parseCatalog } from "../../src/catalog/parse.js";
import { InputError } from "../../src/errors.js";
import { formatPath } from "../../src/input/yaml-source.js";

// Keep the validated-data cache out of the user's home while testing.
const cacheHome = mkdtempSync(join(tmpdir(), "moat-catalog-cache-"));
process.env.XDG_CACHE_HOME = cacheHome;
after(() => rmSync(cacheHome, { recursive: true, force: true }));

const TEXT = readFileSync(DEFAULT_CATALOG_PATH, "utf8");

/** 1-based line of the first occurrence of `needle` in `text`. */
function lineOf(text: string, needle: string): number {
  const index = text.indexOf(needle);
  assert.ok(index >= 0, `fixture text not found: ${needle}`);
  return text.slice(0, index).split("\n").length;
}

function inputError(fn: () => unknown): InputError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof InputError, `expected InputError, got ${String(error)}`);
    return error;
  }
  assert.fail("expected an InputError");
}

describe("loadCatalog", () => {
  it("loads the real catalog with at least 60 services", async () => {
    const catalog = await loadCatalog();
    assert.ok(catalog.services.length >= 60, `${catalog.services.length} services`);
    assert.equal(catalog.byId("memcached")?.name, "Memcached");
  });

  it("caches the default catalog", async () => {
    assert.equal(await loadCatalog(), await loadCatalog());
  });

  it("reads the same data again from its on-disk cache", async () => {
    const file = join(cacheHome, "copy.yaml");
    writeFileSync(file, TEXT);
    const first = await loadCatalog(file);
    const second = await loadCatalog(file); // served from the cache written by the first load
    assert.notEqual(first, second);
    assert.deepEqual(second.services, first.services);
    assert.ok(readdirSync(join(cacheHome, "moat")).some((name) => name.startsWith("catalog-")));
  });

  it("a changed catalog is parsed again, not served stale from the cache", async () => {
    const file = join(cacheHome, "changed.yaml");
    writeFileSync(file, TEXT);
    await loadCatalog(file);
    writeFileSync(file, TEXT.replace("name: Memcached", "name: Memcached changed"));
    assert.equal((await loadCatalog(file)).byId("memcached")?.name, "Memcached changed");
  });

  it("keeps one cache file per catalog path: a change replaces it, and a damaged one is parsed around", async () => {
    const file = join(cacheHome, "one-file.yaml");
    const files = () => readdirSync(join(cacheHome, "moat")).filter((name) => !name.endsWith(".tmp"));
    writeFileSync(file, TEXT);
    await loadCatalog(file);
    const before = files();
    writeFileSync(file, TEXT.replace("name: Memcached", "name: Memcached again"));
    await loadCatalog(file);
    assert.deepEqual(files(), before);
    for (const name of before) writeFileSync(join(cacheHome, "moat", name), "{not json");
    assert.equal((await loadCatalog(file)).byId("memcached")?.name, "Memcached again");
  });

  it("a file that does not exist is an InputError naming it", async () => {
    await assert.rejects(loadCatalog("/nonexistent/services.yaml"), (error: unknown) => {
      assert.ok(error instanceof InputError);
      assert.match(error.message, /\/nonexistent\/services\.yaml/);
      return true;
    });
  });

  it("has unique ids, https references and process names the kernel can hold", async () => {
    const { services } = await loadCatalog();
    assert.equal(new Set(services.map((s) => s.id)).size, services.length);
    for (const service of services) {
      for (const url of service.references) assert.match(url, /^https:\/\//, `${service.id}: ${url}`);
      for (const name of service.processes) assert.ok(name.length <= 15, `${service.id}: ${name} is over 15`);
    }
  });
});

describe("parseCatalog errors", () => {
  it("names the file, line and path of a bad port in a known entry", async () => {
    const bad = TEXT.replace('ports: ["11211/tcp", "11211/udp"]', 'ports: ["11211/tcp", "11211/udpx"]');
    const error = inputError(() => parseCatalog(bad, "services.yaml"));
    const index = (await loadCatalog()).services.findIndex((s) => s.id === "memcached");
    assert.equal(error.place?.file, "services.yaml");
    assert.equal(error.place?.line, lineOf(TEXT, 'ports: ["11211/tcp", "11211/udp"]'));
    assert.equal(error.place?.path, `services[${index}].ports[1]`);
    assert.match(error.message, /^services\.yaml:\d+:\d+ at services\[\d+\]\.ports\[1\]: "11211\/udpx"/);
    assert.match(error.message, /PORT\/tcp/);
  });

  it("points at a port out of range", () => {
    const bad = TEXT.replace('ports: ["22/tcp"]', 'ports: ["70000/tcp"]');
    const error = inputError(() => parseCatalog(bad, "c.yaml"));
    assert.equal(error.place?.line, lineOf(TEXT, 'ports: ["22/tcp"]'));
    assert.equal(error.place?.path, "services[0].ports[0]");
    assert.match(error.message, /1 to 65535/);
  });

  it("points at an unknown field's own line", () => {
    const bad = TEXT.replace("    scope: public\n", "    scoop: public\n");
    const error = inputError(() => parseCatalog(bad, "c.yaml"));
    assert.equal(error.place?.line, lineOf(bad, "scoop: public"));
    assert.match(error.message, /scope|scoop/);
  });

  it("says which value is not allowed and what is", () => {
    const bad = TEXT.replace("    scope: lan\n", "    scope: internet\n");
    const error = inputError(() => parseCatalog(bad, "c.yaml"));
    assert.equal(error.place?.line, lineOf(bad, "scope: internet"));
    assert.match(error.message, /"internet" is not allowed; use one of: public, lan, local/);
  });

  it("reports a duplicate id at the second entry, naming the first", () => {
    const bad = TEXT.replace("  - id: redis\n", "  - id: ssh\n");
    const error = inputError(() => parseCatalog(bad, "c.yaml"));
    // The replacement keeps line numbers, so the second "ssh" sits where "redis" was.
    assert.equal(error.place?.line, lineOf(TEXT, "  - id: redis\n"));
    assert.match(error.message, /duplicate id "ssh": services\[0\] \(line \d+\)/);
  });

  it("reports YAML syntax errors with their line", () => {
    const error = inputError(() => parseCatalog("version: 1\nservices:\n  - id: [x\n", "c.yaml"));
    assert.equal(error.place?.file, "c.yaml");
    assert.ok(error.place?.line !== undefined && error.place.line >= 3);
    assert.match(error.message, /invalid YAML/);
  });

  it("rejects an empty file, a wrong version and a non-list", () => {
    assert.match(inputError(() => parseCatalog("  \n", "c.yaml")).message, /empty/);
    assert.match(inputError(() => parseCatalog("version: 2\nservices: []\n", "c.yaml")).message, /version/);
    const notList = inputError(() => parseCatalog("version: 1\nservices: 3\n", "c.yaml"));
    assert.equal(notList.place?.line, 2);
    assert.match(notList.message, /expected array, found number 3/);
  });

  it("refuses alias bombs", () => {
    const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 0; i < 8; i++)
      bomb.push(
        `${"bcdefghi"[i]}: &${"bcdefghi"[i]} [${`*${i === 0 ? "a" : "bcdefghi"[i - 1]}, `.repeat(10).slice(0, -2)}]`,
      );
    assert.match(inputError(() => parseCatalog(bomb.join("\n"), "c.yaml")).message, /c\.yaml/);
  });
});

describe("formatPath", () => {
  it("writes zod paths the way a person reads them", () => {
    assert.equal(formatPath(["services", 12, "ports", 0]), "services[12].ports[0]");
    assert.equal(formatPath([]), "(top level)");
  });
});
