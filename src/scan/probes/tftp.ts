/**
 * TFTP (RFC 1350): a read request for a file that should not exist, in octet mode. An ERROR packet
 * (opcode 5, "File not found") proves the service without transferring anything; a DATA packet
 * (opcode 3) means it served something, and a server that sends DATA retransmits it until ACKed (we
 * never ACK) — the reflection case (~60x). TFTP has no id field and the server answers from a new
 * port (its transfer id), so the scanner matches on our source port and `match` checks the shape.
 */
import type { ProbeResult, UdpProbe } from "./types.js";

const RRQ = 1;
const DATA = 3;
const ERROR = 5;
/** A harmless name that no server should have. */
const FILE_NAME = "moat-probe";
/** Data blocks are at most 512 bytes without the blksize option, which we do not send. */
const MAX_BLOCK = 512;
const MAX_MESSAGE = 256;
/** Error codes 0-7 in RFC 1350, 8 added by RFC 2347 (option negotiation). */
const MAX_ERROR_CODE = 8;

interface Packet {
  opcode: number;
  block: number | null;
  errorCode: number | null;
  message: string | null;
  dataBytes: number;
}

function readPacket(buf: Buffer): Packet | null {
  if (buf.length < 4) return null;
  const opcode = buf.readUInt16BE(0);
  if (opcode === DATA) {
    const dataBytes = buf.length - 4;
    // The first block of a transfer we started is block 1.
    if (buf.readUInt16BE(2) !== 1 || dataBytes > MAX_BLOCK) return null;
    return { opcode, block: 1, errorCode: null, message: null, dataBytes };
  }
  if (opcode === ERROR) {
    const errorCode = buf.readUInt16BE(2);
    if (errorCode > MAX_ERROR_CODE) return null;
    // ErrMsg is NUL-terminated; some servers omit the NUL, which costs nothing to tolerate.
    const nul = buf.indexOf(0, 4);
    const raw = buf.subarray(4, nul === -1 ? buf.length : nul);
    const message = raw
      .subarray(0, MAX_MESSAGE)
      .toString("latin1")
      .replace(/[^\x20-\x7e]/g, "?");
    return { opcode, block: null, errorCode, message, dataBytes: 0 };
  }
  return null;
}

export const tftpProbe: UdpProbe = {
  id: "tftp",
  service: "tftp",
  transport: "udp",
  ports: [69],
  request(): Buffer {
    const op = Buffer.alloc(2);
    op.writeUInt16BE(RRQ, 0);
    return Buffer.concat([op, Buffer.from(`${FILE_NAME}\0octet\0`, "ascii")]);
  },
  match(reply: Buffer): boolean {
    return readPacket(reply) !== null;
  },
  parse(replies: readonly Buffer[]): ProbeResult | null {
    const packets = replies.map(readPacket).filter((p): p is Packet => p !== null);
    const data = packets.find((p) => p.opcode === DATA);
    const first = data ?? packets[0];
    if (first === undefined) return null;
    const fields = {
      opcode: first.opcode,
      error_code: first.errorCode,
      error_message: first.message,
      data_bytes: first.dataBytes,
      // Retransmissions of the same block show how much an unacknowledged read reflects.
      data_packets: packets.filter((p) => p.opcode === DATA).length,
    };
    if (data !== undefined) {
      return {
        fields,
        abusable: true,
        note: "TFTP sent file data for a name it should not have, and retransmits it unacknowledged: a reflector.",
      };
    }
    return {
      fields,
      abusable: false,
      note: "TFTP answers read requests from anywhere (it refused this file); any file it serves can be read.",
    };
  },
};
