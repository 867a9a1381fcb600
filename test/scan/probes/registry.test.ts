import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TCP_PROBES, UDP_PROBES } from "../../../src/scan/probes/index.js";

describe("probe registry", () => {
  it("lists each probe once, sorted by id, each request one datagram", () => {
    const ids = UDP_PROBES.map((p) => p.id);
    assert.deepEqual(ids, [...ids].sort());
    assert.equal(new Set(ids).size, ids.length);
    for (const p of UDP_PROBES) {
      assert.equal(p.transport, "udp");
      assert.ok(p.ports.length > 0);
      // One unfragmented datagram; each probe's own test pins its exact (small) size.
      const size = p.request({ id: 0xffff, sourcePort: 65535 }).length;
      assert.ok(size > 0 && size <= 1400, `${p.id} request is ${size} bytes`);
    }
    for (const p of TCP_PROBES) assert.equal(p.transport, "tcp");
  });
});
