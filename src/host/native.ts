/**
 * The optional native socket reader (native/moat.c, built by `npm run build` into dist/native/).
 * On 10,000 sockets it reads a namespace's table through netlink sock_diag in ~7 ms (the /proc text
 * costs ~60 ms of kernel formatting plus ~35 ms of parsing) and walks /proc/<pid>/fd in ~25 ms on
 * two threads while JavaScript goes on (~160 ms with readlinkSync). Each function returns null when the addon is missing or fails; the
 * caller then uses the JavaScript reader, which gives the same results. MOAT_NATIVE=0 forces that.
 */

import { createRequire } from "node:module";
import { formatIpv6Bytes } from "../net/ipv6-text.js";
import type { RawSocket } from "./proc-net.js";

export interface NativeAddon {
  /** Listening TCP and unconnected UDP of the namespace at nsPath (null: moat's own), as records, read off the JS thread. */
  listeners(nsPath: string | null): Promise<Buffer>;
  /**
   * Every socket fd under procRoot: [inode, pid, inode, pid, ...] sorted by inode then pid, each
   * pair once (processes.ts searches it), walked and sorted off the JS thread, and the
   * comm, cgroup and cmdline text (null: unreadable) of each pid holding one: [pid, comm, cgroup, cmdline, ...].
   */
  socketFds(procRoot: string): Promise<NativeFdWalk>;
  /** The netlink parser alone, over given bytes (tests). */
  parseDiag(messages: Buffer, protocol: number): Buffer;
}

export interface NativeFdWalk {
  pairs: Uint32Array;
  hiddenPids: number;
  owners: (number | string | null)[];
}

/** Bytes per record in listeners()/parseDiag() output; layout in native/moat.c. */
export const RECORD_SIZE = 24;

/** src/host/ and dist/cli/ are both two levels below the package root. */
export const ADDON_URL = new URL("../../dist/native/moat.node", import.meta.url);

export function loadAddon(path: string): NativeAddon | null {
  try {
    return createRequire(import.meta.url)(path) as NativeAddon;
  } catch {
    return null; // not built (no compiler on this machine) or built for another Node ABI
  }
}

let cached: NativeAddon | null | undefined;

/** The addon, loaded once; null when absent or disabled by MOAT_NATIVE=0. */
export function addon(): NativeAddon | null {
  if (cached === undefined) cached = process.env.MOAT_NATIVE === "0" ? null : loadAddon(ADDON_URL.pathname);
  return cached;
}

/**
 * Four bytes as an unsigned little-endian number. Plain indexing rather than Buffer's readUInt32LE:
 * 10,000 records run mostly before the optimizing compiler steps in, where each Buffer method is
 * a call with its own checks (decoding took ~20 ms that way).
 */
function u32(buf: Buffer, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16)) + buf[at + 3]! * 0x1000000;
}

/** The same four bytes as a signed number: for comparing and keying, a small integer, never a heap number. */
function i32(buf: Buffer, at: number): number {
  return buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24);
}

/**
 * Address texts of one decode. A host binds a handful of addresses under thousands of sockets, so
 * each is formatted once: IPv4 keyed by its 32 bits, IPv6 found among the few seen so far by its
 * four words (no key string to allocate per socket).
 */
class AddressTexts {
  private readonly v4 = new Map<number, string>();
  private readonly v6: { w0: number; w1: number; w2: number; w3: number; text: string }[] = [];

  ipv4(buf: Buffer, a: number): string {
    const key = i32(buf, a);
    let text = this.v4.get(key);
    if (text === undefined) {
      text = `${buf[a]}.${buf[a + 1]}.${buf[a + 2]}.${buf[a + 3]}`;
      this.v4.set(key, text);
    }
    return text;
  }

  ipv6(buf: Buffer, a: number): string {
    const w0 = i32(buf, a);
    const w1 = i32(buf, a + 4);
    const w2 = i32(buf, a + 8);
    const w3 = i32(buf, a + 12);
    const seen = this.v6;
    for (let i = 0; i < seen.length; i++) {
      const s = seen[i]!;
      if (s.w0 === w0 && s.w1 === w1 && s.w2 === w2 && s.w3 === w3) return s.text;
    }
    const text = formatIpv6Bytes(buf, a);
    // Bounded: a host with thousands of IPv6 addresses just formats the rest each time.
    if (seen.length < 32) seen.push({ w0, w1, w2, w3, text });
    return text;
  }
}

/** Records from listeners()/parseDiag() as RawSockets, addresses in the text proc-net.ts writes. */
export function decodeRecords(buf: Buffer): RawSocket[] {
  const out: RawSocket[] = [];
  const texts = new AddressTexts();
  for (let at = 0; at + RECORD_SIZE <= buf.length; at += RECORD_SIZE) {
    const family = buf[at + 1] === 4 ? "ipv4" : "ipv6";
    out.push({
      protocol: buf[at] === 6 ? "tcp" : "udp",
      family,
      address: family === "ipv4" ? texts.ipv4(buf, at + 8) : texts.ipv6(buf, at + 8),
      port: buf[at + 2]! | (buf[at + 3]! << 8),
      inode: u32(buf, at + 4),
    });
  }
  return out;
}

/**
 * Reads started before the program knew it would need them (src/cli/prefetch.ts, while the rest of
 * moat loads), keyed by what they read; the first reader asking for the same thing takes it over.
 * On globalThis: the entry point and the rest of the program may be separate bundles.
 */
const PREFETCHED = Symbol.for("moat.prefetched-reads");
type Prefetched = Map<string, Promise<unknown>>;

function prefetched(): Prefetched {
  const holder = globalThis as { [PREFETCHED]?: Prefetched };
  holder[PREFETCHED] ??= new Map();
  return holder[PREFETCHED];
}

/** The read started under `key`, or a new one; a prefetched read serves once, and only the real addon. */
function startOrTake<T>(key: string, native: NativeAddon, start: () => Promise<T>): Promise<T> {
  const early = native === addon() ? prefetched().get(key) : undefined;
  if (early === undefined) return start();
  prefetched().delete(key);
  return early as Promise<T>;
}

const listenersKey = (nsPath: string | null) => `listeners:${nsPath ?? ""}`;
const socketFdsKey = (procRoot: string) => `socketFds:${procRoot}`;

/**
 * Start the reads of nativeListeners(nsPath) (unless nsPath is undefined) and nativeSocketFds(procRoot)
 * now, for them to take over later. Nothing happens without the addon; a failure waits for its reader.
 */
export function prefetchNativeReads(procRoot: string, nsPath: string | null | undefined): void {
  const native = addon();
  if (native === null) return;
  const start = (key: string, read: () => Promise<unknown>) => {
    if (prefetched().has(key)) return;
    try {
      const pending = read();
      pending.catch(() => {}); // its reader sees the failure; nobody may ever ask
      prefetched().set(key, pending);
    } catch {
      // a bad argument: the reader will ask again and be told
    }
  };
  start(socketFdsKey(procRoot), () => native.socketFds(procRoot));
  if (nsPath !== undefined) start(listenersKey(nsPath), () => native.listeners(nsPath));
}

/** The namespace's listeners through sock_diag, read off the JS thread; null when the native reader is unavailable or fails. */
export async function nativeListeners(nsPath: string | null, native = addon()): Promise<RawSocket[] | null> {
  if (native === null) return null;
  try {
    return decodeRecords(await startOrTake(listenersKey(nsPath), native, () => native.listeners(nsPath)));
  } catch {
    return null; // no sock_diag (kernel without inet_diag/udp_diag), namespace gone: /proc text says why
  }
}

/** The fd walk of processes.ts in native code, running while the caller goes on; null when unavailable or failed. */
export async function nativeSocketFds(procRoot: string, native = addon()): Promise<NativeFdWalk | null> {
  if (native === null) return null;
  try {
    return await startOrTake(socketFdsKey(procRoot), native, () => native.socketFds(procRoot));
  } catch {
    return null; // procRoot unreadable: the JavaScript walk reports it the usual way
  }
}
