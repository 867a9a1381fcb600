/**
 * The UDP scan engine: sends each (target, port, probe) request at the rate limit, matches replies,
 * retries, times out. It knows no protocol: a probe builds the request from a cookie and says whether
 * a datagram answers it.
 *
 * Two kinds of socket, because Linux reports ICMP errors (port unreachable = closed) only to
 * *connected* UDP sockets, and a connected socket talks to one peer:
 *  - first attempts go out on a few unconnected sockets (per family): a handful of syscalls per probe,
 *    which is what makes 50,000+ probes/s possible;
 *  - retries (no answer to the first attempt) go out on a bounded pool of connected sockets, each
 *    carrying one request at a time, so that an ICMP port unreachable reaches us as ECONNREFUSED.
 * So `closed` needs `retries >= 1`. Across a real network most ICMP errors are rate-limited by the
 * target's kernel (Linux: 1000/s overall and a few per second per peer), as for every UDP scanner:
 * such a port stays `open|filtered`.
 *
 * A reply counts only when it comes from the target's address and port, to the socket the request
 * left from, and `probe.match(reply, cookie)` accepts it; each attempt has a fresh random id.
 * Stray and forged datagrams are counted and dropped.
 *
 * Timeouts share one duration, so pending requests sit in a FIFO in deadline order and one periodic
 * sweep expires them: no timer per probe.
 */
import { randomFillSync } from "node:crypto";
import dgram from "node:dgram";
import type { Family } from "../host/types.js";
import type { Cookie, ProbeResult, UdpProbe } from "./probes/types.js";
import type { RateLimiter } from "./rate.js";

export type UdpState = "open" | "closed" | "filtered" | "open|filtered";

export interface UdpJob {
  ip: string;
  family: Family;
  port: number;
  /** Every probe is sent; a port with no probe of its own gets a generic one (scan.ts). */
  probes: readonly UdpProbe[];
}

export interface UdpProbeOutcome {
  probe: UdpProbe;
  state: UdpState;
  /** Payload bytes of one request. */
  requestBytes: number;
  /** Payload bytes of every matched reply datagram to the answered attempt. */
  responseBytes: number;
  /** Matched reply datagrams (counted even beyond those kept). */
  replyPackets: number;
  /** Parsed fields when open and parseable. */
  result: ProbeResult | null;
  /** It matched but `parse` returned null (or threw). */
  unparseable: boolean;
  attempts: number;
}

export interface UdpOutcome {
  job: UdpJob;
  probes: UdpProbeOutcome[];
}

export interface UdpEngineOptions {
  rate: RateLimiter;
  /** Extra attempts after the first; `closed` is only detected on retries (see above). */
  retries: number;
  timeoutMs: number;
  /** After the first matching datagram, how long to wait for more (multi-datagram replies). */
  collectMs?: number;
  /** Unconnected sockets per family. */
  poolSize?: number;
  /** Connected sockets for retries; 0 = retry on the unconnected ones (no `closed`). */
  connectedPoolSize?: number;
  /** Requests in flight at most; bounds memory whatever the rate. */
  maxInFlight?: number;
  /** Families to open sockets for (default both; a host without IPv6 then fails at start). */
  families?: readonly Family[];
  signal?: AbortSignal;
}

export interface UdpStats {
  sent: number;
  received: number;
  matched: number;
  /** Datagrams that matched no pending request: late, stray, or forged. */
  stray: number;
  unparseable: number;
  sendErrors: Record<string, number>;
  /** A probe's match or parse threw: a bug in that probe. */
  probeErrors: number;
}

/** Replies beyond this many datagrams are counted but not kept (chargen answers forever). */
const MAX_KEPT_REPLIES = 64;
const MAX_QUEUED_RESULTS = 4096;
const SEND_BATCH = 128;
const RECV_BUFFER = 4 << 20;

const Phase = { Waiting: 0, Collecting: 1, Done: 2 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

interface JobState {
  job: UdpJob;
  remaining: number;
  outcomes: UdpProbeOutcome[];
}

interface Request {
  owner: JobState;
  index: number;
  probe: UdpProbe;
  cookie: Cookie;
  payloadBytes: number;
  attempt: number;
  phase: Phase;
  /** Deadline of the current wait (timeout or collection); FIFO entries with another one are stale. */
  deadline: number;
  replies: Buffer[];
  replyPackets: number;
  responseBytes: number;
  /** ICMP said closed (ECONNREFUSED) or filtered (host/admin unreachable). */
  icmp: "closed" | "filtered" | null;
  /** Where it is registered for replies. */
  fast: FastSocket | null;
  key: string;
  chain: Request | null;
  conn: Conn | null;
}

interface FastSocket {
  socket: dgram.Socket;
  port: number;
  pending: Map<string, Request>;
}

interface Conn {
  socket: dgram.Socket;
  family: Family;
  req: Request | null;
  port: number;
  connected: boolean;
}

/** Cheap random 16-bit ids from a refilled pool: crypto quality, no call per probe. */
class RandomIds {
  private readonly pool = Buffer.alloc(8192);
  private offset = this.pool.length;
  next(): number {
    if (this.offset >= this.pool.length) {
      randomFillSync(this.pool);
      this.offset = 0;
    }
    const id = this.pool.readUInt16BE(this.offset);
    this.offset += 2;
    return id;
  }
}

/** A FIFO of (request, deadline) in two arrays: no object per entry. */
class DeadlineQueue {
  private reqs: Request[] = [];
  private deadlines: number[] = [];
  private head = 0;
  push(req: Request, deadline: number): void {
    this.reqs.push(req);
    this.deadlines.push(deadline);
  }
  get size(): number {
    return this.reqs.length - this.head;
  }
  /** Calls `expire` for each entry due by `now` that is still current. */
  sweep(now: number, expire: (req: Request) => void): void {
    while (this.head < this.reqs.length && this.deadlines[this.head]! <= now) {
      const req = this.reqs[this.head]!;
      const deadline = this.deadlines[this.head]!;
      this.head++;
      if (req.phase !== Phase.Done && req.deadline === deadline) expire(req);
    }
    if (this.head > 4096 && this.head * 2 > this.reqs.length) {
      this.reqs = this.reqs.slice(this.head);
      this.deadlines = this.deadlines.slice(this.head);
      this.head = 0;
    }
  }
}

const ICMP_FILTERED = new Set(["EHOSTUNREACH", "ENETUNREACH", "EACCES", "EHOSTDOWN", "EPERM"]);

export class UdpEngine {
  readonly stats: UdpStats = {
    sent: 0,
    received: 0,
    matched: 0,
    stray: 0,
    unparseable: 0,
    sendErrors: {},
    probeErrors: 0,
  };
  private readonly opts: Required<Omit<UdpEngineOptions, "signal">> & { signal: AbortSignal | undefined };
  private readonly ids = new RandomIds();
  private readonly fast: Record<Family, FastSocket[]> = { ipv4: [], ipv6: [] };
  private readonly conns: Conn[] = [];
  private readonly freeConns: Record<Family, Conn[]> = { ipv4: [], ipv6: [] };
  private connLimit: number;
  private readonly waiting = new DeadlineQueue();
  private readonly collecting = new DeadlineQueue();
  private readonly retryQueue: Request[] = [];
  private retryHead = 0;
  private inFlight = 0;
  private jobs: Iterator<UdpJob> | null = null;
  private jobsDone = false;
  private readonly results: UdpOutcome[] = [];
  private wake: (() => void) | null = null;
  private failure: unknown = null;
  private pumpTimer: NodeJS.Timeout | null = null;
  private pumpImmediate: NodeJS.Immediate | null = null;
  private sweeper: NodeJS.Timeout | null = null;
  private readonly onFastSent = (error: Error | null) => {
    if (error) this.countSendError(error);
  };

  constructor(options: UdpEngineOptions) {
    this.opts = {
      collectMs: Math.min(250, options.timeoutMs),
      poolSize: 4,
      connectedPoolSize: 512,
      maxInFlight: 65536,
      families: ["ipv4", "ipv6"],
      ...options,
      signal: options.signal,
    };
    this.connLimit = this.opts.connectedPoolSize;
  }

  /** Runs the jobs; yields one outcome per job as soon as all its probes are decided. */
  async *run(jobs: Iterable<UdpJob>): AsyncGenerator<UdpOutcome> {
    this.jobs = jobs[Symbol.iterator]();
    for (const family of this.opts.families) await this.openPool(family);
    const tick = Math.max(2, Math.min(20, Math.min(this.opts.timeoutMs, this.opts.collectMs) / 10));
    this.sweeper = setInterval(() => this.sweep(), tick);
    const onAbort = () => this.poke();
    this.opts.signal?.addEventListener("abort", onAbort);
    try {
      this.pump();
      for (;;) {
        if (this.failure !== null) throw this.failure;
        if (this.opts.signal?.aborted) return;
        const next = this.results.shift();
        if (next !== undefined) {
          if (this.results.length < MAX_QUEUED_RESULTS / 2) this.schedulePump();
          yield next;
          continue;
        }
        if (this.finished()) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    } finally {
      this.opts.signal?.removeEventListener("abort", onAbort);
      this.close();
    }
  }

  private finished(): boolean {
    return this.jobsDone && this.inFlight === 0 && this.results.length === 0;
  }

  private poke(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }

  private close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    if (this.pumpImmediate) clearImmediate(this.pumpImmediate);
    for (const family of ["ipv4", "ipv6"] as const) for (const f of this.fast[family]) f.socket.close();
    for (const conn of this.conns) conn.socket.close();
    this.conns.length = 0;
  }

  // ------------------------------------------------------------------------------------- sending

  private schedulePump(): void {
    if (this.pumpImmediate === null && this.pumpTimer === null)
      this.pumpImmediate = setImmediate(() => {
        this.pumpImmediate = null;
        this.pump();
      });
  }

  /** Sends what the rate allows, a batch at a time so replies get read in between. */
  private pump(): void {
    if (this.opts.signal?.aborted || this.failure !== null) return;
    try {
      const budget = this.opts.rate.available(SEND_BATCH);
      let sent = 0;
      let idle = false;
      while (sent < budget) {
        const n = this.sendNext();
        if (n === 0) {
          idle = true;
          break;
        }
        sent += n;
      }
      this.opts.rate.take(sent);
      if (!idle) {
        // More to send: come back after the event loop has read replies (or when tokens return).
        const wait = this.opts.rate.waitMs();
        if (wait <= 0) this.schedulePump();
        else if (this.pumpTimer === null)
          this.pumpTimer = setTimeout(
            () => {
              this.pumpTimer = null;
              this.pump();
            },
            Math.max(1, wait),
          );
      }
    } catch (error) {
      this.failure = error;
      this.poke();
    }
  }

  /** Sends one datagram (a retry first, else the next job's requests): the number of datagrams sent. */
  private sendNext(): number {
    while (this.retryHead < this.retryQueue.length) {
      const req = this.retryQueue[this.retryHead]!;
      if (req.phase === Phase.Done) {
        this.retryHead++;
        continue;
      }
      if (req.conn !== null) {
        // Its socket is still connected to this target: retry on it.
        this.retryHead++;
        this.sendConnected(req, req.conn);
      } else if (this.connLimit > 0) {
        const conn = this.acquireConn(req.owner.job.family);
        if (conn === null) break; // every connected socket busy: new jobs meanwhile
        this.retryHead++;
        this.sendConnected(req, conn);
      } else {
        this.retryHead++;
        this.sendFast(req);
      }
      this.compactRetries();
      return 1;
    }
    if (this.jobsDone || this.inFlight >= this.opts.maxInFlight || this.results.length >= MAX_QUEUED_RESULTS)
      return 0;
    const next = this.jobs!.next();
    if (next.done) {
      this.jobsDone = true;
      this.poke();
      return 0;
    }
    return this.start(next.value);
  }

  private compactRetries(): void {
    if (this.retryHead > 1024 && this.retryHead * 2 > this.retryQueue.length) {
      this.retryQueue.splice(0, this.retryHead);
      this.retryHead = 0;
    }
  }

  private start(job: UdpJob): number {
    const owner: JobState = { job, remaining: job.probes.length, outcomes: new Array(job.probes.length) };
    if (job.probes.length === 0) {
      this.results.push({ job, probes: [] });
      this.poke();
      return 0;
    }
    this.inFlight++;
    job.probes.forEach((probe, index) => {
      const req: Request = {
        owner,
        index,
        probe,
        cookie: { id: 0, sourcePort: 0 },
        payloadBytes: 0,
        attempt: 0,
        phase: Phase.Waiting,
        deadline: 0,
        replies: [],
        replyPackets: 0,
        responseBytes: 0,
        icmp: null,
        fast: null,
        key: `${job.port}/${job.ip}`,
        chain: null,
        conn: null,
      };
      this.sendFast(req);
    });
    return job.probes.length;
  }

  /** Binds the unconnected sockets of a family before anything is sent: the cookie needs their ports. */
  private async openPool(family: Family): Promise<void> {
    for (let i = 0; i < this.opts.poolSize; i++) {
      const socket = dgram.createSocket({
        type: family === "ipv4" ? "udp4" : "udp6",
        ipv6Only: family === "ipv6",
        recvBufferSize: RECV_BUFFER,
      });
      const fast: FastSocket = { socket, port: 0, pending: new Map() };
      this.fast[family].push(fast);
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.bind({ port: 0, address: family === "ipv4" ? "0.0.0.0" : "::", exclusive: true }, () => {
          socket.off("error", reject);
          resolve();
        });
      });
      fast.port = socket.address().port;
      socket.on("message", (msg, rinfo) => this.onFastReply(fast, msg, rinfo));
      socket.on("error", (error) => this.countSendError(error));
    }
  }

  private sendFast(req: Request): void {
    const { job } = req.owner;
    const pool = this.fast[job.family];
    if (pool.length === 0) throw new Error(`no ${job.family} sockets were opened for ${job.ip}`);
    const fast = pool[req.index % pool.length]!;
    req.cookie = { id: this.ids.next(), sourcePort: fast.port };
    const payload = req.probe.request(req.cookie);
    req.payloadBytes = payload.length;
    req.attempt++;
    this.register(fast, req);
    this.wait(req);
    this.stats.sent++;
    fast.socket.send(payload, job.port, job.ip, this.onFastSent);
  }

  /** The kernel picks the port at bind; Node reports it once the bind completed, which is immediate for UDP. */
  private boundPort(socket: dgram.Socket): number {
    try {
      return socket.address().port;
    } catch {
      return 0;
    }
  }

  private register(fast: FastSocket, req: Request): void {
    req.fast = fast;
    const head = fast.pending.get(req.key);
    req.chain = head ?? null;
    fast.pending.set(req.key, req);
  }

  private unregister(req: Request): void {
    const fast = req.fast;
    if (fast === null) return;
    req.fast = null;
    const head = fast.pending.get(req.key);
    if (head === req) {
      if (req.chain === null) fast.pending.delete(req.key);
      else fast.pending.set(req.key, req.chain);
    } else {
      for (let r: Request | null | undefined = head; r; r = r.chain)
        if (r.chain === req) {
          r.chain = req.chain;
          break;
        }
    }
    req.chain = null;
  }

  private wait(req: Request): void {
    req.phase = Phase.Waiting;
    req.deadline = performance.now() + this.opts.timeoutMs;
    this.waiting.push(req, req.deadline);
  }

  // ------------------------------------------------------------------------- connected sockets

  private acquireConn(family: Family): Conn | null {
    const free = this.freeConns[family].pop();
    if (free !== undefined) return free;
    if (this.conns.length >= this.connLimit) return null;
    const socket = dgram.createSocket({
      type: family === "ipv4" ? "udp4" : "udp6",
      ipv6Only: family === "ipv6",
    });
    const conn: Conn = { socket, family, req: null, port: 0, connected: false };
    socket.on("message", (msg, rinfo) => {
      const req = conn.req;
      this.stats.received++;
      if (req === null || rinfo.address !== req.owner.job.ip || rinfo.port !== req.owner.job.port) {
        this.stats.stray++;
        return;
      }
      this.accept(req, msg);
    });
    socket.on("error", (error) => this.onConnError(conn, error));
    this.conns.push(conn);
    return conn;
  }

  private sendConnected(req: Request, conn: Conn): void {
    if (req.conn !== conn) {
      this.unregister(req); // replies to the first attempt no longer count: this attempt has its own cookie
      req.conn = conn;
      conn.req = req;
    }
    req.attempt++;
    this.wait(req); // the timeout runs from now; connect is immediate for UDP
    const { ip, port } = req.owner.job;
    const send = () => {
      if (conn.req !== req || req.phase === Phase.Done) return;
      if (conn.port === 0) conn.port = this.boundPort(conn.socket);
      req.cookie = { id: this.ids.next(), sourcePort: conn.port };
      const payload = req.probe.request(req.cookie);
      req.payloadBytes = payload.length;
      this.stats.sent++;
      conn.socket.send(payload, (error) => {
        if (error && conn.req === req) this.onConnError(conn, error);
      });
    };
    if (conn.connected) {
      send();
      return;
    }
    conn.socket.connect(port, ip, (error?: Error) => {
      if (error) {
        this.onConnError(conn, error);
        return;
      }
      conn.connected = true;
      send();
    });
  }

  private onConnError(conn: Conn, error: Error): void {
    const req = conn.req;
    const code = (error as NodeJS.ErrnoException).code ?? "EUNKNOWN";
    if (req === null || req.phase === Phase.Done) return;
    if (code === "ECONNREFUSED") req.icmp = "closed";
    else if (ICMP_FILTERED.has(code)) req.icmp = "filtered";
    else {
      this.countSendError(error);
      if (!conn.connected) {
        // Could not even connect (out of descriptors?): fewer connected sockets from now on.
        this.dropConn(conn);
        this.connLimit = this.conns.length;
        req.conn = null;
        this.retryQueue.push(req);
        req.attempt--;
        req.phase = Phase.Waiting;
        req.deadline = -1; // the pending FIFO entry is void
        this.schedulePump();
      }
      return;
    }
    if (req.phase === Phase.Waiting) this.finish(req);
  }

  /** Back to the pool after a clear answer; closed after silence, so a late ICMP cannot hit the next target. */
  private releaseConn(req: Request): void {
    const conn = req.conn;
    if (conn === null) return;
    req.conn = null;
    conn.req = null;
    if (req.replyPackets > 0 || req.icmp !== null) {
      try {
        if (conn.connected) conn.socket.disconnect();
        conn.connected = false;
        this.freeConns[conn.family].push(conn);
      } catch {
        this.dropConn(conn);
      }
    } else {
      this.dropConn(conn);
    }
    this.schedulePump();
  }

  private dropConn(conn: Conn): void {
    const i = this.conns.indexOf(conn);
    if (i >= 0) this.conns.splice(i, 1);
    conn.req = null;
    conn.socket.close();
  }

  // --------------------------------------------------------------------------------- receiving

  private onFastReply(fast: FastSocket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.stats.received++;
    for (
      let req: Request | null | undefined = fast.pending.get(`${rinfo.port}/${rinfo.address}`);
      req;
      req = req.chain
    ) {
      if (req.phase !== Phase.Done && this.matches(req, msg)) {
        this.accept(req, msg);
        return;
      }
    }
    this.stats.stray++;
  }

  private matches(req: Request, msg: Buffer): boolean {
    try {
      return req.probe.match(msg, req.cookie) === true;
    } catch {
      this.stats.probeErrors++;
      return false;
    }
  }

  private accept(req: Request, msg: Buffer): void {
    if (req.conn !== null && !this.matches(req, msg)) {
      this.stats.stray++;
      return;
    }
    this.stats.matched++;
    req.replyPackets++;
    req.responseBytes += msg.length;
    if (req.replies.length < MAX_KEPT_REPLIES) req.replies.push(msg);
    if (req.phase === Phase.Waiting) {
      req.phase = Phase.Collecting;
      req.deadline = performance.now() + this.opts.collectMs;
      this.collecting.push(req, req.deadline);
    }
  }

  // ----------------------------------------------------------------------------------- timing

  private sweep(): void {
    const now = performance.now();
    this.collecting.sweep(now, (req) => this.finish(req));
    this.waiting.sweep(now, (req) => {
      if (req.attempt <= this.opts.retries && !this.opts.signal?.aborted) {
        req.deadline = -1;
        this.retryQueue.push(req);
      } else {
        this.finish(req);
      }
    });
    if (this.retryHead < this.retryQueue.length) this.pump();
  }

  private finish(req: Request): void {
    if (req.phase === Phase.Done) return;
    const hadReply = req.replyPackets > 0;
    this.unregister(req);
    this.releaseConn(req);
    req.phase = Phase.Done;
    let state: UdpState;
    let result: ProbeResult | null = null;
    let unparseable = false;
    if (hadReply) {
      state = "open";
      try {
        result = req.probe.parse(req.replies);
      } catch {
        this.stats.probeErrors++;
        result = null;
      }
      if (result === null) {
        unparseable = true;
        this.stats.unparseable++;
      }
    } else {
      state = req.icmp ?? "open|filtered";
    }
    const owner = req.owner;
    owner.outcomes[req.index] = {
      probe: req.probe,
      state,
      requestBytes: req.payloadBytes,
      responseBytes: req.responseBytes,
      replyPackets: req.replyPackets,
      result,
      unparseable,
      attempts: req.attempt,
    };
    req.replies = [];
    if (--owner.remaining === 0) {
      this.inFlight--;
      this.results.push({ job: owner.job, probes: owner.outcomes });
      this.poke();
      this.schedulePump();
    }
  }

  private countSendError(error: Error): void {
    const code = (error as NodeJS.ErrnoException).code ?? error.message;
    this.stats.sendErrors[code] = (this.stats.sendErrors[code] ?? 0) + 1;
  }
}
