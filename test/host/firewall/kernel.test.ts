/**
 * The evaluator against the kernel. A lab `server` namespace gets a ruleset with a counter on every
 * rule (first native nftables, then the same policy through iptables-restore / ip6tables-restore),
 * and is read back with readHostFirewall. Real packets from the `peer` namespace, from several
 * source addresses and ports, then check two things per packet:
 * - delivery: a UDP datagram reaches the server's socket, a TCP connect completes, an echo request
 *   is answered, exactly when evaluateRuleset says "allow";
 * - counters (UDP and ICMP, one packet each): the rules whose counters moved are exactly the rules
 *   the evaluator says matched (`matched`), apart from the rule that accepts neighbour discovery,
 *   which the link's own traffic moves.
 * The two tables on the input hook in the nft ruleset check that an accept ends only its own base
 * chain while a drop in a later one still drops (netfilter semantics, see evaluate.ts).
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { after, before, describe, it } from "node:test";
import type { Packet } from "../../../src/filter/types.js";
import { evaluateRuleset } from "../../../src/host/firewall/evaluate.js";
import { readHostFirewall } from "../../../src/host/firewall/read.js";
import { createLab, type Lab, labSkipReason } from "../../lab/lab.js";

const skip = labSkipReason() ?? (hasTools() ? false : "kernel firewall test needs nft and iptables-restore");

function hasTools(): boolean {
  try {
    execFileSync("nft", ["--version"], { stdio: "ignore" });
    execFileSync("iptables-restore", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const SERVER = { ipv4: "192.0.2.1", ipv6: "2001:db8:1::1" } as const;
const SOURCES = ["192.0.2.2", "198.51.100.7", "203.0.113.9", "2001:db8:1::2", "2001:db8:99::5"];
const UDP_PORTS = [5019, 5002, 5053, 5123, 5100, 5105, 5200, 5300, 5400, 5211, 5500, 5600, 5700, 5800, 5999];
const TCP_PORTS = [22, 80, 2222, 3306, 4000];

const LISTENER = `
import select, socket, sys
udp, tcp = [int(p) for p in sys.argv[1].split(",")], [int(p) for p in sys.argv[2].split(",")]
socks = {}
for port in udp + tcp:
    kind = socket.SOCK_DGRAM if port in udp else socket.SOCK_STREAM
    s = socket.socket(socket.AF_INET6, kind)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port))
    if kind == socket.SOCK_STREAM:
        s.listen(16)
    socks[s] = (port, kind)
print("ready", flush=True)
while True:
    for s in select.select(list(socks), [], [])[0]:
        port, kind = socks[s]
        if kind == socket.SOCK_DGRAM:
            data, _ = s.recvfrom(2048)
            print("udp", port, data.decode(), flush=True)
        else:
            c, _ = s.accept()
            c.close()
`;

const PROBE = `
import json, socket, struct, sys, time
p = json.loads(sys.argv[1])
fam = socket.AF_INET6 if ":" in p["src"] else socket.AF_INET
if p["proto"] == "udp":
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((p["src"], p["sport"]))
    s.sendto(p["token"].encode(), (p["dst"], p["dport"]))
    print("sent")
elif p["proto"] == "tcp":
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((p["src"], p["sport"]))
    s.settimeout(0.5)
    try:
        s.connect((p["dst"], p["dport"]))
        print("open")
    except ConnectionRefusedError:
        print("refused")
    except (socket.timeout, OSError):
        print("timeout")
else:
    v6 = fam == socket.AF_INET6
    s = socket.socket(fam, socket.SOCK_RAW, socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
    s.bind((p["src"], 0))
    ident = p["sport"] & 0xFFFF
    body = struct.pack("!BBHHH", 128 if v6 else 8, 0, 0, ident, 1) + b"moat"
    if not v6:
        total = sum(struct.unpack("!%dH" % (len(body) // 2), body))
        total = (total & 0xFFFF) + (total >> 16)
        body = body[:2] + struct.pack("!H", ~total & 0xFFFF) + body[4:]
    s.sendto(body, (p["dst"], 0))
    s.settimeout(0.2)
    deadline = time.time() + 1.0
    answer = "none"
    while time.time() < deadline:
        try:
            data = s.recv(2048)
        except socket.timeout:
            continue
        icmp = data if v6 else data[(data[0] & 15) * 4:]
        if icmp[0] == (129 if v6 else 0) and struct.unpack("!H", icmp[4:6])[0] == ident:
            answer = "reply"
            break
    print(answer)
`;

interface Probe {
  proto: "udp" | "tcp" | "icmp";
  src: string;
  sport: number;
  dport: number;
}

function nftRuleset(iface: string): string {
  return `
table inet moatk {
  set admins { type ipv4_addr; flags interval; elements = { 198.51.100.0/25, 203.0.113.5-203.0.113.20 } }
  set v6admins { type ipv6_addr; flags interval; elements = { 2001:db8:99::/64 } }
  chain pre {
    type filter hook prerouting priority raw; policy accept;
    udp dport 5019 counter drop
    udp dport 5002 counter notrack
  }
  chain input {
    type filter hook input priority filter; policy drop;
    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert, mld-listener-report, mld2-listener-report } counter accept comment "nd"
    ct state established,related counter accept
    ct state invalid counter drop
    iif "lo" counter accept
    iifname "nomatch*" counter drop
    udp dport 5002 ct state new counter accept
    udp dport 5002 ct state untracked counter accept
    udp dport { 5053, 5123 } counter accept
    udp dport 5100-5110 ip saddr @admins counter accept
    udp dport 5100-5110 ip6 saddr @v6admins counter accept
    ip saddr != 192.0.2.0/24 udp dport 5200 counter accept
    udp sport 5300-5310 udp dport 5300 counter accept
    udp dport 5400 counter jump sub
    udp dport 5211 counter reject
    th dport 5500 meta l4proto udp counter accept
    meta l4proto udp udp dport 5600 iifname "${iface}" counter accept
    tcp dport { 22, 80 } counter accept
    tcp dport 2222 ip saddr 203.0.113.0/24 counter accept
    tcp dport 3306 counter reject with tcp reset
    icmp type echo-request ip saddr 198.51.100.0/24 counter accept
    icmpv6 type echo-request ip6 saddr != 2001:db8:99::/64 counter accept
    udp dport 5700 counter
    udp dport 5700 counter accept
    counter
  }
  chain sub {
    ip saddr 198.51.100.7 counter return
    ip6 saddr 2001:db8:99::/64 counter goto sub2
    udp sport 5401 counter accept
  }
  chain sub2 {
    udp sport 5401 counter accept
    counter return
  }
}
table ip moatk2 {
  chain in2 {
    type filter hook input priority 10; policy accept;
    udp dport 5053 ip saddr 203.0.113.9 counter drop
    udp dport 5800 counter accept
  }
}
`;
}

function iptablesRules(iface: string, v6: boolean): string {
  const admins = v6 ? "2001:db8:99::/64" : "198.51.100.0/25";
  const local = v6 ? "2001:db8:1::/64" : "192.0.2.0/24";
  const sub = v6 ? "2001:db8:99::5/128" : "198.51.100.7/32";
  const icmp = v6
    ? "-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 ! -s 2001:db8:99::/64 -j ACCEPT"
    : "-A INPUT -s 198.51.100.0/24 -p icmp -m icmp --icmp-type 8 -j ACCEPT";
  const reject = v6 ? "icmp6-port-unreachable" : "icmp-port-unreachable";
  return `*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -p udp -m udp --dport 5019 -j DROP
-A PREROUTING -p udp -m udp --dport 5002 -j CT --notrack
COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:SUB - [0:0]
${v6 ? "-A INPUT -p ipv6-icmp -m icmp6 ! --icmpv6-type 128 -j ACCEPT" : "-A INPUT -p udp -m udp --dport 9 -j DROP"}
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A INPUT -i lo -j ACCEPT
-A INPUT -p udp -m udp --dport 5002 -m state --state NEW -j ACCEPT
-A INPUT -p udp -m udp --dport 5002 -m conntrack --ctstate UNTRACKED -j ACCEPT
-A INPUT -p udp -m multiport --dports 5053,5123 -j ACCEPT
-A INPUT -s ${admins} -p udp -m udp --dport 5100:5110 -j ACCEPT
-A INPUT ! -s ${local} -p udp -m udp --dport 5200 -j ACCEPT
-A INPUT -p udp -m udp --sport 5300:5310 --dport 5300 -j ACCEPT
-A INPUT -p udp -m udp --dport 5400 -j SUB
-A INPUT -p udp -m udp --dport 5211 -j REJECT --reject-with ${reject}
-A INPUT -i ${iface} -p udp -m udp --dport 5600 -m comment --comment "on the link only" -j ACCEPT
-A INPUT -p tcp -m multiport --dports 22,80 -j ACCEPT
-A INPUT -s ${v6 ? "2001:db8:99::/64" : "203.0.113.0/24"} -p tcp -m tcp --dport 2222 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 3306 -j REJECT --reject-with tcp-reset
${icmp}
-A INPUT -p udp -m udp --dport 5700 -j LOG --log-prefix "moat 5700 "
-A INPUT -p udp -m udp --dport 5700 -j ACCEPT
-A SUB -s ${sub} -j RETURN
-A SUB -p udp -m udp --sport 5401 -j ACCEPT
COMMIT
`;
}

/** Counters per rule: "inet moatk input#12" for nft handles, "ip filter INPUT#3" for iptables positions. */
function nftCounters(ns: string): Map<string, number> {
  const json = JSON.parse(
    execFileSync("ip", ["netns", "exec", ns, "nft", "-j", "list", "ruleset"], { encoding: "utf8" }),
  );
  const counts = new Map<string, number>();
  for (const item of json.nftables as Array<Record<string, Record<string, unknown>>>) {
    const rule = item.rule;
    if (rule === undefined) continue;
    const expr = rule.expr as Array<Record<string, { packets?: number }>>;
    const counter = expr.find((e) => "counter" in e)?.counter;
    if (counter !== undefined)
      counts.set(`${rule.family} ${rule.table} ${rule.chain}#${rule.handle}`, counter.packets ?? 0);
  }
  return counts;
}

function iptablesCounters(ns: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [tool, family] of [
    ["iptables-save", "ip"],
    ["ip6tables-save", "ip6"],
  ] as const) {
    const text = execFileSync("ip", ["netns", "exec", ns, tool, "-c"], { encoding: "utf8" });
    let table = "";
    const index = new Map<string, number>();
    for (const line of text.split("\n")) {
      if (line.startsWith("*")) {
        table = line.slice(1);
        index.clear();
      }
      const m = /^\[(\d+):\d+\] -A (\S+)/.exec(line);
      if (m === null) continue;
      const n = (index.get(m[2]!) ?? 0) + 1;
      index.set(m[2]!, n);
      counts.set(`${family} ${table} ${m[2]}#${n}`, Number(m[1]));
    }
  }
  return counts;
}

function moved(before: Map<string, number>, after: Map<string, number>, noise: RegExp): string[] {
  return [...after]
    .filter(([key, n]) => n > (before.get(key) ?? 0) && !noise.test(key))
    .map(([key]) => key)
    .sort();
}

describe("evaluator against the kernel", { skip }, () => {
  let lab: Lab;
  let server: string;
  let peer: string;
  let iface: string;
  let listener: ChildProcess;
  const delivered = new Set<string>();

  before(async () => {
    lab = await createLab({
      namespaces: [
        { role: "server" },
        { role: "peer", addresses: ["198.51.100.7/32", "203.0.113.9/32", "2001:db8:99::5/128"] },
      ],
      links: [["server", "peer"]],
    });
    server = lab.ns("server");
    peer = lab.ns("peer");
    iface = `v${lab.id}-0a`;
    for (const [net, via] of [
      ["198.51.100.0/24", "192.0.2.2"],
      ["203.0.113.0/24", "192.0.2.2"],
      ["2001:db8:99::/64", "2001:db8:1::2"],
    ])
      execFileSync("ip", ["-n", server, "route", "add", net!, "via", via!]);
    listener = spawn(
      "ip",
      ["netns", "exec", server, "python3", "-c", LISTENER, UDP_PORTS.join(","), TCP_PORTS.join(",")],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    await new Promise<void>((resolve, reject) => {
      let buffer = "";
      listener.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
        buffer += chunk;
        let nl = buffer.indexOf("\n");
        while (nl >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line === "ready") resolve();
          const token = line.split(" ")[2];
          if (token !== undefined) delivered.add(token);
          nl = buffer.indexOf("\n");
        }
      });
      listener.once("exit", () => reject(new Error("listener exited")));
    });
  });

  after(async () => {
    listener?.kill("SIGKILL");
    await lab?.destroy();
  });

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** Sends one probe; the observed outcome as allow/deny. */
  async function send(probe: Probe, token: string, expectAllow: boolean): Promise<"allow" | "deny"> {
    const dst = probe.src.includes(":") ? SERVER.ipv6 : SERVER.ipv4;
    const out = execFileSync(
      "ip",
      ["netns", "exec", peer, "python3", "-c", PROBE, JSON.stringify({ ...probe, dst, token })],
      {
        encoding: "utf8",
      },
    ).trim();
    if (probe.proto === "tcp") return out === "open" ? "allow" : "deny";
    if (probe.proto === "icmp") return out === "reply" ? "allow" : "deny";
    // a denied datagram is given a short while; an allowed one up to two seconds to show up
    const deadline = Date.now() + (expectAllow ? 2000 : 250);
    while (Date.now() < deadline) {
      if (delivered.has(token)) return "allow";
      await sleep(10);
    }
    return delivered.has(token) ? "allow" : "deny";
  }

  /** `base`: each run its own source ports, so no conntrack entry or TIME_WAIT of a run meets the next. */
  function probes(base: number): Probe[] {
    const list: Probe[] = [];
    let sport = base;
    for (const src of SOURCES) {
      for (const dport of UDP_PORTS) list.push({ proto: "udp", src, sport: sport++, dport });
      list.push({ proto: "udp", src, sport: 5305, dport: 5300 });
      list.push({ proto: "udp", src, sport: 5401, dport: 5400 });
      for (const dport of TCP_PORTS) list.push({ proto: "tcp", src, sport: sport++, dport });
      list.push({ proto: "icmp", src, sport: sport++, dport: 0 });
    }
    return list;
  }

  async function runProbes(counters: () => Map<string, number>, noise: RegExp, base: number) {
    const fw = await readHostFirewall({ netns: server });
    const disagreements: string[] = [];
    let verdicts = { allow: 0, deny: 0 };
    for (const [i, probe] of probes(base).entries()) {
      const family = probe.src.includes(":") ? "ipv6" : "ipv4";
      const packet: Packet = {
        protocol: probe.proto === "icmp" ? (family === "ipv6" ? "icmpv6" : "icmp") : probe.proto,
        family,
        source: probe.src,
        destination: SERVER[family],
        sourcePort: probe.proto === "icmp" ? null : probe.sport,
        destinationPort: probe.proto === "icmp" ? null : probe.dport,
        fragment: false,
      };
      const verdict = evaluateRuleset(fw.rulesets, packet, { interface: iface });
      const label = `${probe.proto} ${probe.src}:${probe.sport} > ${probe.dport}`;
      if (verdict.verdict === "unknown") {
        disagreements.push(`${label}: evaluator says unknown: ${verdict.reason}`);
        continue;
      }
      const beforeCounts = counters();
      const observed = await send(probe, `t${base}-${i}-${lab.id}`, verdict.verdict === "allow");
      verdicts = { ...verdicts, [observed]: verdicts[observed] + 1 };
      if (observed !== verdict.verdict)
        disagreements.push(`${label}: kernel ${observed}, evaluator ${verdict.verdict} (${verdict.reason})`);
      if (probe.proto === "tcp") continue;
      const got = moved(beforeCounts, counters(), noise);
      const want = verdict.matched
        .map((ref) => `${ref.chain}#${ref.handle ?? ref.index}`)
        .filter((key) => !noise.test(key))
        .sort();
      if (got.join() !== want.join())
        disagreements.push(
          `${label}: counters moved on [${got.join(", ")}], evaluator matched [${want.join(", ")}]`,
        );
    }
    return { disagreements, verdicts, fw };
  }

  it("nftables: verdicts and counters agree for every packet", async () => {
    execFileSync("ip", ["netns", "exec", server, "nft", "-f", "-"], { input: nftRuleset(iface) });
    const ndHandle = nftCounters(server);
    const nd = [...ndHandle.keys()].find((k) => k.startsWith("inet moatk input#"))!;
    const { disagreements, verdicts, fw } = await runProbes(
      () => nftCounters(server),
      new RegExp(`^${nd}$`),
      40000,
    );
    assert.deepEqual(fw.warnings, []);
    assert.deepEqual(disagreements, []);
    // both outcomes must really have happened, or the test proves nothing
    assert.ok(verdicts.allow >= 20 && verdicts.deny >= 20, JSON.stringify(verdicts));
  });

  it("iptables-nft: read back without double counting; verdicts and counters agree", async () => {
    execFileSync("ip", ["netns", "exec", server, "nft", "flush", "ruleset"]);
    execFileSync("ip", ["netns", "exec", server, "iptables-restore"], { input: iptablesRules(iface, false) });
    execFileSync("ip", ["netns", "exec", server, "ip6tables-restore"], { input: iptablesRules(iface, true) });
    const { disagreements, verdicts, fw } = await runProbes(
      () => iptablesCounters(server),
      /^ip6 filter INPUT#1$/,
      50000,
    );
    // iptables-nft's tables show in nft's ruleset too, but are evaluated once, from the save text
    assert.deepEqual(
      fw.rulesets.map((r) => `${r.source}: ${r.tables.map((t) => `${t.family} ${t.name}`).join(", ")}`),
      ["nft: ", "iptables: ip raw, ip filter", "ip6tables: ip6 raw, ip6 filter"],
    );
    assert.deepEqual(disagreements, []);
    assert.ok(verdicts.allow >= 20 && verdicts.deny >= 20, JSON.stringify(verdicts));
  });
});
