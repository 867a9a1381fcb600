/**
 * Evaluator semantics on the captured fixtures and small hand-written rulesets: the cases the kernel
 * test cannot stage cheaply (undecided matches, fragments, unknown statements).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { Packet } from "../../../src/filter/types.js";
import { evaluateRuleset } from "../../../src/host/firewall/evaluate.js";
import { parseIptablesSave } from "../../../src/host/firewall/iptables.js";
import { parseNftJson } from "../../../src/host/firewall/nft.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");
const nft = parseNftJson(fixture("nft-ruleset.json"));
const ipt = parseIptablesSave(fixture("iptables-nft.save"));

function packet(text: string, fragment = false): Packet {
  const [protocol, src, , dst] = text.split(" ") as [Packet["protocol"], string, string, string];
  // "203.0.113.5:4000", "203.0.113.5", "[2001:db8::5]:4000"
  const split = (t: string): [string, number | null] => {
    const [address, port] = t.startsWith("[") ? t.slice(1).split("]:") : t.split(":");
    return [address!, port === undefined ? null : Number(port)];
  };
  const [source, sourcePort] = split(src);
  const [destination, destinationPort] = split(dst);
  return {
    protocol,
    family: source.includes(":") ? "ipv6" : "ipv4",
    source,
    destination,
    sourcePort,
    destinationPort,
    fragment,
  };
}

interface RuleJson {
  handle: number;
  expr: unknown[];
}

function tcpDport(port: number, verdict: unknown): RuleJson {
  const match = { match: { op: "==", left: { payload: { protocol: "tcp", field: "dport" } }, right: port } };
  return { handle: port, expr: [match, verdict] };
}

function chain(family: string, table: string, name: string, prio: number, policy: string, rules: RuleJson[]) {
  return { family, table, name, prio, policy, rules };
}

/** A small `nft -j` document: one table per chain, each an input base chain. */
function nftJson(chains: ReturnType<typeof chain>[]) {
  const items: unknown[] = [];
  for (const c of chains) {
    items.push({ table: { family: c.family, name: c.table } });
    items.push({
      chain: {
        family: c.family,
        table: c.table,
        name: c.name,
        type: "filter",
        hook: "input",
        prio: c.prio,
        policy: c.policy,
      },
    });
    for (const r of c.rules) items.push({ rule: { family: c.family, table: c.table, chain: c.name, ...r } });
  }
  return parseNftJson(JSON.stringify({ nftables: items }));
}

describe("evaluateRuleset", () => {
  it("follows jumps, gotos and returns through user chains", () => {
    const v = evaluateRuleset(nft, packet("tcp 198.51.100.5:4000 > 192.0.2.1:9050"));
    assert.equal(v.verdict, "allow");
    assert.deepEqual(v.path.slice(2, 8), [
      "inet filter input rule 18",
      "jump moat",
      "inet filter moat rule 3",
      "goto moat2",
      "inet filter moat2 rule 1",
      "accept",
    ]);
  });

  it("lets a later base chain drop what an earlier one accepted", () => {
    const rules = nftJson([
      chain("ip", "a", "in", 0, "drop", [tcpDport(22, { accept: null })]),
      chain("ip", "b", "in", 10, "accept", [tcpDport(22, { drop: null })]),
    ]);
    const v = evaluateRuleset(rules, packet("tcp 203.0.113.5:4000 > 192.0.2.1:22"));
    assert.equal(v.verdict, "deny");
    assert.deepEqual(v.path, ["ip a in rule 1", "accept", "ip b in rule 1", "drop"]);
    const swapped = nftJson([
      chain("ip", "a", "in", 20, "drop", [tcpDport(22, { accept: null })]),
      chain("ip", "b", "in", 10, "accept", [tcpDport(23, { drop: null })]),
    ]);
    assert.equal(evaluateRuleset(swapped, packet("tcp 203.0.113.5:4000 > 192.0.2.1:22")).verdict, "allow");
  });

  it("drops in prerouting before input is reached", () => {
    const v = evaluateRuleset(nft, packet("udp 203.0.113.5:4000 > 192.0.2.1:19"));
    assert.equal(v.verdict, "deny");
    assert.match(v.reason, /inet filter pre rule 1/);
  });

  it("answers unknown, naming the rules, when undecided matches change the outcome", () => {
    const v = evaluateRuleset(nft, packet("tcp 10.0.0.1:4000 > 192.0.2.1:22"));
    assert.equal(v.verdict, "unknown");
    assert.ok(v.unknowns.some((r) => r.handle === 29)); // meta mark
    assert.ok(v.unknowns.some((r) => r.handle === 30)); // limit
  });

  it("is definite when every way through undecided matches ends the same", () => {
    const v = evaluateRuleset(ipt, packet("tcp 10.0.0.1:4000 > 192.0.2.1:22"));
    assert.equal(v.verdict, "deny");
    assert.match(v.reason, /policy of ip filter INPUT.*whichever way.*recent/);
  });

  it("takes a packet of unknown interface as not arriving on lo, and asks about other names", () => {
    const icmp = packet("icmp 198.51.100.5 > 192.0.2.1");
    assert.equal(evaluateRuleset(ipt, icmp).verdict, "unknown");
    assert.equal(evaluateRuleset(ipt, icmp, { interface: "veth0" }).verdict, "allow");
    assert.equal(evaluateRuleset(ipt, icmp, { interface: "lo" }).verdict, "allow");
    assert.equal(evaluateRuleset(ipt, icmp, { interface: "eth0" }).verdict, "deny");
  });

  it("reads ICMP types, echo request unless told otherwise", () => {
    const icmp = packet("icmp 198.51.100.5 > 192.0.2.1");
    assert.equal(evaluateRuleset(ipt, icmp, { interface: "veth0", icmpType: 13 }).verdict, "deny");
  });

  it("says unknown for a later fragment when conntrack reassembles first", () => {
    const v = evaluateRuleset(nft, packet("udp 203.0.113.5 > 192.0.2.1", true));
    assert.equal(v.verdict, "unknown");
    assert.match(v.reason, /reassembles/);
  });

  it("matches fragments with -f when nothing uses conntrack", () => {
    const text =
      "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -f -j DROP\n-A INPUT -p udp -m udp --dport 53 -j DROP\nCOMMIT\n";
    const rules = parseIptablesSave(text);
    assert.equal(evaluateRuleset(rules, packet("udp 203.0.113.5 > 192.0.2.1", true)).verdict, "deny");
    assert.equal(evaluateRuleset(rules, packet("udp 203.0.113.5:1 > 192.0.2.1:80")).verdict, "allow");
    // a tcp rule's port match cannot read a later fragment
    const ports = parseIptablesSave(
      "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp ! --dport 53 -j DROP\nCOMMIT\n",
    );
    assert.equal(evaluateRuleset(ports, packet("udp 203.0.113.5 > 192.0.2.1", true)).verdict, "allow");
  });

  it("gives unknown for an unknown target on a rule the packet reaches", () => {
    const rules = parseIptablesSave(
      "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -j TPROXY --on-port 1\nCOMMIT\n",
    );
    const v = evaluateRuleset(rules, packet("tcp 203.0.113.5:1 > 192.0.2.1:80"));
    assert.equal(v.verdict, "unknown");
    assert.match(v.reason, /TPROXY/);
    assert.equal(evaluateRuleset(rules, packet("udp 203.0.113.5:1 > 192.0.2.1:80")).verdict, "deny");
  });

  it("allows what no base chain filters: IPv6 with only iptables rules", () => {
    const v = evaluateRuleset(ipt, packet("tcp [2001:db8::5]:4000 > [2001:db8:1::1]:22"));
    assert.equal(v.verdict, "allow");
    assert.match(v.reason, /no base chain filters IPv6/);
  });

  it("judges the first packet: ct state new, and untracked after notrack", () => {
    const text = `*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp -m udp --dport 9 -j CT --notrack\nCOMMIT\n*filter\n:INPUT DROP [0:0]\n-A INPUT -m state --state ESTABLISHED -j ACCEPT\n-A INPUT -m state --state NEW -p udp -j ACCEPT\nCOMMIT\n`;
    const rules = parseIptablesSave(text);
    assert.equal(evaluateRuleset(rules, packet("udp 203.0.113.5:1 > 192.0.2.1:8")).verdict, "allow");
    assert.equal(evaluateRuleset(rules, packet("udp 203.0.113.5:1 > 192.0.2.1:9")).verdict, "deny");
    assert.equal(evaluateRuleset(rules, packet("tcp 203.0.113.5:1 > 192.0.2.1:9")).verdict, "deny");
  });

  it("reads verdict maps", () => {
    const vmap = {
      vmap: {
        key: { payload: { protocol: "tcp", field: "dport" } },
        data: {
          set: [
            [111, { accept: null }],
            [{ range: [2049, 2050] }, { drop: null }],
          ],
        },
      },
    };
    const rules = nftJson([chain("inet", "t", "in", 0, "drop", [{ handle: 5, expr: [vmap] }])]);
    const at = (port: number) =>
      evaluateRuleset(rules, packet(`tcp 203.0.113.5:4000 > 192.0.2.1:${port}`)).verdict;
    assert.deepEqual([at(111), at(2050), at(80)], ["allow", "deny", "deny"]);
  });
});
