/**
 * The kernel proof's lab: a `server` namespace that runs the compiled filter and a `peer` namespace
 * that sends from many documentation-range addresses, joined by one veth pair.
 *
 * The peer's extra addresses sit on its `lo`, outside the link's IPv6 /64, and the server reaches them
 * through a default route to the peer whose neighbour entry is static. That keeps the link quiet: no
 * neighbour solicitations, advertisements or MLD reports arrive at the server's prerouting hook to move
 * a counter that a probe did not move.
 */
import { execFileSync } from "node:child_process";
import { createLab, type Lab } from "../../lab/lab.js";

export const PEER_SOURCES = {
  ipv4: [
    "192.0.2.2",
    "192.0.2.77",
    "192.0.2.200",
    "198.51.100.1",
    "198.51.100.64",
    "198.51.100.130",
    "198.51.100.254",
    "203.0.113.5",
    "203.0.113.9",
    "203.0.113.128",
    "203.0.113.250",
  ],
  ipv6: [
    "2001:db8:1::2",
    "2001:db8:2::5",
    "2001:db8:2::8000:1",
    "2001:db8:2:1::9",
    "2001:db8:8000::1",
    "2001:db8:abcd:12::34",
    "2001:db8:ffff:ffff::1",
  ],
} as const;

export interface ProofLab {
  lab: Lab;
  server: string;
  peer: string;
  serverDev: string;
  peerDev: string;
  serverMac: string;
  peerMac: string;
  serverAddress: { ipv4: string; ipv6: string };
}

function ipJson(args: string[]): Array<Record<string, unknown>> {
  return JSON.parse(execFileSync("ip", ["-j", ...args], { encoding: "utf8" })) as Array<
    Record<string, unknown>
  >;
}

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
}

function veth(ns: string): { dev: string; mac: string } {
  const link = ipJson(["-n", ns, "link", "show", "type", "veth"])[0];
  if (link === undefined) throw new Error(`no veth in ${ns}`);
  return { dev: String(link.ifname), mac: String(link.address) };
}

export async function createProofLab(): Promise<ProofLab> {
  const extra = [
    ...PEER_SOURCES.ipv4.filter((a) => a !== "192.0.2.2").map((a) => `${a}/32`),
    ...PEER_SOURCES.ipv6.filter((a) => a !== "2001:db8:1::2").map((a) => `${a}/128`),
  ];
  const lab = await createLab({
    namespaces: [{ role: "server" }, { role: "peer", addresses: extra }],
    links: [["server", "peer"]],
  });
  try {
    const server = lab.ns("server");
    const peer = lab.ns("peer");
    const s = veth(server);
    const p = veth(peer);
    // No router solicitations from the peer: they would reach the server's prerouting hook.
    run("ip", ["netns", "exec", peer, "sysctl", "-qw", `net.ipv6.conf.${p.dev}.router_solicitations=0`]);
    run("ip", ["netns", "exec", peer, "sysctl", "-qw", `net.ipv6.conf.${p.dev}.accept_ra=0`]);
    run("ip", ["-n", server, "route", "add", "default", "via", "192.0.2.2"]);
    run("ip", ["-n", server, "-6", "route", "add", "default", "via", "2001:db8:1::2"]);
    run("ip", [
      "-n",
      server,
      "-6",
      "neigh",
      "replace",
      "2001:db8:1::2",
      "lladdr",
      p.mac,
      "dev",
      s.dev,
      "nud",
      "permanent",
    ]);
    run("ip", [
      "-n",
      server,
      "neigh",
      "replace",
      "192.0.2.2",
      "lladdr",
      p.mac,
      "dev",
      s.dev,
      "nud",
      "permanent",
    ]);
    return {
      lab,
      server,
      peer,
      serverDev: s.dev,
      peerDev: p.dev,
      serverMac: s.mac,
      peerMac: p.mac,
      serverAddress: { ipv4: "192.0.2.1", ipv6: "2001:db8:1::1" },
    };
  } catch (error) {
    await lab.destroy();
    throw error;
  }
}
