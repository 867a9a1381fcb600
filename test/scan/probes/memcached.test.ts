import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { memcachedProbe as probe } from "../../../src/scan/probes/memcached.js";
import { robustnessProperties } from "./never-throws.js";

const cookie = { id: 0x1234, sourcePort: 40000 };

/** The head of a real memcached 1.6.x `stats` reply (values from a Debian 12 memcached -U 11211). */
const STATS = [
  "STAT pid 1842",
  "STAT uptime 3617",
  "STAT time 1732360812",
  "STAT version 1.6.18",
  "STAT libevent 2.1.12-stable",
  "STAT pointer_size 64",
  "STAT rusage_user 0.151803",
  "STAT rusage_system 0.108431",
  "STAT max_connections 1024",
  "STAT curr_connections 2",
  "STAT total_connections 7",
  "STAT rejected_connections 0",
  "STAT connection_structures 3",
  ...Array.from({ length: 60 }, (_, i) => `STAT some_counter_${i} ${i * 1000}`),
  "STAT threads 4",
  "END",
  "",
].join("\r\n");

/** Split the text into datagrams of at most `size` payload bytes, each with the UDP frame header. */
function frames(text: string, id: number, size = 400): Buffer[] {
  const body = Buffer.from(text, "latin1");
  const total = Math.ceil(body.length / size);
  return Array.from({ length: total }, (_, seq) => {
    const h = Buffer.alloc(8);
    h.writeUInt16BE(id, 0);
    h.writeUInt16BE(seq, 2);
    h.writeUInt16BE(total, 4);
    return Buffer.concat([h, body.subarray(seq * size, (seq + 1) * size)]);
  });
}

describe("memcached probe", () => {
  it("sends the 8-byte frame header with the cookie as request id, then stats", () => {
    const req = probe.request(cookie);
    // id 0x1234, sequence 0, total 1, reserved 0, "stats\r\n"
    assert.equal(req.toString("hex"), "123400000001000073746174730d0a");
    assert.equal(req.length, 15);
    assert.equal(probe.request({ id: 0xffff, sourcePort: 1 }).subarray(0, 2).toString("hex"), "ffff");
  });

  it("matches its own datagrams only", () => {
    const dgrams = frames(STATS, cookie.id);
    assert.ok(dgrams.length > 3);
    for (const d of dgrams) assert.equal(probe.match(d, cookie), true);
    assert.equal(probe.match(frames(STATS, 0x4321)[0]!, cookie), false, "wrong request id");
    assert.equal(probe.match(Buffer.alloc(0), cookie), false, "empty");
    assert.equal(probe.match(dgrams[0]!.subarray(0, 7), cookie), false, "truncated header");
    assert.equal(probe.match(dgrams[0]!.subarray(0, 8), cookie), false, "header only");
    const http = Buffer.concat([dgrams[0]!.subarray(0, 8), Buffer.from("HTTP/1.1 400 Bad")]);
    assert.equal(probe.match(http, cookie), false, "not memcached text");
    const reserved = Buffer.from(dgrams[0]!);
    reserved.writeUInt16BE(1, 6);
    assert.equal(probe.match(reserved, cookie), false, "reserved not zero");
    const badSeq = Buffer.from(dgrams[0]!);
    badSeq.writeUInt16BE(9, 2);
    badSeq.writeUInt16BE(9, 4);
    assert.equal(probe.match(badSeq, cookie), false, "sequence >= total");
  });

  it("reassembles datagrams that arrive out of order and duplicated", () => {
    const dgrams = frames(STATS, cookie.id);
    const shuffled = [
      dgrams[2]!,
      dgrams[0]!,
      ...dgrams.slice(3).reverse(),
      dgrams[1]!,
      dgrams[0]!,
      dgrams[2]!,
    ];
    const r = probe.parse(shuffled);
    assert.ok(r);
    assert.deepEqual(r.fields, {
      version: "1.6.18",
      uptime: 3617,
      curr_connections: 2,
      total_connections: 7,
      pid: 1842,
      pointer_size: 64,
      time: 1732360812,
      datagrams: dgrams.length,
      missing_datagrams: 0,
    });
    assert.equal(r.abusable, true);
  });

  it("the answer is complete once every datagram of its announced total is in, in any order", () => {
    const all = frames(STATS, cookie.id);
    assert.ok(all.length >= 3);
    assert.equal(probe.complete!([]), false);
    assert.equal(probe.complete!(all.slice(1)), false, "the first is missing");
    assert.equal(probe.complete!([...all].reverse()), true);
    assert.equal(
      probe.complete!([all[0]!, all[0]!, ...all.slice(2)]),
      false,
      "a duplicate is not the missing one",
    );
    assert.equal(probe.complete!([Buffer.from("garbage"), ...all]), true);
    assert.equal(probe.complete!(frames("STAT pid 1\r\nEND\r\n", cookie.id)), true, "one datagram");
  });

  it("reads the STAT values a line-by-line match reads, whatever the lines", () => {
    // The field-by-field reference: split on CRLF, match each line, first key wins.
    const reference = (text: string) => {
      const stats = new Map<string, string>();
      for (const line of text.split("\r\n")) {
        const m = /^STAT (\S+) (.*)$/.exec(line);
        if (m && !stats.has(m[1]!)) stats.set(m[1]!, m[2]!.slice(0, 128));
      }
      return stats;
    };
    const piece = fc.constantFrom(
      "STAT version 1.6.18",
      "STAT version ",
      "STAT version  two spaces",
      "STAT versionX 9",
      "STAT pid 42",
      "STAT pid 4\n2",
      "STAT uptime x\ry",
      "STAT time 99999999999999999",
      "STAT",
      "STAT pointer_size 64",
      "xSTAT pid 7",
      "END",
      "",
      "\n",
      "\r",
      `STAT version ${"v".repeat(200)}`,
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), fc.constantFrom("\r\n", "\n", ""), (lines, eol) => {
        const text = lines.join("\r\n") + eol;
        const r = probe.parse(frames(text, cookie.id, 1000));
        const stats = reference(text);
        if (r === null) return stats.size === 0;
        const num = (k: string) => (/^\d{1,15}$/.test(stats.get(k) ?? "") ? Number(stats.get(k)) : null);
        assert.equal(
          r.fields.version,
          stats.get("version")?.replace(/[^\x20-\x7e]/g, "") ?? null,
          JSON.stringify(text),
        );
        assert.equal(r.fields.pid, num("pid"));
        assert.equal(r.fields.uptime, num("uptime"));
        assert.equal(r.fields.time, num("time"));
        assert.equal(r.note.includes("stats over UDP"), stats.size > 0);
        return true;
      }),
      { numRuns: 3000 },
    );
  });

  it("keeps what it can when datagrams are missing", () => {
    const dgrams = frames(STATS, cookie.id, 100);
    const r = probe.parse([dgrams[0]!, dgrams[1]!, dgrams[5]!]);
    assert.ok(r);
    assert.equal(r.fields.pid, 1842);
    assert.equal(r.fields.missing_datagrams, dgrams.length - 3);
    assert.equal(r.abusable, true);
  });

  it("reports a memcached that refuses stats, and nothing for non-memcached text", () => {
    const err = frames("ERROR\r\n", cookie.id);
    assert.equal(probe.match(err[0]!, cookie), true);
    const r = probe.parse(err);
    assert.ok(r);
    assert.equal(r.fields.version, null);
    assert.equal(r.abusable, true);
    assert.equal(probe.parse(frames("hello world\r\n", cookie.id)), null);
    assert.equal(probe.parse([]), null);
    assert.equal(probe.parse([Buffer.from("STAT pid 1\r\n")]), null, "no frame header");
  });

  robustnessProperties(probe, cookie, frames(STATS, cookie.id, 1400));
});
