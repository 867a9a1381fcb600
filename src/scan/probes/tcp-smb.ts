/**
 * SMB2/3 over direct TCP (MS-SMB2 2.2.1, 2.2.3, 2.2.4): a NEGOTIATE offering 2.0.2 through 3.1.1. The
 * server picks the highest common dialect and says whether it requires signing (SecurityMode). 3.1.1
 * requires a preauth-integrity negotiate context, so one (SHA-512, 32-byte salt) is included. A server
 * that only speaks SMB1 may answer with an SMB1 header, which is reported as such.
 */
import type { ProbeResult, TcpProbe } from "./types.js";

const SMB2_MAGIC = Buffer.from([0xfe, 0x53, 0x4d, 0x42]);
const SMB1_MAGIC = Buffer.from([0xff, 0x53, 0x4d, 0x42]);
const HEADER = 64;
const NETBIOS = 4;
const NEGOTIATE = 0x0000;
const SERVER_TO_REDIR = 0x0000_0001;
const SIGNING_ENABLED = 0x0001;
const SIGNING_REQUIRED = 0x0002;
const DIALECTS = [0x0202, 0x0210, 0x0300, 0x0302, 0x0311];
const DIALECT_NAMES: Record<number, string> = {
  514: "2.0.2",
  528: "2.1",
  768: "3.0",
  770: "3.0.2",
  785: "3.1.1",
  767: "2.???",
};
const CAPABILITIES: [number, string][] = [
  [0x01, "DFS"],
  [0x02, "LEASING"],
  [0x04, "LARGE_MTU"],
  [0x08, "MULTI_CHANNEL"],
  [0x10, "PERSISTENT_HANDLES"],
  [0x20, "DIRECTORY_LEASING"],
  [0x40, "ENCRYPTION"],
];
/** NTSTATUS values a NEGOTIATE can fail with. */
const STATUS_NAMES: Record<number, string> = {
  3221225485: "STATUS_INVALID_PARAMETER",
  3221225659: "STATUS_NOT_SUPPORTED",
  3221225506: "STATUS_ACCESS_DENIED",
};

function negotiateRequest(): Buffer {
  const header = Buffer.alloc(HEADER);
  SMB2_MAGIC.copy(header, 0);
  header.writeUInt16LE(HEADER, 4); // StructureSize
  header.writeUInt16LE(NEGOTIATE, 12);
  header.writeUInt16LE(1, 14); // CreditRequest
  const fixed = Buffer.alloc(36);
  fixed.writeUInt16LE(36, 0); // StructureSize, whatever the dialect count
  fixed.writeUInt16LE(DIALECTS.length, 2);
  fixed.writeUInt16LE(SIGNING_ENABLED, 4);
  Buffer.from("moat-scan-probe!", "ascii").copy(fixed, 12); // ClientGuid
  const dialects = Buffer.alloc(DIALECTS.length * 2);
  for (const [i, d] of DIALECTS.entries()) dialects.writeUInt16LE(d, i * 2);
  // Negotiate contexts start 8-byte aligned, counted from the SMB2 header.
  const beforeContext = HEADER + fixed.length + dialects.length;
  const contextOffset = Math.ceil(beforeContext / 8) * 8;
  fixed.writeUInt32LE(contextOffset, 28);
  fixed.writeUInt16LE(1, 32); // NegotiateContextCount
  const preauth = Buffer.alloc(8 + 6 + 32);
  preauth.writeUInt16LE(0x0001, 0); // SMB2_PREAUTH_INTEGRITY_CAPABILITIES
  preauth.writeUInt16LE(6 + 32, 2); // DataLength
  preauth.writeUInt16LE(1, 8); // HashAlgorithmCount
  preauth.writeUInt16LE(32, 10); // SaltLength
  preauth.writeUInt16LE(0x0001, 12); // SHA-512; the salt stays zero: no session follows
  const smb = Buffer.concat([header, fixed, dialects, Buffer.alloc(contextOffset - beforeContext), preauth]);
  const nb = Buffer.alloc(NETBIOS);
  nb.writeUInt32BE(smb.length, 0); // session message (type 0), 24-bit length
  return Buffer.concat([nb, smb]);
}

/** FILETIME (100 ns since 1601) as ISO text; null when zero or out of range. */
function filetime(buf: Buffer, at: number): string | null {
  const ticks = buf.readBigUInt64LE(at);
  if (ticks === 0n) return null;
  const ms = Number(ticks / 10_000n) - 11_644_473_600_000;
  const d = new Date(ms);
  return Number.isFinite(d.getTime()) ? d.toISOString() : null;
}

function guid(b: Buffer): string {
  const h = (from: number, to: number, le: boolean) => {
    const part = Buffer.from(b.subarray(from, to));
    return (le ? part.reverse() : part).toString("hex");
  };
  return `${h(0, 4, true)}-${h(4, 6, true)}-${h(6, 8, true)}-${h(8, 10, false)}-${h(10, 16, false)}`;
}

function empty(): Record<string, null> {
  return {
    dialect: null,
    signing_enabled: null,
    signing_required: null,
    capabilities: null,
    server_guid: null,
    system_time: null,
    status: null,
  };
}

export const tcpSmbProbe: TcpProbe = {
  id: "tcp-smb",
  service: "smb",
  transport: "tcp",
  ports: [445],
  request: negotiateRequest(),
  parse(data: Buffer): ProbeResult | null {
    if (data.length < NETBIOS + 4 || data[0] !== 0) return null;
    const smb = data.subarray(NETBIOS);
    if (smb.subarray(0, 4).equals(SMB1_MAGIC)) {
      return {
        fields: { ...empty(), dialect: "SMB1" },
        abusable: false,
        note: "SMB answers from here with SMB1 only: obsolete, and the protocol of EternalBlue-era worms.",
      };
    }
    if (!smb.subarray(0, 4).equals(SMB2_MAGIC) || smb.length < HEADER) return null;
    if (smb.readUInt16LE(4) !== HEADER || smb.readUInt16LE(12) !== NEGOTIATE) return null;
    if ((smb.readUInt32LE(16) & SERVER_TO_REDIR) === 0) return null;
    const status = smb.readUInt32LE(8);
    if (status !== 0) {
      const name = STATUS_NAMES[status] ?? `0x${status.toString(16).padStart(8, "0")}`;
      return {
        fields: { ...empty(), status: name },
        abusable: false,
        note: `SMB answers from here but refused the negotiate (${name}).`,
      };
    }
    const body = smb.subarray(HEADER);
    if (body.length < 64 || body.readUInt16LE(0) !== 65) return null;
    const mode = body.readUInt16LE(2);
    const dialectCode = body.readUInt16LE(4);
    const caps = body.readUInt32LE(24);
    const required = (mode & SIGNING_REQUIRED) !== 0;
    return {
      fields: {
        dialect: DIALECT_NAMES[dialectCode] ?? `0x${dialectCode.toString(16).padStart(4, "0")}`,
        signing_enabled: (mode & SIGNING_ENABLED) !== 0,
        signing_required: required,
        capabilities: CAPABILITIES.filter(([bit]) => caps & bit).map(([, n]) => n),
        server_guid: guid(body.subarray(8, 24)),
        system_time: filetime(body, 40),
        status: "STATUS_SUCCESS",
      },
      abusable: false,
      note: required
        ? "SMB answers from here; it requires signing, but file sharing should not face the internet."
        : "SMB answers from here without requiring signing: logins can be relayed, and it should not face the internet.",
    };
  },
};
