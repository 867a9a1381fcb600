/**
 * Decode speed of the capture reader + decoder (not a test): writes a pcap of N packets with the
 * synthetic telescope generator (synth.ts: 1 million distinct sources, or 70% of N if fewer), then
 * reads and decodes it, printing packets/s.
 * Usage: node --import tsx bench/observe/decode-speed.ts [packets=2000000] [file.pcap(.gz)]
 *        node --import tsx bench/observe/decode-speed.ts N --generate file.pcap
 */
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCapture } from "../../src/observe/capture/open.js";
import { decodePacket, newDecodedPacket } from "../../src/observe/decode.js";
import { writeSyntheticPcap } from "./synth.js";

const count = Number(process.argv[2] ?? 2_000_000);
let path = process.argv[3];
let generated = false;
// `--generate FILE` writes the file and stops, so the read can be measured in a fresh process.
const generateOnly = process.argv[3] === "--generate";
if (path === undefined || generateOnly) {
  path = generateOnly ? process.argv[4]! : join(tmpdir(), `moat-decode-speed-${process.pid}.pcap`);
  await writeSyntheticPcap(path, {
    packets: count,
    sources: Math.max(1, Math.min(1_000_000, Math.floor(count * 0.7))),
  });
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
