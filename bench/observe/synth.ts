/**
 * Deterministic synthetic telescope traffic: an Ethernet pcap of background scanning (Telnet and SMB
 * heavy and steady, a long list of other ports with binomial noise, some IPv6, pings) from exactly
 * `sources` distinct addresses spread over `spanHours`, plus optional surges: from a given bucket on,
 * a port (by default 11211/udp with memcached `stats` probes) gets a share of the traffic from new
 * sources never seen before. The same options and seed give the same bytes. It returns the ground
 * truth (packets per port per bucket, surges) for tests and benchmarks to compare against.
 *
 * Fast and bounded: frames are written into one reused chunk Buffer, no per-packet objects.
 *
 *   node --import tsx bench/observe/synth.ts --packets N --sources M --out FILE [--seed S]
 *        [--surge 11211/udp@BUCKET ...] [--span-hours 48] [--bucket-seconds 3600] [--summary FILE.json]
 */
import { open, writeFile } from "node:fs/promises";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { prng } from "../lib.mjs";
import {
  BACKGROUND,
  FRAME_MAX,
  type FrameTemplate,
  frameTemplate,
  UDP_PAYLOADS,
  writeFrame,
} from "./synth-frames.js";

export interface SurgeSpec {
  protocol: "tcp" | "udp";
  port: number;
  /** 0-based bucket index from which the surge runs to the end of the file. */
  bucket: number;
  /** New sources behind it (default 1% of `sources`, at least 1). */
  sources?: number;
}

export interface SynthOptions {
  packets: number;
  /** Exactly this many distinct source addresses appear in the file. */
  sources: number;
  seed?: number;
  /** Time covered by the file (default 48 hours: 1-hour buckets then have a 30-bucket history). */
  spanHours?: number;
  /** Bucket size the ground truth is counted in (default 3600). */
  bucketSeconds?: number;
  /** First packet's time, Unix seconds, a multiple of bucketSeconds (default 2023-11-14 00:00 UTC). */
  start?: number;
  surges?: readonly SurgeSpec[];
  /** Share of the packets in a surge's buckets that belong to it (default 0.02). */
  surgeShare?: number;
}

export interface SurgeTruth {
  protocol: "tcp" | "udp";
  port: number;
  bucket: number;
  /** Distinct new sources that sent it. */
  sources: number;
  packets: number;
}

export interface SynthSummary {
  path: string;
  packets: number;
  sources: number;
  ipv4Packets: number;
  ipv6Packets: number;
  /** File size. */
  bytes: number;
  start: number;
  bucketSeconds: number;
  buckets: number;
  /** Packets per bucket, keyed like the aggregator's (protocol, port): "tcp/23", "udp/11211", "icmp/", "icmpv6/". */
  perPort: Record<string, number[]>;
  surges: SurgeTruth[];
}

const DEFAULT_START = 1_699_920_000;
const CHUNK = 1 << 22;
/** Of 10 background packets, 7 walk through every source in turn (so all appear) and 3 come from a few heavy hitters. */
const WALK_OF_TEN = 7;
/** Every 16th source is an IPv6 host. */
const IPV6_EVERY = 16;
const LUT_BITS = 16;
const PROTOCOL_CODE = { tcp: 0, udp: 1, icmp: 2 } as const;
const ICMPV6_CODE = 3;
const KEY_PREFIX = ["tcp/", "udp/", "icmp/", "icmpv6/"];

/** A bijection on 32-bit integers (lowbias32): distinct source indices give distinct, scattered addresses. */
function scatter(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Service index for each of 2^LUT_BITS slots, in proportion to the weights: one lookup per packet. */
function weightTable(weights: readonly number[]): Uint16Array {
  const total = weights.reduce((a, b) => a + b, 0);
  const lut = new Uint16Array(1 << LUT_BITS);
  let cumulative = 0;
  let slot = 0;
  weights.forEach((w, i) => {
    cumulative += w;
    const end = Math.round((cumulative / total) * lut.length);
    for (; slot < end; slot++) lut[slot] = i;
  });
  return lut;
}

interface Plan {
  step: number;
  bucketMicros: number;
  buckets: number;
  every: number;
  walkSources: number;
  heavySources: number;
  surges: (SurgeTruth & { firstSource: number; template: FrameTemplate })[];
}

function checkInteger(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): void {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
}

/** Checks the options and works out, before writing anything, that every source will appear. */
function plan(o: SynthOptions): Plan {
  checkInteger("packets", o.packets, 1);
  checkInteger("sources", o.sources, 1, 2 ** 32 - 1);
  const bucketSeconds = o.bucketSeconds ?? 3600;
  checkInteger("bucketSeconds", bucketSeconds, 1);
  const start = o.start ?? DEFAULT_START;
  if (!Number.isInteger(start) || start % bucketSeconds !== 0)
    throw new RangeError(`start ${start} is not a multiple of bucketSeconds ${bucketSeconds}`);
  const spanMicros = Math.round((o.spanHours ?? 48) * 3600e6);
  if (!(spanMicros >= 1)) throw new RangeError(`spanHours must be positive, got ${o.spanHours}`);
  const bucketMicros = bucketSeconds * 1e6;
  const step = spanMicros / o.packets;
  const buckets = Math.floor(Math.floor((o.packets - 1) * step) / bucketMicros) + 1;
  const share = o.surgeShare ?? 0.02;
  if (!(share > 0 && share <= 0.5)) throw new RangeError(`surgeShare must be in (0, 0.5], got ${share}`);
  const every = Math.round(1 / share);
  const specs = o.surges ?? [];
  if (specs.length > every) throw new RangeError(`at most ${every} surges at a share of ${share}`);

  // Count what each packet will be: surge s takes packets i % every === s from its bucket on.
  const surgePackets = specs.map(() => 0);
  for (const [s, spec] of specs.entries()) {
    checkInteger(`surge ${spec.port}/${spec.protocol} bucket`, spec.bucket, 0, buckets - 1);
    checkInteger(`surge port`, spec.port, 0, 65535);
    const first = Math.ceil((spec.bucket * bucketMicros) / step);
    let i = first;
    while (i > 0 && Math.floor((i - 1) * step) >= spec.bucket * bucketMicros) i--;
    while (Math.floor(i * step) < spec.bucket * bucketMicros) i++;
    const firstMatch = i + ((s - (i % every) + every) % every);
    surgePackets[s] = firstMatch < o.packets ? Math.floor((o.packets - 1 - firstMatch) / every) + 1 : 0;
  }
  const surgeSources = specs.map((spec) => spec.sources ?? Math.max(1, Math.round(o.sources * 0.01)));
  const walkSources = o.sources - surgeSources.reduce((a, b) => a + b, 0);
  if (walkSources < 1) throw new RangeError(`surge sources leave no background sources out of ${o.sources}`);
  const background = o.packets - surgePackets.reduce((a, b) => a + b, 0);
  const walkPackets = Math.floor(background / 10) * WALK_OF_TEN + Math.min(background % 10, WALK_OF_TEN);
  if (walkPackets < walkSources)
    throw new RangeError(
      `${o.packets} packets are too few for ${o.sources} sources: background ones need ${walkSources} but get ${walkPackets}`,
    );
  let firstSource = walkSources;
  const surges = specs.map((spec, s) => {
    checkInteger(`surge ${spec.port}/${spec.protocol} sources`, surgeSources[s]!, 1);
    if (surgePackets[s]! < surgeSources[s]!)
      throw new RangeError(
        `surge ${spec.port}/${spec.protocol}@${spec.bucket} has ${surgePackets[s]} packets for ${surgeSources[s]} sources`,
      );
    const payload = spec.protocol === "udp" ? UDP_PAYLOADS.get(spec.port) : undefined;
    const truth = {
      protocol: spec.protocol,
      port: spec.port,
      bucket: spec.bucket,
      sources: surgeSources[s]!,
      packets: surgePackets[s]!,
      firstSource,
      template: frameTemplate(spec.protocol, payload),
    };
    firstSource += surgeSources[s]!;
    return truth;
  });
  return {
    step,
    bucketMicros,
    buckets,
    every,
    walkSources,
    heavySources: Math.max(1, Math.floor(walkSources / 1000)),
    surges,
  };
}

/** Ground-truth packet counts per (protocol, port) per bucket, with a dense slot per key seen. */
class PortCounts {
  private readonly slotOf = new Int32Array(4 * 65536).fill(-1);
  private readonly rows: Uint32Array[] = [];
  private readonly keys: string[] = [];
  constructor(private readonly buckets: number) {}

  add(code: number, port: number, bucket: number): void {
    const id = code * 65536 + port;
    let slot = this.slotOf[id]!;
    if (slot < 0) {
      slot = this.rows.length;
      this.slotOf[id] = slot;
      this.rows.push(new Uint32Array(this.buckets));
      this.keys.push(KEY_PREFIX[code]! + (code >= PROTOCOL_CODE.icmp ? "" : String(port)));
    }
    this.rows[slot]![bucket]!++;
  }

  toRecord(): Record<string, number[]> {
    return Object.fromEntries(this.keys.map((key, slot) => [key, Array.from(this.rows[slot]!)]));
  }
}

export async function writeSyntheticPcap(path: string, options: SynthOptions): Promise<SynthSummary> {
  const p = plan(options);
  const start = options.start ?? DEFAULT_START;
  const bucketSeconds = options.bucketSeconds ?? 3600;
  const random = prng(options.seed ?? 1);
  const word = () => (random() * 4294967296) >>> 0;
  const lut = weightTable(BACKGROUND.map((s) => s.weight));
  const templates = BACKGROUND.map((s) =>
    frameTemplate(s.protocol, s.protocol === "udp" ? UDP_PAYLOADS.get(s.port) : undefined),
  );
  const counts = new PortCounts(p.buckets);
  const surgeUsed = p.surges.map(() => 0);

  const file = await open(path, "w");
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    // pcap file header: microsecond magic, version 2.4, snaplen 65535, Ethernet.
    buf.writeUInt32LE(0xa1b2c3d4, 0);
    buf.writeUInt16LE(2, 4);
    buf.writeUInt16LE(4, 6);
    buf.writeUInt32LE(0, 8);
    buf.writeUInt32LE(0, 12);
    buf.writeUInt32LE(65535, 16);
    buf.writeUInt32LE(1, 20);
    let at = 24;
    let bytes = 0;
    let background = 0;
    let walk = 0;
    let ipv6Packets = 0;
    for (let i = 0; i < options.packets; i++) {
      const offset = Math.floor(i * p.step);
      const bucket = Math.floor(offset / p.bucketMicros);
      let source: number;
      let template: FrameTemplate;
      let port: number;
      let code: number;
      const residue = i % p.every;
      const surge =
        residue < p.surges.length && bucket >= p.surges[residue]!.bucket ? p.surges[residue]! : null;
      if (surge !== null) {
        source = surge.firstSource + (surgeUsed[residue]!++ % surge.sources);
        template = surge.template;
        port = surge.port;
        code = PROTOCOL_CODE[surge.protocol];
      } else {
        source =
          background++ % 10 < WALK_OF_TEN ? walk++ % p.walkSources : Math.floor(random() * p.heavySources);
        const pick = word();
        const index = lut[pick >>> (32 - LUT_BITS)]!;
        const service = BACKGROUND[index]!;
        template = templates[index]!;
        port = service.span === undefined ? service.port : service.port + ((pick & 0xffff) % service.span);
        code = PROTOCOL_CODE[service.protocol];
      }
      const ipv6 = source % IPV6_EVERY === IPV6_EVERY - 1;
      if (ipv6) {
        ipv6Packets++;
        if (code === PROTOCOL_CODE.icmp) code = ICMPV6_CODE;
      }
      if (at + 16 + FRAME_MAX > CHUNK) {
        await file.write(buf, 0, at);
        bytes += at;
        at = 0;
      }
      const length = writeFrame(
        buf,
        at + 16,
        template,
        port,
        ipv6,
        scatter(source + 1),
        word(),
        word(),
        word(),
      );
      buf.writeUInt32LE(start + Math.floor(offset / 1e6), at);
      buf.writeUInt32LE(offset % 1e6, at + 4);
      buf.writeUInt32LE(length, at + 8);
      buf.writeUInt32LE(length, at + 12);
      at += 16 + length;
      counts.add(code, code >= PROTOCOL_CODE.icmp ? 0 : port, bucket);
    }
    await file.write(buf, 0, at);
    bytes += at;
    return {
      path,
      packets: options.packets,
      sources: options.sources,
      ipv4Packets: options.packets - ipv6Packets,
      ipv6Packets,
      bytes,
      start,
      bucketSeconds,
      buckets: p.buckets,
      perPort: counts.toRecord(),
      surges: p.surges.map(({ protocol, port, bucket, sources, packets }) => ({
        protocol,
        port,
        bucket,
        sources,
        packets,
      })),
    };
  } finally {
    await file.close();
  }
}

/** "11211/udp@30" or "11211/udp@30:500" (500 new sources). */
export function parseSurge(text: string): SurgeSpec {
  const m = /^(\d{1,5})\/(tcp|udp)@(\d+)(?::(\d+))?$/.exec(text);
  if (m === null || Number(m[1]) > 65535)
    throw new RangeError(`--surge ${text}: expected PORT/tcp|udp@BUCKET[:SOURCES], e.g. 11211/udp@30`);
  const spec: SurgeSpec = { port: Number(m[1]), protocol: m[2] as "tcp" | "udp", bucket: Number(m[3]) };
  if (m[4] !== undefined) spec.sources = Number(m[4]);
  return spec;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      packets: { type: "string" },
      sources: { type: "string" },
      out: { type: "string" },
      seed: { type: "string", default: "1" },
      surge: { type: "string", multiple: true, default: [] },
      "span-hours": { type: "string", default: "48" },
      "bucket-seconds": { type: "string", default: "3600" },
      summary: { type: "string" },
    },
  });
  if (values.packets === undefined || values.sources === undefined || values.out === undefined)
    throw new RangeError(
      "usage: synth.ts --packets N --sources M --out FILE [--seed S] [--surge 11211/udp@30 ...]",
    );
  const began = process.hrtime.bigint();
  const summary = await writeSyntheticPcap(values.out, {
    packets: Number(values.packets),
    sources: Number(values.sources),
    seed: Number(values.seed),
    spanHours: Number(values["span-hours"]),
    bucketSeconds: Number(values["bucket-seconds"]),
    surges: values.surge.map(parseSurge),
  });
  const seconds = Number(process.hrtime.bigint() - began) / 1e9;
  if (values.summary !== undefined) await writeFile(values.summary, `${JSON.stringify(summary)}\n`);
  const rss = process.memoryUsage().rss / 2 ** 20;
  console.log(
    `${summary.packets} packets (${summary.ipv6Packets} IPv6) from ${summary.sources} sources, ${summary.buckets} buckets, ` +
      `${(summary.bytes / 2 ** 20).toFixed(0)} MiB to ${summary.path} in ${seconds.toFixed(2)} s: ` +
      `${Math.round(summary.packets / seconds).toLocaleString("en")} packets/s, rss ${rss.toFixed(0)} MiB`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 2;
  });
}
