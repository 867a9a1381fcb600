"""A peer-side client for the end-to-end filter tests: one question, one word on stdout.

  client.py memcached SOURCE DEST PORT   -> "reply" or "timeout" (memcached UDP "stats")
  client.py connect SOURCE DEST PORT     -> "connected", "refused" or "timeout" (TCP)

SOURCE is bound first, so the server sees the address the test chose from the peer's many.
"""
import socket
import struct
import sys

TIMEOUT = 1.5


def memcached(source: str, dest: str, port: int) -> str:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((source, 0))
    sock.settimeout(TIMEOUT)
    # memcached's UDP frame header: request id, sequence, datagram count, reserved.
    sock.sendto(struct.pack("!HHHH", 0x4D54, 0, 1, 0) + b"stats\r\n", (dest, port))
    try:
        sock.recvfrom(65535)
        return "reply"
    except socket.timeout:
        return "timeout"


def connect(source: str, dest: str, port: int) -> str:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.settimeout(TIMEOUT)
    try:
        sock.connect((dest, port))
        return "connected"
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "timeout"


def main() -> None:
    kind, source, dest, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    print(memcached(source, dest, port) if kind == "memcached" else connect(source, dest, port), flush=True)


if __name__ == "__main__":
    main()
