/**
 * End-to-end: the advisory's preset compiled to nft and loaded in the lab's server namespace closes
 * a real memcached's UDP to the outside, lets SSH-port traffic in from `admin` only, and taking the
 * table out opens things again. The evaluator is asked the same questions and must agree.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { compileNft } from "../../src/filter/compile/nft.js";
import { evaluate } from "../../src/filter/evaluate.js";
import { instantiatePreset } from "../../src/filter/presets.js";
import type { Filter, Packet } from "../../src/filter/types.js";
import { nftLabSkipReason } from "../helpers/skip.js";
import { applyFilter, removeTable } from "./kernel/proof.js";
import { createProofLab, type ProofLab } from "./kernel/proof-lab.js";

const CLIENT = fileURLToPath(new URL("./kernel/client.py", import.meta.url));
const ADMIN = "203.0.113.0/24";
const ADMIN_HOST = "203.0.113.9";
const OUTSIDER = "198.51.100.64";
const SERVER = "192.0.2.1";

const SKIP = nftLabSkipReason();
let lab: ProofLab | undefined;
let filter: Filter | undefined;

function ask(kind: "memcached" | "connect", source: string, port: number): string {
  return execFileSync(
    "ip",
    ["netns", "exec", lab!.peer, "/usr/bin/python3", CLIENT, kind, source, SERVER, String(port)],
    {
      encoding: "utf8",
    },
  ).trim();
}

function verdictFor(protocol: "tcp" | "udp", source: string, port: number): string {
  const packet: Packet = {
    protocol,
    family: "ipv4",
    source,
    destination: SERVER,
    sourcePort: 40000,
    destinationPort: port,
    fragment: false,
  };
  return evaluate(filter!, packet).verdict;
}

describe("linux-unneeded-ports against real services", { skip: SKIP }, () => {
  before(async () => {
    lab = await createProofLab();
    await lab.lab.start("server", {
      kind: "memcached",
      name: "memcached",
      listen: "0.0.0.0",
      tcpPort: 11211,
      udpPort: 11211,
    });
    await lab.lab.start("server", {
      kind: "listener",
      name: "sshd",
      sockets: [{ protocol: "tcp", address: "0.0.0.0", port: 22 }],
    });
    filter = await instantiatePreset("linux-unneeded-ports", { admin: ADMIN, ntp: "192.0.2.123" });
  });

  after(async () => {
    await lab?.lab.destroy();
  });

  test("before: memcached answers UDP from outside, SSH port open to all", () => {
    assert.equal(ask("memcached", OUTSIDER, 11211), "reply");
    assert.equal(ask("connect", OUTSIDER, 22), "connected");
  });

  test("applied: memcached UDP no longer answers; SSH port from admin only; evaluator agrees", () => {
    applyFilter(lab!, compileNft(filter!).output);
    assert.equal(ask("memcached", OUTSIDER, 11211), "timeout");
    assert.equal(verdictFor("udp", OUTSIDER, 11211), "deny");
    assert.equal(ask("memcached", ADMIN_HOST, 11211), "timeout", "the preset opens only SSH to admin");
    assert.equal(ask("connect", ADMIN_HOST, 22), "connected");
    assert.equal(verdictFor("tcp", ADMIN_HOST, 22), "allow");
    assert.equal(ask("connect", OUTSIDER, 22), "timeout");
    assert.equal(verdictFor("tcp", OUTSIDER, 22), "deny");
  });

  test("removed: the table goes and memcached answers again", () => {
    removeTable(lab!);
    assert.equal(ask("memcached", OUTSIDER, 11211), "reply");
    assert.equal(ask("connect", OUTSIDER, 22), "connected");
  });
});
