import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import ipaddr from "ipaddr.js";
import { InputError } from "../../src/errors.js";
import { parseProcNet, type RawSocket } from "../../src/host/proc-net.js";
import type { Family, Protocol } from "../../src/host/types.js";
import { formatIpv6Bytes } from "../../src/net/ipv6-text.js";

// ---- a test-only writer of kernel tables, the inverse of the parser ----

interface Row {
  slot: number;
  local: number[];
  localPort: number;
  remote: number[];
  remotePort: number;
  state: number;
  inode: number;
}

const hex = (n: number, width: number) => n.toString(16).toUpperCase().padStart(width, "0");

/** Address bytes as the kernel prints them: each 32-bit word as a little-endian "%08X". */
function kernelHex(bytes: number[]): string {
  let out = "";
  for (let w = 0; w < bytes.length; w += 4) {
    out += hex(bytes[w + 3]!, 2) + hex(bytes[w + 2]!, 2) + hex(bytes[w + 1]!, 2) + hex(bytes[w]!, 2);
  }
  return out;
}

const HEADER4 =
  "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
const HEADER6 =
  "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

function formatRow(r: Row, protocol: Protocol): string {
  const tail = protocol === "tcp" ? "1 0000000000000000 100 0 0 10 0" : "2 0000000000000000 0";
  return (
    `${String(r.slot).padStart(4)}: ${kernelHex(r.local)}:${hex(r.localPort, 4)} ` +
    `${kernelHex(r.remote)}:${hex(r.remotePort, 4)} ${hex(r.state, 2)} 00000000:00000000 00:00000000 ` +
    `00000000  1000        0 ${r.inode} ${tail}`
  );
}

function formatTable(rows: Row[], protocol: Protocol, family: Family): string {
  const header = family === "ipv4" ? HEADER4 : HEADER6;
  return `${[header, ...rows.map((r) => formatRow(r, protocol))].join("\n")}\n`;
}

/** The address text ipaddr.js gives, with IPv4-mapped addresses in dotted form. */
function ipaddrText(bytes: number[]): string {
  const a = ipaddr.fromByteArray(bytes);
  if (a instanceof ipaddr.IPv4) return a.toString();
  return a.isIPv4MappedAddress() ? `::ffff:${a.toIPv4Address().toString()}` : a.toRFC5952String();
}

function expected(rows: Row[], protocol: Protocol, family: Family): RawSocket[] {
  return rows
    .filter((r) =>
      protocol === "tcp"
        ? r.state === 0x0a
        : r.state === 0x07 && r.remotePort === 0 && r.remote.every((b) => b === 0),
    )
    .map((r) => ({ protocol, family, address: ipaddrText(r.local), port: r.localPort, inode: r.inode }));
}

// ---- generators: zero-heavy addresses so "::" compression is exercised ----

const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
const v6 = fc.oneof(
  fc.array(group, { minLength: 8, maxLength: 8 }).map((g) => g.flatMap((x) => [x >> 8, x & 0xff])),
  fc
    .array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 })
    .map((v4) => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...v4]),
);
const v4 = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })), {
  minLength: 4,
  maxLength: 4,
});
const zero = (n: number) => new Array<number>(n).fill(0);

function rowArb(family: Family): fc.Arbitrary<Row> {
  const addr = family === "ipv4" ? v4 : v6;
  return fc.record({
    slot: fc.nat(99999),
    local: addr,
    localPort: fc.integer({ min: 0, max: 0xffff }),
    remote: fc.oneof(fc.constant(zero(family === "ipv4" ? 4 : 16)), addr),
    remotePort: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
    state: fc.oneof(fc.constantFrom(0x01, 0x07, 0x0a, 0x06), fc.integer({ min: 0, max: 255 })),
    inode: fc.nat(),
  });
}

const kinds = fc.constantFrom<[Protocol, Family]>(
  ["tcp", "ipv4"],
  ["tcp", "ipv6"],
  ["udp", "ipv4"],
  ["udp", "ipv6"],
);

/** Parse, and accept only rows or an InputError pointing at an existing line. */
function parseOrInputError(text: string, protocol: Protocol, family: Family): RawSocket[] | InputError {
  try {
    return parseProcNet(text, "t", protocol, family);
  } catch (err) {
    assert.ok(err instanceof InputError, `not an InputError: ${String(err)}`);
    const line = err.place?.line;
    assert.ok(line !== undefined && Number.isInteger(line) && line >= 1, `no line number: ${err.message}`);
    assert.ok(line <= text.split("\n").length, `line ${line} beyond the input`);
    assert.equal(err.place?.file, "t");
    return err;
  }
}

describe("parseProcNet", () => {
  it("reads listeners from real kernel lines", () => {
    const tcp =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n" +
      "   0: 0100007F:2BCB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   999        0 31337 1 00000000f590f0a0 100 0 0 10 0\n" +
      "   1: 0100007F:2BCB 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000   999        0 31338 1 00000000f590f0a0 20 4 30 10 -1\n";
    assert.deepEqual(parseProcNet(tcp, "/proc/net/tcp", "tcp", "ipv4"), [
      { protocol: "tcp", family: "ipv4", address: "127.0.0.1", port: 11211, inode: 31337 },
    ]);
    const udp6 =
      "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n" +
      " 6966: 00000000000000000000000000000000:D34C 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 6791 2 00000000fb7631bf 0\n" +
      "  120: 0000000000000000FFFF00000100007F:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 6792 2 00000000fb7631bf 0\n" +
      "  121: 000080FE00000000000000000100000001:0035 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 6793 2 00000000fb7631bf 0\n";
    // the third row's address has 34 hex digits: an error on line 4
    assert.throws(() => parseProcNet(udp6, "/proc/net/udp6", "udp", "ipv6"), /\/proc\/net\/udp6:4: /);
    const fixed = udp6.replace("000080FE00000000000000000100000001", "000080FE000000000000000001000000");
    assert.deepEqual(
      parseProcNet(fixed, "/proc/net/udp6", "udp", "ipv6").map((s) => s.address),
      ["::", "::ffff:127.0.0.1", "fe80::1"],
    );
  });

  it("keeps connected UDP sockets out", () => {
    const row: Row = {
      slot: 0,
      local: [0, 0, 0, 0],
      localPort: 53,
      remote: [8, 8, 8, 8],
      remotePort: 53,
      state: 7,
      inode: 9,
    };
    assert.deepEqual(parseProcNet(formatTable([row], "udp", "ipv4"), "u", "udp", "ipv4"), []);
    assert.deepEqual(
      parseProcNet(formatTable([{ ...row, state: 1 }], "udp", "ipv4"), "u", "udp", "ipv4"),
      [],
    );
  });

  it("checks the header and names file and line", () => {
    assert.throws(
      () => parseProcNet("", "/x/tcp", "tcp", "ipv4"),
      (e: unknown) => {
        return e instanceof InputError && e.place?.line === 1 && /empty/.test(e.message);
      },
    );
    assert.throws(() => parseProcNet("hello\n", "/x/tcp", "tcp", "ipv4"), /\/x\/tcp:1: .*header/);
    const row: Row = {
      slot: 0,
      local: [0, 0, 0, 0],
      localPort: 22,
      remote: [0, 0, 0, 0],
      remotePort: 0,
      state: 10,
      inode: 5,
    };
    const text = formatTable([row, row, row], "tcp", "ipv4");
    // cut the third row inside its inode column: line 4
    const cut = text.slice(0, text.lastIndexOf(" 5 1 ") + 2);
    assert.throws(() => parseProcNet(cut, "/x/tcp", "tcp", "ipv4"), /\/x\/tcp:4: .*truncated/);
    // an IPv6 table read as IPv4
    assert.throws(() => parseProcNet(formatTable([row], "tcp", "ipv4"), "f", "tcp", "ipv6"), /f:2: /);
  });

  it("round-trips generated tables (property)", () => {
    fc.assert(
      fc.property(
        kinds.chain(([protocol, family]) =>
          fc.tuple(fc.constant(protocol), fc.constant(family), fc.array(rowArb(family), { maxLength: 40 })),
        ),
        ([protocol, family, rows]) => {
          const got = parseProcNet(Buffer.from(formatTable(rows, protocol, family)), "t", protocol, family);
          assert.deepEqual(got, expected(rows, protocol, family));
        },
      ),
      { numRuns: 400 },
    );
  });

  it("formats IPv6 like ipaddr.js for any 16 bytes (property)", () => {
    fc.assert(
      fc.property(
        fc.oneof(v6, fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 })),
        (b) => {
          assert.equal(formatIpv6Bytes(Uint8Array.from(b)), ipaddrText(b));
          // The same 16 bytes inside a larger buffer (a packet, a netlink message).
          assert.equal(formatIpv6Bytes(Uint8Array.from([9, 9, 9, ...b, 7]), 3), ipaddrText(b));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("answers mutated and truncated tables with rows or an InputError with a line (property)", () => {
    const edit = fc.record({
      at: fc.nat(),
      kind: fc.constantFrom("replace", "insert", "delete", "truncate"),
      text: fc.oneof(
        fc.constantFrom(" ", "\n", ":", "0", "A", "g", "\t", "\r", "\0", "-", "99999999999999999999", "é"),
        fc.string({ maxLength: 4 }),
      ),
    });
    fc.assert(
      fc.property(
        kinds.chain(([protocol, family]) =>
          fc.tuple(
            fc.constant(protocol),
            fc.constant(family),
            fc.array(rowArb(family), { minLength: 1, maxLength: 6 }),
            fc.array(edit, { minLength: 1, maxLength: 4 }),
          ),
        ),
        ([protocol, family, rows, edits]) => {
          let text = formatTable(rows, protocol, family);
          for (const e of edits) {
            const at = e.at % (text.length + 1);
            if (e.kind === "replace") text = text.slice(0, at) + e.text + text.slice(at + e.text.length);
            else if (e.kind === "insert") text = text.slice(0, at) + e.text + text.slice(at);
            else if (e.kind === "delete") text = text.slice(0, at) + text.slice(at + 1 + (e.at % 7));
            else text = text.slice(0, at);
          }
          parseOrInputError(text, protocol, family);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("answers arbitrary bytes with rows or an InputError (property)", () => {
    fc.assert(
      fc.property(kinds, fc.uint8Array({ maxLength: 300 }), ([protocol, family], bytes) => {
        const text = `${family === "ipv4" ? HEADER4 : HEADER6}\n${Buffer.from(bytes).toString("latin1")}`;
        parseOrInputError(text, protocol, family);
      }),
      { numRuns: 2000 },
    );
  });

  it("parses a table of 10,000 rows whole", () => {
    const rows: Row[] = [];
    for (let i = 0; i < 10_000; i++) {
      rows.push({
        slot: i,
        local:
          i % 2
            ? [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]
            : [0x20, 1, 0xd, 0xb8, ...zero(11), i & 255],
        localPort: i & 0xffff,
        remote: zero(16),
        remotePort: 0,
        state: i % 3 ? 0x0a : 0x01,
        inode: 100_000 + i,
      });
    }
    const buf = Buffer.from(formatTable(rows, "tcp", "ipv6"));
    // Speed is measured by bench/audit; here only that a large table parses whole.
    assert.equal(parseProcNet(buf, "big", "tcp", "ipv6").length, 6666);
  });
});
