/**
 * What the synthetic telescope receives, as data (the port mix and the payloads scanners send), and
 * the one function that writes such a packet as an Ethernet frame straight into a Buffer: IPv4 or
 * IPv6, TCP SYN, UDP probe or ICMP echo, with correct IP/TCP/UDP/ICMP checksums so any reader
 * (tcpdump -v, tshark) takes it for real. No per-packet objects: numbers in, bytes out.
 */

export type SynthProtocol = "tcp" | "udp" | "icmp";

export interface Service {
  protocol: SynthProtocol;
  /** Destination port (0 for ICMP); with `span`, the first of `span` consecutive ports picked at random. */
  port: number;
  span?: number;
  /** Relative share of background packets. */
  weight: number;
  /** UDP payload a scanner sends there. */
  payload?: Buffer;
}

const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ""), "hex");
const ascii = (s: string) => Buffer.from(s, "latin1");

/** memcached UDP frame (request id 1, sequence 0, 1 datagram) + `stats`: the 2018 reflection probe. */
export const MEMCACHED_STATS = Buffer.concat([hex("0001 0000 0001 0000"), ascii("stats\r\n")]);

/** Probes keyed by UDP port: the payloads scanners of those services send (see src/observe/payloads.ts). */
export const UDP_PAYLOADS: ReadonlyMap<number, Buffer> = new Map([
  [11211, MEMCACHED_STATS],
  [53, hex("1234 0100 0001 0000 0000 0000 03697363 036f7267 00 00ff 0001")], // isc.org ANY
  [123, Buffer.concat([hex("17 00 03 2a"), Buffer.alloc(44)])], // NTP mode 7 monlist
  [
    1900,
    ascii(
      'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n',
    ),
  ],
  [161, hex("3026 020101 0406 7075626c6963 a019 0204 00000001 020100 020100 300b 3009 0605 2b06010201 0500")],
  [5060, ascii("OPTIONS sip:nm SIP/2.0\r\nVia: SIP/2.0/UDP nm;branch=foo\r\nMax-Forwards: 70\r\n\r\n")],
  [
    137,
    Buffer.concat([
      hex("80f0 0010 0001 0000 0000 0000 20"),
      ascii("CK".padEnd(32, "A")),
      hex("00 0021 0001"),
    ]),
  ],
  [389, hex("3025 020101 6320 0400 0a0100 0a0100 020100 020100 010100 870b 6f626a656374436c617373 3000")],
  [19, hex("01")],
]);

/**
 * Background scanning as telescopes see it (TSUBAME, NICTER, DShield top ports): Telnet and SMB far
 * ahead and steady, then SSH, web, RDP, IoT ports, a tail of high ports, the UDP reflector ports,
 * pings, and a quiet memcached.
 */
export const BACKGROUND: readonly Service[] = [
  { protocol: "tcp", port: 23, weight: 250 },
  { protocol: "tcp", port: 445, weight: 150 },
  { protocol: "tcp", port: 22, weight: 60 },
  { protocol: "tcp", port: 80, weight: 50 },
  { protocol: "tcp", port: 443, weight: 30 },
  { protocol: "tcp", port: 8080, weight: 30 },
  { protocol: "tcp", port: 3389, weight: 30 },
  { protocol: "tcp", port: 2323, weight: 20 },
  { protocol: "tcp", port: 7547, weight: 15 },
  { protocol: "tcp", port: 1433, weight: 15 },
  { protocol: "tcp", port: 5900, weight: 15 },
  { protocol: "tcp", port: 5555, weight: 10 },
  { protocol: "tcp", port: 8000, weight: 10 },
  { protocol: "tcp", port: 81, weight: 10 },
  { protocol: "tcp", port: 8443, weight: 10 },
  { protocol: "tcp", port: 6379, weight: 10 },
  { protocol: "tcp", port: 3306, weight: 10 },
  { protocol: "tcp", port: 21, weight: 10 },
  { protocol: "tcp", port: 25, weight: 10 },
  { protocol: "tcp", port: 9200, weight: 8 },
  { protocol: "tcp", port: 37215, weight: 8 },
  { protocol: "tcp", port: 52869, weight: 8 },
  { protocol: "tcp", port: 10000, span: 1000, weight: 40 },
  { protocol: "udp", port: 53, weight: 30 },
  { protocol: "udp", port: 123, weight: 20 },
  { protocol: "udp", port: 161, weight: 15 },
  { protocol: "udp", port: 1900, weight: 15 },
  { protocol: "udp", port: 5060, weight: 15 },
  { protocol: "udp", port: 137, weight: 10 },
  { protocol: "udp", port: 389, weight: 5 },
  { protocol: "udp", port: 19, weight: 5 },
  { protocol: "udp", port: 11211, weight: 0.5 },
  { protocol: "icmp", port: 0, weight: 60 },
];

const ETHERNET = 14;
const IPV4 = 20;
const IPV6 = 40;
const TCP = 20;
const UDP = 8;
const ICMP = 8;
const MAX_PAYLOAD = 255;

/** The largest frame writeFrame writes: room to leave in the output buffer. */
export const FRAME_MAX = ETHERNET + IPV6 + TCP + MAX_PAYLOAD;

/** Precomputed per service: the payload and its ones'-complement sum (payloads sit at even offsets). */
export interface FrameTemplate {
  protocol: SynthProtocol;
  payload: Buffer;
  payloadSum: number;
}

export function frameTemplate(protocol: SynthProtocol, payload: Buffer = Buffer.alloc(0)): FrameTemplate {
  if (payload.length > MAX_PAYLOAD)
    throw new RangeError(`payload of ${payload.length} bytes > ${MAX_PAYLOAD}`);
  return { protocol, payload, payloadSum: sum16(payload, 0, payload.length) };
}

/** Big-endian 16-bit word sum of buf[from, to), odd tail padded with zero; not folded. */
function sum16(buf: Buffer, from: number, to: number): number {
  let sum = 0;
  let i = from;
  for (; i + 1 < to; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < to) sum += buf[i]! << 8;
  return sum;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

function put16(buf: Buffer, at: number, value: number): void {
  buf[at] = value >>> 8;
  buf[at + 1] = value & 0xff;
}

function put32(buf: Buffer, at: number, value: number): void {
  buf[at] = value >>> 24;
  buf[at + 1] = (value >>> 16) & 0xff;
  buf[at + 2] = (value >>> 8) & 0xff;
  buf[at + 3] = value & 0xff;
}

/** The telescope's prefixes: 198.18.0.0/16 (RFC 2544 benchmark range) and 2001:db8:7::/48. */
const DST4 = 0xc6120000;
const DST6_HIGH = [0x2001, 0x0db8, 0x0007];

/**
 * Writes one Ethernet frame at `at` and returns its length. `source` is the 32-bit source address
 * (IPv4), or the 32 bits that make an IPv6 source unique (2001:db8:SSSS:SSSS::1). `r1` and `r2`
 * are random 32-bit words: destination host and TTL, source port and IP id / TCP sequence.
 */
export function writeFrame(
  buf: Buffer,
  at: number,
  t: FrameTemplate,
  port: number,
  ipv6: boolean,
  source: number,
  r1: number,
  r2: number,
  r3: number,
): number {
  const l4Length = t.protocol === "tcp" ? TCP : (t.protocol === "udp" ? UDP : ICMP) + t.payload.length;
  // Ethernet: fixed locally administered MACs, IPv4 or IPv6 type.
  buf.fill(0, at, at + 12);
  buf[at] = 0x02;
  buf[at + 5] = 0x01;
  buf[at + 6] = 0x02;
  buf[at + 11] = 0x02;
  put16(buf, at + 12, ipv6 ? 0x86dd : 0x0800);
  const ip = at + ETHERNET;
  const nextHeader = t.protocol === "tcp" ? 6 : t.protocol === "udp" ? 17 : ipv6 ? 58 : 1;
  const ttl = 32 + (r1 >>> 25);
  const dstLow = r1 & 0xffff;
  let pseudo: number;
  let l4: number;
  if (ipv6) {
    put32(buf, ip, 0x60000000);
    put16(buf, ip + 4, l4Length);
    buf[ip + 6] = nextHeader;
    buf[ip + 7] = ttl;
    put32(buf, ip + 8, 0x20010db8);
    put32(buf, ip + 12, source);
    buf.fill(0, ip + 16, ip + 38);
    put16(buf, ip + 22, 1);
    put16(buf, ip + 24, DST6_HIGH[0]!);
    put16(buf, ip + 26, DST6_HIGH[1]!);
    put16(buf, ip + 28, DST6_HIGH[2]!);
    put16(buf, ip + 38, dstLow);
    pseudo = sum16(buf, ip + 8, ip + 40) + l4Length + nextHeader;
    l4 = ip + IPV6;
  } else {
    buf[ip] = 0x45;
    buf[ip + 1] = 0;
    put16(buf, ip + 2, IPV4 + l4Length);
    put16(buf, ip + 4, r2 & 0xffff);
    put16(buf, ip + 6, 0);
    buf[ip + 8] = ttl;
    buf[ip + 9] = nextHeader;
    put16(buf, ip + 10, 0);
    put32(buf, ip + 12, source);
    put32(buf, ip + 16, (DST4 | dstLow) >>> 0);
    put16(buf, ip + 10, fold(sum16(buf, ip, ip + IPV4)));
    pseudo = sum16(buf, ip + 12, ip + 20) + l4Length + nextHeader;
    l4 = ip + IPV4;
  }
  const sourcePort = 1024 + ((r2 >>> 16) % 64512);
  if (t.protocol === "tcp") {
    put16(buf, l4, sourcePort);
    put16(buf, l4 + 2, port);
    put32(buf, l4 + 4, r3);
    put32(buf, l4 + 8, 0);
    buf[l4 + 12] = 0x50;
    buf[l4 + 13] = 0x02; // SYN
    put16(buf, l4 + 14, 1024);
    put32(buf, l4 + 16, 0);
    put16(buf, l4 + 16, fold(pseudo + sum16(buf, l4, l4 + TCP)));
  } else if (t.protocol === "udp") {
    put16(buf, l4, sourcePort);
    put16(buf, l4 + 2, port);
    put16(buf, l4 + 4, l4Length);
    put16(buf, l4 + 6, 0);
    t.payload.copy(buf, l4 + UDP);
    const sum = fold(pseudo + sum16(buf, l4, l4 + UDP) + t.payloadSum);
    put16(buf, l4 + 6, sum === 0 ? 0xffff : sum); // 0 means "no checksum" in UDP
  } else {
    buf[l4] = ipv6 ? 128 : 8; // echo request
    buf[l4 + 1] = 0;
    put16(buf, l4 + 2, 0);
    put32(buf, l4 + 4, r3);
    put16(buf, l4 + 2, fold((ipv6 ? pseudo : 0) + sum16(buf, l4, l4 + ICMP)));
  }
  return l4 + l4Length - at;
}
