#!/usr/bin/env node
/**
 * How many UDP probes per second the scan engine sends and decides at --rate max, on one core,
 * against one lab namespace. Not a test, and not the comparison with nmap (bench/scan/run.mjs is).
 *
 *   sudo node bench/scan/engine-rate.mjs [--ports 128] [--timeout 500]
 *
 * Setup (root; nothing leaves the machine): two throwaway namespaces joined by a veth pair on
 * 192.0.2.0/24; the server namespace has local routes on lo for 198.51.100.0/24 and 203.0.113.0/24
 * (every address of both is its own, so one memcached -U 11211, bound to each of them, answers on all 512). The engine runs in
 * the client namespace and probes 512 addresses x N UDP ports: 11211 (memcached, must answer:
 * recall) and N-1 closed ports (must never be open: false positives). Retries 0, so the time is
 * one send pass plus one timeout.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const PORTS = flag("--ports", 128);
const TIMEOUT = flag("--timeout", 500);
const NETS = ["198.51.100", "203.0.113"];

if (args.includes("--child")) await child();
else await parent();

async function parent() {
  if (process.getuid?.() !== 0) {
    console.error("engine-rate: needs root for network namespaces (sudo)");
    process.exit(3);
  }
  const id = randomBytes(3).toString("hex");
  const srv = `moat-bench-${id}-srv`;
  const cli = `moat-bench-${id}-cli`;
  const ip = (...a) => execFileSync("ip", a, { stdio: ["ignore", "pipe", "pipe"] }).toString();
  const cleanup = () => {
    for (const ns of [srv, cli]) {
      try {
        for (const pid of ip("netns", "pids", ns).split("\n").filter(Boolean))
          process.kill(Number(pid), "SIGKILL");
      } catch {}
      try {
        ip("netns", "del", ns);
      } catch {}
    }
  };
  process.on("exit", cleanup);
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));
  try {
    ip("netns", "add", srv);
    ip("netns", "add", cli);
    for (const ns of [srv, cli]) ip("-n", ns, "link", "set", "lo", "up");
    ip("link", "add", `vb${id}a`, "netns", cli, "type", "veth", "peer", "name", `vb${id}b`, "netns", srv);
    ip("-n", cli, "addr", "add", "192.0.2.1/24", "dev", `vb${id}a`);
    ip("-n", srv, "addr", "add", "192.0.2.2/24", "dev", `vb${id}b`);
    ip("-n", cli, "link", "set", `vb${id}a`, "up");
    ip("-n", srv, "link", "set", `vb${id}b`, "up");
    for (const net of NETS) {
      // A local route, not an address: an address would make .255 a broadcast address.
      ip("-n", srv, "route", "add", "local", `${net}.0/24`, "dev", "lo");
      ip("-n", cli, "route", "add", `${net}.0/24`, "via", "192.0.2.2");
    }
    // Bound to every address, not 0.0.0.0: a wildcard UDP socket answers from the address the route
    // to the client prefers (192.0.2.2), and a reply from another address is rightly not a reply.
    const listen = NETS.flatMap((net) => Array.from({ length: 256 }, (_, h) => `${net}.${h}`)).join(",");
    const memcached = spawn(
      "ip",
      [
        "netns",
        "exec",
        srv,
        "memcached",
        "-u",
        "nobody",
        "-l",
        listen,
        "-p",
        "11211",
        "-U",
        "11211",
        "-t",
        "4",
        "-m",
        "16",
        "-c",
        "4096",
      ],
      {
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
    await new Promise((r) => setTimeout(r, 1500));
    const self = fileURLToPath(import.meta.url);
    const run = spawn(
      "ip",
      ["netns", "exec", cli, process.execPath, "--import", "tsx", self, "--child", ...args],
      {
        stdio: "inherit",
      },
    );
    const code = await new Promise((r) => run.on("exit", r));
    memcached.kill("SIGKILL");
    process.exitCode = code ?? 1;
  } finally {
    cleanup();
  }
}

async function child() {
  const { UdpEngine } = await import("../../src/scan/udp-engine.ts");
  const { RateLimiter } = await import("../../src/scan/rate.ts");
  const { GENERIC_UDP_PROBE } = await import("../../src/scan/scan.ts");
  const { memcachedProbe } = await import("../../src/scan/probes/memcached.ts");
  const ports = [11211, ...Array.from({ length: PORTS - 1 }, (_, i) => 20000 + i)];
  let sentAllAt = 0;
  function* jobs() {
    for (const port of ports)
      for (const net of NETS)
        for (let host = 0; host < 256; host++)
          yield {
            ip: `${net}.${host}`,
            family: "ipv4",
            port,
            probes: [port === 11211 ? memcachedProbe : GENERIC_UDP_PROBE],
          };
    sentAllAt = performance.now(); // asked for the job after the last: every probe has been sent
  }
  const total = ports.length * 512;
  const engine = new UdpEngine({
    rate: new RateLimiter({ rate: Number.POSITIVE_INFINITY }),
    retries: 0,
    timeoutMs: TIMEOUT,
    families: ["ipv4"],
  });
  const started = performance.now();
  let open = 0;
  const missed = [];
  let falsePositives = 0;
  let decided = 0;
  const cpu0 = process.cpuUsage();
  for await (const o of engine.run(jobs())) {
    decided++;
    const state = o.probes[0].state;
    if (o.job.port === 11211 && state === "open") open++;
    else if (o.job.port === 11211) missed.push(o.job.ip);
    if (o.job.port !== 11211 && state === "open") falsePositives++;
  }
  const wall = performance.now() - started;
  const cpu = process.cpuUsage(cpu0);
  const sendPhase = (sentAllAt || performance.now()) - started;
  const fmt = (n) => Math.round(n).toLocaleString("en-US");
  console.log(
    `probes            ${fmt(total)} (512 addresses x ${ports.length} UDP ports), retries 0, timeout ${TIMEOUT} ms`,
  );
  console.log(`decided           ${fmt(decided)}`);
  console.log(
    `send phase        ${sendPhase.toFixed(0)} ms  -> ${fmt((total / sendPhase) * 1000)} probes/s sent`,
  );
  console.log(
    `end to end        ${wall.toFixed(0)} ms  -> ${fmt((total / wall) * 1000)} probes/s (includes the final ${TIMEOUT} ms timeout)`,
  );
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(
    `CPU (this process) user ${(cpu.user / 1000).toFixed(0)} ms, system ${(cpu.system / 1000).toFixed(0)} ms -> ${fmt((total / cpuMs) * 1000)} probes per CPU second`,
  );
  console.log(
    `memcached recall  ${open}/512   false positives ${falsePositives}${missed.length ? `   missed: ${missed.join(" ")}` : ""}`,
  );
  console.log(
    `datagrams         sent ${fmt(engine.stats.sent)}, received ${fmt(engine.stats.received)}, stray ${engine.stats.stray}`,
  );
}
