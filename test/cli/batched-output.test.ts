/** BatchedOutput: the same text in the same order in fewer writes; back-pressure; unbatched on a terminal. */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { BatchedOutput } from "../../src/cli/batched-output.js";

/** A stream that records every write; `highWaterMark` small and `slow` make it ask for waits. */
function sink(options: { tty?: boolean; highWaterMark?: number; slow?: boolean } = {}) {
  const writes: string[] = [];
  const stream = new Writable({
    highWaterMark: options.highWaterMark ?? 1 << 20,
    write(chunk, _encoding, done) {
      writes.push(String(chunk));
      if (options.slow) setImmediate(done);
      else done();
    },
  });
  Object.assign(stream, { isTTY: options.tty === true });
  return { stream: stream as unknown as NodeJS.WriteStream, writes };
}

const lines = Array.from({ length: 1000 }, (_, i) => `{"line":${i}}\n`);

describe("BatchedOutput", () => {
  it("writes every line in order, in far fewer writes than lines", async () => {
    const { stream, writes } = sink();
    const out = new BatchedOutput(stream);
    for (const line of lines) {
      const wait = out.write(line);
      if (wait !== null) await wait;
    }
    await out.end();
    assert.equal(writes.join(""), lines.join(""));
    assert.ok(writes.length < 10, `${writes.length} writes`);
  });

  it("flushes on its own once the event loop turns (a slow scan's lines are not held back)", async () => {
    const { stream, writes } = sink();
    const out = new BatchedOutput(stream);
    out.write(lines[0]!);
    assert.equal(writes.length, 0);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(writes, [lines[0]]);
  });

  it("returns a promise while the stream is full, and loses nothing", async () => {
    const { stream, writes } = sink({ highWaterMark: 16, slow: true });
    const out = new BatchedOutput(stream);
    const many = Array.from({ length: 20 }, () => lines).flat();
    let waits = 0;
    for (const line of many) {
      const wait = out.write(line);
      if (wait !== null) {
        waits++;
        await wait;
      }
    }
    await out.end();
    assert.ok(waits > 0);
    assert.equal(writes.join(""), many.join(""));
  });

  it("writes each line at once on a terminal or when batching is off", async () => {
    for (const [options, batch] of [
      [{ tty: true }, true],
      [{}, false],
    ] as const) {
      const { stream, writes } = sink(options);
      const out = new BatchedOutput(stream, batch);
      for (const line of lines.slice(0, 5)) out.write(line);
      assert.deepEqual(writes, lines.slice(0, 5));
      await out.end();
    }
  });
});
