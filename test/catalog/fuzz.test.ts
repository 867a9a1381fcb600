/**
 * Whatever happens to services.yaml (edits, truncation, binary junk), loading gives a catalog or an
 * InputError that names the file, and the line whenever the text is valid YAML. Never anything else.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseDocument } from "yaml";
import { DEFAULT_CATALOG_PATH } from "../../src/catalog/load.js";
import { parseCatalog } from "../../src/catalog/parse.js";
import { InputError } from "../../src/errors.js";

const FILE = "fuzz/services.yaml";
const TEXT = readFileSync(DEFAULT_CATALOG_PATH, "utf8");
const LINES = TEXT.split("\n");
// A short catalog keeps each run cheap; the mutations are what matter.
const SMALL = `${LINES.slice(0, LINES.findIndex((l) => l.includes("- id: smtp")) - 1).join("\n")}\n`;

/** True when the YAML itself parses into data, so a schema error can and must point at a line. */
function isParseable(text: string): boolean {
  if (text.trim() === "") return false;
  const doc = parseDocument(text);
  if (doc.errors.length > 0) return false;
  try {
    doc.toJS({ maxAliasCount: 100 });
    return true;
  } catch {
    return false;
  }
}

function checkLoad(text: string): void {
  try {
    const catalog = parseCatalog(text, FILE);
    assert.ok(catalog.services.length > 0);
  } catch (error) {
    if (!(error instanceof InputError)) throw error; // a crash: fast-check reports the input
    assert.ok(error.message.startsWith(FILE), error.message);
    assert.equal(error.place?.file, FILE);
    if (isParseable(text)) assert.ok(error.place?.line !== undefined, `no line: ${error.message}`);
  }
}

const YAML_CHARS = fc.constantFrom(..."-:[]{}#&*!|>'\"%@` \n\t,?0123456789abcdefuxy/.".split(""));

const edit = fc.record({
  at: fc.nat(),
  remove: fc.nat({ max: 20 }),
  insert: fc.string({ unit: YAML_CHARS, maxLength: 12 }),
});

function applyEdits(text: string, edits: Array<{ at: number; remove: number; insert: string }>): string {
  let out = text;
  for (const e of edits) {
    const at = e.at % (out.length + 1);
    out = out.slice(0, at) + e.insert + out.slice(at + e.remove);
  }
  return out;
}

const RUNS = { numRuns: 120 };

describe("catalog loading under damage", () => {
  it("survives random edits", () => {
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 5 }), (edits) =>
        checkLoad(applyEdits(SMALL, edits)),
      ),
      RUNS,
    );
  });

  it("survives truncation anywhere", () => {
    fc.assert(
      fc.property(fc.nat({ max: SMALL.length }), (cut) => checkLoad(SMALL.slice(0, cut))),
      RUNS,
    );
  });

  it("survives deleted, repeated and swapped lines", () => {
    const lines = SMALL.split("\n");
    const op = fc.record({ kind: fc.constantFrom("delete", "repeat", "swap"), a: fc.nat(), b: fc.nat() });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 4 }), (ops) => {
        const out = [...lines];
        for (const { kind, a, b } of ops) {
          const i = a % out.length;
          const j = b % out.length;
          if (kind === "delete") out.splice(i, 1);
          else if (kind === "repeat") out.splice(i, 0, out[i]!);
          else [out[i], out[j]] = [out[j]!, out[i]!];
        }
        checkLoad(out.join("\n"));
      }),
      RUNS,
    );
  });

  it("survives binary junk, alone or spliced into the file", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.boolean(), (bytes, at, alone) => {
        const junk = Buffer.from(bytes).toString(alone ? "utf8" : "latin1");
        const where = at % (SMALL.length + 1);
        checkLoad(alone ? junk : SMALL.slice(0, where) + junk + SMALL.slice(where));
      }),
      RUNS,
    );
  });

  it("survives wrong types in any scalar", () => {
    const scalar = /: ("[^"]*"|[^\s[{][^\n]*)$/gm;
    const matches = [...SMALL.matchAll(scalar)];
    const replacement = fc.constantFrom(
      "",
      "~",
      "[]",
      "{}",
      "-1",
      "0",
      "99999",
      "true",
      "[1, 2]",
      "{a: 1}",
      '"x"',
    );
    fc.assert(
      fc.property(fc.nat(), replacement, (pick, value) => {
        const m = matches[pick % matches.length]!;
        const start = m.index + 2;
        checkLoad(SMALL.slice(0, start) + value + SMALL.slice(start + m[1]!.length));
      }),
      RUNS,
    );
  });

  it("the unmodified catalogs load", () => {
    checkLoad(SMALL);
    assert.ok(parseCatalog(TEXT, FILE).services.length >= 60);
  });
});
