"""The kernel proof's agent: sends crafted frames from the peer and reads nft counters in the server.

One long-lived process per test file, fed one JSON request per line on stdin, answering one JSON line
each ({"ok": true, ...} or {"ok": false, "error": ...}), so 2,000 probes cost no process spawns:
- started inside the peer namespace, it opens an AF_PACKET socket on the peer's veth: raw frames let
  the peer use any source address and set fragment fields, which no socket API does;
- then it joins the server namespace (setns) and reads counters there through libnftables, the
  library the nft binary itself uses.

Requests:
  {"op": "send", "family": 4|6, "src", "dst", "proto": "tcp"|"udp"|"icmp"|"icmpv6"|"other",
   "sport", "dport", "frag": "none"|"first"|"later", "ident", "icmpType"}
  {"op": "nft", "command": "list table inet moat"}  -> {"ok": true, "output": <nft -j text>}
  {"op": "run", "argv": ["iptables-save", "-c"]}     -> {"ok": true, "output": <stdout>}, in the server
"""
import ctypes
import json
import os
import socket
import struct
import subprocess
import sys

ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
PROTO = {"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "other": 47}
CLONE_NEWNET = 0x40000000
NFT_CTX_OUTPUT_JSON = 1 << 4


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_header(req, length: int) -> bytes:
    proto = PROTO[req["proto"]]
    if req["family"] == 4:
        src = socket.inet_pton(socket.AF_INET, req["src"])
        dst = socket.inet_pton(socket.AF_INET, req["dst"])
        return src + dst + struct.pack("!BBH", 0, proto, length)
    src = socket.inet_pton(socket.AF_INET6, req["src"])
    dst = socket.inet_pton(socket.AF_INET6, req["dst"])
    return src + dst + struct.pack("!IxxxB", length, proto)


def transport(req) -> bytes:
    """The whole L4 segment, checksummed, with a payload long enough to be split into fragments."""
    proto = req["proto"]
    header = {"udp": 8, "tcp": 20, "icmp": 8, "icmpv6": 8, "other": 0}[proto]
    payload = b"moat-proof-" + str(req["ident"]).encode() + b"-"
    # Whole segment a multiple of 8 bytes and longer than the first fragment: every fragment is then
    # well formed (RFC 8200 wants 8-byte multiples), so the kernel queues it instead of refusing it.
    payload += b"-" * ((-(header + len(payload))) % 8 + 32)
    if proto == "other":
        # GRE-numbered junk: a protocol no rule but `ip` names.
        return payload
    if proto == "udp":
        head = struct.pack("!HHHH", req["sport"], req["dport"], 8 + len(payload), 0)
    elif proto == "tcp":
        # A SYN: conntrack sees it as a new connection in stateful mode.
        head = struct.pack("!HHIIBBHHH", req["sport"], req["dport"], req["ident"], 0, 5 << 4, 0x02, 64240, 0, 0)
    else:
        # Echo request (or the given type) with the ident as its identifier: unique per packet,
        # so conntrack never mistakes one probe for the reply-seen flow of an earlier one.
        head = struct.pack("!BBHHH", req.get("icmpType", 8), 0, 0, req["ident"] & 0xFFFF, 1)
    segment = head + payload
    if proto == "icmp":
        csum = checksum(segment)
    else:
        csum = checksum(pseudo_header(req, len(segment)) + segment)
    offset = {"udp": 6, "tcp": 16, "icmp": 2, "icmpv6": 2}[proto]
    return segment[:offset] + struct.pack("!H", csum) + segment[offset + 2 :]


def ipv4(req, body: bytes, frag_field: int) -> bytes:
    src = socket.inet_pton(socket.AF_INET, req["src"])
    dst = socket.inet_pton(socket.AF_INET, req["dst"])
    head = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), req["ident"] & 0xFFFF, frag_field, 64, PROTO[req["proto"]], 0, src, dst
    )
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:] + body


def ipv6(req, body: bytes, frag) -> bytes:
    src = socket.inet_pton(socket.AF_INET6, req["src"])
    dst = socket.inet_pton(socket.AF_INET6, req["dst"])
    proto = PROTO[req["proto"]]
    if frag is not None:
        offset_units, more = frag
        ext = struct.pack("!BBHI", proto, 0, (offset_units << 3) | more, req["ident"])
        body = ext + body
        proto = 44
    head = struct.pack("!IHBB16s16s", 6 << 28, len(body), proto, 64, src, dst)
    return head + body


def frame(req) -> bytes:
    segment = transport(req)
    kind = req.get("frag", "none")
    # Fragments split at 24 bytes: the first carries a whole transport header, a later one none.
    if kind == "first":
        body, frag4, frag6 = segment[:24], 0x2000, (0, 1)
    elif kind == "later":
        # A middle fragment for odd idents, the last one (no more-fragments flag) for even ones.
        more = req["ident"] & 1
        body, frag4, frag6 = segment[24:], (0x2000 if more else 0) | 3, (3, more)
    else:
        body, frag4, frag6 = segment, 0x4000, None
    if req["family"] == 4:
        return ipv4(req, body, frag4), ETH_P_IP
    return ipv6(req, body, frag6), ETH_P_IPV6


class Nft:
    """libnftables through ctypes: one context, JSON output, commands run in this namespace."""

    def __init__(self) -> None:
        lib = ctypes.CDLL("libnftables.so.1")
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        for name in ("nft_ctx_output_set_flags",):
            getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_uint]
        for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        for name in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
            getattr(lib, name).restype = ctypes.c_char_p
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        self.lib = lib
        self.ctx = lib.nft_ctx_new(0)
        lib.nft_ctx_output_set_flags(self.ctx, NFT_CTX_OUTPUT_JSON)
        lib.nft_ctx_buffer_output(self.ctx)
        lib.nft_ctx_buffer_error(self.ctx)

    def run(self, command: str) -> str:
        rc = self.lib.nft_run_cmd_from_buffer(self.ctx, command.encode())
        output = (self.lib.nft_ctx_get_output_buffer(self.ctx) or b"").decode()
        error = (self.lib.nft_ctx_get_error_buffer(self.ctx) or b"").decode()
        if rc != 0:
            raise RuntimeError(error.strip() or f"nft failed with {rc}")
        return output


def join_namespace(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


def main() -> None:
    dev, src_mac, dst_mac, server_ns = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    eth_src = bytes.fromhex(src_mac.replace(":", ""))
    eth_dst = bytes.fromhex(dst_mac.replace(":", ""))
    # Bound while still in the peer namespace: the socket stays there after setns.
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((dev, 0))
    join_namespace(server_ns)
    nft = Nft()
    print(json.dumps({"ok": True, "ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            if req["op"] == "send":
                packet, ethertype = frame(req)
                sock.send(eth_dst + eth_src + struct.pack("!H", ethertype) + packet)
                reply = {"ok": True}
            elif req["op"] == "nft":
                reply = {"ok": True, "output": nft.run(req["command"])}
            elif req["op"] == "run":
                done = subprocess.run(req["argv"], capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise RuntimeError(done.stderr.strip() or f"{req['argv'][0]} failed with {done.returncode}")
                reply = {"ok": True, "output": done.stdout}
            else:
                reply = {"ok": False, "error": f"unknown op {req['op']}"}
        except Exception as error:  # noqa: BLE001 - reported to the caller, which fails the test
            reply = {"ok": False, "error": str(error)}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
