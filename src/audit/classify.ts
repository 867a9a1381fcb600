/** Sockets + catalog -> findings. Pure: no I/O, no clock except the one passed in. */
import type { Service } from "../catalog/schema.js";
import type { Catalog } from "../catalog/types.js";
import type { ProcessInfo, Socket, SocketTable } from "../host/types.js";
import { type BindScope, bindScope } from "../net/address.js";
import { fixSteps } from "./fix.js";
import type { Gate } from "./gates.js";
import { inspectorFor } from "./inspectors/index.js";
import { reachability } from "./reachability.js";
import { intentReason, riskReason, scopeReason, unknownServiceReason } from "./reasons.js";
import { judgeSeverity } from "./severity.js";
import {
  type AuditReport,
  type Exposure,
  type Finding,
  type FindingRisk,
  SEVERITIES,
  type Summary,
  severityRank,
} from "./types.js";

/** Forked workers share a socket; the lowest pid is the parent, the one a person would stop. */
function ownerOf(socket: Socket): ProcessInfo | null {
  if (socket.processes.length === 0) return null;
  return socket.processes.reduce((a, b) => (a.pid <= b.pid ? a : b));
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

function memo<K extends object, V>(cache: WeakMap<K, V>, key: K, make: () => V): V {
  let value = cache.get(key);
  if (value === undefined) {
    value = make();
    cache.set(key, value);
  }
  return value;
}

function risksFor(service: Service | undefined, socket: Socket): FindingRisk[] {
  if (!service) return NO_RISKS;
  const byProtocol = memo(risksCache, service, (): { tcp?: FindingRisk[]; udp?: FindingRisk[] } => ({}));
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

const serviceRef = (service: Service) =>
  memo(serviceRefs, service, () => ({ id: service.id, name: service.name }));

const processRef = (owner: ProcessInfo) =>
  memo(processRefs, owner, () => ({ name: owner.name, pid: owner.pid, unit: owner.unit }));

interface Judged {
  socket: Socket;
  scope: BindScope;
  exposed: boolean;
  service: Service | undefined;
  risks: FindingRisk[];
  owner: ProcessInfo | null;
  siblings: Map<string, Socket[]>;
}

/** Where it listens, whom it is meant for, what it risks; a service's inspector speaks for it when it has one. */
function explain({ socket, scope, exposed, service, risks, owner, siblings }: Judged): string[] {
  const inspector = service ? inspectorFor(service.id) : undefined;
  const intent = service ? intentReason(service, exposed) : null;
  let reasons: string[];
  if (inspector) {
    const own = owner ? siblings.get(`${socket.netns ?? ""}/${owner.pid}`) : undefined;
    reasons = inspector.reasons({
      socket,
      scope,
      exposed,
      cmdline: owner?.cmdline ?? null,
      siblings: own ?? [socket],
    });
  } else {
    reasons = [scopeReason(socket, scope)];
    if (exposed) reasons.push(...(service ? risks.map(riskReason) : [unknownServiceReason(socket)]));
  }
  if (intent) reasons.splice(1, 0, intent);
  if (socket.ownerUnknown) reasons.push(socket.ownerUnknown);
  return reasons;
}

function judge(
  socket: Socket,
  catalog: Catalog,
  siblings: Map<string, Socket[]>,
  gates: readonly Gate[],
): Finding {
  const scope = bindScope(socket.address);
  const owner = ownerOf(socket);
  const service = catalog.identify(socket.port, socket.protocol, owner?.name);
  // The bind address says whether other hosts could reach it; the gates in front say whether they do.
  const gated = isExposedScope(scope) && gates.length > 0 ? reachability(socket, gates) : null;
  const exposure: Exposure = gated?.exposure ?? (isExposedScope(scope) ? "exposed" : "local");
  const exposed = exposure === "exposed" || exposure === "restricted";
  const risks = risksFor(service, socket);

  const reasons = explain({ socket, scope, exposed, service, risks, owner, siblings });
  if (gated) reasons.splice(1, 0, ...gated.reasons);

  const severity = judgeSeverity(exposure, scope, service, risks);
  const needsFix = severity !== "info";
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
    fix: needsFix
      ? fixSteps({
          service,
          ownerUnit: owner?.unit ?? null,
          ownerPid: owner?.pid ?? null,
          socket,
          meantPublic: service?.scope === "public",
        })
      : [],
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

export function summarize(findings: Finding[]): Summary {
  const summary = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Summary;
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
  const siblings = siblingIndex(table.sockets);
  const findings = table.sockets
    .map((socket) => judge(socket, catalog, siblings, gates))
    .sort(compareFindings);
  return {
    host: table.host,
    generatedAt: now.toISOString(),
    source: table.source,
    summary: summarize(findings),
    findings,
    warnings: table.warnings,
  };
}
