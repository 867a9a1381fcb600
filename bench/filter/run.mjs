/**
 * Benchmark: the filter evaluator (`compileFilter(filter).decide`) against a plain first-match loop
 * over the same 30 rules, on the same 1,000,000 random packets, in the same run; plus the whole
 * `moat filter test FILE --packets FILE --json` command (built CLI), and the time to compile the
 * filter to nft and apply it with `nft -f` in a fresh network namespace.
 *
 *   node bench/filter/run.mjs [--runs 5] [--packets 1000000] [--seed 1] [--no-build]
 *   node bench/filter/run.mjs --generate DIR [--packets N] [--seed N]   # only write the two files
 *
 * The filter and the packets are generated from --seed (same seed, same files). The evaluator, the
 * baseline and the built command must give the same verdict and rule for every packet before any
 * timing. Needs root (network namespaces, nft). Not part of `npm test`.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";
import { Document, isMap, isSeq, visit } from "yaml";
import { parseBenchArgs, prng, stats } from "../lib.mjs";

// The evaluator, loader and compiler are TypeScript; tsx lets this plain-node script import them.
register();
const { compileFilter, packetBits } = await import("../../src/filter/evaluate.ts");
const { loadFilter } = await import("../../src/filter/load.ts");
const { formatPacket, parsePacketLines } = await import("../../src/filter/packet.ts");
const { renderVerdictJson } = await import("../../src/report/filter.ts");
const { compileNft } = await import("../../src/filter/compile/nft.ts");

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(ROOT, "dist/cli/main.cjs");
const TIME = "/usr/bin/time";
const SELF = fileURLToPath(import.meta.url);
const NS_PREFIX = "moat-benchf-";
const PHASES = ["load", "read", "parse", "evaluate", "render"];

function parseArgs(argv) {
  const opts = parseBenchArgs(
    argv,
    { runs: 5, packets: 1_000_000, seed: 1, build: true, generate: null },
    {
      "--runs": ["runs", "int"],
      "--packets": ["packets", "int"],
      "--seed": ["seed", "int"],
      "--no-build": ["build", false],
      "--generate": ["generate", "string"],
    },
  );
  if (opts.runs < 5) throw new Error("--runs: at least 5, or the median means little");
  return opts;
}

// ---------------------------------------------------------------------------------------------
// Deterministic generation of the filter and the packets.

function generator(seed) {
  const rnd = prng(seed);
  const int = (min, max) => min + Math.floor(rnd() * (max - min + 1));
  const pick = (items) => items[Math.floor(rnd() * items.length)];
  const chance = (p) => rnd() < p;

  /** A network: { family, prefix, v4 (number) | v6 (8 groups), text }. Host bits are zero. */
  const v4Net = (prefix, first) => {
    const a = first ?? pick([int(1, 9), int(11, 126), int(128, 191), int(193, 223)]);
    let n = (a * 2 ** 24 + int(0, 2 ** 24 - 1)) >>> 0;
    if (prefix < 32) n = prefix === 0 ? 0 : (n & (-1 << (32 - prefix))) >>> 0;
    return { family: "ipv4", prefix, v4: n, text: `${v4Text(n)}${prefix === 32 ? "" : `/${prefix}`}` };
  };
  const v4In = (net, prefix) => {
    // A network of `prefix` bits inside `net`.
    const host = int(0, 2 ** (32 - net.prefix) - 1);
    const n = prefix === 32 ? (net.v4 + host) >>> 0 : ((net.v4 + host) & (-1 << (32 - prefix))) >>> 0;
    return { family: "ipv4", prefix, v4: n, text: `${v4Text(n)}${prefix === 32 ? "" : `/${prefix}`}` };
  };
  const v6Net = (prefix, head) => {
    const groups = Array.from({ length: 8 }, (_, i) => (head && i < head.length ? head[i] : int(0, 0xffff)));
    if (!head) groups[0] = int(0x2000, 0x3fff);
    for (let bit = prefix; bit < 128; bit++) groups[bit >> 4] &= ~(1 << (15 - (bit & 15))) & 0xffff;
    const text = v6Text(groups);
    return { family: "ipv6", prefix, v6: groups, text: prefix === 128 ? text : `${text}/${prefix}` };
  };
  const doc6 = (prefix) => v6Net(prefix, [0x2001, 0x0db8]);
  const doc4 = (prefix) => v4In(pick(DOC4), prefix);
  const DOC4 = [
    { family: "ipv4", prefix: 24, v4: 0xc0000200 }, // 192.0.2.0/24
    { family: "ipv4", prefix: 24, v4: 0xc6336400 }, // 198.51.100.0/24
    { family: "ipv4", prefix: 24, v4: 0xcb007100 }, // 203.0.113.0/24
  ];
  const ephemeral = () => pick(["32768-60999", "32768-61000", "49152-65535"]);

  /** A random address inside `net`, as packet text. */
  const addressIn = (net) => {
    if (net.family === "ipv4") {
      const host = net.prefix === 32 ? 0 : int(0, 2 ** (32 - net.prefix) - 1);
      return v4Text((net.v4 + host) >>> 0);
    }
    const groups = net.v6.map((g, i) => {
      const fixed = Math.max(0, Math.min(16, net.prefix - 16 * i));
      const hostMask = fixed === 16 ? 0 : 0xffff >> fixed;
      return g | (int(0, 0xffff) & hostMask);
    });
    return v6Text(groups);
  };

  return { seed, rnd, int, pick, chance, v4Net, v4In, v6Net, doc4, doc6, ephemeral, addressIn };
}

/** RFC 5952 text of 8 groups: the longest run of two or more zero groups becomes "::". */
function v6Text(groups) {
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = (list) => list.map((g) => g.toString(16)).join(":");
  if (best < 0) return hex(groups);
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLength))}`;
}

function v4Text(n) {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/**
 * A server NIC filter of 30 rules as an operator would write one: blocklist first, admin access,
 * public services, reflector ports denied, replies to the host's own lookups and downloads, ICMP,
 * internal services from named networks, fragments, then a default deny. The seed picks every
 * network and some of the ports. Each rule keeps its networks so packets can be aimed at it.
 */
function makeFilter(g) {
  const admin = [g.doc4(27), g.doc6(48)];
  const resolvers = [g.doc4(32), g.v4Net(32), g.doc6(128)];
  const apps = [g.v4In(g.v4Net(16, 10), 28), g.v4In(g.v4Net(16, 10), 28)];
  const office = [g.v4Net(24), g.doc6(56)];
  const ephemeral = g.ephemeral();
  const exporters = [9100, g.pick([9104, 9187, 9113]), g.pick([9121, 9253, 9308])];
  const rules = [
    ["deny", "ip", [g.v4Net(16), g.v4Net(24), g.v4Net(24), g.v6Net(48)], null, null, "blocklist"],
    ["allow", "tcp", admin, null, 22, "SSH from admin"],
    ["deny", "tcp", null, null, 22, "SSH from elsewhere"],
    ["allow", "tcp", null, null, [80, 443], "web"],
    ["deny", "udp", null, null, 11211, "memcached"],
    ["deny", "udp", null, null, [17, 19, 111, 161, 389, 1900, 3702, 5353, 10001, 27015], "reflectors"],
    ["allow", "tcp", null, null, [25, 465, 587], "mail in"],
    [
      "allow",
      "tcp",
      [g.v4Net(20), g.v4Net(20), g.v4Net(20), g.v6Net(40)],
      null,
      [110, 143, 993, 995],
      "POP/IMAP from customers",
    ],
    ["allow", "udp", resolvers, 53, ephemeral, "DNS replies"],
    ["allow", "tcp", resolvers, 53, ephemeral, "DNS over TCP replies"],
    ["allow", "udp", [g.v4Net(32), g.v4Net(32), g.doc6(128)], 123, 123, "NTP"],
    ["allow", "udp", [g.v4Net(24, 10)], 67, 68, "DHCP replies"],
    ["allow", "icmp", null, null, null, "ICMP"],
    ["allow", "icmpv6", [g.v6Net(10, [0xfe80]), g.doc6(32)], null, null, "ICMPv6 from link and provider"],
    ["allow", "tcp", apps, null, 3306, "MySQL from app servers"],
    ["allow", "tcp", [...apps, g.doc6(64)], null, 5432, "PostgreSQL from app servers"],
    ["allow", "tcp", [g.v4Net(8, 10)], null, 6379, "Redis from the private network"],
    ["allow", "tcp", [g.v4Net(32), g.doc6(64)], null, exporters, "Prometheus exporters"],
    ["allow", "udp", [g.v4Net(24), g.v4Net(24)], null, 514, "syslog from routers"],
    ["allow", "tcp", null, [80, 443], ephemeral, "HTTP(S) replies"],
    ["allow", "udp", null, null, g.pick([51820, 51821, 1194]), "VPN"],
    ["allow", "tcp", office, null, `${g.int(8000, 8100)}-${g.int(8500, 8999)}`, "dev ports from office"],
    ["deny", "tcp", null, null, "0-1023", "other privileged tcp ports"],
    [
      "allow",
      "tcp",
      [g.v4Net(16), g.v4Net(22), g.v6Net(32)],
      "1024-65535",
      ephemeral,
      "partner return traffic",
    ],
    ["allow", "udp", admin, null, "60000-61000", "mosh from admin"],
    ["allow", "fragment", null, null, null, "fragments"],
    ["deny", "udp", null, null, "0-1023", "other privileged udp ports"],
    ["allow", "ip", [g.v4Net(24), g.doc6(64)], null, null, "trusted networks"],
    ["allow", "udp", null, 443, ephemeral, "QUIC replies"],
    ["allow", "tcp", [g.v4Net(12)], null, "49152-65535", "RPC high ports from the backup network"],
  ].map(([action, protocol, sources, sourcePort, destinationPort, description]) => ({
    action,
    protocol,
    sources,
    sourcePort,
    destinationPort,
    description,
  }));
  const data = {
    name: "bench-30",
    description: "30-rule server NIC filter generated by bench/filter/run.mjs",
    mode: "stateless",
    families: ["ipv4", "ipv6"],
    default: "deny",
    rules: rules.map((r) => {
      const out = { action: r.action, protocol: r.protocol };
      if (r.sources) out.source = r.sources.map((s) => s.text);
      if (r.sourcePort !== null) out.sourcePort = r.sourcePort;
      if (r.destinationPort !== null) out.destinationPort = r.destinationPort;
      out.description = r.description;
      return out;
    }),
  };
  const doc = new Document(data);
  // Short lists (families, sources, ports) on one line, as `moat filter new` writes them.
  visit(doc, {
    Seq(_, node) {
      if (!node.items.some((item) => isMap(item) || isSeq(item))) node.flow = true;
    },
  });
  doc.commentBefore = ` Generated by bench/filter/run.mjs --seed ${g.seed}`;
  return { rules, yaml: doc.toString({ lineWidth: 0, flowCollectionPadding: false }) };
}

/** Port spec (number, "a-b" or a list of them) as [start, end] pairs. */
function portPairs(spec) {
  if (spec === null) return null;
  return (Array.isArray(spec) ? spec : [spec]).map((p) => {
    if (typeof p === "number") return [p, p];
    const [a, b] = p.split("-").map(Number);
    return [a, b];
  });
}

const COMMON_PORTS = [0, 22, 25, 53, 67, 68, 80, 123, 161, 443, 514, 1900, 3306, 5432, 6379, 8080, 11211];

/**
 * 60% of packets are aimed at a rule (uniformly): a source inside one of its networks, ports inside
 * its ranges; an earlier rule may still take them, which is the point. 40% are random traffic from
 * the rules' networks or anywhere, to common or random ports, including fragments and other
 * protocols. IPv4:IPv6 is about 70:30.
 */
function makePackets(g, rules, count) {
  const nets = rules.flatMap((r) => r.sources ?? []);
  const lines = new Array(count);
  const inPorts = (pairs) => {
    const [a, b] = g.pick(pairs);
    return g.int(a, b);
  };
  const randomSource = (family) => {
    const fromRules = nets.filter((n) => n.family === family);
    if (g.chance(0.5)) return g.addressIn(g.pick(fromRules));
    return family === "ipv4" ? g.addressIn(g.v4Net(32)) : g.addressIn(g.v6Net(128));
  };
  for (let i = 0; i < count; i++) {
    let family;
    let source;
    let protocol;
    let fragment = false;
    let sport = g.int(1024, 65535);
    let dport = g.chance(0.5) ? g.pick(COMMON_PORTS) : g.int(0, 65535);
    if (g.chance(0.6)) {
      const rule = g.pick(rules);
      let sources = rule.sources;
      if (rule.protocol === "icmp") sources = sources?.filter((s) => s.family === "ipv4");
      if (rule.protocol === "icmpv6") sources = sources?.filter((s) => s.family === "ipv6");
      if (sources?.length === 0) sources = null;
      if (sources) {
        const net = g.pick(sources);
        family = net.family;
        source = g.addressIn(net);
      } else {
        family =
          rule.protocol === "icmp"
            ? "ipv4"
            : rule.protocol === "icmpv6"
              ? "ipv6"
              : g.chance(0.7)
                ? "ipv4"
                : "ipv6";
        source = randomSource(family);
      }
      if (rule.protocol === "tcp" || rule.protocol === "udp") {
        protocol = rule.protocol;
        const sp = portPairs(rule.sourcePort);
        const dp = portPairs(rule.destinationPort);
        if (sp) sport = inPorts(sp);
        if (dp) dport = inPorts(dp);
      } else if (rule.protocol === "icmp" || rule.protocol === "icmpv6") {
        protocol = rule.protocol;
      } else {
        protocol = g.pick(["tcp", "udp", "icmp", "ip"]);
        fragment = rule.protocol === "fragment" || g.chance(0.1);
      }
    } else {
      family = g.chance(0.7) ? "ipv4" : "ipv6";
      source = randomSource(family);
      const r = g.rnd();
      protocol = r < 0.45 ? "tcp" : r < 0.8 ? "udp" : r < 0.9 ? "icmp" : "ip";
      fragment = g.chance(0.08);
      if (g.chance(0.3)) sport = g.pick(COMMON_PORTS);
    }
    if (protocol === "icmp" && family === "ipv6") protocol = "icmpv6";
    if (protocol === "icmpv6" && family === "ipv4") protocol = "icmp";
    const v6 = family === "ipv6";
    const destination = v6 ? "2001:db8::10" : "198.51.100.10";
    const ports = (protocol === "tcp" || protocol === "udp") && !fragment;
    const src = ports ? (v6 ? `[${source}]:${sport}` : `${source}:${sport}`) : source;
    const dst = ports ? (v6 ? `[${destination}]:${dport}` : `${destination}:${dport}`) : destination;
    lines[i] = `${protocol} ${src} > ${dst}${fragment ? " frag" : ""}`;
  }
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------
// The baseline: the obvious first-match loop over the loaded rule objects, written from the
// semantics in src/filter/evaluate.ts's header. Strings compared as strings; each rule network is
// parsed from its text every time it is tested; the packet's source is parsed once per decision.

function parseV4(text) {
  const p = text.split(".");
  return ((+p[0] << 24) | (+p[1] << 16) | (+p[2] << 8) | +p[3]) >>> 0;
}

function parseV6(text) {
  const [head, tail] = text.includes("::") ? text.split("::") : [text, null];
  const h = head === "" ? [] : head.split(":");
  const t = tail === null || tail === "" ? [] : tail.split(":");
  const groups = [...h, ...new Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.map((x) => parseInt(x, 16));
}

function inCidr(address, family, cidr) {
  if (cidr.family !== family) return false;
  if (family === "ipv4") {
    if (cidr.prefix === 0) return true;
    const shift = 32 - cidr.prefix;
    return address >>> shift === parseV4(cidr.address) >>> shift;
  }
  const net = parseV6(cidr.address);
  for (let i = 0; i < 8; i++) {
    const bits = Math.min(16, cidr.prefix - 16 * i);
    if (bits <= 0) break;
    const mask = (0xffff << (16 - bits)) & 0xffff;
    if ((address[i] & mask) !== (net[i] & mask)) return false;
  }
  return true;
}

function inPorts(ranges, port) {
  for (const range of ranges) if (port >= range.start && port <= range.end) return true;
  return false;
}

function protocolMatches(protocol, packet) {
  if (protocol === "ip") return true;
  if (protocol === "fragment") return packet.fragment;
  if (packet.fragment) return false;
  return protocol === packet.protocol;
}

/** The index of the deciding rule, -1 for the default action, -2 for a family not covered. */
function baselineDecide(filter, packet) {
  if (!filter.families.includes(packet.family)) return -2;
  let address = null;
  for (let i = 0; i < filter.rules.length; i++) {
    const rule = filter.rules[i];
    if (!protocolMatches(rule.protocol, packet)) continue;
    if (rule.sources !== null) {
      if (address === null)
        address = packet.family === "ipv4" ? parseV4(packet.source) : parseV6(packet.source);
      if (!rule.sources.some((cidr) => inCidr(address, packet.family, cidr))) continue;
    }
    if (rule.sourcePorts !== null && !inPorts(rule.sourcePorts, packet.sourcePort)) continue;
    if (rule.destinationPorts !== null && !inPorts(rule.destinationPorts, packet.destinationPort)) continue;
    return i;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Measurement.

function nowNs() {
  return process.hrtime.bigint();
}

function msSince(start) {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Evaluator: decide over every pre-parsed packet; returns ms and a checksum of the verdict ids. */
function timeEvaluator(decide, bits) {
  let sum = 0;
  const start = nowNs();
  for (let i = 0; i < bits.length; i++) sum += decide(bits[i]);
  return { ms: msSince(start), sum };
}

function timeBaseline(filter, packets) {
  let sum = 0;
  const start = nowNs();
  for (let i = 0; i < packets.length; i++) sum += baselineDecide(filter, packets[i]);
  return { ms: msSince(start), sum };
}

/** Runs argv with stdout to /dev/null under /usr/bin/time (when present): wall ms, peak RSS KiB. */
function timedCommand(argv, scratch) {
  const rssFile = join(scratch, "rss");
  const useTime = existsSync(TIME);
  const full = useTime ? [TIME, "-f", "%M", "-o", rssFile, ...argv] : argv;
  const devnull = openSync("/dev/null", "w");
  return new Promise((resolve, reject) => {
    const start = nowNs();
    const child = spawn(full[0], full.slice(1), { stdio: ["ignore", devnull, "pipe"] });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      err += chunk;
    });
    child.on("error", (error) => {
      closeSync(devnull);
      reject(error);
    });
    child.on("close", (code) => {
      const ms = msSince(start);
      closeSync(devnull);
      if (code !== 0) return reject(new Error(`${argv.join(" ")} exited ${code}: ${err.slice(0, 2000)}`));
      const rssKiB = useTime ? Number(readFileSync(rssFile, "utf8").trim().split("\n").pop()) : Number.NaN;
      resolve({ ms, rssKiB });
    });
  });
}

/** Checks the command's --json output line by line against the expected verdicts. */
function checkCommandOutput(argv, expected) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.setEncoding("utf8").on("data", (chunk) => {
      err += chunk;
    });
    let n = 0;
    let bad = null;
    createInterface({ input: child.stdout }).on("line", (line) => {
      if (bad !== null) return;
      const got = JSON.parse(line);
      const want = expected[n];
      if (want === undefined || got.verdict !== want.verdict || got.rule !== want.rule)
        bad = `packet ${n + 1} (${got.packet}): command says ${got.verdict}/rule ${got.rule}, evaluator ${want?.verdict}/rule ${want?.rule}`;
      n++;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`${argv.join(" ")} exited ${code}: ${err.slice(0, 2000)}`));
      if (bad !== null) return reject(new Error(`the command disagrees with the evaluator: ${bad}`));
      if (n !== expected.length)
        return reject(new Error(`the command printed ${n} verdicts, want ${expected.length}`));
      resolve();
    });
  });
}

/** Mean time of one call of fn over `reps` calls, in ms. */
function perCall(fn, reps) {
  const start = nowNs();
  for (let i = 0; i < reps; i++) fn();
  return msSince(start) / reps;
}

// ---------------------------------------------------------------------------------------------
// Namespaces: created by this script only, deleted at the end even on error or a signal.

const liveNamespaces = new Set();
const nsTag = randomBytes(2).toString("hex");
let nsCount = 0;

function addNamespace() {
  const name = `${NS_PREFIX}${nsTag}-${nsCount++}`;
  execFileSync("ip", ["netns", "add", name], { stdio: ["ignore", "ignore", "pipe"] });
  liveNamespaces.add(name);
  return name;
}

function deleteNamespace(name) {
  try {
    execFileSync("ip", ["netns", "delete", name], { stdio: "ignore" });
  } catch {}
  liveNamespaces.delete(name);
}

function deleteAllNamespaces() {
  for (const name of [...liveNamespaces]) deleteNamespace(name);
}

function timedApply(script) {
  const ns = addNamespace();
  try {
    const start = nowNs();
    execFileSync("ip", ["netns", "exec", ns, "nft", "-f", script], { stdio: ["ignore", "ignore", "pipe"] });
    return msSince(start);
  } finally {
    deleteNamespace(ns);
  }
}

/** Applies once and reads the table back: the script must load and hold a rule per filter rule. */
function checkApply(script) {
  const ns = addNamespace();
  try {
    execFileSync("ip", ["netns", "exec", ns, "nft", "-f", script], { stdio: ["ignore", "ignore", "pipe"] });
    const listed = execFileSync("ip", ["netns", "exec", ns, "nft", "list", "table", "inet", "moat"], {
      encoding: "utf8",
    });
    return new Set([...listed.matchAll(/comment "moat rule (\d+)/g)].map((m) => m[1])).size;
  } finally {
    deleteNamespace(ns);
  }
}

// ---------------------------------------------------------------------------------------------

function fmt(n, digits = 0) {
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function printTable(title, head, body) {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log(`\n${title}`);
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const b of body) console.log(line(b));
}

function depthSummary(expected) {
  const buckets = { "1-10": 0, "11-20": 0, "21-30": 0, default: 0 };
  let allow = 0;
  for (const v of expected) {
    if (v.verdict === "allow") allow++;
    if (v.rule === null) buckets.default++;
    else if (v.rule <= 10) buckets["1-10"]++;
    else if (v.rule <= 20) buckets["11-20"]++;
    else buckets["21-30"]++;
  }
  const pct = (n) => `${((100 * n) / expected.length).toFixed(1)}%`;
  return (
    `decided by rules ${Object.entries(buckets)
      .map(([k, n]) => `${k}: ${pct(n)}`)
      .join(", ")}; ` + `allowed ${pct(allow)}`
  );
}

/**
 * `--phases FILTER PACKETS` (run in a child, so the heap is as fresh as the command's): what
 * `moat filter test --packets --json` does, phase by phase, with timers around each. Prints JSON.
 */
function phases(filterFile, packetFile) {
  let start = nowNs();
  const compiled = compileFilter(loadFilter(filterFile));
  const load = msSince(start);
  start = nowNs();
  const text = readFileSync(packetFile, "utf8");
  const read = msSince(start);
  start = nowNs();
  const packets = parsePacketLines(text, packetFile);
  const parse = msSince(start);
  start = nowNs();
  const verdicts = new Array(packets.length);
  for (let i = 0; i < packets.length; i++) verdicts[i] = compiled.evaluate(packets[i]);
  const evaluate = msSince(start);
  // Render as the command does, in 64 KiB pieces, but drop them instead of writing.
  start = nowNs();
  let out = "";
  let bytes = 0;
  for (let i = 0; i < packets.length; i++) {
    out += renderVerdictJson(formatPacket(packets[i]), verdicts[i]);
    if (out.length > 1 << 16) {
      bytes += out.length;
      out = "";
    }
  }
  bytes += out.length;
  const render = msSince(start);
  process.stdout.write(
    `${JSON.stringify({ load, read, parse, evaluate, render, bytes, n: packets.length })}\n`,
  );
}

/** Writes filter.yaml and packets.txt for `seed` into dir. */
function generate(dir, seed, count) {
  const g = generator(seed);
  const { rules, yaml } = makeFilter(g);
  const filterFile = join(dir, "filter.yaml");
  const packetFile = join(dir, "packets.txt");
  writeFileSync(filterFile, yaml);
  writeFileSync(packetFile, makePackets(g, rules, count));
  return { filterFile, packetFile };
}

async function main() {
  if (process.argv[2] === "--phases") return phases(process.argv[3], process.argv[4]);
  const opts = parseArgs(process.argv.slice(2));
  if (opts.generate !== null) {
    const { filterFile, packetFile } = generate(opts.generate, opts.seed, opts.packets);
    console.error(
      `bench: wrote ${filterFile} and ${packetFile} (seed ${opts.seed}, ${fmt(opts.packets)} packets)`,
    );
    return;
  }
  if (process.getuid?.() !== 0) {
    console.error("bench: needs root (network namespaces and nft); run it with sudo");
    process.exit(3);
  }
  for (const tool of ["ip", "nft"]) {
    try {
      execFileSync(tool, ["-V"], { stdio: "ignore" });
    } catch {
      console.error(`bench: ${tool} is missing; install iproute2 and nftables`);
      process.exit(3);
    }
  }
  if (opts.build) {
    console.error("bench: building dist/ (npm run build)");
    execFileSync("npm", ["run", "--silent", "build"], { cwd: ROOT, stdio: "inherit" });
  }
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: build failed or --no-build without a build`);

  const loadStart = loadavg()[0].toFixed(2);
  const scratch = mkdtempSync(join(tmpdir(), "moat-benchf-"));
  const onSignal = (signal) => {
    deleteAllNamespaces();
    rmSync(scratch, { recursive: true, force: true });
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", deleteAllNamespaces);
  try {
    // 1. Generate the filter and the packets.
    let t0 = nowNs();
    const { filterFile, packetFile } = generate(scratch, opts.seed, opts.packets);
    const filter = loadFilter(filterFile);
    if (filter.rules.length !== 30) throw new Error(`the filter has ${filter.rules.length} rules, want 30`);
    console.error(
      `bench: seed ${opts.seed}: ${filter.rules.length}-rule filter and ${fmt(opts.packets)} packets ` +
        `(${(readFileSync(packetFile).length / 2 ** 20).toFixed(1)} MiB) in ${scratch} (${msSince(t0).toFixed(0)} ms)`,
    );

    // Pre-parse outside every timed region: Packet objects for the baseline, PacketBits for decide().
    t0 = nowNs();
    const packets = parsePacketLines(readFileSync(packetFile, "utf8"), packetFile);
    const compiled = compileFilter(filter);
    const bits = packets.map((p) => packetBits(p));
    console.error(`bench: parsed and pre-compiled the packets (${msSince(t0).toFixed(0)} ms)`);

    // 2. Same verdicts on every packet, or no timing at all.
    const expected = new Array(packets.length);
    let evalSum = 0;
    let baseSum = 0;
    for (let i = 0; i < packets.length; i++) {
      const id = compiled.decide(bits[i]);
      const verdict = compiled.verdicts[id];
      const index = baselineDecide(filter, packets[i]);
      const rule = index >= 0 ? index + 1 : null;
      const action = index >= 0 ? filter.rules[index].action : index === -1 ? filter.default : "allow";
      if (verdict.rule !== rule || verdict.verdict !== action) {
        throw new Error(
          `evaluator and baseline disagree on packet ${i + 1} (${formatPacket(packets[i])}): ` +
            `evaluator ${verdict.verdict}/rule ${verdict.rule}, baseline ${action}/rule ${rule} (seed ${opts.seed})`,
        );
      }
      expected[i] = verdict;
      evalSum += id;
      baseSum += index;
    }
    console.error(
      `bench: evaluator and baseline agree on all ${fmt(packets.length)} packets; ${depthSummary(expected)}`,
    );
    const commandArgv = [
      process.execPath,
      CLI,
      "filter",
      "test",
      filterFile,
      "--packets",
      packetFile,
      "--json",
    ];
    await checkCommandOutput(commandArgv, expected);
    console.error("bench: the built command agrees on every packet too");

    const script = join(scratch, "filter.nft");
    const nft = compileNft(filter, { counters: false });
    writeFileSync(script, nft.output);
    const empty = join(scratch, "empty.nft");
    writeFileSync(empty, "");
    const loaded = checkApply(script);
    if (loaded !== filter.rules.length)
      throw new Error(`the applied table carries ${loaded} of ${filter.rules.length} rules`);
    console.error(
      `bench: nft script (${nft.output.split("\n").length} lines) applies and holds all ${loaded} rules`,
    );

    // 3. Interleaved runs.
    const rows = {
      evaluator: [],
      baseline: [],
      load: [],
      read: [],
      parse: [],
      evaluate: [],
      render: [],
      command: [],
      loadFilter: [],
      compileEval: [],
      compileNft: [],
      apply: [],
      applyEmpty: [],
    };
    let maxRssKiB = 0;
    const steps = [
      () => {
        const r = timeEvaluator(compiled.decide, bits);
        if (r.sum !== evalSum) throw new Error("evaluator checksum changed between runs");
        rows.evaluator.push(r.ms);
      },
      () => {
        const r = timeBaseline(filter, packets);
        if (r.sum !== baseSum) throw new Error("baseline checksum changed between runs");
        rows.baseline.push(r.ms);
      },
      () => {
        const out = execFileSync(process.execPath, [SELF, "--phases", filterFile, packetFile], {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "inherit"],
          maxBuffer: 1 << 20,
        });
        const r = JSON.parse(out);
        if (r.n !== packets.length) throw new Error(`--phases parsed ${r.n} packets, want ${packets.length}`);
        for (const key of PHASES) rows[key].push(r[key]);
      },
      async () => {
        const r = await timedCommand(commandArgv, scratch);
        rows.command.push(r.ms);
        maxRssKiB = Math.max(maxRssKiB, r.rssKiB);
      },
      () => {
        rows.loadFilter.push(perCall(() => loadFilter(filterFile), 50));
        rows.compileEval.push(perCall(() => compileFilter(filter), 500));
        rows.compileNft.push(perCall(() => compileNft(filter, { counters: false }), 500));
      },
      () => {
        rows.apply.push(timedApply(script));
        rows.applyEmpty.push(timedApply(empty));
      },
    ];
    for (let run = 0; run < opts.runs; run++) {
      // Alternate the order so no measurement always follows the same one.
      for (const step of run % 2 === 0 ? steps : [...steps].reverse()) await step();
      console.error(`bench: run ${run + 1}/${opts.runs} done`);
    }

    // 4. Report.
    const n = packets.length;
    const rate = (ms) => (n / ms) * 1000;
    const rateRow = ([name, ms, perPacket = true]) => {
      const s = stats(ms);
      return [
        name,
        String(ms.length),
        fmt(s.median, 1),
        fmt(s.min, 1),
        fmt(s.max, 1),
        perPacket ? fmt(rate(s.median)) : "-",
        perPacket ? `${fmt(rate(s.max))}-${fmt(rate(s.min))}` : "-",
      ];
    };
    const rateHead = [
      "measurement",
      "runs",
      "median ms",
      "min ms",
      "max ms",
      "packets/s (median)",
      "packets/s (range)",
    ];
    printTable(
      `${fmt(n)} packets, 30-rule filter (seed ${opts.seed}), ${opts.runs} interleaved runs each; ` +
        `load average ${loadStart} at the start, ${loadavg()[0].toFixed(2)} at the end`,
      rateHead,
      [
        ["evaluator: decide() over pre-parsed packets", rows.evaluator],
        ["baseline: plain first-match loop, same packets", rows.baseline],
        ["moat filter test --packets --json > /dev/null", rows.command],
      ].map(rateRow),
    );
    const phaseSum = rows.load.map((_, i) => PHASES.reduce((sum, key) => sum + rows[key][i], 0));
    printTable(
      "the same command's work phase by phase (child process, timer around each phase; no node start-up, no write)",
      rateHead,
      [
        ["load + compile the filter (cold)", rows.load, false],
        ["read the --packets file", rows.read],
        ["parse the lines into packets", rows.parse],
        ["evaluate(packet): packetBits + decide", rows.evaluate],
        ["format + render JSON lines", rows.render],
        ["sum of the phases", phaseSum],
      ].map(rateRow),
    );
    const once = [
      ["load the YAML filter (loadFilter)", rows.loadFilter],
      ["compileFilter (evaluator tables)", rows.compileEval],
      ["compileNft (30 rules -> nft script)", rows.compileNft],
      ["ip netns exec NS nft -f script (fresh NS)", rows.apply],
      ["ip netns exec NS nft -f empty-file (fresh NS)", rows.applyEmpty],
    ].map(([name, ms]) => {
      const s = stats(ms);
      const d = s.median < 1 ? 3 : 1;
      return [name, String(ms.length), fmt(s.median, d), fmt(s.min, d), fmt(s.max, d)];
    });
    printTable(
      "compile and apply the 30-rule filter",
      ["measurement", "runs", "median ms", "min ms", "max ms"],
      once,
    );

    const ev = stats(rows.evaluator).median;
    const base = stats(rows.baseline).median;
    const cmd = stats(rows.command).median;
    const applyMs = stats(rows.apply).median;
    console.log("");
    console.log(`evaluator vs baseline (decisions/s, medians): ${(base / ev).toFixed(1)}x`);
    const med = (key) => stats(rows[key]).median;
    const sum = stats(phaseSum).median;
    const share = (key) => `${key} ${((100 * med(key)) / sum).toFixed(0)}%`;
    console.log(
      `whole command: ${fmt(rate(cmd))} decisions/s, ${(rate(ev) / rate(cmd)).toFixed(0)}x fewer than the ` +
        `evaluator; peak RSS ${Number.isNaN(maxRssKiB) ? "n/a" : `${(maxRssKiB / 1024).toFixed(0)} MiB`}`,
    );
    console.log(
      `  of its phases: ${PHASES.map(share).join(", ")}; node start-up and the write to /dev/null ` +
        `~${fmt(Math.max(0, cmd - sum))} ms`,
    );
    console.log(
      `apply beyond nft's own start-up: ${(applyMs - stats(rows.applyEmpty).median).toFixed(1)} ms ` +
        `(compileNft + apply: ${(stats(rows.compileNft).median + applyMs).toFixed(1)} ms)`,
    );
    const evRate = rate(ev);
    console.log(
      `target >= 10,000,000 decisions/s in the evaluator: ${fmt(evRate)} -> ${evRate >= 1e7 ? "met" : "NOT met"}`,
    );
    console.log(`traffic mix: ${depthSummary(expected)}`);
  } finally {
    deleteAllNamespaces();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  deleteAllNamespaces();
  process.exitCode = 1;
});
