/**
 * The UDP scan engine: sends each (target, port, probe) request at the rate limit, matches replies,
 * retries, times out. It knows no protocol: a probe builds the request from a cookie and says whether
 * a datagram answers it.
 *
 * Linux reports ICMP errors (port unreachable = closed) to an unconnected UDP socket only when it
 * asked for them with IP_RECVERR, which Node's dgram cannot do; so two designs:
 *  - the native socket (udp-native.ts, native/udp.c), when the addon is built: one unconnected
 *    socket per family with IP_RECVERR sends every attempt, in sendmmsg batches, and reads the
 *    ICMP errors from its error queue, each naming the (address, port) it answers. `closed` after
 *    one round trip, also with `--retries 0`;
 *  - without it (no compiler, MOAT_NATIVE=0), Node's dgram sockets: a bounded pool of connected
 *    sockets, each carrying one request at a time, so that an ICMP port unreachable reaches us as
 *    ECONNREFUSED. Retries use them, and so do first attempts when there will be a retry: a closed
 *    port is then known after one round trip and only silent ones are retried (on the same socket).
 *    Plus a few unconnected sockets per family: first attempts without retries (`--retries 0`, a
 *    sweep for open ports) and first attempts while every connected socket is busy (a large scan's
 *    first pass); such a probe's retry goes out connected, so it can still say `closed`. So on
 *    dgram sockets `closed` needs `retries >= 1`.
 * Either way only a job's first probe goes out at once; the others (DNS and NTP have two) wait for
 * its first answer or timeout, and an ICMP error to it decides them unsent, since it says no
 * socket is there.
 * Across a real network most ICMP errors are rate-limited by the target's kernel (Linux: 1000/s
 * overall and a few per second per peer), as for every UDP scanner: such a port stays
 * `open|filtered`.
 *
 * A reply counts only when it comes from the target's address and port, to the socket the request
 * left from, and `probe.match(reply, cookie)` accepts it; each attempt has a fresh random id.
 * Stray and forged datagrams are counted and dropped.
 *
 * Timeouts adapt to the measured round trip, the way nmap does (scan_engine.cc, `adjust_timeouts2`,
 * after RFC 6298 §2): every matched reply, and every ICMP error to a request with one datagram out, is a
 * sample R of the round trip of the attempt it answers; the scan keeps one smoothed RTT and variance
 *   first sample:  srtt = R,  rttvar = R / 2
 *   later ones:    rttvar = 3/4 · rttvar + 1/4 · |srtt − R|,  srtt = 7/8 · srtt + 1/8 · R
 * and waits  timeout = clamp(srtt + 4 · rttvar, minTimeoutMs, timeoutMs)  before it retries.  Before the
 * first sample it waits `initialTimeoutMs` (default `timeoutMs`, the user's `--timeout`, 1000 ms by
 * default); the ceiling is the user's promise of how long an answer may take.
 *
 * Two questions, two waits. When to send the next attempt is about the path (a lost datagram), and
 * the round trips answer it: the floor is 20 ms (nmap: -T4 100, -T5 50; zmap and masscan have no
 * per-probe timeout, only one wait at the end), since samples are taken when the event loop reads
 * the reply and so already include our own lag, and a retry costs one datagram. When to give up on
 * a port is about the daemon, which round trips do not measure: an ICMP error comes from the
 * target's kernel in microseconds, a script behind xinetd answers tens of ms later. So a port is
 * called silent only when its last attempt timed out AND the answer window has passed since its
 * first attempt, which stays answerable all along (below): `answerWindowMs` (default 100 ms, nmap
 * -T4's floor), or srtt + 4 · rttvar of the answers alone when daemons here answer slower (ICMP
 * errors cannot shrink it). On a LAN: retry after ~20 ms, silent after 100 ms, where nmap -T4
 * takes 2 × 100 ms. A probe whose request does not carry the cookie's id (QOTD, CharGEN, SSDP) is
 * retried only after the answer window: its answers cannot say which attempt they answer.
 *
 * Why a reply is a clean sample even after a retry (Karn's problem,
 * RFC 6298 §3): every attempt carries its own cookie, so a reply says which attempt it answers; a
 * reply that more than one attempt's cookie would accept (a probe matching on the source port only,
 * retried on the same socket) is accepted but not sampled. One estimate for the whole scan, as nmap
 * uses its group estimate for every host that has not answered yet: a far host among near ones gets
 * the near ones' timeout, is retried early, and its late answer still counts (below) and raises the
 * estimate.
 *
 * Recall is not traded for speed: a retry does not retire the earlier attempt. Its cookie stays
 * registered until the request is decided, so an answer to the first attempt that arrives after its
 * timeout — while the retry waits — still makes the port `open`. Only a matched reply makes it `open`.
 *
 * Every request waits the same (current) timeout, so pending requests sit in a FIFO in order of the
 * time their wait began, and one periodic sweep expires those older than now − timeout: when the
 * timeout shrinks, every waiting request sees the shorter one at once. No timer per probe. The window
 * for the rest of a multi-datagram reply is min(collectMs, answer window): how a daemon paces the
 * datagrams of one answer is, like its answer time, the daemon's doing, not the path's.
 */
import { randomFillSync } from "node:crypto";
import dgram from "node:dgram";
import type { Family } from "../host/types.js";
import type { Cookie, ProbeResult, UdpProbe } from "./probes/types.js";
import type { RateLimiter } from "./rate.js";
import { scanTrace } from "./trace.js";
import { type Destination, destination, NativeUdpSocket, udpAddon } from "./udp-native.js";
import { clamp, RttEstimator, WaitQueue } from "./udp-timing.js";

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
  /** Extra attempts after the first; `closed` needs at least one (see above). */
  retries: number;
  /** Longest wait for an answer: the ceiling of the adaptive timeout (the user's `--timeout`). */
  timeoutMs: number;
  /** Floor of the adaptive timeout (default 20); = timeoutMs for a fixed wait. */
  minTimeoutMs?: number;
  /**
   * A port is silent no sooner than this after its first attempt (default min(100, timeoutMs)); more
   * when the answers' own round trips (srtt + 4·rttvar of answers only) say daemons here are slower.
   */
  answerWindowMs?: number;
  /** Wait before any round trip was measured (default timeoutMs). */
  initialTimeoutMs?: number;
  /** After the first matching datagram, how long to wait for more (multi-datagram replies). */
  collectMs?: number;
  /** Unconnected sockets per family. */
  poolSize?: number;
  /** Connected sockets (ICMP errors: `closed`); 0 = only unconnected ones (no `closed`). */
  connectedPoolSize?: number;
  /** Requests in flight at most; bounds memory whatever the rate. */
  maxInFlight?: number;
  /** Families to open sockets for (default both; a host without IPv6 then fails at start). */
  families?: readonly Family[];
  /**
   * Use the native socket (udp-native.ts) when the addon is there (default true): every probe on
   * one unconnected socket per family that still sees ICMP errors, so `closed` needs no retry.
   */
  native?: boolean;
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
  /** The adaptive timeout now (ms): initialTimeoutMs until the first sample, then clamp(srtt + 4·rttvar). */
  timeoutMs: number;
  /** The smallest timeout the scan chose (ms). */
  minChosenTimeoutMs: number;
  /** Round-trip samples taken (matched replies and ICMP errors), smoothed RTT and its variance (ms). */
  rttSamples: number;
  srttMs: number;
  rttvarMs: number;
  /** The answer window now (ms): answerWindowMs, or more when answers came slower. */
  answerWindowMs: number;
  /** Replies that answered an attempt that had already timed out (counted, not lost). */
  lateReplies: number;
}

/** Replies beyond this many datagrams are counted but not kept (chargen answers forever). */
const MAX_KEPT_REPLIES = 64;
const MAX_QUEUED_RESULTS = 16384;
const SEND_BATCH = 128;
/** libuv's uv__udp_recvmsg reads this many datagrams per socket per poll phase (no recvmmsg in Node). */
const UV_READS_PER_POLL = 32;
const RECV_BUFFER = 4 << 20;

const Phase = { Waiting: 0, Collecting: 1, Done: 2 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

interface JobState {
  job: UdpJob;
  remaining: number;
  outcomes: UdpProbeOutcome[];
  /** Where the native socket sends it (null: dgram sockets). */
  to: Destination | null;
}

interface Request {
  owner: JobState;
  index: number;
  probe: UdpProbe;
  /** The latest attempt's cookie and send time. */
  cookie: Cookie;
  sentAt: number;
  /** Earlier attempts, still answerable (allocated on the first retry). */
  earlier: Attempt[] | null;
  /** Send time of the attempt the first matched datagram answered (NO_MATCH before any): only its datagrams count. */
  answered: number;
  payloadBytes: number;
  attempt: number;
  phase: Phase;
  /** Start of the current wait (timeout or collection); FIFO entries with another one are stale; -1 = none. */
  since: number;
  replies: Buffer[];
  replyPackets: number;
  responseBytes: number;
  /** ICMP said closed (ECONNREFUSED) or filtered (host/admin unreachable). */
  icmp: "closed" | "filtered" | null;
  /** Where it is registered for replies. */
  fast: FastSocket | null;
  /** (address, port) in the form of its socket's pending map. */
  key: string | number;
  chain: Request | null;
  conn: Conn | null;
  /**
   * The job's other probes, when this one (its first) can learn `closed` (a connected socket, or
   * the native socket): they wait for its first answer or timeout, and an ICMP error to it
   * decides them unsent, since it says no socket is there (DNS and NTP send two probes: ~1,000
   * datagrams and ICMP errors fewer in the benchmark). Then they go out unconnected.
   */
  riders: Request[] | null;
  /** One of those: sent and retried unconnected, decided with its lead's ICMP verdict. */
  rider: boolean;
  /** A rider not sent yet: it waits for its lead's first answer or timeout. */
  held: boolean;
  /**
   * The request carries the cookie's id, so an answer says which attempt it answers. When it does
   * not (QOTD, CharGEN, SSDP, the empty probe: only the source port tells), a retry from the same
   * socket could draw a second answer counted as part of the first (twice the bytes): such a
   * request is retried only once the answer window has passed.
   */
  tellsAttemptsApart: boolean;
  /** Queued on the native socket, not yet known to have left (no clock running). */
  unsent: boolean;
}

interface Attempt {
  cookie: Cookie;
  sentAt: number;
}

/** What a datagram answers: an attempt's send time, AMBIGUOUS (more than one attempt), or NO_MATCH. */
const NO_MATCH = -1;
const AMBIGUOUS = -2;

/** Datagrams read from a socket in the current sweep turn (see `expire`). */
interface ReadCount {
  readTurn: number;
  reads: number;
}

/** An unconnected socket: Node's dgram, or the native one, which also reports ICMP errors. */
interface FastSocket extends ReadCount {
  socket: dgram.Socket | null;
  native: NativeUdpSocket<Request> | null;
  port: number;
  pending: Map<string | number, Request>;
}

interface Conn extends ReadCount {
  socket: dgram.Socket;
  family: Family;
  req: Request | null;
  /** Datagrams sent for `req` on it: an ICMP error is a round-trip sample only when there was one. */
  sends: number;
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
    timeoutMs: 0,
    minChosenTimeoutMs: 0,
    rttSamples: 0,
    srttMs: 0,
    rttvarMs: 0,
    lateReplies: 0,
    answerWindowMs: 0,
  };
  private readonly opts: Required<Omit<UdpEngineOptions, "signal">> & { signal: AbortSignal | undefined };
  private readonly ids = new RandomIds();
  private readonly fast: Record<Family, FastSocket[]> = { ipv4: [], ipv6: [] };
  /** The family's unconnected socket is the native one: it sees ICMP errors, no connected sockets needed. */
  private readonly nativeFamily: Record<Family, boolean> = { ipv4: false, ipv6: false };
  /** Those native sockets (at most one per family), for the pump. */
  private readonly natives: NativeUdpSocket<Request>[] = [];
  private readonly conns: Conn[] = [];
  private readonly freeConns: Record<Family, Conn[]> = { ipv4: [], ipv6: [] };
  private connLimit: number;
  private readonly waiting = new WaitQueue<Request>(Phase.Waiting);
  private readonly collecting = new WaitQueue<Request>(Phase.Collecting);
  /**
   * Requests decided early by a complete answer, still registered for the rest of their collection
   * window: a second answer (to a retry) is then known as ours, not counted stray.
   */
  private readonly retiring = new WaitQueue<Request>(Phase.Done);
  /** Last attempts timed out within the answer window, by first-attempt time (still Waiting). */
  private readonly lingering = new WaitQueue<Request>(Phase.Waiting);
  private readonly rtt = new RttEstimator();
  /** Round trips of answers alone (not ICMP errors): how long daemons here take. */
  private readonly answerRtt = new RttEstimator();
  /** How long after its first attempt a port may be called silent (ms): see `sampleRtt`. */
  private answerWindow: number;
  private readonly trace = scanTrace();
  /** The adaptive timeout (before a retry) and the collection window now (ms). */
  private timeout: number;
  private collectWindow: number;
  private readonly retryQueue: Request[] = [];
  /** Sweep turns, the most datagrams one socket gave this turn, and since when a backlog has lasted. */
  private turn = 0;
  private busiestRead = 0;
  private backlogSince = -1;
  /** The unconnected socket the next first attempt goes out on (in turn). */
  private nextFast = 0;
  private readonly idInRequest = new Map<UdpProbe, boolean>();
  private retryHead = 0;
  private inFlight = 0;
  private jobs: Iterator<UdpJob> | null = null;
  private jobsDone = false;
  private results: UdpOutcome[] = [];
  private wake: (() => void) | null = null;
  private failure: unknown = null;
  private pumpTimer: NodeJS.Timeout | null = null;
  private pumpImmediate: NodeJS.Immediate | null = null;
  /** A scheduled pump (and the expiry before it) is running. */
  private pumping = false;
  private sweeper: NodeJS.Timeout | null = null;
  private sweepImmediate: NodeJS.Immediate | null = null;
  private readonly onFastSent = (error: Error | null) => {
    if (error) this.countSendError(error);
  };

  constructor(options: UdpEngineOptions) {
    this.opts = {
      collectMs: Math.min(250, options.timeoutMs),
      minTimeoutMs: 20,
      answerWindowMs: Math.min(100, options.timeoutMs),
      initialTimeoutMs: options.timeoutMs,
      poolSize: 4,
      connectedPoolSize: 512,
      maxInFlight: 65536,
      families: ["ipv4", "ipv6"],
      native: true,
      ...options,
      signal: options.signal,
    };
    this.connLimit = this.opts.connectedPoolSize;
    this.opts.minTimeoutMs = Math.min(this.opts.minTimeoutMs, this.opts.timeoutMs);
    this.opts.answerWindowMs = Math.min(this.opts.answerWindowMs, this.opts.timeoutMs);
    this.stats.answerWindowMs = this.opts.answerWindowMs;
    this.timeout = clamp(this.opts.initialTimeoutMs, this.opts.minTimeoutMs, this.opts.timeoutMs);
    this.answerWindow = this.opts.answerWindowMs;
    this.collectWindow = Math.min(this.opts.collectMs, this.answerWindow);
    this.stats.timeoutMs = this.timeout;
    this.stats.minChosenTimeoutMs = this.timeout;
  }

  /** A round-trip sample (ms) of an answer or an ICMP error: updates the waits every request sees. */
  private sampleRtt(rtt: number, answer: boolean): void {
    this.rtt.sample(rtt);
    const { minTimeoutMs, answerWindowMs, timeoutMs } = this.opts;
    this.timeout = this.rtt.bound(minTimeoutMs, timeoutMs);
    if (answer) {
      // Daemons that answer slowly (or with jitter) widen the window; ICMP errors cannot shrink it.
      this.answerRtt.sample(rtt);
      this.answerWindow = this.answerRtt.bound(answerWindowMs, timeoutMs);
      this.stats.answerWindowMs = this.answerWindow;
      this.collectWindow = Math.min(this.opts.collectMs, this.answerWindow);
    }
    const s = this.stats;
    s.timeoutMs = this.timeout;
    if (this.timeout < s.minChosenTimeoutMs) s.minChosenTimeoutMs = this.timeout;
    s.rttSamples = this.rtt.samples;
    s.srttMs = this.rtt.srtt;
    s.rttvarMs = this.rtt.rttvar;
  }

  /** Runs the jobs; yields one outcome per job as soon as all its probes are decided. */
  async *run(jobs: Iterable<UdpJob>): AsyncGenerator<UdpOutcome> {
    for await (const batch of this.batches(jobs)) yield* batch;
  }

  /**
   * The same outcomes, a batch at a time: those decided since the consumer last asked. One await
   * per batch instead of one per job (with thousands of closed ports decided in one turn, the
   * promise round trips of a generator chain were a good part of a scan's CPU).
   */
  async *batches(jobs: Iterable<UdpJob>): AsyncGenerator<UdpOutcome[]> {
    this.jobs = jobs[Symbol.iterator]();
    this.trace?.first("start");
    for (const family of this.opts.families) await this.openPool(family);
    const shortest = Math.min(this.opts.minTimeoutMs, this.opts.collectMs);
    // Every expiry is up to one tick late: 2 ms against the 20 ms floor (500 cheap wake-ups/s).
    const tick = Math.max(2, Math.min(20, shortest / 25));
    this.sweeper = setInterval(() => this.sweep(), tick);
    const onAbort = () => this.poke();
    this.opts.signal?.addEventListener("abort", onAbort);
    try {
      this.trace?.first("open");
      this.pump();
      for (;;) {
        if (this.failure !== null) throw this.failure;
        if (this.opts.signal?.aborted) return;
        if (this.deliverable()) {
          const batch = this.results;
          this.results = [];
          this.schedulePump(); // room for more requests now
          yield batch;
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

  /**
   * Results go to the consumer when the sender pauses (done, or waiting for the rate), not between
   * two batches of sends at full rate: what the consumer does with them (reports, output) then
   * runs while the last requests wait out their answer window, instead of delaying the sends.
   * Half the results queue at most, so that starting jobs never stops for want of room.
   */
  private deliverable(): boolean {
    const n = this.results.length;
    if (n >= MAX_QUEUED_RESULTS / 2) return true;
    // While a scheduled pump runs (its expiry decides ports before it sends), it is not a pause.
    return n > 0 && !this.pumping && (this.jobsDone || this.pumpImmediate === null);
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
    this.trace?.first("close");
    this.trace?.write(
      `udp sent=${this.stats.sent} samples=${this.stats.rttSamples} timeout=${this.timeout.toFixed(1)} ` +
        `window=${this.answerWindow.toFixed(1)} answerSrtt=${this.answerRtt.srtt.toFixed(1)}/${this.answerRtt.rttvar.toFixed(1)} late=${this.stats.lateReplies}`,
    );
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.sweepImmediate) clearImmediate(this.sweepImmediate);
    if (this.pumpTimer) clearTimeout(this.pumpTimer);
    if (this.pumpImmediate) clearImmediate(this.pumpImmediate);
    for (const family of ["ipv4", "ipv6"] as const)
      for (const f of this.fast[family]) {
        f.socket?.close();
        f.native?.close();
      }
    for (const conn of this.conns) conn.socket.close();
    this.conns.length = 0;
  }

  // ------------------------------------------------------------------------------------- sending

  private schedulePump(): void {
    if (this.pumpImmediate === null && this.pumpTimer === null)
      this.pumpImmediate = setImmediate(() => {
        this.pumpImmediate = null;
        this.pumping = true;
        try {
          // An expiry queued for this check phase goes first: after a batch of sends it would judge
          // requests whose answers arrived during the batch and wait unread (no poll phase between).
          if (this.sweepImmediate !== null) {
            clearImmediate(this.sweepImmediate);
            this.sweepImmediate = null;
            this.expire(false);
          }
          this.pump();
        } finally {
          this.pumping = false;
        }
        if (this.deliverable()) this.poke();
      });
  }

  /** Sends what the rate allows, a batch at a time so replies get read in between. */
  private pump(): void {
    if (this.opts.signal?.aborted || this.failure !== null) return;
    try {
      // While the native socket still holds datagrams it could not hand over, add none to them.
      const full = this.flushNative();
      const budget =
        full || this.holdForBacklog(performance.now()) ? 0 : this.opts.rate.available(SEND_BATCH);
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
      const left = this.flushNative();
      if (!idle || left || this.nativeUnsent()) {
        // More to send: come back after the event loop has read replies (or when tokens return, or
        // the native socket has room again, or to hear what its sending thread sent).
        const wait = idle || left ? 1 : this.opts.rate.waitMs();
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
      if (this.deliverable()) this.poke(); // the sender pauses: the consumer's turn
    } catch (error) {
      this.failure = error;
      this.poke();
    }
  }

  /** Hands the native sockets' queued datagrams over; true when some could not be taken yet. */
  private flushNative(): boolean {
    let left = false;
    for (const native of this.natives) {
      native.flush();
      left ||= native.untaken;
    }
    return left;
  }

  /** Some datagram was handed over and is not yet known to have left. */
  private nativeUnsent(): boolean {
    return this.natives.some((native) => native.queued);
  }

  /** A queued datagram went out: its wait starts now (queued, it could not be answered). */
  private onNativeSent(req: Request): void {
    if (!req.unsent) return;
    req.unsent = false;
    if (req.phase !== Phase.Waiting) return;
    this.wait(req);
    req.sentAt = req.since;
  }

  /**
   * An answer or ICMP error from a request's (address, port) before we heard that its datagram
   * left (the sending thread counts after its send call returns; the answer can be read before):
   * it left, or is about to (the thread sends in order); its time is unknown, so it is no
   * round-trip sample. Returns whether it was such a request.
   */
  private answeredUnsent(req: Request): boolean {
    if (!req.unsent) return false;
    this.onNativeSent(req);
    return true;
  }

  /** Sends one datagram (a retry first, else the next job's requests): the number of datagrams sent. */
  private sendNext(): number {
    while (this.retryHead < this.retryQueue.length) {
      const req = this.retryQueue[this.retryHead]!;
      if (req.phase !== Phase.Waiting || req.since !== -1) {
        // Decided, or answered (a late reply to an earlier attempt) while it waited for a socket.
        this.retryHead++;
        continue;
      }
      if (req.rider || this.nativeFamily[req.owner.job.family]) {
        this.retryHead++;
        this.sendFast(req);
      } else if (req.conn !== null) {
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
      this.trace?.first("jobsDone");
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
    const to = this.nativeFamily[job.family] ? destination(job.ip, job.family, job.port) : null;
    const owner: JobState = { job, remaining: job.probes.length, outcomes: new Array(job.probes.length), to };
    if (job.probes.length === 0) {
      this.results.push({ job, probes: [] });
      this.poke();
      return 0;
    }
    this.inFlight++;
    let lead: Request | null = null;
    job.probes.forEach((probe, index) => {
      const req: Request = {
        owner,
        index,
        probe,
        cookie: { id: 0, sourcePort: 0 },
        sentAt: 0,
        earlier: null,
        answered: NO_MATCH,
        payloadBytes: 0,
        attempt: 0,
        phase: Phase.Waiting,
        since: -1,
        replies: [],
        replyPackets: 0,
        responseBytes: 0,
        icmp: null,
        fast: null,
        key: to?.key ?? `${job.port}/${job.ip}`,
        chain: null,
        conn: null,
        riders: null,
        rider: lead !== null && (lead.conn !== null || this.nativeFamily[job.family]),
        held: false,
        tellsAttemptsApart: this.tellsAttemptsApart(probe),
        unsent: false,
      };
      if (lead === null) {
        lead = req;
        this.sendFirst(req);
      } else if (req.rider) {
        lead.riders ??= [];
        lead.riders.push(req);
        req.held = true; // releaseRiders
      } else {
        this.sendFirst(req);
      }
    });
    return job.probes.length;
  }

  /** Whether the probe's request changes with the cookie's id (asked once per probe). */
  private tellsAttemptsApart(probe: UdpProbe): boolean {
    let known = this.idInRequest.get(probe);
    if (known === undefined) {
      try {
        const a = probe.request({ id: 0x1234, sourcePort: 1 });
        const b = probe.request({ id: 0x4321, sourcePort: 1 });
        known = !a.equals(b);
      } catch {
        known = false;
      }
      this.idInRequest.set(probe, known);
    }
    return known;
  }

  /** Binds the unconnected sockets of a family before anything is sent: the cookie needs their ports. */
  private async openPool(family: Family): Promise<void> {
    const addon = this.opts.native ? udpAddon() : null;
    if (addon !== null) {
      // One is enough: it reads all there is whenever it is readable (libuv's dgram reads 32).
      const fast: FastSocket = {
        socket: null,
        native: null,
        port: 0,
        pending: new Map(),
        readTurn: 0,
        reads: 0,
      };
      fast.native = new NativeUdpSocket<Request>(addon, family, {
        datagram: (key, msg) => this.onFastReply(fast, msg, key),
        icmp: (key, code) => this.onFastIcmp(fast, key, code),
        sent: (req) => this.onNativeSent(req),
        refused: (code) => this.countSendError(code),
        backlog: () => this.noteBacklog(fast),
      });
      fast.port = fast.native.port;
      this.fast[family].push(fast);
      this.nativeFamily[family] = true;
      this.natives.push(fast.native);
      return;
    }
    for (let i = 0; i < this.opts.poolSize; i++) {
      const socket = dgram.createSocket({
        type: family === "ipv4" ? "udp4" : "udp6",
        ipv6Only: family === "ipv6",
        recvBufferSize: RECV_BUFFER,
        lookup: literalLookup,
      });
      const fast: FastSocket = { socket, native: null, port: 0, pending: new Map(), readTurn: 0, reads: 0 };
      this.fast[family].push(fast);
      await new Promise<void>((resolve, reject) => {
        socket.once("error", reject);
        socket.bind({ port: 0, address: family === "ipv4" ? "0.0.0.0" : "::", exclusive: true }, () => {
          socket.off("error", reject);
          resolve();
        });
      });
      fast.port = socket.address().port;
      socket.on("message", (msg, rinfo) => this.onFastReply(fast, msg, `${rinfo.port}/${rinfo.address}`));
      socket.on("error", (error) => this.countSendError(error));
    }
  }

  /**
   * A first attempt: on a connected socket when a retry will follow and one is free (see above);
   * the native socket needs none.
   */
  private sendFirst(req: Request): void {
    const { family } = req.owner.job;
    const conn =
      this.opts.retries > 0 && this.connLimit > 0 && !this.nativeFamily[family]
        ? this.acquireConn(family)
        : null;
    if (conn === null) this.sendFast(req);
    else this.sendConnected(req, conn);
  }

  private sendFast(req: Request): void {
    const { job } = req.owner;
    const pool = this.fast[job.family];
    if (pool.length === 0) throw new Error(`no ${job.family} sockets were opened for ${job.ip}`);
    // In turn, so that answers arrive on every socket and libuv reads them all each poll phase; a
    // retry stays on its request's socket.
    const fast = req.fast ?? pool[this.nextFast++ % pool.length]!;
    if (req.attempt > 0) this.keepEarlier(req);
    req.cookie = { id: this.ids.next(), sourcePort: fast.port };
    const payload = req.probe.request(req.cookie);
    req.payloadBytes = payload.length;
    req.attempt++;
    if (req.fast !== fast) this.register(fast, req); // a retry here is registered already
    this.stats.sent++;
    this.trace?.first("send1");
    this.trace?.last("sendN");
    if (fast.native !== null) {
      req.since = -1; // no wait until it is sent: onNativeSent
      req.unsent = true;
      fast.native.queue(req.owner.to!, payload, req);
      return;
    }
    this.wait(req);
    req.sentAt = req.since;
    fast.socket!.send(payload, job.port, job.ip, this.onFastSent);
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
    req.since = performance.now();
    this.waiting.push(req, req.since);
  }

  /** Before a retry: the current attempt stays answerable (a late reply to it still counts). */
  private keepEarlier(req: Request): void {
    if (req.cookie.sourcePort === 0) return; // never sent (a connected send that did not happen)
    const attempt = { cookie: req.cookie, sentAt: req.sentAt };
    if (req.earlier === null) req.earlier = [attempt];
    else req.earlier.push(attempt);
  }

  /**
   * Which attempt of `req` sent from `port` the datagram answers: its send time, AMBIGUOUS when more
   * than one would accept it (no round-trip sample then, Karn), or NO_MATCH.
   */
  private answers(req: Request, msg: Buffer, port: number): number {
    let found = NO_MATCH;
    if (req.cookie.sourcePort === port && this.matches(req, msg, req.cookie)) found = req.sentAt;
    if (req.earlier !== null)
      for (const a of req.earlier)
        if (a.cookie.sourcePort === port && this.matches(req, msg, a.cookie))
          found = found === NO_MATCH ? a.sentAt : AMBIGUOUS;
    return found;
  }

  // ------------------------------------------------------------------------- connected sockets

  private acquireConn(family: Family): Conn | null {
    const free = this.freeConns[family].pop();
    if (free !== undefined) return free;
    if (this.conns.length >= this.connLimit) return null;
    const socket = dgram.createSocket({
      type: family === "ipv4" ? "udp4" : "udp6",
      ipv6Only: family === "ipv6",
      lookup: literalLookup,
    });
    const conn: Conn = {
      socket,
      family,
      req: null,
      sends: 0,
      port: 0,
      connected: false,
      readTurn: 0,
      reads: 0,
    };
    socket.on("message", (msg, rinfo) => {
      const req = conn.req;
      this.stats.received++;
      this.noteRead(conn);
      if (
        req === null ||
        req.phase === Phase.Done ||
        rinfo.address !== req.owner.job.ip ||
        rinfo.port !== req.owner.job.port
      ) {
        this.stats.stray++;
        return;
      }
      const sentAt = this.answers(req, msg, conn.port);
      if (sentAt === NO_MATCH) {
        this.stats.stray++;
        return;
      }
      this.accept(req, msg, sentAt);
    });
    socket.on("error", (error) => this.onConnError(conn, error));
    this.conns.push(conn);
    return conn;
  }

  private sendConnected(req: Request, conn: Conn): void {
    if (req.conn !== conn) {
      // The earlier attempts stay registered on their unconnected socket: a late reply still counts.
      req.conn = conn;
      conn.req = req;
      conn.sends = 0;
    }
    this.keepEarlier(req);
    req.cookie = { id: 0, sourcePort: 0 };
    req.attempt++;
    this.wait(req); // the timeout runs from now
    req.sentAt = req.since;
    if (!conn.connected) {
      // Synchronous (literal lookup); a failure comes as the socket's 'error' event: onConnError.
      conn.socket.connect(req.owner.job.port, req.owner.job.ip);
      if (!isConnected(conn.socket)) return;
      conn.connected = true;
    }
    if (conn.port === 0) conn.port = this.boundPort(conn.socket);
    req.cookie = { id: this.ids.next(), sourcePort: conn.port };
    const payload = req.probe.request(req.cookie);
    req.payloadBytes = payload.length;
    conn.sends++;
    this.stats.sent++;
    conn.socket.send(payload, (error) => {
      if (error && conn.req === req) this.onConnError(conn, error);
    });
  }

  private onConnError(conn: Conn, error: Error): void {
    const req = conn.req;
    const code = (error as NodeJS.ErrnoException).code ?? "EUNKNOWN";
    if (req === null || req.phase === Phase.Done) return;
    if (code === "ECONNREFUSED" || ICMP_FILTERED.has(code)) {
      req.icmp = code === "ECONNREFUSED" ? "closed" : "filtered";
      // The error answers the one datagram sent on this socket (with several, we cannot tell which).
      if (req.phase === Phase.Waiting && conn.sends === 1)
        this.sampleRtt(performance.now() - req.sentAt, false);
    } else {
      this.countSendError(error);
      if (!conn.connected) {
        // Could not even connect (out of descriptors?): fewer connected sockets from now on.
        this.dropConn(conn);
        this.connLimit = this.conns.length;
        req.conn = null;
        this.retryQueue.push(req);
        req.attempt--;
        const previous = req.earlier?.pop(); // the attempt before this one is the latest again
        if (previous !== undefined) {
          req.cookie = previous.cookie;
          req.sentAt = previous.sentAt;
        }
        req.phase = Phase.Waiting;
        req.since = -1; // the pending FIFO entry is void
        this.schedulePump();
      }
      return;
    }
    if (req.phase !== Phase.Waiting) return;
    this.finish(req);
  }

  /** A lead's first attempt was answered or timed out: its held riders go out now. */
  private releaseRiders(lead: Request): void {
    const riders = lead.riders;
    if (riders === null) return;
    let released = false;
    for (const rider of riders)
      if (rider.held) {
        rider.held = false;
        if (rider.phase === Phase.Waiting) {
          this.retryQueue.push(rider);
          released = true;
        }
      }
    if (released) this.schedulePump();
  }

  /**
   * Back to the pool after a clear answer to its one datagram. Closed otherwise: after silence, or
   * after two datagrams (a first attempt and its retry), the target may still send an ICMP error,
   * which a reused socket would report for its next target.
   */
  private releaseConn(req: Request): void {
    const conn = req.conn;
    if (conn === null) return;
    req.conn = null;
    conn.req = null;
    if ((req.replyPackets > 0 || req.icmp !== null) && conn.sends === 1) {
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

  /** A datagram from (address, port) `key` to an unconnected socket. */
  private onFastReply(fast: FastSocket, msg: Buffer, key: string | number): void {
    this.stats.received++;
    if (fast.socket !== null) this.noteRead(fast);
    for (let req: Request | null | undefined = fast.pending.get(key); req; req = req.chain) {
      if (req.phase === Phase.Done) {
        // Decided on a complete answer: another answer to it (a retry's) is ours, and ignored.
        if (this.answers(req, msg, fast.port) !== NO_MATCH) {
          this.stats.matched++;
          return;
        }
        continue;
      }
      const unknownSend = this.answeredUnsent(req);
      const sentAt = this.answers(req, msg, fast.port);
      if (sentAt !== NO_MATCH) {
        // Untimed only when it answers the attempt whose send time we did not know.
        this.accept(req, msg, sentAt, !(unknownSend && sentAt === req.sentAt));
        return;
      }
    }
    this.stats.stray++;
  }

  /**
   * An ICMP error to a datagram the native socket sent to `key`: no socket there (closed), or no
   * way there (filtered), for every request waiting at that (address, port), as on a connected socket.
   */
  private onFastIcmp(fast: FastSocket, key: string | number, code: string): void {
    const verdict = code === "ECONNREFUSED" ? "closed" : ICMP_FILTERED.has(code) ? "filtered" : null;
    if (verdict === null) return;
    let sampled = false;
    const chain: Request[] = [];
    for (let r: Request | null | undefined = fast.pending.get(key); r; r = r.chain) chain.push(r);
    for (const req of chain) {
      if (req.phase === Phase.Waiting) {
        const unknownSend = this.answeredUnsent(req);
        // A round-trip sample only from a request with one datagram out (Karn).
        if (!sampled && !unknownSend && req.attempt === 1 && req.since !== -1) {
          this.sampleRtt(performance.now() - req.sentAt, false);
          sampled = true;
        }
        req.icmp = verdict;
        this.finish(req);
      }
    }
  }

  /** The native socket stopped reading with more to read: as a dgram socket that gave libuv its 32. */
  private noteBacklog(fast: FastSocket): void {
    this.noteRead(fast);
    fast.reads = UV_READS_PER_POLL;
    if (fast.reads > this.busiestRead) this.busiestRead = fast.reads;
  }

  private matches(req: Request, msg: Buffer, cookie: Cookie): boolean {
    try {
      return req.probe.match(msg, cookie) === true;
    } catch {
      this.stats.probeErrors++;
      return false;
    }
  }

  /** The probe says the datagrams so far are its whole answer: no need to wait for more. */
  private answerComplete(req: Request): boolean {
    try {
      return req.probe.complete?.(req.replies) === true;
    } catch {
      this.stats.probeErrors++;
      return false;
    }
  }

  /** A matched datagram; `sentAt` is when the attempt it answers left (or AMBIGUOUS). */
  private accept(req: Request, msg: Buffer, sentAt: number, timed = true): void {
    this.stats.matched++;
    // The target answered two attempts (a late first answer, then the retry's): one answer's bytes count.
    if (req.answered === NO_MATCH) req.answered = sentAt;
    else if (sentAt !== req.answered) return;
    req.replyPackets++;
    req.responseBytes += msg.length;
    if (req.replies.length < MAX_KEPT_REPLIES) req.replies.push(msg);
    if (req.phase === Phase.Waiting) {
      this.releaseRiders(req);
      const now = performance.now();
      // The first datagram of the answer times the round trip; later ones are the same answer.
      if (sentAt !== AMBIGUOUS) {
        if (now - sentAt > this.timeout || req.since === -1 || sentAt !== req.sentAt)
          this.stats.lateReplies++;
        if (timed) this.sampleRtt(now - sentAt, true);
      }
      req.phase = Phase.Collecting;
      req.since = now;
      this.collecting.push(req, now);
    }
    // On an unconnected socket only: a connected one goes back to the pool when its request is
    // decided, where a second answer could no longer be told from a stray datagram.
    if (req.phase === Phase.Collecting && req.fast !== null && this.answerComplete(req))
      this.finish(req, true);
  }

  // ----------------------------------------------------------------------------------- timing

  /**
   * The periodic timer only schedules the expiry for the check phase of the event loop, after its
   * poll phase: replies and ICMP errors already waiting in the socket buffers are read first, so a
   * stalled event loop (longer than the timeout, which can now be 100 ms) cannot expire a request
   * whose answer has arrived. Timers run before I/O in libuv's loop; immediates after it.
   */
  private sweep(): void {
    this.turn++;
    this.busiestRead = 0;
    if (this.sweepImmediate === null)
      this.sweepImmediate = setImmediate(() => {
        this.sweepImmediate = null;
        this.expire();
      });
  }

  private noteRead(s: ReadCount): void {
    if (s.readTurn !== this.turn) {
      s.readTurn = this.turn;
      s.reads = 0;
    }
    if (++s.reads > this.busiestRead) this.busiestRead = s.reads;
  }

  /**
   * libuv reads at most UV_READS_PER_POLL datagrams from a socket per poll phase, so a socket that
   * gave that many since the last sweep tick may hold more answers, arrived but unread. While one
   * may, send nothing and decide nothing, so that answers are read before their request can
   * expire (640 memcached answers arriving during a 262,144-probe sweep, all within 4 ms on the
   * wire, lost up to 40% of them) — for one timeout at most: a flood must not stop the scan.
   */
  private holdForBacklog(now: number): boolean {
    if (this.busiestRead < UV_READS_PER_POLL) {
      this.backlogSince = -1;
      return false;
    }
    if (this.backlogSince < 0) this.backlogSince = now;
    return now - this.backlogSince < this.timeout;
  }

  /** Decides what timed out; then sends due retries unless the caller (the pump) is about to. */
  private expire(pumpAfter = true): void {
    const now = performance.now();
    if (this.holdForBacklog(now)) return;
    this.collecting.sweep(now - this.collectWindow, (req) => this.finish(req));
    this.retiring.sweep(now - this.collectWindow, (req) => this.unregister(req));
    this.waiting.sweep(now - this.timeout, (req) => {
      this.releaseRiders(req);
      if (!this.mayRetry(req)) this.giveUp(req, now);
      else if (!req.tellsAttemptsApart) this.linger(req, req.sentAt, now);
      else this.retry(req);
    });
    this.lingering.sweep(now - this.answerWindow, (req) => this.windowPassed(req));
    if (pumpAfter && this.retryHead < this.retryQueue.length) this.pump();
  }

  /** The last attempt timed out: silent, unless the first one is younger than the answer window. */
  private giveUp(req: Request, now: number): void {
    if (this.opts.signal?.aborted) this.finish(req);
    else this.linger(req, req.earlier?.[0]?.sentAt ?? req.sentAt, now);
  }

  /** Waits until the answer window from `start` has passed (then the lingering sweep decides). */
  private linger(req: Request, start: number, now: number): void {
    if (now - start >= this.answerWindow) {
      this.windowPassed(req);
      return;
    }
    // Starts pushed out of order only expire late, never early (WaitQueue.sweep stops at the first not due).
    req.since = start;
    this.lingering.push(req, start);
  }

  /** The answer window since `linger`'s start has passed: retry, or call the port silent. */
  private windowPassed(req: Request): void {
    if (this.mayRetry(req)) this.retry(req);
    else this.finish(req);
  }

  private mayRetry(req: Request): boolean {
    return req.attempt <= this.opts.retries && !this.opts.signal?.aborted;
  }

  private retry(req: Request): void {
    req.since = -1;
    this.retryQueue.push(req);
  }

  private finish(req: Request, retire = false): void {
    if (req.phase === Phase.Done) return;
    const hadReply = req.replyPackets > 0;
    if (retire && req.fast !== null) this.retiring.push(req, req.since);
    else this.unregister(req);
    this.releaseConn(req);
    req.phase = Phase.Done;
    if (req.riders !== null) {
      // An ICMP error says no socket is there: none of the job's probes can be answered.
      if (req.icmp !== null && hadReply === false)
        for (const rider of req.riders)
          if (rider.phase === Phase.Waiting) {
            rider.icmp = req.icmp;
            this.finish(rider);
          }
      this.releaseRiders(req);
    }
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
    this.trace?.last(
      state === "open|filtered" ? "silentDone" : state === "closed" ? "closedDone" : "otherDone",
    );
    if (--owner.remaining === 0) {
      this.inFlight--;
      this.results.push({ job: owner.job, probes: owner.outcomes });
      this.schedulePump();
      if (this.deliverable()) this.poke();
    }
  }

  private countSendError(error: Error | string): void {
    const code = typeof error === "string" ? error : ((error as NodeJS.ErrnoException).code ?? error.message);
    this.stats.sendErrors[code] = (this.stats.sendErrors[code] ?? 0) + 1;
  }
}

/**
 * dgram's name lookup for the engine's sockets, which are only ever given address literals: it
 * answers at once, where the default (dns.lookup) answers a literal on the next tick, so bind,
 * connect and every send would wait a tick. Synchronous, a connect is done when it returns.
 */
function literalLookup(
  address: string,
  family: unknown,
  callback: (error: Error | null, address: string, family: number) => void,
): void {
  callback(null, address, family === 6 ? 6 : 4);
}

function isConnected(socket: dgram.Socket): boolean {
  try {
    socket.remoteAddress();
    return true;
  } catch {
    return false;
  }
}
