/**
 * Decode speed of the capture reader + decoder (not a test): writes a pcap of N packets built from
 * the Ethernet fixture with rotating IPv4 sources, then reads and decodes it, printing packets/s.
 * Usage: node --import tsx bench/observe/decode-speed.ts [packets=2000000] [file.pcap(.gz)]
 *        node --import tsx bench/observe/decode-speed.ts N --generate file.pcap
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCapture, readCaptureBuffer } from "../../src/observe/capture/open.js";
import { decodePacket, newDecodedPacket } from "../../src/observe/decode.js";

const count = Number(process.argv[2] ?? 2_000_000);
let path = process.argv[3];
let generated = false;
// `--generate FILE` writes the file and stops, so the read can be measured in a fresh process.
const generateOnly = process.argv[3] === "--generate";
if (path === undefined || generateOnly) {
  const fixture = readFileSync(new URL("../../test/observe/fixtures/ethernet.pcap", import.meta.url));
  const frames: Buffer[] = [];
  const reader = readCaptureBuffer(fixture);
  await reader.forEach((r) => {
    // IPv4 only, so each copy can get its own source address.
    if (r.linkType === 1 && r.data.readUInt16BE(12) === 0x0800 && r.data.length < 200)
      frames.push(Buffer.from(r.data));
  });
  const size = frames.reduce((sum, f) => sum + 16 + f.length, 0);
  const out = Buffer.alloc(24 + Math.ceil(count / frames.length) * size);
  fixture.copy(out, 0, 0, 24);
  let at = 24;
  for (let i = 0; i < count; i++) {
    const frame = frames[i % frames.length]!;
    out.writeUInt32LE(1_700_000_000 + Math.floor(i / 1000), at);
    out.writeUInt32LE((i % 1000) * 1000, at + 4);
    out.writeUInt32LE(frame.length, at + 8);
    out.writeUInt32LE(frame.length, at + 12);
    frame.copy(out, at + 16);
    out.writeUInt32BE(0xc6120000 + (i % 1_000_000), at + 16 + 26); // 1 million sources in 198.18/15
    at += 16 + frame.length;
  }
  path = generateOnly ? process.argv[4]! : join(tmpdir(), `moat-decode-speed-${process.pid}.pcap`);
  writeFileSync(path, out.subarray(0, at));
  if (generateOnly) process.exit(0);
  generated = true;
}

const into = newDecodedPacket();
let problems = 0;
let bytes = 0;
const start = process.hrtime.bigint();
const reader = await openCapture(path);
const summary = await reader.forEach((record) => {
  if (decodePacket(record, into) !== null) problems++;
  else bytes += into.wireLength;
});
await reader.close();
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const rss = process.memoryUsage().rss / 2 ** 20;
console.log(
  `${summary.packets} packets in ${seconds.toFixed(2)} s: ${Math.round(summary.packets / seconds).toLocaleString("en")} packets/s, ` +
    `${problems} not decoded, ${summary.problemCount} reader problems, ${(bytes / 2 ** 20).toFixed(0)} MiB of IP, rss ${rss.toFixed(0)} MiB`,
);
if (generated) rmSync(path);
