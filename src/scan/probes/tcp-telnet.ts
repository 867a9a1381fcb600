/**
 * Telnet (RFC 854, option codes from RFC 855 and successors): servers open with IAC option
 * negotiation (IAC DO/DONT/WILL/WONT option, IAC SB ... IAC SE) and/or a login prompt. Either one
 * identifies Telnet; plain text without a prompt does not (too many services print a banner).
 */
import type { ProbeResult, TcpProbe } from "./types.js";

const IAC = 0xff;
const SB = 0xfa;
const SE = 0xf0;
const VERBS: Record<number, string> = { 251: "WILL", 252: "WONT", 253: "DO", 254: "DONT" };
const OPTIONS: Record<number, string> = {
  0: "BINARY",
  1: "ECHO",
  3: "SUPPRESS-GO-AHEAD",
  5: "STATUS",
  6: "TIMING-MARK",
  24: "TERMINAL-TYPE",
  31: "NAWS",
  32: "TERMINAL-SPEED",
  33: "REMOTE-FLOW-CONTROL",
  34: "LINEMODE",
  35: "X-DISPLAY-LOCATION",
  36: "ENVIRON",
  37: "AUTHENTICATION",
  38: "ENCRYPT",
  39: "NEW-ENVIRON",
};
const MAX_READ = 4096;
const MAX_NEGOTIATIONS = 32;
const MAX_PROMPT = 128;
const PROMPT = /(login|username|user name|password|user)\s*:\s*$/i;

/** Split the stream into negotiation commands and the text between them; one pass, always forward. */
function scan(data: Buffer): { negotiation: string[]; text: string } {
  const negotiation: string[] = [];
  const text: number[] = [];
  let i = 0;
  while (i < data.length) {
    const b = data[i]!;
    if (b !== IAC) {
      text.push(b);
      i++;
      continue;
    }
    const cmd = data[i + 1];
    if (cmd === undefined) break;
    const verb = VERBS[cmd];
    if (verb !== undefined) {
      const opt = data[i + 2];
      if (opt === undefined) break;
      if (negotiation.length < MAX_NEGOTIATIONS) negotiation.push(`${verb} ${OPTIONS[opt] ?? String(opt)}`);
      i += 3;
    } else if (cmd === SB) {
      // Subnegotiation runs to IAC SE; an unterminated one ends the data.
      let j = i + 2;
      while (j + 1 < data.length && !(data[j] === IAC && data[j + 1] === SE)) j++;
      if (negotiation.length < MAX_NEGOTIATIONS) negotiation.push(`SB ${OPTIONS[data[i + 2] ?? -1] ?? "?"}`);
      i = j + 2;
    } else if (cmd === IAC) {
      text.push(IAC); // escaped data byte 255
      i += 2;
    } else {
      i += 2; // NOP, GA, AYT and the other two-byte commands
    }
  }
  return { negotiation, text: Buffer.from(text).toString("latin1") };
}

export const tcpTelnetProbe: TcpProbe = {
  id: "tcp-telnet",
  service: "telnet",
  transport: "tcp",
  ports: [23],
  request: null,
  parse(data: Buffer): ProbeResult | null {
    const { negotiation, text } = scan(data.subarray(0, MAX_READ));
    const lines = text
      .split(/\r?\n|\r/)
      .map((l) => l.replace(/[^\x20-\x7e]/g, "").trim())
      .filter((l) => l !== "");
    const last = lines.at(-1) ?? null;
    const prompt = last !== null && PROMPT.test(last) ? last.slice(0, MAX_PROMPT) : null;
    if (negotiation.length === 0 && prompt === null) return null;
    return {
      fields: { negotiation, prompt, banner: lines.slice(0, 4).join(" / ").slice(0, 256) || null },
      abusable: false,
      note: "Telnet accepts connections from here: a cleartext login exposed to sniffing and password guessing.",
    };
  },
};
