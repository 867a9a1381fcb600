/**
 * `--resume STATE`: an append-only file of finished (protocol, address, port), so an interrupted scan
 * continues where it stopped. Lines are "udp 192.0.2.1 11211" under a header line that marks the
 * file as ours: --resume pointed at some other file by mistake is refused, never appended to.
 * A run killed mid-write leaves at most a partial last line, which is cut off before appending.
 */
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { InputError } from "../errors.js";
import type { Protocol } from "../host/types.js";
import { parseAddressResult } from "../net/cidr.js";

export const STATE_HEADER = "# moat scan state v1";
const LINE = /^(tcp|udp) (\S+) (\d{1,5})$/;
const FLUSH_EVERY = 512;
const FLUSH_MS = 200;

export function stateKey(protocol: Protocol, ip: string, port: number): string {
  return `${protocol} ${ip} ${port}`;
}

export class ScanState {
  readonly path: string;
  private readonly done = new Set<string>();
  private fd: number;
  private buffer: string[] = [];
  private timer: NodeJS.Timeout | null = null;

  private constructor(path: string, fd: number, done: Iterable<string>) {
    this.path = path;
    this.fd = fd;
    for (const key of done) this.done.add(key);
  }

  /** Reads the finished work (if the file exists) and opens the file for appending. */
  static open(path: string): ScanState {
    const keys: string[] = [];
    let validLength = 0;
    if (existsSync(path)) {
      let text: string;
      try {
        text = readFileSync(path, "utf8");
      } catch (error) {
        throw new InputError(`cannot read the state file (${(error as NodeJS.ErrnoException).code})`, {
          file: path,
        });
      }
      const lines = text.split("\n");
      // Everything after the last newline is a line cut short by an interruption.
      const complete = lines.slice(0, -1);
      if (text.length > 0 && complete[0] !== STATE_HEADER)
        throw new InputError(
          `not a moat scan state file (the first line is not "${STATE_HEADER}"); give a new file name or one written by --resume`,
          { file: path, line: 1 },
        );
      complete.slice(1).forEach((line, index) => {
        const m = LINE.exec(line);
        const port = Number(m?.[3]);
        if (!m || !parseAddressResult(m[2]!).ok || port < 1 || port > 65535)
          throw new InputError(`corrupt state line "${line.slice(0, 80)}": expected "udp|tcp ADDRESS PORT"`, {
            file: path,
            line: index + 2,
          });
        keys.push(line);
      });
      validLength = Buffer.byteLength(complete.map((l) => `${l}\n`).join(""));
    }
    let fd: number;
    try {
      fd = openSync(path, existsSync(path) ? "r+" : "w+");
      ftruncateSync(fd, validLength);
    } catch (error) {
      throw new InputError(`cannot write the state file (${(error as NodeJS.ErrnoException).code})`, {
        file: path,
      });
    }
    const state = new ScanState(path, fd, keys);
    if (validLength === 0) state.write(`${STATE_HEADER}\n`, validLength);
    else state.position = validLength;
    return state;
  }

  private position = 0;

  private write(text: string, at = this.position): void {
    const bytes = Buffer.from(text);
    writeSync(this.fd, bytes, 0, bytes.length, at);
    this.position = at + bytes.length;
  }

  get size(): number {
    return this.done.size;
  }

  has(protocol: Protocol, ip: string, port: number): boolean {
    return this.done.has(stateKey(protocol, ip, port));
  }

  record(protocol: Protocol, ip: string, port: number): void {
    const key = stateKey(protocol, ip, port);
    if (this.done.has(key)) return;
    this.done.add(key);
    this.buffer.push(key);
    if (this.buffer.length >= FLUSH_EVERY) this.flush();
    else if (this.timer === null) {
      this.timer = setTimeout(() => this.flush(), FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Synchronous, so it also works from an exit or signal handler. */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.buffer.length === 0 || this.fd < 0) return;
    this.write(`${this.buffer.join("\n")}\n`);
    this.buffer = [];
  }

  close(): void {
    this.flush();
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
