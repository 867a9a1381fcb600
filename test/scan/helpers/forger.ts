/**
 * A hostile peer for scan tests: python3 in the server's namespace that watches the scanner's requests
 * arrive (AF_PACKET) and answers each with forged replies through a raw socket, racing the real daemon:
 * the right address and port with a wrong cookie (request id, DNS id or question, NTP sequence, RPC
 * xid, SNMP request id), the right cookie from a wrong source port or address, and replies of another
 * probe's protocol to a socket that never asked for it. Meanwhile it sprays wrong-id replies at random
 * ports of the client. Every forgery carries a marker ("forged", 6.6.6, 203.0.113.66, program 999999)
 * so a scan that swallowed one shows it.
 *
 * It never sends a reply that would be right by the protocol's own rules (chargen, qotd and monlist
 * have no id: their cookie is the socket, so a reply from the service's port to the asking socket is a
 * genuine answer as far as any scanner can know).
 */
import { type ChildProcess, spawn } from "node:child_process";

/** Markers a forged reply would put into a scan's output. */
export const FORGED_MARKERS = ["forged", "6.6.6", "203.0.113.66", "999999"];

const FORGER_PY = String.raw`
import json, os, random, signal, socket, struct, sys, threading, time

client = sys.argv[1]
servers = sys.argv[2].split(",")
ETH_P_IP = 0x0800
PACKET_HOST = 0

sniff = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
lock = threading.Lock()
stats = {"requests": 0, "forged": 0, "sprayed": 0}
# (server address, server port, kind) -> client ports that sent such a request: a cross-socket
# forgery must never go to one of them, where it could be the genuine answer.
askers = {}

def send(src, sport, dport, payload):
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0)  # checksum 0: none (IPv4)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp) + len(payload), 0, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(client))
    raw.sendto(ip + udp + payload, (client, 0))

def other(addr):
    return next(s for s in servers if s != addr)

# ---- memcached
MC_BODY = b"STAT pid 666\r\nSTAT version 6.6.6-forged\r\nSTAT uptime 999999\r\nEND\r\n"
def mc(rid, seq=0, total=1):
    return struct.pack(">HHHH", rid, seq, total, 0) + MC_BODY

# ---- DNS
def dns_question(q):
    i = 12
    while i < len(q) and q[i] != 0:
        i += 1 + q[i]
    return q[12:i + 5]

def dns_reply(rid, question):
    qtype, qclass = struct.unpack(">HH", question[-4:])
    if qtype == 16:
        txt = b"forged-dns 6.6.6"
        rr = struct.pack(">HHHIH", 0xc00c, 16, qclass, 60, len(txt) + 1) + bytes([len(txt)]) + txt
    else:
        rr = struct.pack(">HHHIH", 0xc00c, 1, 1, 60, 4) + socket.inet_aton("203.0.113.66")
    return struct.pack(">HHHHHH", rid, 0x8580, 1, 1, 0, 0) + question + rr

def dns_name(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"

# ---- NTP
NTP_TEXT = b'version="ntpd 6.6.6-forged", system="forged", stratum=1'
def ntp6(seq):
    text = NTP_TEXT + bytes(-len(NTP_TEXT) % 4)
    return struct.pack(">BBHHHHH", 0x16, 0x82, seq, 0, 0, 0, len(NTP_TEXT)) + text

def ntp7():
    # response, version 2, mode 7; implementation 3, MON_GETLIST_1; one 72-byte item
    return bytes([0x97, 0, 3, 42, 0x00, 0x01, 0x00, 72]) + bytes(72)

# ---- portmap
def rpc_reply(xid):
    return struct.pack(">12I", xid, 1, 0, 0, 0, 0, 1, 999999, 1, 17, 6666, 0)

# ---- SNMP (BER)
def tlv(tag, value):
    n = len(value)
    length = bytes([n]) if n < 128 else bytes([0x81, n])
    return bytes([tag]) + length + value

def ber_int(v):
    return tlv(0x02, v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True))

def children(buf, start, end):
    out = []
    while start < end:
        tag, n, i = buf[start], buf[start + 1], start + 2
        if n & 0x80:
            k = n & 0x7f
            n, i = int.from_bytes(buf[i:i + k], "big"), i + k
        out.append((tag, i, i + n))
        start = i + n
    return out

def snmp_request_id(q):
    (_, s, e), = children(q, 0, len(q))[:1]
    top = children(q, s, e)
    _, ps, pe = top[2]
    _, rs, re = children(q, ps, pe)[0]
    return int.from_bytes(q[rs:re], "big", signed=True)

SYS_DESCR = bytes([0x06, 8, 0x2b, 6, 1, 2, 1, 1, 1, 0])
def snmp_reply(rid):
    vb = tlv(0x30, tlv(0x30, SYS_DESCR + tlv(0x04, b"forged-agent 6.6.6")))
    pdu = tlv(0xa2, ber_int(rid) + ber_int(0) + ber_int(0) + vb)
    return tlv(0x30, ber_int(1) + tlv(0x04, b"public") + pdu)

def forgeries(dst, dport, sport, q):
    """(source address, source port, destination port, payload) for one observed request."""
    alt = other(dst)
    out = []
    if dport == 11211 and len(q) >= 8:
        rid = struct.unpack(">H", q[:2])[0]
        out += [(dst, 11211, sport, mc(rid ^ 0x5a5a)), (dst, 11211, sport, mc(rid ^ 0x5a5a, 1, 2)),
                (dst, 11212, sport, mc(rid)), (alt, 11211, sport, mc(rid))]
    elif dport == 53 and len(q) > 16:
        rid = struct.unpack(">H", q[:2])[0]
        question = dns_question(q)
        wrong_name = dns_name("forged.example") + question[-4:]
        out += [(dst, 53, sport, dns_reply(rid ^ 0x5a5a, question)),
                (dst, 53, sport, dns_reply(rid, wrong_name)),
                (dst, 54, sport, dns_reply(rid, question)), (alt, 53, sport, dns_reply(rid, question))]
    elif dport == 123 and len(q) >= 4 and q[0] & 7 == 6:
        seq = struct.unpack(">H", q[2:4])[0]
        out += [(dst, 123, sport, ntp6(seq ^ 0x5a5a)), (dst, 124, sport, ntp6(seq)),
                (alt, 123, sport, ntp6(seq))]
        if sport not in askers.get((dst, 123, "mode7"), ()):
            out.append((dst, 123, sport, ntp7()))  # monlist's cookie is its socket: not this one
    elif dport == 123 and len(q) >= 4 and q[0] & 7 == 7:
        out += [(dst, 123, sport, ntp6(random.randrange(65536))), (dst, 124, sport, ntp7()),
                (alt, 123, sport, ntp7())]
    elif dport in (17, 19):
        text = b"forged 6.6.6 " * 8 + b"\r\n"
        out += [(dst, dport - 1, sport, text), (alt, dport, sport, text)]
        for p in askers.get((dst, "any"), ()):
            if p not in askers.get((dst, dport, "text"), ()):
                out.append((dst, dport, p, text))  # right service port, a socket that never asked
    elif dport == 111 and len(q) >= 4:
        xid = struct.unpack(">I", q[:4])[0]
        out += [(dst, 111, sport, rpc_reply(xid ^ 0x5a5a)), (dst, 112, sport, rpc_reply(xid)),
                (alt, 111, sport, rpc_reply(xid))]
    elif dport == 161:
        try:
            rid = snmp_request_id(q)
        except Exception:
            return out
        out += [(dst, 161, sport, snmp_reply(rid ^ 0x5a5a)), (dst, 162, sport, snmp_reply(rid)),
                (alt, 161, sport, snmp_reply(rid))]
    return out

def kind_of(dport, q):
    if dport == 123 and q and q[0] & 7 == 7:
        return "mode7"
    if dport in (17, 19):
        return "text"
    return "other"

def spray():
    # Wrong-id replies from the services' own ports to random client ports. No chargen, qotd or
    # monlist shapes from their ports here: with no id, a lucky hit on the asking socket is genuine.
    while True:
        for _ in range(200):
            src = random.choice(servers)
            port = random.randrange(32768, 61000)
            pick = random.randrange(5)
            rid = random.randrange(65536)
            if pick == 0:
                send(src, 11211, port, mc(rid))
            elif pick == 1:
                send(src, 53, port, dns_reply(rid, dns_name("forged.example") + struct.pack(">HH", 1, 1)))
            elif pick == 2:
                send(src, 123, port, ntp6(rid))
            elif pick == 3:
                send(src, 111, port, rpc_reply((0x6d6f << 16) | rid))
            else:
                send(src, 18, port, b"forged 6.6.6\r\n")
            stats["sprayed"] += 1
        time.sleep(0.02)

def stop(*_):
    with lock:
        print(json.dumps(stats), flush=True)
    os._exit(0)

signal.signal(signal.SIGTERM, stop)
threading.Thread(target=spray, daemon=True).start()
print("ready", flush=True)
while True:
    pkt, addr = sniff.recvfrom(65535)
    if addr[2] != PACKET_HOST or len(pkt) < 28 or pkt[9] != 17:
        continue
    ihl = (pkt[0] & 15) * 4
    src, dst = socket.inet_ntoa(pkt[12:16]), socket.inet_ntoa(pkt[16:20])
    if src != client or dst not in servers:
        continue
    sport, dport = struct.unpack(">HH", pkt[ihl:ihl + 4])
    q = pkt[ihl + 8:]
    with lock:
        stats["requests"] += 1
        askers.setdefault((dst, "any"), set()).add(sport)
        askers.setdefault((dst, dport, kind_of(dport, q)), set()).add(sport)
        for fsrc, fsport, fdport, payload in forgeries(dst, dport, sport, q):
            for _ in range(3):
                send(fsrc, fsport, fdport, payload)
                stats["forged"] += 1
`;

export interface ForgerStats {
  requests: number;
  forged: number;
  sprayed: number;
}

export interface Forger {
  /** Stops it (SIGTERM) and returns what it did. */
  stop(): Promise<ForgerStats>;
}

/**
 * Starts the forger in `netns` (the servers' namespace) against `client`; `servers` are the IPv4
 * addresses it impersonates (at least two: each is the other's "wrong source address").
 */
export function startForger(netns: string, client: string, servers: string[]): Promise<Forger> {
  const child: ChildProcess = spawn(
    "ip",
    ["netns", "exec", netns, "python3", "-c", FORGER_PY, client, servers.join(",")],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  let err = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`forger not ready after 5 s: ${err}`));
    }, 5000);
    const early = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`forger exited (${code}) before it was ready: ${err}`));
    };
    child.once("exit", early);
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      out += chunk;
      if (!out.startsWith("ready\n")) return;
      clearTimeout(timer);
      child.off("exit", early);
      resolve({
        async stop(): Promise<ForgerStats> {
          child.kill("SIGTERM");
          await Promise.race([exited, new Promise((r) => setTimeout(r, 3000).unref())]);
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
          const last = out.trim().split("\n").at(-1) ?? "";
          try {
            return JSON.parse(last) as ForgerStats;
          } catch {
            throw new Error(`forger gave no stats: ${JSON.stringify(out)} ${err}`);
          }
        },
      });
    });
  });
}
