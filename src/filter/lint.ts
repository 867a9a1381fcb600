import { parsePortSpec } from "../catalog/catalog.js";
import type { Service } from "../catalog/schema.js";
import type { Catalog } from "../catalog/types.js";
import type { Family } from "../host/types.js";
import { formatCidr } from "../net/cidr.js";
import { formatPortList, normalizePorts } from "../net/ports.js";
import { CLOUD_MAX_EXPRESSIONS, cloudExpressions } from "./compile/cloud.js";
import {
  type Box,
  CLASS,
  covers,
  familyRange,
  intersect,
  intersects,
  isEmpty,
  MAX_PORT,
  merge,
  ruleSpace,
  type Space,
  sourceRanges,
  subtract,
  universe,
} from "./space.js";
import { parseSshConnection, sessionVerdict } from "./ssh-session.js";
import type { Filter, FilterMode, FilterRule, PortRange } from "./types.js";

export type LintSeverity = "error" | "warning" | "info";

export const LINT_CODES = [
  "unreachable",
  "after-catch-all",
  "missing-return-traffic",
  "ssh-lockout",
  "ssh-unchecked",
  "too-many-rules",
  "ipv6-open",
  "exposed-reflector",
  "exposed-lan-service",
  "default-allow",
] as const;
export type LintCode = (typeof LINT_CODES)[number];

export interface LintFinding {
  code: LintCode;
  severity: LintSeverity;
  /** 1-based numbers of the rules the finding is about; empty when it is about the whole filter. */
  rules: number[];
  message: string;
  /** One concrete sentence: what to change. */
  fix: string;
}

export type LintTarget = "nft" | "cloud";

export interface LintOptions {
  /** Where the filter will run: `cloud` adds the cloud filter's limits (30 rules, IPv4 only). */
  target?: LintTarget;
  /** The value of SSH_CONNECTION ("client_ip client_port server_ip server_port"), if any. */
  sshConnection?: string;
  catalog: Catalog;
}

/** The cloud filter's limit on rules per filter. */
export const CLOUD_MAX_RULES = CLOUD_MAX_EXPRESSIONS;

/** The cloud filter is stateless whatever the file says (its compiler says so too). */
function modeOn(filter: Filter, options: LintOptions): FilterMode {
  return options.target === "cloud" ? "stateless" : filter.mode;
}

/** What one pass over the rules tells every check. */
export interface Analysis {
  /** Per rule: the packets of the covered families it matches. */
  spaces: Space[];
  /** Per rule: the packets it decides (matched by it and by no earlier rule). */
  parts: Space[];
  /** Per rule: the 0-based earlier rules that decide some packet this rule matches. */
  deciders: number[][];
  /** 0-based index of the first rule that matches every packet, if any. */
  catchAll: number | undefined;
  /** Packets no rule matches: the default action decides them. */
  defaultSpace: Space;
  /** Every packet the filter allows (covered families only). */
  allowed: Space;
  universe: Space;
}

/**
 * Which rule decides which packets. For rule r, the packets it matches are cut by each earlier
 * rule in turn; an earlier rule that still meets what is left decides some of them. What is left at
 * the end is what r itself decides; nothing left means r is never reached.
 */
export function analyzeFilter(filter: Filter): Analysis {
  const all = universe(filter.families);
  const spaces = filter.rules.map((rule) => ruleSpace(rule, filter.families));
  const parts: Space[] = [];
  const deciders: number[][] = [];
  let catchAll: number | undefined;
  spaces.forEach((space, r) => {
    let rest = space;
    const decided: number[] = [];
    for (let j = 0; j < r && !isEmpty(rest); j++) {
      if (!intersects(rest, spaces[j]!)) continue;
      decided.push(j);
      rest = subtract(rest, spaces[j]!);
    }
    parts.push(rest);
    deciders.push(decided);
    if (catchAll === undefined && !isEmpty(all) && covers(space, all)) catchAll = r;
  });
  // After a catch-all nothing is left for the default; skip the work.
  const defaultSpace = catchAll === undefined ? subtract(all, spaces.flat()) : [];
  const allowed = merge([
    ...parts.filter((_, i) => filter.rules[i]!.action === "allow").flat(),
    ...(filter.default === "allow" ? defaultSpace : []),
  ]);
  return { spaces, parts, deciders, catchAll, defaultSpace, allowed, universe: all };
}

interface Context {
  filter: Filter;
  options: LintOptions;
  analysis: Analysis;
}

interface Check {
  /** The codes its findings carry. */
  codes: readonly LintCode[];
  run(ctx: Context): LintFinding[];
}

/** The checks, in the order their findings are listed. */
export const CHECKS: readonly Check[] = [
  { codes: ["after-catch-all"], run: afterCatchAll },
  { codes: ["unreachable"], run: unreachable },
  { codes: ["ssh-lockout", "ssh-unchecked"], run: sshLockout },
  { codes: ["missing-return-traffic"], run: missingReturnTraffic },
  { codes: ["exposed-reflector", "exposed-lan-service"], run: exposedServices },
  { codes: ["default-allow"], run: defaultAllow },
  { codes: ["ipv6-open"], run: ipv6Open },
  { codes: ["too-many-rules"], run: tooManyRules },
];

export function lintFilter(filter: Filter, options: LintOptions): LintFinding[] {
  const ctx: Context = { filter, options, analysis: analyzeFilter(filter) };
  return CHECKS.flatMap((check) => check.run(ctx));
}

// ---------------------------------------------------------------------------------------------
// (a), (b): rules that are never reached

function afterCatchAll({ filter, analysis }: Context): LintFinding[] {
  const at = analysis.catchAll;
  if (at === undefined || at === filter.rules.length - 1) return [];
  const catchAll = filter.rules[at]!;
  const later = filter.rules.slice(at + 1).map((_, i) => at + 2 + i);
  const contradicts = filter.rules.slice(at + 1).some((rule) => rule.action !== catchAll.action);
  const verb = catchAll.action === "allow" ? "allows" : "denies";
  return [
    {
      code: "after-catch-all",
      severity: contradicts ? "error" : "warning",
      rules: later,
      message:
        `${ruleName(filter, at)} matches every packet and ${verb} it, so ${plural(later, "rule")} ` +
        `${numberList(later)} after it ${later.length === 1 ? "is" : "are"} never reached` +
        (contradicts ? `; ${contradiction(filter, at)}.` : "."),
      fix: contradicts
        ? `Move ${plural(later, "rule")} ${numberList(later)} above rule ${at + 1}, or delete ${later.length === 1 ? "it" : "them"}.`
        : `Delete ${plural(later, "rule")} ${numberList(later)}: rule ${at + 1} already ${verb} their packets.`,
    },
  ];
}

/** "rules 6 and 7 would allow what rule 5 denies" */
function contradiction(filter: Filter, at: number): string {
  const action = filter.rules[at]!.action;
  const other = filter.rules.flatMap((rule, i) => (i > at && rule.action !== action ? [i + 1] : []));
  const wanted = action === "allow" ? "deny" : "allow";
  return `${plural(other, "rule")} ${numberList(other)} would ${wanted} what rule ${at + 1} ${verbFor(action, 1)}`;
}

function unreachable({ filter, analysis }: Context): LintFinding[] {
  const last = analysis.catchAll ?? filter.rules.length - 1;
  const findings: LintFinding[] = [];
  for (let r = 0; r <= last && r < filter.rules.length; r++) {
    if (!isEmpty(analysis.parts[r]!)) continue;
    const rule = filter.rules[r]!;
    const deciders = analysis.deciders[r]!;
    if (deciders.length === 0) {
      findings.push(matchesNothing(filter, r));
      continue;
    }
    const numbers = deciders.map((j) => j + 1);
    const differ = deciders.filter((j) => filter.rules[j]!.action !== rule.action).map((j) => j + 1);
    const by = `${plural(numbers, "rule")} ${numberList(numbers)}`;
    findings.push({
      code: "unreachable",
      severity: differ.length > 0 ? "error" : "warning",
      rules: [r + 1],
      message:
        `${ruleName(filter, r)} is never reached: every packet it matches is decided earlier by ${by}` +
        (differ.length > 0
          ? `, and ${plural(differ, "rule")} ${numberList(differ)} ${verbFor(rule.action === "allow" ? "deny" : "allow", differ.length)} what it would ${rule.action}.`
          : `, which ${rule.action} ${numbers.length === 1 ? "it" : "them"} already.`),
      fix:
        differ.length > 0
          ? `Move rule ${r + 1} above rule ${numbers[0]} if it should decide these packets, or delete it.`
          : `Delete rule ${r + 1}: ${by} already ${rule.action} everything it matches.`,
    });
  }
  return findings;
}

/** A rule that matches no packet the filter judges at all, before any other rule is considered. */
function matchesNothing(filter: Filter, r: number): LintFinding {
  const rule = filter.rules[r]!;
  const covered = filter.families.map(familyName).join(" and ");
  let why = `it matches no ${covered} packet`;
  if (rule.sources !== null && rule.sources.length === 0) why = "its source list is empty";
  else if (rule.protocol === "icmpv6" && !filter.families.includes("ipv6"))
    why = `icmpv6 is IPv6's ICMP and the filter covers ${covered} only`;
  else if (rule.protocol === "icmp" && !filter.families.includes("ipv4"))
    why = `icmp is IPv4's ICMP and the filter covers ${covered} only`;
  else if (rule.sources !== null)
    why = `its sources are of a family the filter does not cover (it covers ${covered} only)`;
  return {
    code: "unreachable",
    severity: "warning",
    rules: [r + 1],
    message: `${ruleName(filter, r)} never matches: ${why}.`,
    fix: `Delete rule ${r + 1}, or add the family it is for to the filter's families.`,
  };
}

// ---------------------------------------------------------------------------------------------
// (c): return traffic in stateless filters

/** Linux's default net.ipv4.ip_local_port_range, and Windows' dynamic port range. */
const LINUX_EPHEMERAL: PortRange = { start: 32768, end: 60999 };
const WINDOWS_EPHEMERAL: PortRange = { start: 49152, end: 65535 };

/** Replies the server needs to its own outbound connections, and what breaks without them. */
const RETURN_TRAFFIC: readonly { protocol: "tcp" | "udp"; sourcePorts: number[]; breaks: string }[] = [
  { protocol: "udp", sourcePorts: [53], breaks: "DNS lookups (udp replies from port 53)" },
  {
    protocol: "tcp",
    sourcePorts: [80, 443],
    breaks: "package downloads and other outbound HTTP(S) (tcp replies from ports 80 and 443)",
  },
  { protocol: "udp", sourcePorts: [123], breaks: "NTP time sync (udp replies from servers' port 123)" },
];

function looksWindows(filter: Filter): boolean {
  if (/windows/i.test(`${filter.name} ${filter.description ?? ""}`)) return true;
  return filter.rules.some(
    (rule) =>
      rule.action === "allow" && (rule.destinationPorts ?? []).some((p) => p.start <= 3389 && 3389 <= p.end),
  );
}

function missingReturnTraffic({ filter, options, analysis }: Context): LintFinding[] {
  if (modeOn(filter, options) !== "stateless") return [];
  // The cloud filter judges IPv4 only; what it does not see it cannot break.
  const families = options.target === "cloud" ? filter.families.filter((f) => f === "ipv4") : filter.families;
  const windows = looksWindows(filter);
  const ephemeral = windows ? WINDOWS_EPHEMERAL : LINUX_EPHEMERAL;
  const broken = new Set<(typeof RETURN_TRAFFIC)[number]>();
  const deniedBy = new Set<number>();
  let defaultDenies = false;
  for (const need of RETURN_TRAFFIC) {
    for (const family of families) {
      const [a0, a1] = familyRange(family);
      const replies: Box[] = need.sourcePorts.map((port) => ({
        classes: CLASS[need.protocol],
        a0,
        a1,
        s0: port,
        s1: port,
        d0: ephemeral.start,
        d1: ephemeral.end,
      }));
      const denied = subtract(replies, analysis.allowed);
      // Replies allowed only from some servers (the resolver, a mirror) are a choice, not a mistake:
      // report only when every source has some of its replies denied.
      const hit = sourceRanges(denied);
      if (hit.length !== 1 || hit[0]![0] !== a0 || hit[0]![1] !== a1) continue;
      broken.add(need);
      filter.rules.forEach((rule, i) => {
        if (rule.action === "deny" && intersects(analysis.parts[i]!, denied)) deniedBy.add(i + 1);
      });
      if (intersects(analysis.defaultSpace, denied)) defaultDenies = true;
    }
  }
  if (broken.size === 0) return [];
  const rules = [...deniedBy].sort((a, b) => a - b);
  const protocols = (["tcp", "udp"] as const).filter((p) => [...broken].some((b) => b.protocol === p));
  const range = `${ephemeral.start}-${ephemeral.end}`;
  const by = [
    ...rules.map((n) => ruleName(filter, n - 1)),
    ...(defaultDenies ? ["the default action (deny)"] : []),
  ];
  const add = protocols
    .map(
      (p) =>
        `{ action: allow, protocol: ${p}, destinationPort: ${range}, description: "return traffic (${p})" }`,
    )
    .join(" and ");
  const where = rules.length > 0 ? `before rule ${rules[0]}` : "at the end of the rules";
  return [
    {
      code: "missing-return-traffic",
      severity: "error",
      rules,
      message:
        `${filter.mode === "stateless" ? "This stateless filter" : "On the cloud filter, which is stateless, this filter"} does not let in replies to connections the server opens itself ` +
        `(${protocols.join(" and ")} to the ${windows ? "Windows" : "Linux"} ephemeral ports ${range}; ` +
        `denied by ${joinWords(by)}), so these break: ${joinWords([...broken].map((b) => b.breaks))}.`,
      fix: `Add ${add} ${where}.`,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// (d): the SSH session in use

function sshLockout({ filter, options }: Context): LintFinding[] {
  const value = options.sshConnection;
  if (value === undefined || value.trim() === "") return [];
  const session = parseSshConnection(value);
  if (session === undefined)
    return [
      {
        code: "ssh-unchecked",
        severity: "info",
        rules: [],
        message: `SSH_CONNECTION is set but not in the form "client_ip client_port server_ip server_port" ("${value}"), so the SSH session in use was not checked.`,
        fix: "Check by hand that your SSH client's address is allowed to the SSH port before applying the filter.",
      },
    ];
  const verdict = sessionVerdict(filter, session);
  if (verdict.verdict === "allow") return [];
  const by = verdict.rule === null ? "the default action (deny)" : ruleName(filter, verdict.rule - 1);
  const stateful =
    modeOn(filter, options) === "stateful"
      ? " (conntrack may keep the open connection alive, but the next login fails)"
      : "";
  const where = verdict.rule === null ? "at the end of the rules" : `before rule ${verdict.rule}`;
  const host = session.family === "ipv6" ? `[${session.client}]` : session.client;
  return [
    {
      code: "ssh-lockout",
      severity: "error",
      rules: verdict.rule === null ? [] : [verdict.rule],
      message:
        `The SSH session in use (from ${host} port ${session.clientPort} to port ${session.serverPort}) ` +
        `would be denied by ${by}: applying this filter locks you out${stateful}.`,
      fix:
        `Add { action: allow, protocol: tcp, source: ${session.client}, destinationPort: ${session.serverPort}, ` +
        `description: "SSH from the admin's address" } ${where} (or allow the admin network it belongs to).`,
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// (e): more rules than the cloud filter takes

function tooManyRules({ filter, options }: Context): LintFinding[] {
  if (options.target !== "cloud") return [];
  // Count what the cloud compiler would emit, so the linter and `compile --to cloud-json` agree.
  const total = cloudExpressions(filter).expressions.length;
  if (total <= CLOUD_MAX_RULES) return [];
  const counts = filter.rules.map(
    (rule) =>
      cloudExpressions({ ...filter, rules: [rule] }).expressions.filter(
        (e) => !e.Description.startsWith("moat default"),
      ).length,
  );
  const expanded = counts.flatMap((n, i) => (n > 1 ? [i + 1] : []));
  const explicit = counts.reduce((a, b) => a + b, 0);
  const parts: string[] = [];
  if (expanded.length > 0)
    parts.push(
      `${expanded.map((n) => `rule ${n} becomes ${counts[n - 1]}`).join(", ")} (one per source and port range)`,
    );
  if (total > explicit)
    parts.push(`the default action (${filter.default}) takes one more, as a last "ip" rule`);
  const cut = total - CLOUD_MAX_RULES;
  return [
    {
      code: "too-many-rules",
      severity: "error",
      rules: expanded,
      message: `The cloud filter takes at most ${CLOUD_MAX_RULES} rules; this filter needs ${total}${parts.length > 0 ? `: ${parts.join("; ")}` : ""}.`,
      fix:
        `Cut ${cut} ${cut === 1 ? "rule" : "rules"}: merge sources into one wider network and ports into one ` +
        "range, delete rules this check calls unreachable, or filter the rest on the host (--target nft).",
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// (f): IPv6 left open

function ipv6Open({ filter, options }: Context): LintFinding[] {
  if (!filter.families.includes("ipv6")) {
    const fix =
      options.target === "cloud"
        ? "The cloud filter is IPv4-only: filter IPv6 on the host too (a filter with families: [ipv6], compiled with --to nft), or turn IPv6 off on the NIC."
        : "Add IPv6 to the filter: families: [ipv4, ipv6] (and allow icmpv6, which IPv6 needs for neighbour discovery).";
    return [
      {
        code: "ipv6-open",
        severity: "warning",
        rules: [],
        message:
          "The filter covers IPv4 only: IPv6 packets pass it unfiltered, so every service listening on " +
          "IPv6 (most listen on [::], which takes both) is reachable over IPv6.",
        fix,
      },
    ];
  }
  if (options.target !== "cloud") return [];
  const v6Only = filter.rules.flatMap((rule, i) => {
    const v6 =
      rule.protocol === "icmpv6" ||
      (rule.sources !== null && rule.sources.length > 0 && rule.sources.every((c) => c.family === "ipv6"));
    return v6 ? [i + 1] : [];
  });
  return [
    {
      code: "ipv6-open",
      severity: "warning",
      rules: v6Only,
      message:
        "The cloud filter is IPv4-only: on it IPv6 passes unfiltered" +
        (v6Only.length > 0
          ? `, and ${plural(v6Only, "rule")} ${numberList(v6Only)} (IPv6 only) cannot be applied.`
          : "."),
      fix: "Filter IPv6 on the host as well (moat filter compile --to nft), or turn IPv6 off on the NIC.",
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// (g): LAN-only services and reflectors allowed from anywhere

/** Narrower than this and a source is someone's network; wider is "the internet" for this check. */
const BROAD_PREFIX: Record<Family, number> = { ipv4: 8, ipv6: 16 };

/** In a stateless filter, a wide range within the ephemeral ports is there for replies, not services. */
function isReturnTrafficRule(mode: FilterMode, rule: FilterRule): boolean {
  if (mode !== "stateless" || rule.destinationPorts === null) return false;
  const inside = rule.destinationPorts.every((p) => p.start >= LINUX_EPHEMERAL.start);
  const width = rule.destinationPorts.reduce((n, p) => n + p.end - p.start + 1, 0);
  return inside && width >= 1024;
}

interface Exposure {
  service: Service;
  protocol: "tcp" | "udp";
  ports: PortRange[];
  amplification: number | undefined;
  reflector: boolean;
  /** Another service meant for the internet uses the same port (53/udp: authoritative DNS). */
  sharedWithPublic: boolean;
}

/**
 * Rules that name ports are checked for every LAN-only service and reflector behind them. Rules
 * that open every port (a deny list's "allow everything else") are checked for reflectors only:
 * listing every LAN service of the catalog there would drown the one finding that matters.
 */
function exposedServices({ filter, options, analysis }: Context): LintFinding[] {
  const findings: LintFinding[] = [];
  filter.rules.forEach((rule, i) => {
    if (rule.action !== "allow" || isReturnTrafficRule(modeOn(filter, options), rule)) return;
    const protocols =
      rule.protocol === "ip"
        ? (["udp"] as const)
        : rule.protocol === "tcp" || rule.protocol === "udp"
          ? [rule.protocol]
          : [];
    const broadSources =
      rule.sources === null ? null : rule.sources.filter((c) => c.prefix < BROAD_PREFIX[c.family]);
    if (protocols.length === 0 || (broadSources !== null && broadSources.length === 0)) return;
    const reach = intersect(
      analysis.parts[i]!,
      ruleSpace({ ...rule, sources: broadSources }, filter.families),
    );
    if (isEmpty(reach)) return;
    const allPorts = rule.destinationPorts === null;
    for (const protocol of protocols) {
      const exposures = exposuresOf(protocol, reach, options.catalog).filter(
        (e) => !allPorts || (e.reflector && !e.sharedWithPublic),
      );
      findings.push(...exposureFindings(filter, i, protocol, broadSources === null, exposures));
    }
  });
  return findings;
}

function exposuresOf(protocol: "tcp" | "udp", reach: Space, catalog: Catalog): Exposure[] {
  const exposures: Exposure[] = [];
  for (const service of catalog.services) {
    if (service.scope === "public" && !reflects(service, protocol)) continue;
    for (const spec of service.ports) {
      const range = parsePortSpec(spec);
      if (range.protocol !== protocol) continue;
      const box: Box = {
        classes: CLASS[protocol],
        a0: 0n,
        a1: familyRange("ipv6")[1],
        s0: 0,
        s1: MAX_PORT,
        d0: range.start,
        d1: range.end,
      };
      const hit = intersect(reach, [box]);
      if (isEmpty(hit)) continue;
      const ports = destinationRanges(hit);
      const sharedWithPublic = catalog
        .byPort(range.start, protocol)
        .some((other) => other.scope === "public" && other.id !== service.id);
      const risk = service.risks.find(
        (r) => r.kind === "reflection" && (r.protocol === undefined || r.protocol === protocol),
      );
      exposures.push({
        service,
        protocol,
        ports,
        amplification: risk?.amplification,
        reflector: risk !== undefined,
        sharedWithPublic: sharedWithPublic || service.scope === "public",
      });
    }
  }
  return exposures;
}

function reflects(service: Service, protocol: "tcp" | "udp"): boolean {
  return service.risks.some((r) => r.kind === "reflection" && (r.protocol ?? protocol) === protocol);
}

function destinationRanges(space: Space): PortRange[] {
  const sorted = space.map((b) => ({ start: b.d0, end: b.d1 })).sort((a, b) => a.start - b.start);
  const out: PortRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.start <= last.end + 1) last.end = Math.max(last.end, r.end);
    else out.push(r);
  }
  return out;
}

function exposureFindings(
  filter: Filter,
  i: number,
  protocol: "tcp" | "udp",
  anySource: boolean,
  exposures: Exposure[],
): LintFinding[] {
  const from = anySource ? "from any source" : "from a very broad source";
  const findings: LintFinding[] = [];
  const describe = (e: Exposure): string => {
    const amp = e.amplification === undefined ? "" : `, up to ${e.amplification}x amplification`;
    const kind = e.reflector
      ? `UDP reflector${amp}`
      : `meant for ${e.service.scope === "local" ? "this host only" : "the local network"}`;
    return `${e.service.name} (${formatPortList(e.ports)}/${e.protocol}, ${kind})`;
  };
  const portsOf = (list: Exposure[]): string => formatPortList(normalizePorts(list.flatMap((e) => e.ports)));
  const denyFix = (list: Exposure[]): string => {
    const ports = portsOf(list);
    return (
      `Limit rule ${i + 1}'s source to the networks that need ${list.length === 1 ? "it" : "them"}, or add ` +
      `{ action: deny, protocol: ${protocol}, destinationPort: ${ports.includes(",") ? `[${ports}]` : ports} } before rule ${i + 1}.`
    );
  };
  const reflectors = exposures.filter((e) => e.reflector && !e.sharedWithPublic);
  if (reflectors.length > 0)
    findings.push({
      code: "exposed-reflector",
      severity: "error",
      rules: [i + 1],
      message: `${ruleName(filter, i)} lets in ${protocol} ${from} to ${reflectors.map(describe).join(", ")}: reachable from the whole internet, it can be abused to reflect DDoS traffic.`,
      fix: denyFix(reflectors),
    });
  // A reflector on a port public services also use (53/udp) is fine for them; say what to make sure of.
  const shared = exposures.filter((e) => e.reflector && e.sharedWithPublic);
  if (shared.length > 0)
    findings.push({
      code: "exposed-reflector",
      severity: "info",
      rules: [i + 1],
      message: `${ruleName(filter, i)} lets in ${protocol} ${from} to ${portsOf(shared)}: right for a public service there, but ${shared.map(describe).join(", ")} would be an open reflector.`,
      fix: `Make sure what answers on ${portsOf(shared)}/${protocol} serves only what the internet should get (for DNS: no recursion for outside clients).`,
    });
  // A port already reported as a reflector (123/udp: ntpd) is not repeated for its other services (chrony).
  const reflected = normalizePorts(reflectors.flatMap((e) => e.ports));
  const lan = exposures.filter(
    (e) =>
      !e.reflector &&
      !e.sharedWithPublic &&
      !e.ports.every((p) => reflected.some((r) => r.start <= p.start && p.end <= r.end)),
  );
  if (lan.length > 0)
    findings.push({
      code: "exposed-lan-service",
      severity: lan.some((e) => e.service.scope === "local") ? "error" : "warning",
      rules: [i + 1],
      message: `${ruleName(filter, i)} lets in ${protocol} ${from} to ${lan.map(describe).join(", ")}: ${lan.length === 1 ? "a service" : "services"} that should not be reachable from the internet.`,
      fix: denyFix(lan),
    });
  return findings;
}

// ---------------------------------------------------------------------------------------------
// (h): default allow where deny was meant

const PROTECTIVE =
  /\b(protect|firewall|lock(ed)?[ -]?down|harden|restrict|secur|allow[ -]?list|whitelist|only|unneeded|close)/i;

function defaultAllow({ filter, options, analysis }: Context): LintFinding[] {
  const mode = modeOn(filter, options);
  if (filter.default !== "allow" || isEmpty(analysis.defaultSpace)) return [];
  const text = `${filter.name} ${filter.description ?? ""}`;
  const protective = PROTECTIVE.test(text);
  // An allow rule whose packets no later rule denies changes nothing under default allow: its
  // author expected a deny at the end.
  const pointless = filter.rules.flatMap((rule, i) => {
    if (rule.action !== "allow" || isEmpty(analysis.parts[i]!)) return [];
    const laterDenies = filter.rules.flatMap((later, j) =>
      j > i && later.action === "deny" ? analysis.spaces[j]! : [],
    );
    return intersects(analysis.parts[i]!, laterDenies) ? [] : [i + 1];
  });
  if (mode !== "stateless" && !protective && pointless.length === 0) return [];
  const reasons: string[] = [];
  if (protective) reasons.push(`its name and description ("${text.trim()}") say it is meant to protect`);
  if (pointless.length > 0)
    reasons.push(
      `${plural(pointless, "rule")} ${numberList(pointless)} allow${pointless.length === 1 ? "s" : ""} only what the default already allows, which makes sense only with a deny at the end`,
    );
  return [
    {
      code: "default-allow",
      severity: "warning",
      rules: pointless,
      message:
        "The default action is allow and no rule denies everything else: any port not named here, " +
        `including services started later, is open${reasons.length > 0 ? `; ${reasons.join("; ")}` : ""}.`,
      fix:
        'Add { action: deny, protocol: ip, description: "deny all" } as the last rule (or set default: deny)' +
        (mode === "stateless" ? ", keeping the return-traffic rules above it." : "."),
    },
  ];
}

// ---------------------------------------------------------------------------------------------
// Wording

/** `rule 3 ("SSH from admin")` or `rule 3 (allow tcp from 203.0.113.0/24 to port 22)`. */
export function ruleName(filter: Filter, index: number): string {
  const rule = filter.rules[index]!;
  return `rule ${index + 1} (${rule.description ? `"${rule.description}"` : ruleSummary(rule)})`;
}

export function ruleSummary(rule: FilterRule): string {
  let text = `${rule.action} ${rule.protocol}`;
  if (rule.sources !== null) text += ` from ${rule.sources.map(formatCidr).join(", ")}`;
  if (rule.sourcePorts !== null) text += ` from port ${formatPortList(rule.sourcePorts)}`;
  if (rule.destinationPorts !== null) text += ` to port ${formatPortList(rule.destinationPorts)}`;
  return text;
}

/** "denies" for one rule, "deny" for several. */
function verbFor(action: "allow" | "deny", count: number): string {
  if (count !== 1) return action;
  return action === "allow" ? "allows" : "denies";
}

function familyName(family: Family): string {
  return family === "ipv4" ? "IPv4" : "IPv6";
}

function plural(list: readonly unknown[], word: string): string {
  return list.length === 1 ? word : `${word}s`;
}

/** [3] -> "3"; [3, 4] -> "3 and 4"; [3, 4, 7] -> "3, 4 and 7". */
export function numberList(numbers: readonly number[]): string {
  return joinWords(numbers.map(String));
}

function joinWords(words: readonly string[]): string {
  if (words.length <= 1) return words.join("");
  return `${words.slice(0, -1).join(", ")} and ${words[words.length - 1]}`;
}
