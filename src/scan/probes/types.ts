/**
 * The probe contract (DESIGN.md, "Probe modules"): one file per protocol in src/scan/probes/, each
 * exporting one object; the scanner core knows no protocol. Adding a protocol = one new file and
 * one line in src/scan/probes/index.ts.
 */

/** What the scanner puts into a request so that it can tell its replies from stray or spoofed ones. */
export interface Cookie {
  /** 16-bit value the probe may embed (memcached request id, DNS id, NTP sequence, SNMP request id ...). */
  id: number;
  /** Source port the request is sent from; a probe whose protocol has no id field matches on it. */
  sourcePort: number;
}

/** The fields a reply revealed, typed per protocol but rendered generically (JSON `fields`). */
export type ProbeFields = Record<string, string | number | boolean | null | string[]>;

export interface ProbeResult {
  fields: ProbeFields;
  /** The service answers in a way that can be abused for reflection (memcached over UDP, monlist, open recursion). */
  abusable: boolean;
  /** Why it is or is not abusable, one plain-English sentence. */
  note: string;
}

export interface UdpProbe {
  /** Stable id: "memcached", "ntp-monlist", "dns-recursion", ... */
  id: string;
  /** The catalog service id this probe confirms ("memcached", "ntp", "dns", ...). */
  service: string;
  transport: "udp";
  /** Default destination ports. */
  ports: number[];
  /** The request payload (UDP payload bytes only). The smallest payload that identifies the service. */
  request(cookie: Cookie): Buffer;
  /** Is this datagram a reply to the request carrying `cookie`? Must never throw, whatever the bytes. */
  match(reply: Buffer, cookie: Cookie): boolean;
  /**
   * Fields from all the datagrams that matched (multi-datagram replies in arrival order).
   * Returns null when the replies cannot be parsed (counted as unparseable). Must never throw.
   */
  parse(replies: readonly Buffer[]): ProbeResult | null;
  /**
   * Optional: the datagrams that matched so far are the whole answer (all of a multi-datagram
   * reply's parts, or the one datagram of a protocol that answers with one), so the port is decided
   * now instead of after the collection window. Must never throw.
   */
  complete?(replies: readonly Buffer[]): boolean;
}

export interface TcpProbe {
  id: string;
  service: string;
  transport: "tcp";
  ports: number[];
  /** Bytes to send after connecting; null = wait for the server to speak first (SSH, MySQL, Telnet). */
  request: Buffer | null;
  /** Fields from the bytes read (at most a few KiB); null when they do not look like this service. Never throws. */
  parse(data: Buffer): ProbeResult | null;
}

export type Probe = UdpProbe | TcpProbe;
