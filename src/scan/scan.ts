/**
 * One scan: targets x ports -> jobs (probes chosen by port) -> the UDP and TCP engines -> results of
 * the output contract, streamed as they are decided. Finished (protocol, address, port) go to the
 * --resume state file after the consumer has taken them, so an interrupted scan loses nothing.
 */
import { judgeSeverity } from "../audit/severity.js";
import type { FindingRisk, Severity } from "../audit/types.js";
import type { Service } from "../catalog/schema.js";
import type { Catalog } from "../catalog/types.js";
import type { Family, Protocol } from "../host/types.js";
import { eachAddress } from "./intervals.js";
import { eachPort, type PortSet, portCount } from "./ports.js";
import type { ProbeFields, ProbeResult, TcpProbe, UdpProbe } from "./probes/types.js";
import type { RateLimiter } from "./rate.js";
import type { ScanState } from "./resume.js";
import type { TargetPlan } from "./scope.js";
import { TcpEngine, type TcpEngineOptions, type TcpJob, type TcpOutcome } from "./tcp-engine.js";
import {
  UdpEngine,
  type UdpEngineOptions,
  type UdpJob,
  type UdpOutcome,
  type UdpProbeOutcome,
} from "./udp-engine.js";

export type PortState = "open" | "closed" | "filtered" | "open|filtered";

/** One (address, protocol, port): the `moat scan --json` line (DESIGN.md, output contract). */
export interface ScanResult {
  ip: string;
  protocol: Protocol;
  port: number;
  state: PortState;
  /** Catalog service id: the one a probe confirmed, else the port's likeliest when open. */
  service: string | null;
  severity: Severity;
  requestBytes: number;
  responseBytes: number;
  /** Reply payload bytes / request payload bytes (UDP, when both are non-zero). */
  amplification: number | null;
  fields: ProbeFields;
  /** Reply datagrams per request datagram (UDP). */
  packetRatio: number | null;
  /** The probe that identified the service. */
  probe: string | null;
  /** The probe's verdict: can it be abused for reflection? null when no probe decided. */
  abusable: boolean | null;
  note: string | null;
  /** Something answered that the probe could not parse. */
  unparseable: boolean;
  /** The host name the address came from, when it was given as one. */
  hostname: string | null;
}

const EMPTY = Buffer.alloc(0);

/** For UDP ports no probe knows: an empty datagram; any reply from that port is an answer. */
export const GENERIC_UDP_PROBE: UdpProbe = {
  id: "udp-empty",
  service: "",
  transport: "udp",
  ports: [],
  request: () => EMPTY,
  match: () => true,
  parse: () => ({ fields: {}, abusable: false, note: "answered an empty datagram" }),
};

export interface ScanOptions {
  plan: TargetPlan;
  ports: PortSet;
  catalog: Catalog;
  udpProbes: readonly UdpProbe[];
  tcpProbes: readonly TcpProbe[];
  rate: RateLimiter;
  retries: number;
  timeoutMs: number;
  state?: ScanState;
  hostnames?: ReadonlyMap<string, string>;
  signal?: AbortSignal;
  udp?: Partial<UdpEngineOptions>;
  tcp?: Partial<TcpEngineOptions>;
}

function byPort<P extends { ports: number[] }>(probes: readonly P[]): Map<number, P[]> {
  const map = new Map<number, P[]>();
  for (const probe of probes)
    for (const port of probe.ports) {
      const list = map.get(port) ?? [];
      list.push(probe);
      map.set(port, list);
    }
  return map;
}

export class Scanner {
  readonly total: number;
  /** Decided in this run. */
  done = 0;
  /** Skipped because the state file says they were done before. */
  skipped = 0;
  readonly udp: UdpEngine;
  readonly tcp: TcpEngine;
  private readonly options: ScanOptions;
  /** Stops both engines: on the caller's signal, or when the consumer stops reading. */
  private readonly stop = new AbortController();

  constructor(options: ScanOptions) {
    this.options = options;
    this.total = options.plan.count * portCount(options.ports);
    const families = [...new Set(options.plan.intervals.map((i) => i.family))];
    if (options.signal?.aborted) this.stop.abort();
    options.signal?.addEventListener("abort", () => this.stop.abort(), { once: true });
    const signal = this.stop.signal;
    const common = { rate: options.rate, retries: options.retries, timeoutMs: options.timeoutMs, signal };
    this.udp = new UdpEngine({ ...common, families, ...options.udp });
    this.tcp = new TcpEngine({ ...common, ...options.tcp });
  }

  /** Addresses x ports, port by port so that no host gets every probe at once; done ones skipped. */
  private *jobs<P>(
    protocol: Protocol,
    probes: Map<number, P[]>,
    fallback: P[],
  ): Generator<{ ip: string; family: Family; port: number; probes: P[] }> {
    const { plan, ports, state } = this.options;
    for (const port of eachPort(ports[protocol])) {
      const chosen = probes.get(port) ?? fallback;
      for (const interval of plan.intervals) {
        for (const ip of eachAddress([interval])) {
          if (state?.has(protocol, ip, port)) {
            this.skipped++;
            continue;
          }
          yield { ip, family: interval.family, port, probes: chosen };
        }
      }
    }
  }

  /** The results one at a time; each is recorded done (--resume) once the consumer has taken it. */
  async *results(): AsyncGenerator<ScanResult> {
    let taken: ScanResult | null = null;
    try {
      for await (const batch of this.decided())
        for (const result of batch) {
          taken = result;
          yield result;
          this.record([result]);
          taken = null;
        }
    } finally {
      // The consumer stopped right after taking `taken` (break, interruption): it has it.
      if (taken !== null) this.record([taken]);
    }
  }

  /** The same, those of one engine turn at a time (see UdpEngine.batches); recorded a batch at a time. */
  async *batches(): AsyncGenerator<ScanResult[]> {
    let taken: ScanResult[] | null = null;
    try {
      for await (const batch of this.decided()) {
        taken = batch;
        yield batch;
        this.record(batch);
        taken = null;
      }
    } finally {
      if (taken !== null) this.record(taken);
    }
  }

  private async *decided(): AsyncGenerator<ScanResult[]> {
    const { options } = this;
    const udpJobs = this.jobs<UdpProbe>("udp", byPort(options.udpProbes), [
      GENERIC_UDP_PROBE,
    ]) as Iterable<UdpJob>;
    const tcpJobs = this.jobs<TcpProbe>("tcp", byPort(options.tcpProbes), []) as Iterable<TcpJob>;
    const sources: AsyncGenerator<ScanResult[]>[] = [];
    if (options.ports.udp.length > 0)
      sources.push(mapBatches(this.udp.batches(udpJobs), (o) => this.fromUdp(o)));
    if (options.ports.tcp.length > 0)
      sources.push(mapBatches(oneByOne(this.tcp.run(tcpJobs)), (o) => this.fromTcp(o)));
    let complete = false;
    try {
      for await (const batch of merge(sources)) {
        this.done += batch.length;
        yield batch;
      }
      complete = true;
    } finally {
      // Stopped early: stop the engines too. (After a complete scan there is nothing to stop, and
      // the first abort of a process costs milliseconds at its very end.)
      if (!complete) this.stop.abort();
    }
  }

  private record(batch: readonly ScanResult[]): void {
    const { state } = this.options;
    if (state !== undefined) for (const r of batch) state.record(r.protocol, r.ip, r.port);
  }

  private service(id: string | null, port: number, protocol: Protocol): Service | undefined {
    const { catalog } = this.options;
    return (id ? catalog.byId(id) : undefined) ?? catalog.byPort(port, protocol)[0];
  }

  private fromUdp(outcome: UdpOutcome): ScanResult {
    const { job } = outcome;
    const best = pickUdp(outcome.probes);
    const state = udpState(outcome.probes);
    const open = state === "open" && best !== undefined;
    const probe = open && best.probe !== GENERIC_UDP_PROBE ? best.probe : null;
    const fields: ProbeFields = {};
    if (open)
      for (const o of outcome.probes)
        if (o.state === "open" && o.result !== null)
          for (const [k, v] of Object.entries(o.result.fields)) if (!(k in fields)) fields[k] = v;
    const service = open ? this.service(probe?.service || null, job.port, "udp") : undefined;
    const result: ProbeResult | null = open ? best.result : null;
    const requestBytes = best?.requestBytes ?? 0;
    const responseBytes = open ? best.responseBytes : 0;
    return {
      ip: job.ip,
      protocol: "udp",
      port: job.port,
      state,
      service: service?.id ?? null,
      severity: open ? scanSeverity("udp", service, probe !== null ? result : null) : "info",
      requestBytes,
      responseBytes,
      amplification: open && requestBytes > 0 ? round(responseBytes / requestBytes) : null,
      fields,
      packetRatio: open ? best.replyPackets : null,
      probe: probe?.id ?? null,
      abusable: probe !== null && result !== null ? result.abusable : null,
      note: result?.note ?? null,
      unparseable: open && best.unparseable,
      hostname: this.options.hostnames?.get(job.ip) ?? null,
    };
  }

  private fromTcp(outcome: TcpOutcome): ScanResult {
    const { job, state } = outcome;
    const open = state === "open";
    const service = open ? this.service(outcome.probe?.service ?? null, job.port, "tcp") : undefined;
    return {
      ip: job.ip,
      protocol: "tcp",
      port: job.port,
      state,
      service: service?.id ?? null,
      severity: open ? scanSeverity("tcp", service, outcome.result) : "info",
      requestBytes: outcome.requestBytes,
      responseBytes: outcome.responseBytes,
      amplification: null,
      fields: outcome.result?.fields ?? {},
      packetRatio: null,
      probe: outcome.probe?.id ?? null,
      abusable: outcome.result?.abusable ?? null,
      note: outcome.result?.note ?? null,
      unparseable: outcome.unparseable,
      hostname: this.options.hostnames?.get(job.ip) ?? null,
    };
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

/** One state for the port from its probes: any answer is open; then ICMP verdicts; then silence. */
export function udpState(outcomes: readonly UdpProbeOutcome[]): PortState {
  const states = new Set(outcomes.map((o) => o.state));
  for (const s of ["open", "closed", "filtered"] as const) if (states.has(s)) return s;
  return "open|filtered";
}

/** The outcome that says most: parsed and abusable, then parsed, then the largest reply. */
function pickUdp(outcomes: readonly UdpProbeOutcome[]): UdpProbeOutcome | undefined {
  const score = (o: UdpProbeOutcome) =>
    (o.state === "open" ? 4 : 0) + (o.result?.abusable ? 2 : 0) + (o.result !== null ? 1 : 0);
  let best: UdpProbeOutcome | undefined;
  for (const o of outcomes) {
    if (
      best === undefined ||
      score(o) > score(best) ||
      (score(o) === score(best) && o.responseBytes > best.responseBytes)
    )
      best = o;
  }
  return best;
}

/**
 * Severity of an open port seen from outside. An answering reflector is critical. Otherwise the
 * audit's judgement of an exposed service, with the risks of this protocol; a reflection risk counts
 * only when a probe confirmed it, and is one step less (high) when nothing could check.
 */
export function scanSeverity(
  protocol: Protocol,
  service: Service | undefined,
  result: ProbeResult | null,
): Severity {
  if (result?.abusable) return "critical";
  if (service === undefined) return "medium";
  const risks: FindingRisk[] = [];
  let unconfirmed = false;
  for (const risk of service.risks) {
    if (risk.protocol !== undefined && risk.protocol !== protocol) continue;
    if (risk.kind === "reflection") {
      if (protocol !== "udp" || result !== null) continue; // a probe said it is not abusable; TCP cannot reflect
      unconfirmed = true;
      continue;
    }
    risks.push({ kind: risk.kind, summary: risk.summary });
  }
  const judged = judgeSeverity("exposed", "public", service, risks);
  return unconfirmed && (judged === "medium" || judged === "low" || judged === "info") ? "high" : judged;
}

async function* mapBatches<T>(
  source: AsyncIterable<T[]>,
  f: (value: T) => ScanResult,
): AsyncGenerator<ScanResult[]> {
  for await (const batch of source) yield batch.map(f);
}

async function* oneByOne<T>(source: AsyncIterable<T>): AsyncGenerator<T[]> {
  for await (const value of source) yield [value];
}

/** Values of several async iterators as they come. */
export async function* merge<T>(sources: readonly AsyncIterator<T>[]): AsyncGenerator<T> {
  const pending = new Map<number, Promise<{ index: number; result: IteratorResult<T> }>>();
  const pull = (index: number) =>
    pending.set(
      index,
      sources[index]!.next().then((result) => ({ index, result })),
    );
  for (let index = 0; index < sources.length; index++) pull(index);
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done) {
        pending.delete(index);
        continue;
      }
      pull(index);
      yield result.value;
    }
  } finally {
    // Stopped early (an error, the consumer broke off): ask every source to end; a source busy in
    // next() ends once its pending step settles (the engines watch an abort signal for that).
    for (const source of sources) source.return?.()?.catch(() => {});
  }
}
