import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { InputError } from "../../src/errors.js";
import { ScanState, STATE_HEADER } from "../../src/scan/resume.js";

const dir = mkdtempSync(join(tmpdir(), "moat-resume-"));

describe("resume state file", () => {
  it("records finished work and reads it back", () => {
    const path = join(dir, "a.state");
    const s = ScanState.open(path);
    s.record("udp", "192.0.2.1", 11211);
    s.record("tcp", "2001:db8::1", 22);
    s.record("udp", "192.0.2.1", 11211);
    s.close();
    assert.equal(readFileSync(path, "utf8"), `${STATE_HEADER}\nudp 192.0.2.1 11211\ntcp 2001:db8::1 22\n`);
    const again = ScanState.open(path);
    assert.ok(again.has("udp", "192.0.2.1", 11211) && again.has("tcp", "2001:db8::1", 22));
    assert.ok(!again.has("tcp", "192.0.2.1", 11211));
    again.record("udp", "192.0.2.2", 53);
    again.close();
    assert.equal(ScanState.open(path).size, 3);
  });

  it("cuts off a line left half-written by an interruption", () => {
    const path = join(dir, "b.state");
    writeFileSync(path, `${STATE_HEADER}\nudp 192.0.2.1 11211\nudp 192.0.2.2 112`);
    const s = ScanState.open(path);
    assert.equal(s.size, 1);
    s.record("udp", "192.0.2.2", 11211);
    s.close();
    assert.equal(readFileSync(path, "utf8"), `${STATE_HEADER}\nudp 192.0.2.1 11211\nudp 192.0.2.2 11211\n`);
  });

  it("refuses a corrupt line, naming file and line", () => {
    const path = join(dir, "c.state");
    writeFileSync(path, `${STATE_HEADER}\nudp 192.0.2.1 11211\nudp 192.0.2.300 53\n`);
    assert.throws(
      () => ScanState.open(path),
      (e: unknown) => e instanceof InputError && e.message.startsWith(`${path}:3: corrupt state line`),
    );
    appendFileSync(path, "");
    writeFileSync(path, `${STATE_HEADER}\nicmp 192.0.2.1 0\n`);
    assert.throws(() => ScanState.open(path), /:2: corrupt/);
  });

  it("never appends to a file that is not a state file", () => {
    const path = join(dir, "precious.txt");
    writeFileSync(path, "my notes\n");
    assert.throws(() => ScanState.open(path), /not a moat scan state file/);
    assert.equal(readFileSync(path, "utf8"), "my notes\n");
  });
});
