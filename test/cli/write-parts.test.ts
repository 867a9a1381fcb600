/** writeParts: the same bytes whether stdout is a file (written to the descriptor) or a stream. */
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, it } from "node:test";
import { isPlainFile, writeParts } from "../../src/cli/write-parts.js";

const parts = ["{\n", '  "a": "é✓"', ",\n", "x".repeat(200_000), "\n}\n"];

describe("writeParts", () => {
  it("writes every part in order to a file's descriptor", () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-write-parts-"));
    const fd = openSync(join(dir, "out.json"), "w");
    try {
      const stream = { fd, write: () => assert.fail("a file is written to its descriptor") };
      writeParts(parts, stream as unknown as NodeJS.WriteStream);
      closeSync(fd);
      assert.equal(readFileSync(join(dir, "out.json"), "utf8"), parts.join(""));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("goes through the stream for anything else (a pipe here)", async () => {
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    writeParts(parts, stream as unknown as NodeJS.WriteStream);
    stream.end();
    await new Promise((resolve) => stream.on("end", resolve));
    assert.equal(Buffer.concat(chunks).toString("utf8"), parts.join(""));
  });

  it("tells files and /dev/null from pipes and closed descriptors", () => {
    const devNull = openSync("/dev/null", "w");
    try {
      assert.equal(isPlainFile(devNull), true);
    } finally {
      closeSync(devNull);
    }
    assert.equal(isPlainFile(devNull), false, "closed");
  });
});
