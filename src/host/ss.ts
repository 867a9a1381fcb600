/**
 * Import of `ss -tuln` / `ss -tulpn` / `ss -tulp` / `ss -tul state listening` text taken on another
 * host. One pass over the lines, no backtracking regexes, a clear InputError (file, line, column)
 * for anything that is not ss output.
 *
 * The `*` address. ss has printed wildcards two ways:
 *  - iproute2 before 4.17 (e.g. CentOS 7): `*` is the IPv4 any address; IPv6 any is `:::port`
 *    (unbracketed, before 4.12) or `[::]:port`; every IPv4 socket's peer is `*:*`.
 *  - iproute2 4.17 and later: IPv4 any is `0.0.0.0`; `*` is the IPv6 any address of a dual-stack
 *    socket (v6only off, so it takes IPv4 too); a v6only socket is `[::]`.
 * A line does not say which ss printed it, so the whole file decides: `0.0.0.0` anywhere, or a
 * "Process" header, means modern; an unbracketed IPv6 address, an IPv4 address with peer `*:*`, or
 * the old `users:(("name",pid,fd))` form means old. With no evidence we take the modern reading:
 * `*` = `::` (ipv6, dual-stack), the broader exposure, and what every current ss prints; modern
 * evidence also wins over old (a file pasted together from two hosts). When the
 * peer column names a family (`0.0.0.0:*`, `[::]:*`), a `*` local address takes that family.
 */

import type { FileHandle } from "node:fs/promises";
import { open } from "node:fs/promises";
import ipaddr from "ipaddr.js";
import { InputError } from "../errors.js";
import { portForServiceName } from "./service-names.js";
import type { Family, ProcessInfo, Protocol, Socket } from "./types.js";

/** Largest input accepted: real ss output of a busy host is a few MiB at most. */
export const MAX_SS_BYTES = 64 * 1024 * 1024;

export const OWNER_NOT_SHOWN = "ss did not show the owner; run ss with -p as root on that host";

/** Socket states ss prints; only LISTEN (tcp) and UNCONN (udp) are sockets that wait for traffic. */
const STATES = new Set([
  "UNCONN",
  "ESTAB",
  "SYN-SENT",
  "SYN-RECV",
  "FIN-WAIT-1",
  "FIN-WAIT-2",
  "TIME-WAIT",
  "CLOSED",
  "CLOSE-WAIT",
  "LAST-ACK",
  "LISTEN",
  "CLOSING",
  "UNKNOWN",
]);

/** Netids of other socket kinds, skipped when the user ran ss with more than -t -u (e.g. -x). */
const OTHER_NETIDS = new Set([
  "u_str",
  "u_dgr",
  "u_seq",
  "raw",
  "p_raw",
  "p_dgr",
  "nl",
  "sctp",
  "mptcp",
  "tipc",
  "v_str",
  "v_dgr",
  "xdp",
  "icmp6",
]);

/** Kernel limit on interface names (IFNAMSIZ - 1). */
const MAX_DEVICE = 15;
/** comm is at most 15 bytes; leave room for odd encodings before calling an entry unterminated. */
const MAX_PROCESS_NAME = 64;
const MAX_PID = 0x7fffffff;

/** Control characters, NUL and U+FFFD (invalid UTF-8) never occur in ss text. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: detecting binary input is the point
const BINARY = /[\u0000-\u0008\u000b-\u001f\u007f\ufffd]/;

interface Endpoint {
  /** Canonical address, or null for `*`. */
  address: string | null;
  family: Family | null;
  device: string | null;
  /** null for `*` (peer side only). */
  port: number | null;
}

interface Row {
  protocol: Protocol;
  local: Endpoint;
  peer: Endpoint;
  processes: ProcessInfo[];
  hasUsers: boolean;
}

/** Per-file state: evidence for the `*` reading, counts for the "no sockets" message. */
interface Context {
  file: string;
  modern: boolean;
  old: boolean;
  anyUsers: boolean;
  inetRows: number;
  rows: Row[];
  addressCache: Map<string, [string, Family]>;
}

/** Parse ss text. Throws InputError for anything that is not ss -tu output. */
export function parseSs(text: string, file: string): Socket[] {
  const ctx: Context = {
    file,
    modern: false,
    old: false,
    anyUsers: false,
    inetRows: 0,
    rows: [],
    addressCache: new Map(),
  };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    parseLine(ctx, line, i + 1);
  }
  if (ctx.rows.length === 0) {
    const what = ctx.inetRows === 0 ? "no sockets" : "no listening (LISTEN or UNCONN) sockets";
    throw new InputError(`${what} in ${file}; is it ss -tuln output?`, { file });
  }
  const starIsV4 = ctx.old && !ctx.modern;
  const ownerUnknown = ctx.anyUsers ? OWNER_NOT_SHOWN : null;
  return ctx.rows.map((row) => toSocket(row, starIsV4, ownerUnknown));
}

/** Parse a file's bytes: refuse binary data before decoding so the message says what is wrong. */
export function parseSsBuffer(data: Uint8Array, file: string): Socket[] {
  if (data.length > MAX_SS_BYTES) throw tooBig(file);
  const nul = data.indexOf(0);
  if (nul >= 0) {
    const { line, column } = lineAndColumn(data, nul);
    throw new InputError(`binary data (NUL byte); is ${file} ss text output?`, {
      file,
      line,
      column,
      offset: nul,
    });
  }
  return parseSs(new TextDecoder("utf-8").decode(data), file);
}

/** Read ss output from a file, or from stdin for "-", and parse it. */
export async function readSsFile(path: string): Promise<Socket[]> {
  if (path === "-") return parseSsBuffer(await readStream(process.stdin, "stdin"), "stdin");
  return parseSsBuffer(await readFileLimited(path), path);
}

/** Read a stream up to MAX_SS_BYTES; used for stdin. */
export async function readStream(stream: AsyncIterable<Buffer | string>, file: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    total += buf.length;
    if (total > MAX_SS_BYTES) throw tooBig(file);
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

async function readFileLimited(path: string): Promise<Buffer> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (err) {
    throw new InputError(`cannot read ${path}: ${errorCode(err)}`, { file: path });
  }
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw new InputError(`${path} is a directory, not ss output`, { file: path });
    if (info.size > MAX_SS_BYTES) throw tooBig(path);
    // Read by chunks, not by stat size: pipes and /proc files report size 0, /dev/zero never ends.
    return await readStream(handle.createReadStream({ autoClose: false }), path);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`cannot read ${path}: ${errorCode(err)}`, { file: path });
  } finally {
    await handle.close();
  }
}

function tooBig(file: string): InputError {
  return new InputError(`${file} is larger than 64 MiB; that is not ss output`, { file });
}

function errorCode(err: unknown): string {
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ?? err.message;
  return String(err);
}

function lineAndColumn(data: Uint8Array, offset: number): { line: number; column: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset; i++) {
    if (data[i] === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, column: offset - start + 1 };
}

// ---------------------------------------------------------------------------------------------
// Lines

/** Cursor over one line; tokens are separated by spaces or tabs. */
class Cursor {
  pos = 0;
  /** 1-based column of the token last returned by token(). */
  column = 0;
  constructor(
    readonly line: string,
    readonly ctx: Context,
    readonly lineNo: number,
  ) {}

  skipSpace(): void {
    const s = this.line;
    while (this.pos < s.length && (s.charCodeAt(this.pos) === 32 || s.charCodeAt(this.pos) === 9)) this.pos++;
  }

  atEnd(): boolean {
    this.skipSpace();
    return this.pos >= this.line.length;
  }

  /** Next token (its column in `column`), or a "too few columns" error naming what was expected. */
  token(expected: string): string {
    if (this.atEnd()) throw this.error(`too few columns: missing ${expected}`, this.line.length + 1);
    const start = this.pos;
    const s = this.line;
    while (this.pos < s.length && s.charCodeAt(this.pos) !== 32 && s.charCodeAt(this.pos) !== 9) this.pos++;
    this.column = start + 1;
    return s.slice(start, this.pos);
  }

  error(message: string, column: number): InputError {
    return new InputError(message, { file: this.ctx.file, line: this.lineNo, column });
  }
}

function parseLine(ctx: Context, line: string, lineNo: number): void {
  const cur = new Cursor(line, ctx, lineNo);
  if (cur.atEnd()) return;
  const bad = line.search(BINARY);
  if (bad >= 0) throw cur.error(`binary data; is ${ctx.file} ss text output?`, bad + 1);
  const netid = cur.token("Netid");
  if (netid === "Netid") {
    // Modern ss (5.x+) names the last column "Process"; older ones print no name there.
    if (line.includes("Process")) ctx.modern = true;
    return;
  }
  if (OTHER_NETIDS.has(netid)) return;
  if (netid !== "tcp" && netid !== "udp") {
    throw cur.error(
      `expected Netid "tcp" or "udp" at the start of the line, found "${clip(netid)}"; ` +
        "run ss with both -t and -u (e.g. ss -tulpn)",
      cur.column,
    );
  }
  ctx.inetRows++;
  const row = parseRow(cur, netid);
  if (row !== null) ctx.rows.push(row);
}

/** The columns after Netid; null when the row's state is not one that waits for traffic. */
function parseRow(cur: Cursor, protocol: Protocol): Row | null {
  const second = cur.token("State or Recv-Q");
  let state: string | null = null;
  if (!isDigits(second)) {
    if (!STATES.has(second)) throw cur.error(`unknown socket state "${clip(second)}"`, cur.column);
    state = second;
    queue(cur, cur.token("Recv-Q"));
  }
  queue(cur, cur.token("Send-Q"));
  const localText = cur.token("Local Address:Port");
  const local = parseEndpoint(cur, localText, cur.column, false);
  const peerText = cur.token("Peer Address:Port");
  const peer = parseEndpoint(cur, peerText, cur.column, true);
  const users = parseTrailing(cur);
  noteDialect(cur.ctx, localText, local, peerText, peer);
  if (users.hasUsers) cur.ctx.anyUsers = true;
  if (users.oldForm) cur.ctx.old = true;
  // Without a State column (`state listening`), ss already filtered the rows.
  if (state !== null && state !== (protocol === "tcp" ? "LISTEN" : "UNCONN")) return null;
  return { protocol, local, peer, processes: users.processes, hasUsers: users.hasUsers };
}

function queue(cur: Cursor, text: string): void {
  if (!isDigits(text)) throw cur.error(`expected a queue size (a number), found "${clip(text)}"`, cur.column);
}

/** Record what the line tells about which ss printed it (see the comment at the top). */
function noteDialect(
  ctx: Context,
  localText: string,
  local: Endpoint,
  peerText: string,
  peer: Endpoint,
): void {
  if (local.address === "0.0.0.0" || peer.address === "0.0.0.0") ctx.modern = true;
  if (local.family === "ipv4" && peer.address === null) ctx.old = true;
  if (isUnbracketedV6(localText, local) || isUnbracketedV6(peerText, peer)) ctx.old = true;
}

function isUnbracketedV6(text: string, end: Endpoint): boolean {
  return end.family === "ipv6" && text.charCodeAt(0) !== 91;
}

function toSocket(row: Row, starIsV4: boolean, ownerUnknown: string | null): Socket {
  let { address, family } = row.local;
  if (address === null) {
    // A peer that names a family settles it; a `*` peer leaves it to the file's dialect.
    const v4 = row.peer.family !== null ? row.peer.family === "ipv4" : starIsV4;
    address = v4 ? "0.0.0.0" : "::";
    family = v4 ? "ipv4" : "ipv6";
  }
  return {
    protocol: row.protocol,
    family: family!,
    address,
    port: row.local.port!,
    device: row.local.device,
    inode: null,
    netns: null,
    processes: row.processes,
    ownerUnknown: row.hasUsers ? null : ownerUnknown,
  };
}

// ---------------------------------------------------------------------------------------------
// Addresses

/**
 * `addr:port`, `[v6]:port`, `[v6%dev]:port`, `[v6]%dev:port`, `addr%dev:port`, old `:::port` and
 * `::1:port` (the last colon splits the port). Port is a number, a service name, or `*` (peer).
 */
function parseEndpoint(cur: Cursor, text: string, column: number, isPeer: boolean): Endpoint {
  let host: string;
  let device: string | null = null;
  let colon: number;
  if (text.charCodeAt(0) === 91) {
    const close = text.indexOf("]");
    if (close < 0) throw cur.error(`unterminated "[" in address "${clip(text)}"`, column);
    host = text.slice(1, close);
    const pct = host.indexOf("%");
    if (pct >= 0) {
      device = parseDevice(cur, host.slice(pct + 1), column);
      host = host.slice(0, pct);
    }
    colon = text.lastIndexOf(":");
    if (text.charCodeAt(close + 1) === 37) {
      if (device !== null) throw cur.error(`two devices in address "${clip(text)}"`, column);
      if (colon < close) throw cur.error(`missing ":port" in "${clip(text)}"`, column);
      device = parseDevice(cur, text.slice(close + 2, colon), column);
    } else if (colon !== close + 1) {
      throw cur.error(`expected ":port" after "]" in "${clip(text)}"`, column + close + 1);
    }
    if (host.indexOf(":") < 0) throw cur.error(`bad IPv6 address "${clip(host)}"`, column);
  } else {
    colon = text.lastIndexOf(":");
    if (colon < 0) throw cur.error(`expected ADDRESS:PORT, found "${clip(text)}"`, column);
    host = text.slice(0, colon);
    const pct = host.indexOf("%");
    if (pct >= 0) {
      device = parseDevice(cur, host.slice(pct + 1), column);
      host = host.slice(0, pct);
    }
  }
  const port = parsePort(cur, text.slice(colon + 1), column + colon + 1, isPeer);
  if (host === "*" && text.charCodeAt(0) !== 91) return { address: null, family: null, device, port };
  const [address, family] = canonicalAddress(cur, host, column);
  return { address, family, device, port };
}

function parseDevice(cur: Cursor, name: string, column: number): string {
  if (name.length === 0 || name.length > MAX_DEVICE || /[\s:%/[\]]/.test(name)) {
    throw cur.error(`bad device name "${clip(name)}" after "%"`, column);
  }
  return name;
}

function canonicalAddress(cur: Cursor, host: string, column: number): [string, Family] {
  const cached = cur.ctx.addressCache.get(host);
  if (cached !== undefined) return cached;
  const result = tryCanonical(host);
  if (result === null) {
    throw cur.error(
      `bad address "${clip(host)}"; if it is a host name, re-run ss with -n (numeric output)`,
      column,
    );
  }
  cur.ctx.addressCache.set(host, result);
  return result;
}

function tryCanonical(host: string): [string, Family] | null {
  try {
    if (ipaddr.IPv4.isValidFourPartDecimal(host)) return [ipaddr.IPv4.parse(host).toString(), "ipv4"];
    if (host.includes(":") && ipaddr.IPv6.isValid(host))
      return [canonicalV6(ipaddr.IPv6.parse(host)), "ipv6"];
  } catch {
    // ipaddr.js should not throw after isValid; if it does, the address is bad all the same.
  }
  return null;
}

/** RFC 5952 text, but IPv4-mapped addresses keep their dotted tail, as the kernel tables do. */
function canonicalV6(addr: ipaddr.IPv6): string {
  if (addr.isIPv4MappedAddress()) return `::ffff:${addr.toIPv4Address().toString()}`;
  return addr.toRFC5952String();
}

function parsePort(cur: Cursor, text: string, column: number, isPeer: boolean): number | null {
  if (text === "*") {
    if (isPeer) return null;
    throw cur.error("local port is *, expected a port number", column);
  }
  if (text.length === 0) throw cur.error("missing port after ':'", column);
  if (isDigits(text)) {
    const port = text.length <= 5 ? Number(text) : 65536;
    if (port > 65535 || (port === 0 && !isPeer)) throw cur.error(`bad port ${clip(text)}`, column);
    return port;
  }
  const port = portForServiceName(text);
  if (port === undefined) {
    throw cur.error(
      `unknown service name "${clip(text)}" in place of a port; re-run ss with -n (numeric ports), ` +
        "since the names come from that host's /etc/services",
      column,
    );
  }
  return port;
}

// ---------------------------------------------------------------------------------------------
// Process column

interface Users {
  processes: ProcessInfo[];
  hasUsers: boolean;
  oldForm: boolean;
}

/**
 * After the peer: optionally `users:((...),(...))`, then -e/-Z details (`uid:0`, `ino:123`,
 * `proc_ctx=...`, `<->`), which carry nothing Moat uses and are skipped. Anything else is an error.
 */
function parseTrailing(cur: Cursor): Users {
  const users: Users = { processes: [], hasUsers: false, oldForm: false };
  while (!cur.atEnd()) {
    if (cur.line.startsWith("users:(", cur.pos)) {
      if (users.hasUsers) throw cur.error('"users:" appears twice', cur.pos + 1);
      parseUsers(cur, users);
      continue;
    }
    const text = cur.token("details");
    if (!isDetail(text)) throw cur.error(`unexpected text "${clip(text)}" after the addresses`, cur.column);
  }
  return users;
}

function isDetail(text: string): boolean {
  if (/^[<>-]+$/.test(text)) return true;
  return /^[A-Za-z_][A-Za-z0-9_]*[:=]/.test(text);
}

/** `users:(("name",pid=1,fd=2),("name",1,2))`; names may hold spaces, quotes, commas, parens. */
function parseUsers(cur: Cursor, users: Users): void {
  const line = cur.line;
  const startCol = cur.pos + 1;
  users.hasUsers = true;
  let p = cur.pos + "users:(".length;
  for (;;) {
    if (line.charCodeAt(p) !== 40 || line.charCodeAt(p + 1) !== 34) {
      if (p >= line.length) throw cur.error("unterminated users:((...))", startCol);
      throw cur.error('expected ("name",pid=N,fd=N) in users:(...)', p + 1);
    }
    const entry = parseEntry(line, p + 2);
    if (entry === null) throw cur.error("unterminated or malformed process entry in users:((...))", p + 1);
    addProcess(users, entry);
    p = entry.end;
    const c = line.charCodeAt(p);
    if (c === 44) {
      p++;
      continue;
    }
    if (c === 41) break;
    throw cur.error("unterminated users:((...))", startCol);
  }
  p++;
  if (p < line.length && line.charCodeAt(p) !== 32 && line.charCodeAt(p) !== 9) {
    throw cur.error("unexpected text right after users:((...))", p + 1);
  }
  cur.pos = p;
}

interface Entry {
  name: string;
  pid: number;
  oldForm: boolean;
  /** Index just past the entry's closing ")". */
  end: number;
}

/** The name ends at the first quote followed by a well-formed `,pid=N,fd=N)` or `,N,N)` tail. */
function parseEntry(line: string, nameStart: number): Entry | null {
  const limit = nameStart + MAX_PROCESS_NAME;
  for (let q = line.indexOf('"', nameStart); q >= 0 && q <= limit; q = line.indexOf('"', q + 1)) {
    const tail = parseEntryTail(line, q + 1);
    if (tail !== null && q > nameStart) return { name: line.slice(nameStart, q), ...tail };
  }
  return null;
}

function parseEntryTail(line: string, i: number): { pid: number; oldForm: boolean; end: number } | null {
  if (line.charCodeAt(i) !== 44) return null;
  i++;
  const modern = line.startsWith("pid=", i);
  if (modern) i += 4;
  const pidEnd = digitsEnd(line, i);
  if (pidEnd === i || pidEnd - i > 10) return null;
  const pid = Number(line.slice(i, pidEnd));
  i = pidEnd;
  if (line.charCodeAt(i) !== 44) return null;
  i++;
  if (modern) {
    if (!line.startsWith("fd=", i)) return null;
    i += 3;
  }
  const fdEnd = digitsEnd(line, i);
  if (fdEnd === i || line.charCodeAt(fdEnd) !== 41 || pid > MAX_PID) return null;
  return { pid, oldForm: !modern, end: fdEnd + 1 };
}

/** Forked workers share a socket: keep each distinct (pid, name) once, in order of appearance. */
function addProcess(users: Users, entry: Entry): void {
  if (entry.oldForm) users.oldForm = true;
  for (const p of users.processes) if (p.pid === entry.pid && p.name === entry.name) return;
  users.processes.push({ name: entry.name, pid: entry.pid, unit: null, cmdline: null });
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function isDigits(text: string): boolean {
  return text.length > 0 && digitsEnd(text, 0) === text.length;
}

function digitsEnd(text: string, from: number): number {
  let i = from;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) break;
    i++;
  }
  return i;
}

/** Keep messages short when a "token" is a megabyte of junk. */
function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
