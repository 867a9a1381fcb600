import { DNS_CLASS } from "../../../src/scan/probes/dns-message.js";

/** A response to `query` with the given flags and answer records (names compressed to the question). */
export function dnsResponse(
  query: Buffer,
  opts: { flags: number; answers?: { type: number; class?: number; rdata: Buffer }[] },
): Buffer {
  const answers = opts.answers ?? [];
  const head = Buffer.from(query);
  head.writeUInt16BE(opts.flags, 2);
  head.writeUInt16BE(answers.length, 6);
  const rrs = answers.map((a) => {
    const fixed = Buffer.alloc(10);
    fixed.writeUInt16BE(a.type, 0);
    fixed.writeUInt16BE(a.class ?? DNS_CLASS.IN, 2);
    fixed.writeUInt32BE(300, 4);
    fixed.writeUInt16BE(a.rdata.length, 8);
    return Buffer.concat([Buffer.from([0xc0, 0x0c]), fixed, a.rdata]);
  });
  return Buffer.concat([head, ...rrs]);
}
