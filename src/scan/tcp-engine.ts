/**
 * The TCP engine: a connect() scan with bounded concurrency and timeouts, then, on open ports that a
 * TcpProbe knows, one short conversation (send its request or wait for a banner, read a few KiB) whose
 * bytes the probe parses. Connections are ended with a reset, so a large scan leaves no TIME_WAIT
 * sockets behind to exhaust local ports.
 */
import net from "node:net";
import type { Family } from "../host/types.js";
import type { ProbeResult, TcpProbe } from "./probes/types.js";
import type { RateLimiter } from "./rate.js";

export type TcpState = "open" | "closed" | "filtered";

export interface TcpJob {
  ip: string;
  family: Family;
  port: number;
  /** Probes for this port, tried in order until one recognises the service. */
  probes: readonly TcpProbe[];
}

export interface TcpOutcome {
  job: TcpJob;
  state: TcpState;
  /** The probe whose parse recognised the service, else null. */
  probe: TcpProbe | null;
  result: ProbeResult | null;
  /** Bytes sent by the probe that recognised it (or the last one tried). */
  requestBytes: number;
  /** Bytes the service sent in that conversation. */
  responseBytes: number;
  /** Something answered but no probe recognised it. */
  unparseable: boolean;
  attempts: number;
}

export interface TcpEngineOptions {
  rate: RateLimiter;
  /** Connections at once. */
  concurrency?: number;
  /** Connect timeout; no answer means `filtered`. */
  timeoutMs: number;
  /** Extra connect attempts after a timeout. */
  retries: number;
  /** How long a conversation may take in all. */
  readTimeoutMs?: number;
  /** Once some bytes came, this much silence ends the read. */
  idleMs?: number;
  maxRead?: number;
  signal?: AbortSignal;
}

export interface TcpStats {
  connects: number;
  errors: Record<string, number>;
  unparseable: number;
  probeErrors: number;
}

const CLOSED = new Set(["ECONNREFUSED", "ECONNRESET"]);
const FILTERED = new Set(["ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "EACCES", "EPERM"]);

type ConnectResult = { socket: net.Socket } | { state: "closed" | "filtered" } | { error: string };

export class TcpEngine {
  readonly stats: TcpStats = { connects: 0, errors: {}, unparseable: 0, probeErrors: 0 };
  private readonly opts: Required<Omit<TcpEngineOptions, "signal">> & { signal: AbortSignal | undefined };

  constructor(options: TcpEngineOptions) {
    this.opts = {
      concurrency: 256,
      readTimeoutMs: Math.max(1000, options.timeoutMs),
      idleMs: 300,
      maxRead: 4096,
      ...options,
      signal: options.signal,
    };
  }

  /** Yields one outcome per job, in completion order. */
  async *run(jobs: Iterable<TcpJob>): AsyncGenerator<TcpOutcome> {
    const iterator = jobs[Symbol.iterator]();
    const ready: TcpOutcome[] = [];
    let active = 0;
    let exhausted = false;
    let failure: unknown = null;
    let wake: (() => void) | null = null;
    const poke = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    const onAbort = () => poke();
    this.opts.signal?.addEventListener("abort", onAbort);
    try {
      for (;;) {
        if (failure !== null) throw failure;
        if (this.opts.signal?.aborted) return;
        // Start what concurrency and the rate allow.
        while (!exhausted && active < this.opts.concurrency && ready.length < 1024) {
          if (this.opts.rate.available(1) < 1) break;
          const next = iterator.next();
          if (next.done) {
            exhausted = true;
            break;
          }
          this.opts.rate.take(1);
          active++;
          this.scanOne(next.value).then(
            (outcome) => {
              active--;
              ready.push(outcome);
              poke();
            },
            (error: unknown) => {
              active--;
              failure = error;
              poke();
            },
          );
        }
        const outcome = ready.shift();
        if (outcome !== undefined) {
          yield outcome;
          continue;
        }
        if (exhausted && active === 0) return;
        const wait = exhausted || active >= this.opts.concurrency ? 0 : this.opts.rate.waitMs();
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (wait > 0) setTimeout(poke, Math.max(1, wait));
        });
      }
    } finally {
      this.opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  private async scanOne(job: TcpJob): Promise<TcpOutcome> {
    let attempts = 0;
    let first: ConnectResult;
    do {
      attempts++;
      first = await this.connect(job);
    } while ("state" in first && first.state === "filtered" && attempts <= this.opts.retries);
    const base = {
      job,
      probe: null,
      result: null,
      requestBytes: 0,
      responseBytes: 0,
      unparseable: false,
      attempts,
    };
    if ("error" in first) return { ...base, state: "filtered" };
    if ("state" in first) return { ...base, state: first.state };
    if (job.probes.length === 0) {
      first.socket.resetAndDestroy();
      return { ...base, state: "open" };
    }
    return { ...base, state: "open", ...(await this.identify(job, first.socket)) };
  }

  /** Tries the probes in order, each on its own connection (the first reuses the scan's). */
  private async identify(
    job: TcpJob,
    socket: net.Socket,
  ): Promise<Pick<TcpOutcome, "probe" | "result" | "requestBytes" | "responseBytes" | "unparseable">> {
    let current: net.Socket | null = socket;
    let requestBytes = 0;
    let responseBytes = 0;
    // Probes that only listen can share one read; the server speaks first whatever we are.
    let banner: Buffer | null = null;
    for (const probe of job.probes) {
      if (this.opts.signal?.aborted) break;
      let data: Buffer;
      if (probe.request === null && banner !== null) {
        data = banner;
      } else {
        if (current === null) {
          const again = await this.connect(job);
          if (!("socket" in again)) break;
          current = again.socket;
        }
        data = await this.converse(current, probe.request);
        current = null;
        if (probe.request === null) banner = data;
      }
      requestBytes = probe.request?.length ?? 0;
      responseBytes = data.length;
      if (data.length === 0) continue;
      const result = this.parse(probe, data);
      if (result !== null) return { probe, result, requestBytes, responseBytes, unparseable: false };
    }
    if (current !== null) current.resetAndDestroy();
    const unparseable = responseBytes > 0;
    if (unparseable) this.stats.unparseable++;
    return { probe: null, result: null, requestBytes, responseBytes, unparseable };
  }

  private parse(probe: TcpProbe, data: Buffer): ProbeResult | null {
    try {
      return probe.parse(data);
    } catch {
      this.stats.probeErrors++;
      return null;
    }
  }

  private connect(job: TcpJob): Promise<ConnectResult> {
    this.stats.connects++;
    return new Promise((resolve) => {
      const socket = net.connect({ host: job.ip, port: job.port, family: job.family === "ipv4" ? 4 : 6 });
      const timer = setTimeout(() => finish({ state: "filtered" }), this.opts.timeoutMs);
      const finish = (result: ConnectResult) => {
        clearTimeout(timer);
        socket.off("error", onError);
        socket.off("connect", onConnect);
        // A late error on a socket we gave up on, or are done with, is not news.
        socket.on("error", () => {});
        if (!("socket" in result)) socket.destroy();
        resolve(result);
      };
      const onConnect = () => finish({ socket });
      const onError = (error: NodeJS.ErrnoException) => {
        const code = error.code ?? "EUNKNOWN";
        if (CLOSED.has(code)) finish({ state: "closed" });
        else if (FILTERED.has(code)) finish({ state: "filtered" });
        else {
          this.stats.errors[code] = (this.stats.errors[code] ?? 0) + 1;
          finish({ error: code });
        }
      };
      socket.once("connect", onConnect);
      socket.once("error", onError);
    });
  }

  /** Sends `request` (if any), reads until maxRead, the end, a pause after data, or the deadline. */
  private converse(socket: net.Socket, request: Buffer | null): Promise<Buffer> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let length = 0;
      let idle: NodeJS.Timeout | null = null;
      const deadline = setTimeout(() => done(), this.opts.readTimeoutMs);
      let over = false;
      const done = () => {
        if (over) return;
        over = true;
        clearTimeout(deadline);
        if (idle) clearTimeout(idle);
        socket.removeAllListeners("data");
        socket.resetAndDestroy();
        resolve(Buffer.concat(chunks, Math.min(length, this.opts.maxRead)));
      };
      socket.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
        if (length >= this.opts.maxRead) return done();
        if (idle) clearTimeout(idle);
        idle = setTimeout(done, this.opts.idleMs);
      });
      socket.once("end", done);
      socket.once("error", done);
      socket.once("close", done);
      if (request !== null && request.length > 0) socket.write(request);
    });
  }
}
