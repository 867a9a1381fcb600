/** Sockets + catalog -> findings. Pure: no I/O, no clock except the one passed in. */
import type { Service } from "../catalog/schema.js";
import type { Catalog } from "../catalog/types.js";
import type { ProcessInfo, Socket, SocketTable } from "../host/types.js";
import { type BindScope, bindScope } from "../net/address.js";
import { fixSteps } from "./fix.js";
import type { Gate } from "./gates.js";
import { inspectorFor } from "./inspectors/index.js";
import type { Inspector } from "./inspectors/types.js";
import { reachability } from "./reachability.js";
import { intentReason, riskReason, scopeReason, unknownServiceReason } from "./reasons.js";
import { judgeSeverity } from "./severity.js";
import {
  type AuditReport,
  type Exposure,
  type Finding,
  type FindingRisk,
  type Summary,
  severityRank,
} from "./types.js";

/** Forked workers share a socket; the lowest pid is the parent, the one a person would stop. */
function ownerOf(socket: Socket): ProcessInfo | null {
  const { processes } = socket;
  if (processes.length <= 1) return processes[0] ?? null;
  return processes.reduce((a, b) => (a.pid <= b.pid ? a : b));
}

function isExposedScope(scope: BindScope): boolean {
  return scope === "all" || scope === "public";
}

/** Sockets grouped by owning process and namespace, so an inspector sees all of a daemon's sockets. */
function siblingIndex(sockets: Socket[]): Map<string, Socket[]> {
  const index = new Map<string, Socket[]>();
  for (const socket of sockets) {
    const owner = ownerOf(socket);
    if (!owner) continue;
    const key = `${socket.netns ?? ""}/${owner.pid}`;
    const list = index.get(key);
    if (list) list.push(socket);
    else index.set(key, [socket]);
  }
  return index;
}

// Findings of one service (or one owner) share these parts: one object each instead of one per
// socket keeps 10,000-socket audits from spending their time in the garbage collector. Nothing
// changes a finding's parts after classify (confirm.ts copies the arrays it extends).
const risksCache = new WeakMap<Service, { tcp?: FindingRisk[]; udp?: FindingRisk[] }>();
const serviceRefs = new WeakMap<Service, { id: string; name: string }>();
const processRefs = new WeakMap<ProcessInfo, { name: string; pid: number; unit: string | null }>();
const NO_RISKS: FindingRisk[] = [];

/** `make` is a module-level function of the key, so that a hit allocates nothing (no closure per call). */
function memo<K extends object, V>(cache: WeakMap<K, V>, key: K, make: (key: K) => V): V {
  let value = cache.get(key);
  if (value === undefined) {
    value = make(key);
    cache.set(key, value);
  }
  return value;
}

const emptyRisks = (): { tcp?: FindingRisk[]; udp?: FindingRisk[] } => ({});
const makeServiceRef = (service: Service) => ({ id: service.id, name: service.name });
const makeProcessRef = (owner: ProcessInfo) => ({ name: owner.name, pid: owner.pid, unit: owner.unit });
const riskTextsOf = (risks: FindingRisk[]) => risks.map(riskReason);

function risksFor(service: Service | undefined, socket: Socket): FindingRisk[] {
  if (!service) return NO_RISKS;
  const byProtocol = memo(risksCache, service, emptyRisks);
  const cached = byProtocol[socket.protocol];
  if (cached !== undefined) return cached;
  const risks = service.risks
    .filter((risk) => risk.protocol === undefined || risk.protocol === socket.protocol)
    .map((risk) => ({
      kind: risk.kind,
      summary: risk.summary,
      ...(risk.amplification === undefined ? {} : { amplification: risk.amplification }),
    }));
  byProtocol[socket.protocol] = risks;
  return risks;
}

const serviceRef = (service: Service) => memo(serviceRefs, service, makeServiceRef);

const processRef = (owner: ProcessInfo) => memo(processRefs, owner, makeProcessRef);

interface Judged {
  socket: Socket;
  scope: BindScope;
  exposed: boolean;
  service: Service | undefined;
  risks: FindingRisk[];
  owner: ProcessInfo | null;
  /** What the gates in front said (reachability.ts); null when none were consulted. */
  gated: string[] | null;
  inspector: Inspector | undefined;
}

const riskTexts = new WeakMap<FindingRisk[], string[]>();

const NO_STEPS: string[] = [];
/** What concat adds for a note a finding does not have. */
const NOTHING: readonly string[] = [];

/**
 * One audit's text that many findings share: a host has few bound addresses and owners but
 * thousands of sockets, so scope sentences and fix steps are made once per address or owner.
 */
class SharedText {
  private readonly scopeTexts = new Map<string, string>();
  private readonly localLists = new Map<string, string[]>();
  private readonly fixes = new Map<ProcessInfo | null, Map<Service | undefined, string[]>>();
  private siblingIndex: Map<string, Socket[]> | undefined;

  constructor(private readonly sockets: Socket[]) {}

  scopeReason(socket: Socket, scope: BindScope): string {
    // The address text decides scope and family; only a device-bound socket says more.
    if (socket.device !== null) return scopeReason(socket, scope);
    let text = this.scopeTexts.get(socket.address);
    if (text === undefined) {
      text = scopeReason(socket, scope);
      this.scopeTexts.set(socket.address, text);
    }
    return text;
  }

  /** The reasons of a socket only this host reaches, with nothing else to say: one array per address. */
  localReasons(socket: Socket, scope: BindScope): string[] {
    if (socket.device !== null) return [scopeReason(socket, scope)];
    let reasons = this.localLists.get(socket.address);
    if (reasons === undefined) {
      reasons = [this.scopeReason(socket, scope)];
      this.localLists.set(socket.address, reasons);
    }
    return reasons;
  }

  /** Fix steps depend on the service and the owner only, except for an unknown socket nobody owns. */
  fix(service: Service | undefined, owner: ProcessInfo | null, socket: Socket): string[] {
    if (!service && !owner) return this.makeFix(service, owner, socket);
    let byService = this.fixes.get(owner);
    if (byService === undefined) {
      byService = new Map();
      this.fixes.set(owner, byService);
    }
    let steps = byService.get(service);
    if (steps === undefined) {
      steps = this.makeFix(service, owner, socket);
      byService.set(service, steps);
    }
    return steps;
  }

  private makeFix(service: Service | undefined, owner: ProcessInfo | null, socket: Socket): string[] {
    return fixSteps({
      service,
      ownerUnit: owner?.unit ?? null,
      ownerPid: owner?.pid ?? null,
      socket,
      meantPublic: service?.scope === "public",
    });
  }

  /** Every socket of the same process and namespace; grouped on first use (only inspectors ask). */
  siblingsOf(socket: Socket, owner: ProcessInfo): Socket[] | undefined {
    this.siblingIndex ??= siblingIndex(this.sockets);
    return this.siblingIndex.get(`${socket.netns ?? ""}/${owner.pid}`);
  }
}

/**
 * Where it listens, whom it is meant for, what it risks; a service's inspector speaks for it when it
 * has one. (A socket only this host reaches, with nothing more to say, takes judge's shortcut.)
 */
function explain(
  { socket, scope, exposed, service, risks, owner, gated, inspector }: Judged,
  shared: SharedText,
): string[] {
  const intent = service ? intentReason(service, exposed) : null;
  const ownerUnknown = socket.ownerUnknown;
  if (inspector) {
    const own = owner ? shared.siblingsOf(socket, owner) : undefined;
    const reasons = inspector.reasons({
      socket,
      scope,
      exposed,
      cmdline: owner?.cmdline ?? null,
      siblings: own ?? [socket],
    });
    return withNotes(reasons, gated, intent, ownerUnknown);
  }
  const where = shared.scopeReason(socket, scope);
  if (!exposed) return withNotes([where], gated, intent, ownerUnknown);
  if (service) return withNotes([where, ...memo(riskTexts, risks, riskTextsOf)], gated, intent, ownerUnknown);
  // The most common finding of a busy host, an unknown program on all addresses: two reasons, made
  // at their final size (an array grown by push keeps room for ~17, and 10,000 findings' reasons
  // outlive several young-generation collections).
  const unknown = unknownServiceReason(socket);
  return gated === null && intent === null && !ownerUnknown
    ? [where, unknown]
    : withNotes([where, unknown], gated, intent, ownerUnknown);
}

/**
 * A finding's reasons with what else there is to say: the first says where it listens; then what
 * the gates in front said and whom the service is meant for; the rest as given; why the owner is
 * unknown last.
 */
function withNotes(
  reasons: string[],
  gated: string[] | null,
  intent: string | null,
  ownerUnknown: string | null,
): string[] {
  if (gated === null && intent === null && !ownerUnknown) return reasons;
  // concat makes the result at its final size (see explain); a string argument is one element
  return reasons
    .slice(0, 1)
    .concat(gated ?? NOTHING, intent ?? NOTHING, reasons.slice(1), ownerUnknown || NOTHING);
}

function judge(socket: Socket, catalog: Catalog, shared: SharedText, gates: readonly Gate[]): Finding {
  const scope = bindScope(socket.address);
  const owner = ownerOf(socket);
  const service = catalog.identify(socket.port, socket.protocol, owner?.name);
  // The bind address says whether other hosts could reach it; the gates in front say whether they do.
  const gated = isExposedScope(scope) && gates.length > 0 ? reachability(socket, gates) : null;
  const exposure: Exposure = gated?.exposure ?? (isExposedScope(scope) ? "exposed" : "local");
  const exposed = exposure === "exposed" || exposure === "restricted";
  const risks = risksFor(service, socket);
  const inspector = service ? inspectorFor(service.id) : undefined;
  const reasons =
    !inspector && !exposed && gated === null && !socket.ownerUnknown
      ? shared.localReasons(socket, scope) // the common case: one shared array per address
      : explain(
          { socket, scope, exposed, service, risks, owner, gated: gated?.reasons ?? null, inspector },
          shared,
        );
  const severity = judgeSeverity(exposure, scope, service, risks);
  return {
    protocol: socket.protocol,
    family: socket.family,
    address: socket.address,
    port: socket.port,
    scope,
    netns: socket.netns,
    process: owner ? processRef(owner) : null,
    service: service ? serviceRef(service) : null,
    exposure,
    severity,
    risks,
    reasons,
    fix: severity === "info" ? NO_STEPS : shared.fix(service, owner, socket),
  };
}

function compareFindings(a: Finding, b: Finding): number {
  return (
    severityRank(a.severity) - severityRank(b.severity) ||
    a.port - b.port ||
    a.protocol.localeCompare(b.protocol) ||
    a.address.localeCompare(b.address) ||
    (a.netns ?? "").localeCompare(b.netns ?? "")
  );
}

/**
 * The findings in compareFindings order. Severity and port decide almost every pair, so those are
 * packed with the position into one number and sorted natively; only runs that tie on both go
 * through compareFindings (a stable sort either way, so the result is the same as sorting by it).
 */
function sortFindings(findings: Finding[]): Finding[] {
  const n = findings.length;
  if (n >= 1 << 20) return findings.sort(compareFindings); // position no longer fits the packing
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const f = findings[i]!;
    keys[i] = (severityRank(f.severity) * 65536 + f.port) * (1 << 20) + i;
  }
  keys.sort();
  const out: Finding[] = new Array(n);
  for (let i = 0; i < n; ) {
    const primary = Math.floor(keys[i]! / (1 << 20));
    let end = i + 1;
    while (end < n && Math.floor(keys[end]! / (1 << 20)) === primary) end++;
    if (end - i === 1) out[i] = findings[keys[i]! % (1 << 20)]!;
    else {
      const run: Finding[] = [];
      for (let j = i; j < end; j++) run.push(findings[keys[j]! % (1 << 20)]!);
      run.sort(compareFindings);
      for (let j = i; j < end; j++) out[j] = run[j - i]!;
    }
    i = end;
  }
  return out;
}

export function summarize(findings: Finding[]): Summary {
  // A literal, not built from SEVERITIES: the counter object stays a fast one for 10,000 increments.
  const summary: Summary = { critical: 0, high: 0, medium: 0, low: 0, info: 0 };
  for (const finding of findings) summary[finding.severity]++;
  return summary;
}

/** `gates`: the host firewall and packet filters in front of the sockets; none = judge by bind address alone. */
export function classify(
  table: SocketTable,
  catalog: Catalog,
  now: Date,
  gates: readonly Gate[] = [],
): AuditReport {
  const shared = new SharedText(table.sockets);
  const findings = sortFindings(table.sockets.map((socket) => judge(socket, catalog, shared, gates)));
  return {
    host: table.host,
    generatedAt: now.toISOString(),
    source: table.source,
    summary: summarize(findings),
    findings,
    warnings: table.warnings,
  };
}
