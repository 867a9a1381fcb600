/** writeParts: the same bytes whether stdout is a file (written to the descriptor) or a stream. */
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { isPlainFile, writeParts } from "../../src/cli/write-parts.js";

const parts = ["{\n", '  "a": "é✓"', ",\n", "x".repeat(200_000), "\n}\n"];

describe("writeParts", () => {
  it("writes every part in order to a file's descriptor", async () => {
    const dir = mkdtempSync(join(tmpdir(), "moat-write-parts-"));
    const fd = openSync(join(dir, "out.json"), "w");
    try {
      const stream = { fd, write: () => assert.fail("a file is written to its descriptor") };
      await writeParts(parts, stream as unknown as NodeJS.WriteStream);
      closeSync(fd);
      assert.equal(readFileSync(join(dir, "out.json"), "utf8"), parts.join(""));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("goes through the stream for anything else, waiting for a slow reader to drain it", async () => {
    const chunks: string[] = [];
    let queuedMost = 0; // bytes the stream held, not yet taken, when another part arrived
    const stream = new Writable({
      highWaterMark: 1024,
      decodeStrings: false,
      write(chunk: string, _encoding, done) {
        chunks.push(chunk);
        setImmediate(done); // a reader that takes its time
      },
    });
    const write = stream.write.bind(stream) as (chunk: string) => boolean;
    Object.assign(stream, {
      write: (chunk: string) => {
        queuedMost = Math.max(queuedMost, stream.writableLength);
        return write(chunk);
      },
    });
    const many = Array.from({ length: 50 }, (_, i) => `${i}`.padEnd(10_000, "y"));
    await writeParts(many, stream as unknown as NodeJS.WriteStream);
    await new Promise((resolve) => stream.end(resolve));
    assert.ok(chunks.join("") === many.join(""), "every part, in order");
    // 500,000 bytes in all; a writer that did not wait for "drain" would have queued ~490,000
    assert.equal(
      queuedMost,
      0,
      `each part waits until the stream took the one before (${queuedMost} bytes queued)`,
    );
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
