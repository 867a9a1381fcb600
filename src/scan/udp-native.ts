/**
 * The native UDP socket of `moat scan` (native/udp.c, in the addon `npm run build` compiles): one
 * unconnected socket per family that sends every probe in batches (sendmmsg) and still learns which
 * ports are closed, from the ICMP errors IP_RECVERR queues on it. Node's dgram sees those errors only
 * on a connected socket, one per (address, port): the engine's fallback when the addon is missing
 * or MOAT_NATIVE=0. Replies and errors are read on the JavaScript thread when libuv says the socket
 * is readable, all there is at once, and handed over as one buffer of records (decodeEvents).
 */
import { constants } from "node:os";
import ipaddr from "ipaddr.js";
import { ADDON_URL, loadAddon } from "../host/native.js";
import type { Family } from "../host/types.js";
import { parseIpv4Number } from "../net/cidr.js";

/** The scan's functions of the addon (native/udp.c says what each does). */
export interface UdpAddon {
  udpOpen(family: 4 | 6, bufferBytes: number, onEvents: (events: Buffer, more: boolean) => void): unknown;
  udpPort(handle: unknown): number;
  udpSend(handle: unknown, records: Buffer, start: number, end: number, errors: Int32Array): number;
  udpClose(handle: unknown): void;
  udpParseError(name: Buffer, control: Buffer): Buffer | null;
}

/** Record layouts shared with native/udp.c. */
export const SEND_HEADER = 20;
export const EVENT_HEADER = 24;
const EV_DATAGRAM = 1;
const EV_ICMP = 2;

let cached: UdpAddon | null | undefined;

/** The addon's UDP functions, loaded once; null when absent, built before udp.c, or MOAT_NATIVE=0. */
export function udpAddon(): UdpAddon | null {
  if (cached === undefined) {
    const addon =
      process.env.MOAT_NATIVE === "0" ? null : (loadAddon(ADDON_URL.pathname) as Partial<UdpAddon> | null);
    cached = typeof addon?.udpOpen === "function" ? (addon as UdpAddon) : null;
  }
  return cached;
}

/** What the socket reports; `key` is the (address, port) key of `destination` for the same pair. */
export interface UdpEventHandler<T> {
  datagram(key: number | string, payload: Buffer): void;
  /** An ICMP error to a datagram we sent there; `code` is its errno name (ECONNREFUSED: port unreachable). */
  icmp(key: number | string, code: string): void;
  /** The datagram queued with `tag` left (or was refused: then `refused` says why, too). In queue order. */
  sent(tag: T): void;
  refused(code: string): void;
  /** The socket stopped reading with more to read. */
  backlog(): void;
}

/**
 * The pending-request key of an (address, port): a number for IPv4 (address · 2^16 + port, exact in
 * a double), text for IPv6. Computed from the bytes on the wire, never from address text, so
 * that no formatting choice (zero compression, IPv4-mapped forms) can miss a match.
 */
export function ipv4Key(address: number, port: number): number {
  return address * 65536 + port;
}

function ipv6Key(bytes: Uint8Array, at: number, port: number): string {
  return `${port}/${Buffer.from(bytes.buffer, bytes.byteOffset + at, 16).toString("hex")}`;
}

/** Where a job's datagrams go, in the forms the socket needs: its key and its address bytes. */
export interface Destination {
  key: number | string;
  /** IPv4 as a 32-bit number, IPv6 as 16 bytes. */
  address: number | Uint8Array;
  port: number;
}

export function destination(ip: string, family: Family, port: number): Destination {
  if (family === "ipv4") {
    const address = parseIpv4Number(ip);
    if (address < 0) throw new Error(`not an IPv4 address: ${ip}`);
    return { key: ipv4Key(address, port), address, port };
  }
  const bytes = Uint8Array.from(ipaddr.IPv6.parse(ip).toByteArray());
  return { key: ipv6Key(bytes, 0, port), address: bytes, port };
}

/** errno number -> name (ECONNREFUSED ...), as Node's dgram reports them. */
const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

export function errnoName(n: number): string {
  return ERRNO_NAMES.get(n) ?? `errno ${n}`;
}

/**
 * Decodes a buffer of event records (layout in native/udp.c). Payloads are views into `events`,
 * not copies. A record that does not fit, or of an unknown kind or family, ends the decoding:
 * the bytes come from our own addon, so that is a bug to stop at, not data to guess around.
 * Returns the number of records decoded.
 */
export function decodeEvents(
  events: Buffer,
  on: Pick<UdpEventHandler<unknown>, "datagram" | "icmp">,
): number {
  let count = 0;
  let at = 0;
  while (events.length - at >= EVENT_HEADER) {
    const kind = events[at]!;
    const family = events[at + 1]!;
    const port = events.readUInt16BE(at + 2);
    if (family !== 4 && family !== 6) break;
    const key = family === 4 ? ipv4Key(events.readUInt32BE(at + 8), port) : ipv6Key(events, at + 8, port);
    if (kind === EV_DATAGRAM) {
      const length = events.readUInt32LE(at + 4);
      const start = at + EVENT_HEADER;
      if (events.length - start < length) break;
      on.datagram(key, events.subarray(start, start + length));
      at = start + length;
    } else if (kind === EV_ICMP) {
      on.icmp(key, errnoName(events[at + 7]!));
      at += EVENT_HEADER;
    } else {
      break;
    }
    count++;
  }
  return count;
}

const SEND_BUFFER = 1 << 20;
const SOCKET_BUFFER = 4 << 20;

/**
 * One native socket: `queue` adds a datagram to the next batch, `flush` hands the batch to the
 * kernel without blocking and reports the datagrams that left (`sent`, in queue order): their
 * clocks start then, not when they were queued. What the kernel could not take yet (a full send
 * buffer) stays for the next flush.
 */
export class NativeUdpSocket<T> {
  readonly port: number;
  readonly family: Family;
  private readonly addon: UdpAddon;
  private readonly handle: unknown;
  private readonly on: UdpEventHandler<T>;
  private batch = Buffer.allocUnsafe(SEND_BUFFER);
  /** Bytes [start, end) of `batch` are queued and not yet taken by the addon. */
  private start = 0;
  private end = 0;
  private readonly errors = new Int32Array(17);
  /** Tag and end offset of each record not yet reported sent, from `head` on; `taken` records of them were taken. */
  private tags: T[] = [];
  private ends: number[] = [];
  private head = 0;
  private taken = 0;
  /** Records taken and reported sent since the socket opened. */
  private takenTotal = 0;
  private sentTotal = 0;
  private closed = false;

  constructor(addon: UdpAddon, family: Family, on: UdpEventHandler<T>) {
    this.addon = addon;
    this.family = family;
    this.on = on;
    this.handle = addon.udpOpen(family === "ipv4" ? 4 : 6, SOCKET_BUFFER, (events, more) => {
      // A reply may come before we heard that its request left: hear it first.
      this.progress();
      decodeEvents(events, on);
      if (more) on.backlog();
    });
    this.port = addon.udpPort(this.handle);
  }

  /** Datagrams queued that the kernel could not take yet (the socket's send buffer was full). */
  get untaken(): boolean {
    return this.end > this.start;
  }

  /** Datagrams queued, or taken and not yet known to have left. */
  get queued(): boolean {
    return this.end > this.start || this.head < this.tags.length;
  }

  queue(to: Destination, payload: Buffer, tag: T): void {
    const size = SEND_HEADER + payload.length;
    if (this.end + size > this.batch.length) this.makeRoom(size);
    const b = this.batch;
    const at = this.end;
    const a = to.address;
    if (typeof a === "number") b.writeUInt32BE(a, at);
    else b.set(a, at);
    b.writeUInt16BE(to.port, at + 16);
    b.writeUInt16LE(payload.length, at + 18);
    payload.copy(b, at + SEND_HEADER);
    this.end = at + size;
    this.tags.push(tag);
    this.ends.push(this.end);
  }

  /** Hands over what is queued, then reports what left. */
  flush(): void {
    if (this.closed) return;
    if (this.end > this.start) {
      this.errors[0] = 0;
      this.start = this.addon.udpSend(this.handle, this.batch, this.start, this.end, this.errors);
      const { ends } = this;
      let i = this.head + this.taken;
      while (i < ends.length && ends[i]! <= this.start) i++;
      this.takenTotal += i - this.head - this.taken;
      this.taken = i - this.head;
      const refused = this.errors[0]!;
      for (let k = 0; k < refused; k++)
        this.on.refused(k + 1 < this.errors.length ? errnoName(this.errors[k + 1]!) : "EUNKNOWN");
    }
    this.progress();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.addon.udpClose(this.handle);
  }

  /** Reports the taken records that left. */
  private progress(): void {
    if (this.closed || this.taken === 0) return;
    const left = this.takenTotal;
    const { tags } = this;
    while (this.sentTotal < left && this.taken > 0) {
      const tag = tags[this.head++]!;
      this.taken--;
      this.sentTotal++;
      this.on.sent(tag);
    }
    if (this.head === tags.length && this.start === this.end) {
      this.start = this.end = 0;
      this.tags = [];
      this.ends = [];
      this.head = 0;
    }
  }

  /** Moves the untaken rest to the front, or grows the buffer for it. */
  private makeRoom(size: number): void {
    const rest = this.end - this.start;
    const target = rest + size > this.batch.length ? Buffer.allocUnsafe(2 * (rest + size)) : this.batch;
    this.batch.copy(target, 0, this.start, this.end);
    this.batch = target;
    const shift = this.start;
    this.tags = this.tags.slice(this.head);
    this.ends = this.ends.slice(this.head).map((e) => e - shift);
    this.head = 0;
    this.start = 0;
    this.end = rest;
  }
}
